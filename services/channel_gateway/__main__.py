from services.channel_gateway.app import build_app
from services.channel_gateway.settings import GatewaySettings
from shared.service import run_service

if __name__ == "__main__":
    run_service(GatewaySettings, build_app)
