"""Payload models by (type, version): the event catalog's contracts, registered where they are defined."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

P = TypeVar("P", bound=type[BaseModel])

PAYLOADS: dict[tuple[str, int], type[BaseModel]] = {}


def register(event_type: str, version: int = 1) -> Callable[[P], P]:
    def decorator(model: P) -> P:
        key = (event_type, version)
        if key in PAYLOADS and PAYLOADS[key] is not model:
            raise ValueError(f"payload for {event_type} v{version} registered twice")
        PAYLOADS[key] = model
        return model

    return decorator


def payload_model(event_type: str, version: int = 1) -> type[BaseModel]:
    try:
        return PAYLOADS[(event_type, version)]
    except KeyError:
        raise KeyError(f"no payload contract for {event_type} v{version}") from None
