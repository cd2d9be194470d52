"""The gateway application's keys."""

from __future__ import annotations

from aiohttp import web

from services.channel_gateway.cache import MicroCache
from services.channel_gateway.clients import Clients
from services.channel_gateway.ratelimit import RateLimiter
from services.channel_gateway.sessions import AlipayLogin, Tokens, Users, WechatLogin
from services.channel_gateway.settings import GatewaySettings
from services.channel_gateway.wxacode import MiniProgramCodes, ShareImages

SETTINGS = web.AppKey("settings", GatewaySettings)
CLIENTS = web.AppKey("clients", Clients)
USERS = web.AppKey("users", Users)
TOKENS = web.AppKey("tokens", Tokens)
LIMITER = web.AppKey("limiter", RateLimiter)
WECHAT_LOGIN = web.AppKey("wechat_login", WechatLogin)
ALIPAY_LOGIN = web.AppKey("alipay_login", AlipayLogin)
CATALOG_CACHE = web.AppKey("catalog_cache", MicroCache)
SHARE_CODES = web.AppKey("share_codes", MiniProgramCodes)
SHARE_IMAGES = web.AppKey("share_images", ShareImages)
SHARE_IMAGE_CACHE = web.AppKey("share_image_cache", MicroCache)
