"""python -m services.sandbox: settings → telemetry → app."""

from services.sandbox.app import build_app
from services.sandbox.settings import SandboxSettings
from shared.service import run_service

if __name__ == "__main__":
    run_service(SandboxSettings, build_app)
