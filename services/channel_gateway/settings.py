"""The gateway's settings: where the services answer, the session and admin secrets, the mini-program's login
credentials and the Alipay app (for `alipay.system.oauth.token`), rate limits and body size."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from shared.providers.settings import AlipaySettings
from shared.settings import ServiceSettings


class GatewaySettings(ServiceSettings, AlipaySettings):
    service_name: str = "channel_gateway"
    mongo_db: str = "channel_gateway"
    http_port: int = Field(default=8080, ge=0, le=65535)
    listing_url: str = Field(default="http://127.0.0.1:8081", min_length=1)
    payment_url: str = Field(default="http://127.0.0.1:8082", min_length=1)
    refund_url: str = Field(default="http://127.0.0.1:8083", min_length=1)
    wallet_url: str = Field(default="http://127.0.0.1:8084", min_length=1)
    # A call to a service gives up after this long (503 to the client, who may retry with its Idempotency-Key).
    service_timeout_s: float = Field(default=10.0, gt=0)
    service_connections: int = Field(default=100, ge=1)

    admin_token: SecretStr = Field(min_length=16)
    # Session tokens: HMAC-SHA256 over their claims with this secret; valid this long; bound to one audience.
    session_secret: SecretStr = Field(min_length=32)
    session_ttl_s: int = Field(default=7 * 86400, gt=0)

    # The mini-program's login (jscode2session) at api.weixin.qq.com, or the sandbox.
    wechat_mp_api_base: str = Field(default="https://api.weixin.qq.com", min_length=1)
    wechat_appid: str = Field(min_length=1)
    wechat_app_secret: SecretStr = Field(min_length=1)

    # Rate limits: requests per window (seconds), per user and per client address.
    login_per_client: int = Field(default=30, ge=1)
    checkout_per_user: int = Field(default=20, ge=1)
    checkout_per_client: int = Field(default=60, ge=1)
    withdrawals_per_user: int = Field(default=10, ge=1)
    rate_window_s: float = Field(default=60.0, gt=0)
    # Behind a proxy the client's address is the last hop of X-Forwarded-For it added; off by default.
    trust_forwarded_for: bool = False
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Catalog pages (the same for every client of an audience) are served from memory this long; 0 turns it off.
    catalog_cache_s: float = Field(default=1.0, ge=0)

    # Sharing (issue 18). The mini-program page a share opens (its code is the page's `scene`; page, "?scene=" and
    # the code together stay within 32 characters), the mini-program version its code opens, the app's deep link
    # before the code, and where this gateway is reached from outside (absolute image URLs; relative when empty).
    share_mp_page: str = Field(default="pages/s/index", pattern=r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$")
    wechat_mp_env_version: Literal["release", "trial", "develop"] = "release"
    share_app_url_base: str = Field(default="fishbridge://s/", min_length=1)
    public_base_url: str = ""
    shares_per_user: int = Field(default=30, ge=1)
    share_resolves_per_client: int = Field(default=120, ge=1)
    # The mini-program's access_token is asked for again this long before it expires.
    wechat_token_refresh_margin_s: float = Field(default=300.0, ge=0)

    @model_validator(mode="after")
    def _mp_path_fits(self) -> GatewaySettings:
        from shared.share_codes import LENGTH

        if len(self.share_mp_page) + len("?scene=") + LENGTH > 32:
            raise ValueError("share_mp_page is too long: a share's mp_path must stay within 32 characters")
        return self
