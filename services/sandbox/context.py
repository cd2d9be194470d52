"""Typed keys for what the sandbox app holds: its settings, the fault registry and the notifier."""

from __future__ import annotations

from aiohttp import web

from services.sandbox.faults import FaultRegistry
from services.sandbox.notifier import Notifier
from services.sandbox.settings import SandboxSettings
from shared.service import DB

SETTINGS = web.AppKey("sandbox_settings", SandboxSettings)
FAULTS = web.AppKey("faults", FaultRegistry)
NOTIFIER = web.AppKey("notifier", Notifier)

__all__ = ["DB", "FAULTS", "NOTIFIER", "SETTINGS"]
