"""Alipay stand-in: gateway.do (OpenAPI with RSA2), buyer actions and async notifications. Placeholder until built."""

from __future__ import annotations

from aiohttp import web

from services.sandbox.settings import SandboxSettings


def setup(app: web.Application, settings: SandboxSettings) -> None:
    """Register the Alipay routes on the sandbox app."""
