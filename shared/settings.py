"""Environment-only service settings that fail fast with a readable message."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

S = TypeVar("S", bound="ServiceSettings")


class SettingsError(Exception):
    """Raised when the environment lacks a setting or holds a bad value; the message names the variables."""


class ServiceSettings(BaseSettings):
    """What every Fishbridge process needs. Subclasses add their own fields (still env-only)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, case_sensitive=False)

    service_name: str = Field(min_length=1)
    mongo_url: str = Field(min_length=1, description="mongodb://host:port/")
    mongo_db: str = Field(min_length=1)
    amqp_url: str = Field(min_length=1, description="amqp://user:pass@host:port/")
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=0, le=65535)
    internal_token: SecretStr = Field(min_length=16)
    otel_exporter_otlp_endpoint: str = "http://127.0.0.1:4318"
    otel_enabled: bool = True
    log_level: str = "INFO"
    # Outbox relay and consumers: poll interval and retry back-off, in seconds.
    # The relay wakes on this process's own appends; the poll finds entries other replicas appended.
    relay_poll_s: float = Field(default=1.0, gt=0)
    consumer_prefetch: int = Field(default=32, ge=1)
    consumer_max_attempts: int = Field(default=5, ge=1)
    consumer_retry_delays_s: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment only (init kwargs are for tests): no .env files, no secrets dirs, nothing implicit.
        return (init_settings, env_settings)

    @classmethod
    def load(cls: type[S], **overrides: Any) -> S:
        """Read the environment; on any problem raise SettingsError listing every bad or missing variable."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                name = "_".join(str(part) for part in err["loc"]).upper() or "?"
                problems.append(f"  {name}: {err['msg']}")
            raise SettingsError(f"{cls.__name__}: invalid environment\n" + "\n".join(problems)) from None
