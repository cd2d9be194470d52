"""Settings come from the environment only and fail fast, naming every bad variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import ServiceSettings, SettingsError

GOOD = {
    "SERVICE_NAME": "listing",
    "MONGO_URL": "mongodb://127.0.0.1:27017/",
    "MONGO_DB": "listing",
    "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/",
    "INTERNAL_TOKEN": "0123456789abcdef0123",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [*GOOD, "HTTP_PORT", "CONSUMER_RETRY_DELAYS_S"]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_complete_environment_loads(env: pytest.MonkeyPatch) -> None:
    for k, v in GOOD.items():
        env.setenv(k, v)
    env.setenv("CONSUMER_RETRY_DELAYS_S", "[0.5, 2]")
    settings = ServiceSettings.load()
    assert settings.mongo_db == "listing"
    assert settings.internal_token.get_secret_value() == GOOD["INTERNAL_TOKEN"]
    assert "0123456789" not in repr(settings)  # secrets stay out of logs
    assert settings.consumer_retry_delays_s == (0.5, 2.0)


def test_missing_and_bad_values_are_all_named(env: pytest.MonkeyPatch) -> None:
    env.setenv("SERVICE_NAME", "listing")
    env.setenv("HTTP_PORT", "not-a-port")
    env.setenv("INTERNAL_TOKEN", "short")
    with pytest.raises(SettingsError) as err:
        ServiceSettings.load()
    message = str(err.value)
    for name in ("MONGO_URL", "MONGO_DB", "AMQP_URL", "HTTP_PORT", "INTERNAL_TOKEN"):
        assert name in message
    assert "SERVICE_NAME" not in message


def test_dotenv_files_are_never_read(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in GOOD.items()))
    env.chdir(tmp_path)
    with pytest.raises(SettingsError):
        ServiceSettings.load()
