"""docker-compose.yml runs every service with settings it can start with: each service's settings load from the
environment the compose file gives it, every service it calls is a compose service it waits for (healthy), and only
the public entry points and the UIs are published to the host."""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import SecretStr

from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
# The compose service of each Fishbridge package (kebab-case names, CONVENTIONS.md), by its image's SERVICE.
BY_PACKAGE = {s["build"]["args"]["SERVICE"]: name for name, s in SERVICES.items() if "args" in s.get("build", {})}
# Service packages: a process with settings (the project's command-line tools, `tracecli` and `demo`, are not).
PACKAGES = sorted(
    p.parent.name for p in (ROOT / "services").glob("*/__main__.py") if (p.parent / "settings.py").exists()
)
HTTP_PORT = "8000"
# What the host may reach: (compose service, container port). The gateway is the public API; payment's /notify/*
# routes are the providers' (the rest of payment needs the internal token); the sandbox plays the providers and the
# buyer's phone (README's walkthrough); RabbitMQ's and Jaeger's UIs.
PUBLISHED = {
    ("channel-gateway", 8000): 8080,
    ("payment", 8000): 8082,
    ("sandbox", 8000): 8090,
    ("rabbitmq", 15672): 15672,
    ("jaeger", 16686): 16686,
}


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment") or {}
    assert isinstance(env, dict), f"{service}: environment as a mapping"
    return {str(k): str(v) for k, v in env.items()}


def settings_class(package: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{package}.settings")
    found = [
        c
        for _, c in inspect.getmembers(module, inspect.isclass)
        if issubclass(c, ServiceSettings) and c is not ServiceSettings and c.__module__ == module.__name__
    ]
    assert len(found) == 1, f"services.{package}.settings: one settings class, found {found}"
    return found[0]


def load(package: str, monkeypatch: pytest.MonkeyPatch) -> ServiceSettings:
    """The package's settings from exactly the environment its compose service has (nothing of this machine's)."""
    for key in list(os.environ):
        monkeypatch.delenv(key)
    for key, value in environment(BY_PACKAGE[package]).items():
        monkeypatch.setenv(key, value)
    return settings_class(package).load()


def copied_into_image() -> set[str]:
    """The top-level directories deploy/Dockerfile copies into /app, the image's working directory."""
    lines = (ROOT / "deploy" / "Dockerfile").read_text().splitlines()
    return {line.split()[1].rstrip("/") for line in lines if line.startswith("COPY ")}


def test_every_service_package_has_a_compose_service_from_the_one_image() -> None:
    assert PACKAGES == sorted(BY_PACKAGE), "a service package without a compose service, or the reverse"
    for package, name in BY_PACKAGE.items():
        assert SERVICES[name]["build"]["dockerfile"] == "deploy/Dockerfile", name
        assert name == package.replace("_", "-"), "compose services are kebab-case (CONVENTIONS.md)"
    # The image runs `python -m services.$SERVICE`.
    assert 'exec python -m services.${SERVICE}"' in (ROOT / "deploy" / "Dockerfile").read_text()


@pytest.mark.parametrize("package", PACKAGES)
def test_settings_load_from_the_compose_environment(package: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(package, monkeypatch)
    assert settings.http_host == "0.0.0.0" and settings.http_port == int(HTTP_PORT)
    copied = copied_into_image()
    for field, value in settings:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        # A default meant for `make run` (127.0.0.1:808x) reaches nothing in a container: every address is set.
        if field != "http_host":
            assert "127.0.0.1" not in str(value) and "localhost" not in str(value), (package, field, value)
        if isinstance(value, Path) and field in {k.lower() for k in environment(BY_PACKAGE[package])}:
            # Key files are relative to /app, where the image has the repository's services/ and shared/.
            assert not value.is_absolute() and value.parts[0] in copied, (package, field, value)
            assert (ROOT / value).is_file(), (package, field, value)


def test_the_gateway_calls_the_services_on_the_compose_network(monkeypatch: pytest.MonkeyPatch) -> None:
    settings: Any = load("channel_gateway", monkeypatch)
    for service in ("listing", "payment", "refund", "wallet"):
        assert getattr(settings, f"{service}_url") == f"http://{service}:{HTTP_PORT}"
    assert settings.wechat_mp_api_base == f"http://sandbox:{HTTP_PORT}"
    assert settings.alipay_gateway_url == f"http://sandbox:{HTTP_PORT}/gateway.do"
    assert settings.admin_token.get_secret_value() and settings.session_secret.get_secret_value()


def test_the_gateway_and_payment_log_in_and_pay_as_the_sandbox_expects(monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox: Any = load("sandbox", monkeypatch)
    gateway: Any = load("channel_gateway", monkeypatch)
    payment: Any = load("payment", monkeypatch)
    wallet: Any = load("wallet", monkeypatch)
    assert gateway.wechat_appid == sandbox.wechat_appid
    assert gateway.wechat_app_secret.get_secret_value() == sandbox.wechat_app_secret.get_secret_value()
    for caller in (payment, wallet):
        assert caller.wechat_appid == sandbox.wechat_appid and caller.wechat_mchid == sandbox.wechat_mchid
        assert caller.wechat_apiv3_key.get_secret_value() == sandbox.wechat_apiv3_key.get_secret_value()
        assert caller.wechat_pay_public_key_id == sandbox.wechat_pay_public_key_id


def test_a_service_waits_for_every_service_it_calls() -> None:
    for name, service in SERVICES.items():
        depends = service.get("depends_on") or {}
        for key, value in environment(name).items():
            host, port = urlsplit(value).hostname, urlsplit(value).port
            if host is None or host == name or host not in SERVICES:
                continue
            assert host in depends, f"{name} calls {host} ({key}) without depends_on"
            wanted = "service_healthy" if "healthcheck" in SERVICES[host] else "service_started"
            assert depends[host]["condition"] == wanted, (name, host)
            if host in BY_PACKAGE.values():
                assert str(port) == HTTP_PORT, f"{name}: {key} must name {host}'s container port {HTTP_PORT}"
        for target in depends:
            assert target in SERVICES, (name, target)


def test_every_fishbridge_service_is_healthy_only_when_ready() -> None:
    for name in BY_PACKAGE.values():
        check = SERVICES[name]["healthcheck"]["test"]
        assert check[0] == "CMD" and f"http://127.0.0.1:{HTTP_PORT}/readyz" in " ".join(check), name


def test_only_the_gateway_payment_sandbox_and_the_uis_are_published_on_localhost() -> None:
    published = {}
    for name, service in SERVICES.items():
        for mapping in service.get("ports") or []:
            parts = str(mapping).split(":")
            host_ip = parts[0] if len(parts) == 3 else "(every address)"
            host_port, container_port = parts[-2:]
            assert host_ip == "127.0.0.1", f"{name}: {mapping} (development values: this machine only)"
            published[(name, int(container_port))] = int(host_port)
    assert published == PUBLISHED


def test_no_value_is_interpolated_by_compose() -> None:
    for name in SERVICES:
        for key, value in environment(name).items():
            assert "$" not in value, f"{name}: {key} would be interpolated by compose"


DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text().splitlines()


def _index(predicate: Any) -> int:
    return next(i for i, line in enumerate(DOCKERFILE) if predicate(line))


def test_the_image_installs_what_pyproject_says_with_the_dependencies_in_their_own_layer() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # The RUN that lists the dependencies, run here against the same pyproject.toml: exactly [project].dependencies.
    start = _index(lambda line: line.startswith("RUN python -c"))
    snippet = DOCKERFILE[start].split('"', 1)[1].rsplit('"', 1)[0]
    listed = subprocess.run([sys.executable, "-c", snippet], cwd=ROOT, capture_output=True, text=True, check=True)
    assert listed.stdout.split() == project["project"]["dependencies"]
    install_deps = next(i for i in range(start, len(DOCKERFILE)) if "pip install -r" in DOCKERFILE[i])
    copy_project = _index(lambda line: line.startswith("COPY pyproject.toml"))
    first_source = _index(lambda line: line.startswith("COPY ") and not line.startswith("COPY pyproject.toml"))
    install_project = _index(lambda line: "pip install --no-deps ." in line)
    # pyproject alone, then the dependencies, then the code: a code change reuses the dependency layer.
    assert copy_project < start <= install_deps < first_source < install_project
    # The image has every package pyproject.toml builds.
    includes = {pattern.rstrip("*") for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert includes <= copied_into_image()


def test_the_image_is_slim_and_runs_as_a_user_without_root() -> None:
    assert DOCKERFILE[_index(lambda line: line.startswith("FROM "))].split()[1].endswith("-slim")
    user = DOCKERFILE[_index(lambda line: line.startswith("USER "))].split()[1]
    assert user not in ("root", "0")
    assert _index(lambda line: line.startswith("USER ")) > _index(lambda line: "pip install --no-deps" in line)


def test_every_service_waits_for_healthy_infrastructure() -> None:
    for name in ("mongo", "rabbitmq", "jaeger"):
        assert "healthcheck" in SERVICES[name], name
    for name in BY_PACKAGE.values():
        conditions = {dep: spec["condition"] for dep, spec in SERVICES[name]["depends_on"].items()}
        assert {k: conditions[k] for k in ("mongo", "rabbitmq", "jaeger")} == dict.fromkeys(
            ("mongo", "rabbitmq", "jaeger"), "service_healthy"
        ), name
