"""The envelope every event travels in on `fishbridge.events`; routing key `<type>.v<version>`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

EXCHANGE = "fishbridge.events"


def routing_key(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}"


class Envelope(BaseModel):
    # Consumers ignore fields they do not know: producers may add fields within a version.
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: str = Field(min_length=1)
    type: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$")
    version: int = Field(ge=1)
    occurred_at: AwareDatetime
    producer: str
    aggregate_id: str
    seq: int = Field(ge=1, description="position of the producing entry in its aggregate's stream")
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)

    @property
    def routing_key(self) -> str:
        return routing_key(self.type, self.version)

    def occurred(self) -> datetime:
        return self.occurred_at
