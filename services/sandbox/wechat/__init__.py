"""WeChat stand-in: mini-program login (jscode2session) and WeChat Pay v3. Placeholder until built."""

from __future__ import annotations

from aiohttp import web

from services.sandbox.settings import SandboxSettings


def setup(app: web.Application, settings: SandboxSettings) -> None:
    """Register the WeChat routes on the sandbox app."""
