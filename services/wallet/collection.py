"""WeChat collection: the wallet's copy of shops and levels, invitation batches, onboarding as a WeChat Pay
e-commerce sub-merchant, and the sellers' payee identities (sub_mchid, Alipay account). (Being written.)"""

from __future__ import annotations

from typing import Any

from shared.bus import Handler
from shared.clock import Clock
from shared.mongo import Database
from shared.providers.alipay import AlipayClient
from shared.providers.wechatpay import WechatPayClient
from shared.streams import Streams, StreamStore


class Collection:
    def __init__(
        self,
        streams: StreamStore,
        db: Database,
        wechat: WechatPayClient,
        alipay: AlipayClient,
        settings: Any,
        clock: Clock | None = None,
    ) -> None:
        self.streams = streams
        self.db = db
        self.kinds: list[Streams[Any, Any]] = []

    async def ensure_indexes(self) -> None:
        return None

    def handlers(self, name: str) -> dict[str, Handler]:
        return {}

    async def poll(self) -> dict[str, int]:
        return {}

    async def sub_mchid_of(self, seller_id: str) -> str | None:
        return None

    async def alipay_account_of(self, seller_id: str) -> str | None:
        return None
