"""The Alipay stand-in's Mongo state: trade, agreement and payout streams, their lookups, auth codes and tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.sandbox.alipay import domain as d
from shared.clock import Clock
from shared.mongo import Collection, Database, drop_index_if_present, is_duplicate_key
from shared.streams import Outcome, StreamStore, execute, load

# Stream ids are namespaced: the stream collections are shared with the WeChat half of the sandbox.
TRADE = "alipay.trade:"
AGREEMENT = "alipay.agreement:"
TRANSFER = "alipay.transfer:"
PAYOUT_DAY = "alipay.payout_day:"
ACCOUNT = "alipay.account:"
RELATION = "alipay.royalty_relation:"

TRADE_NOS = "alipay_trade_nos"
AGREEMENTS = "alipay_agreements"
TRANSFER_ORDERS = "alipay_transfer_orders"
AUTH_CODES = "alipay_auth_codes"
AUTH_CODE_USES = "alipay_auth_code_uses"
TOKENS = "alipay_tokens"
OPEN_IDS = "alipay_open_ids"
LOGIN_NAMES = "alipay_login_names"
RELATIONS = "alipay_royalty_relations"
SETTLES = "alipay_settles"
SETTLE_REQUESTS = "alipay_settle_requests"


class AlipayStore:
    """Decisions go through streams (a unique (stream_id, seq) decides every race); the other collections are
    lookups from provider numbers to streams, written after the append they describe."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.streams = StreamStore(db, clock=clock)
        self.trade_nos = db[TRADE_NOS]
        self.agreements = db[AGREEMENTS]
        self.transfer_orders = db[TRANSFER_ORDERS]
        self.auth_codes = db[AUTH_CODES]
        self.auth_code_uses = db[AUTH_CODE_USES]
        self.tokens = db[TOKENS]
        self.open_ids = db[OPEN_IDS]
        self.login_names = db[LOGIN_NAMES]
        self.relations = db[RELATIONS]
        self.settles = db[SETTLES]
        self.settle_requests = db[SETTLE_REQUESTS]

    async def ensure_indexes(self) -> None:
        await self.streams.ensure_indexes()
        # Led by the external number, which narrows a lookup to an agreement or two; the app id (the same on every
        # agreement of one sandbox) led it before, and served nothing (docs/queries.md).
        await self.agreements.create_index([("external_agreement_no", 1), ("app_id", 1)], name="by_external_no")
        await drop_index_if_present(self.agreements, "external_no")
        await self.transfer_orders.create_index([("pay_fund_order_id", 1)], name="pay_fund_order_id")
        await self.tokens.create_index([("refresh_token", 1)], name="refresh_token")
        await self.relations.create_index([("app_id", 1)], name="app_id")

    # --- trades ---

    async def trade(self, app_id: str, out_trade_no: str) -> d.TradeState:
        state, _ = await load(self.streams, d.TRADE, TRADE + f"{app_id}:{out_trade_no}")
        return state

    async def run_trade(self, app_id: str, out_trade_no: str, cmd: d.TradeCommand) -> Outcome[d.TradeState]:
        outcome = await execute(self.streams, d.TRADE, TRADE + f"{app_id}:{out_trade_no}", cmd)
        if outcome.created:
            await self._insert_lookup(
                self.trade_nos, {"_id": outcome.state.trade_no, "app_id": app_id, "out_trade_no": out_trade_no}
            )
        return outcome

    async def out_trade_no_of(self, app_id: str, trade_no: str) -> str | None:
        doc = await self.trade_nos.find_one({"_id": trade_no})
        if doc is None or doc["app_id"] != app_id:
            return None
        return str(doc["out_trade_no"])

    # --- agreements ---

    async def agreement(self, agreement_no: str) -> d.AgreementState:
        state, _ = await load(self.streams, d.AGREEMENT, AGREEMENT + agreement_no)
        return state

    async def run_agreement(self, agreement_no: str, cmd: d.AgreementCommand) -> Outcome[d.AgreementState]:
        outcome = await execute(self.streams, d.AGREEMENT, AGREEMENT + agreement_no, cmd)
        terms = outcome.state.terms
        if outcome.created and terms is not None:
            await self._insert_lookup(
                self.agreements,
                {
                    "_id": agreement_no,
                    "app_id": terms.app_id,
                    "user_id": terms.user_id,
                    "personal_product_code": terms.personal_product_code,
                    "sign_scene": terms.sign_scene,
                    "external_agreement_no": terms.external_agreement_no,
                    "signed_at": terms.signed_at,
                },
            )
        return outcome

    async def agreement_nos_by_external(self, app_id: str, external_agreement_no: str) -> list[dict[str, Any]]:
        """Agreements signed with this external number, newest first (a number may be reused after unsigning)."""
        cursor = self.agreements.find({"app_id": app_id, "external_agreement_no": external_agreement_no})
        return sorted([doc async for doc in cursor], key=lambda doc: doc["signed_at"], reverse=True)

    # --- payouts ---

    async def transfer(self, app_id: str, out_biz_no: str) -> d.TransferState:
        state, _ = await load(self.streams, d.TRANSFER, TRANSFER + f"{app_id}:{out_biz_no}")
        return state

    async def run_transfer(self, app_id: str, out_biz_no: str, cmd: d.TransferCommand) -> Outcome[d.TransferState]:
        outcome = await execute(self.streams, d.TRANSFER, TRANSFER + f"{app_id}:{out_biz_no}", cmd)
        if outcome.created:
            await self._insert_lookup(
                self.transfer_orders,
                {
                    "_id": outcome.state.order_id,
                    "pay_fund_order_id": outcome.state.pay_fund_order_id,
                    "app_id": app_id,
                    "out_biz_no": out_biz_no,
                },
            )
        return outcome

    async def out_biz_no_of(self, app_id: str, *, order_id: str | None, pay_fund_order_id: str | None) -> str | None:
        query = {"pay_fund_order_id": pay_fund_order_id} if pay_fund_order_id else {"_id": order_id}
        doc = await self.transfer_orders.find_one(query)
        if doc is None or doc["app_id"] != app_id:
            return None
        return str(doc["out_biz_no"])

    async def count_payout(self, app_id: str, day: str, cmd: d.CountPayout) -> None:
        await execute(self.streams, d.PAYOUT_DAY, PAYOUT_DAY + f"{app_id}:{day}", cmd)

    # --- identities: open ids and login names of sandbox users ---

    async def remember_identity(self, kind: str, value: str, user_id: str) -> str:
        """Bind an open id or login name to a user id once (a unique insert decides); the user id it is bound to."""
        collection = self.open_ids if kind == "openId" else self.login_names
        await self._insert_lookup(collection, {"_id": value, "user_id": user_id})
        doc = await collection.find_one({"_id": value})
        assert doc is not None
        return str(doc["user_id"])

    async def user_of(self, kind: str, value: str) -> str | None:
        if kind == "userId":
            return value
        collection = self.open_ids if kind == "openId" else self.login_names
        doc = await collection.find_one({"_id": value})
        return None if doc is None else str(doc["user_id"])

    # --- royalty: relations, settlements, account books ---

    async def relation(self, app_id: str, user_id: str) -> d.RelationState:
        state, _ = await load(self.streams, d.RELATION, RELATION + f"{app_id}:{user_id}")
        return state

    async def run_relation(self, app_id: str, user_id: str, cmd: d.RelationCommand) -> Outcome[d.RelationState]:
        outcome = await execute(self.streams, d.RELATION, RELATION + f"{app_id}:{user_id}", cmd)
        if outcome.created:
            await self._insert_lookup(
                self.relations, {"_id": f"{app_id}:{user_id}", "app_id": app_id, "user_id": user_id}
            )
        return outcome

    async def relation_user_ids(self, app_id: str) -> list[str]:
        """Every receiver ever bound by this app, in id order (their streams say which are bound now)."""
        return sorted([str(doc["user_id"]) async for doc in self.relations.find({"app_id": app_id})])

    async def claim_settle_request(self, app_id: str, out_request_no: str, trade_no: str) -> str:
        """The trade an out_request_no belongs to: the first settlement to use it claims it (unique insert)."""
        key = f"{app_id}:{out_request_no}"
        await self._insert_lookup(self.settle_requests, {"_id": key, "trade_no": trade_no})
        doc = await self.settle_requests.find_one({"_id": key})
        assert doc is not None
        return str(doc["trade_no"])

    async def save_settle_no(self, settle_no: str, app_id: str, out_trade_no: str, out_request_no: str) -> None:
        await self._insert_lookup(
            self.settles,
            {"_id": settle_no, "app_id": app_id, "out_trade_no": out_trade_no, "out_request_no": out_request_no},
        )

    async def settle_of(self, settle_no: str) -> dict[str, Any] | None:
        return await self.settles.find_one({"_id": settle_no})

    async def account(self, user_id: str) -> d.AccountState:
        state, _ = await load(self.streams, d.ACCOUNT, ACCOUNT + user_id)
        return state

    async def book(self, user_id: str, cmd: d.Book) -> Outcome[d.AccountState]:
        """One booking, once: the command id is the account plus the booking's reference."""
        return await execute(
            self.streams, d.ACCOUNT, ACCOUNT + user_id, cmd, command_id=f"alipay.book:{user_id}:{cmd.ref}"
        )

    # --- oauth ---

    async def save_auth_code(self, code: str, user_id: str, app_id: str, now: datetime) -> None:
        await self.auth_codes.insert_one({"_id": code, "user_id": user_id, "app_id": app_id, "created_at": now})

    async def auth_code(self, code: str) -> dict[str, Any] | None:
        return await self.auth_codes.find_one({"_id": code})

    async def use_auth_code(self, code: str, now: datetime) -> bool:
        """True for the first use only: codes are single-use, and a unique insert decides between racing uses."""
        try:
            await self.auth_code_uses.insert_one({"_id": code, "used_at": now})
        except Exception as exc:
            if is_duplicate_key(exc):
                return False
            raise
        return True

    async def save_token(self, doc: dict[str, Any]) -> None:
        await self.tokens.insert_one(doc)

    async def token_by_refresh(self, refresh_token: str) -> dict[str, Any] | None:
        return await self.tokens.find_one({"refresh_token": refresh_token})

    async def _insert_lookup(self, collection: Collection, doc: dict[str, Any]) -> None:
        try:
            await collection.insert_one(doc)
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
