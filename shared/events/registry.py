"""Payload models by (type, version): the event catalog's contracts, registered where they are defined."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel

P = TypeVar("P", bound=type[BaseModel])

PAYLOADS: dict[tuple[str, int], type[BaseModel]] = {}
_EVENTS: dict[type[BaseModel], tuple[str, int]] = {}


def register(event_type: str, version: int = 1) -> Callable[[P], P]:
    def decorator(model: P) -> P:
        key = (event_type, version)
        if key in PAYLOADS and PAYLOADS[key] is not model:
            raise ValueError(f"payload for {event_type} v{version} registered twice")
        PAYLOADS[key] = model
        _EVENTS[model] = key
        return model

    return decorator


def payload_model(event_type: str, version: int = 1) -> type[BaseModel]:
    try:
        return PAYLOADS[(event_type, version)]
    except KeyError:
        raise KeyError(f"no payload contract for {event_type} v{version}") from None


def contract_of(model: type[BaseModel]) -> tuple[str, int]:
    """The (type, version) a payload model is registered as: what an event built from it is called."""
    try:
        return _EVENTS[model]
    except KeyError:
        raise KeyError(f"{model.__name__} is not a registered payload contract") from None
