"""Every payment route, fuzzed with hypothesis against the real process (with the sandbox as provider): the internal
API with near-valid and wild bodies, query strings, cursors and path ids; the public notification routes with wild
bodies and headers, and with notifications correctly signed by the (test) provider keys around wild contents. Bad
input is a 4xx JSON error (or the provider's refusal), never a 5xx."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.ids import new_id
from shared.protocols import alipay as ap
from shared.protocols import wechatpay as wp
from tests.integration.payment.conftest import PaymentClient
from tests.support.fuzz import (
    FUZZ,
    ROUGH,
    Fuzzer,
    Route,
    assert_reached,
    cursors,
    fixed,
    forge_cursor,
    fuzz_route,
    near,
    one,
    weighted,
    wild,
    wild_text,
)
from tests.support.providers import ALIPAY_APP_ID, ALIPAY_SELLER_ID, APIV3_KEY, APPID, KEYS, MCHID

PLATFORM_PRIVATE = wp.load_private_key((KEYS / "TEST_ONLY_wechatpay_platform_private.pem").read_bytes())
PLATFORM_SERIAL = wp.certificate_serial_no(
    wp.load_certificate((KEYS / "TEST_ONLY_wechatpay_platform_cert.pem").read_bytes())
)
ALIPAY_PLATFORM_PRIVATE = ap.load_private_key((KEYS / "TEST_ONLY_alipay_platform_private.pem").read_bytes())


@dataclass
class World:
    buyers: list[str] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    agreements: list[str] = field(default_factory=list)
    cursors: list[str] = field(default_factory=list)
    openid: str = ""
    wechat_seller: str = ""

    @property
    def payment_ids(self) -> list[str]:
        return [p["id"] for p in self.payments]

    @property
    def order_ids(self) -> list[str]:
        return [p["order_id"] for p in self.payments]


@pytest.fixture(scope="module")
async def world(payments: PaymentClient) -> AsyncIterator[World]:
    w = World(openid=await payments.openid(), wechat_seller=payments.wechat_seller)
    w.payments.append(await payments.create(payments.order("wechat_pay", openid=w.openid)))
    w.payments.append(await payments.create(payments.order("alipay", amount_fen=5_000)))
    buyer = new_id("usr")
    w.buyers.append(buyer)
    for _ in range(2):
        body = {"buyer_id": buyer, "alipay_user_id": "2088" + uuid.uuid4().hex[:12]}
        w.agreements.append((await payments.ok("POST", "/agreements", body, 201))["id"])
    w.cursors.append((await payments.ok("GET", "/agreements", buyer_id=buyer, limit=1))["next_cursor"])
    yield w


def user_ids(w: World) -> st.SearchStrategy[str]:
    fresh = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
    return weighted((60, st.sampled_from(w.buyers)), (40, fresh))


def times() -> st.SearchStrategy[str]:
    """Expiry times: mostly soon, sometimes at the ends of the calendar, in any offset."""
    soon = st.integers(60, 3600).map(lambda s: (datetime.now(UTC) + timedelta(seconds=s)).isoformat())
    offsets = st.integers(-23 * 60, 23 * 60).map(lambda m: timedelta(minutes=m))
    any_time = st.builds(lambda d, off: d.replace(tzinfo=timezone(off)).isoformat(), st.datetimes(), offsets)
    edges = st.sampled_from(
        ["9999-12-31T23:59:59+00:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-01-01T00:00:00"]
    )
    return weighted((70, soon), (20, any_time), (10, edges))


def payment_fields(w: World) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "order_id": weighted((20, st.sampled_from(w.order_ids)), (80, st.builds(lambda: new_id("ord")))),
        "buyer_id": user_ids(w),
        "seller_id": weighted((50, st.just(w.wechat_seller)), (50, user_ids(w))),
        "channel": st.sampled_from(["app", "mp"]),
        "method": st.sampled_from(["alipay", "alipay_password_free", "wechat_pay"]),
        "amount_fen": st.integers(1, 100_000_000),
        "expires_at": times(),
        "description": st.text(min_size=1, max_size=127),
        "openid": st.just(w.openid),
        "alipay_user_id": st.just("2088000000000001"),
        "agreement_id": st.sampled_from(w.agreements),
    }


def buyer_query(w: World) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "buyer_id": user_ids(w),
        "limit": st.integers(1, 100).map(str),
        "cursor": cursors(["agreements"], w.cursors),
    }


ROUTES = [
    Route("create_payment", "POST", fixed("/payments"), body=payment_fields),
    Route(
        "payment_of_order",
        "GET",
        fixed("/payments"),
        query=lambda w: {"order_id": weighted((70, st.sampled_from(w.order_ids)), (30, wild_text))},
    ),
    Route("get_payment", "GET", one("/payments/{}", lambda w: w.payment_ids)),
    Route("reconcile_payment", "POST", one("/payments/{}/reconcile", lambda w: w.payment_ids)),
    Route(
        "create_agreement",
        "POST",
        fixed("/agreements"),
        body=lambda w: {"buyer_id": user_ids(w), "alipay_user_id": st.text(min_size=1, max_size=64)},
    ),
    Route("list_agreements", "GET", fixed("/agreements"), query=buyer_query),
    Route("get_agreement", "GET", one("/agreements/{}", lambda w: w.agreements), query=buyer_query),
    Route("unsign_agreement", "DELETE", one("/agreements/{}", lambda w: w.agreements), query=buyer_query),
]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_no_input_to_a_payment_route_gives_a_5xx(route: Route, world: World, payments: PaymentClient) -> None:
    fuzz_route(route, world, payments.process.port)


# ------------------------------------------------------------------------------------------ provider notifications

header_text = weighted(
    (80, st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40)),
    (20, st.text(alphabet=st.characters(min_codepoint=0x80, max_codepoint=0xFF), max_size=8)),  # sent as raw bytes
)
WECHAT_HEADERS = {
    "Wechatpay-Timestamp": weighted(
        (40, st.builds(lambda: str(int(time.time())))), (30, st.integers().map(str)), (30, header_text)
    ),
    "Wechatpay-Nonce": header_text,
    "Wechatpay-Serial": weighted((50, st.just(PLATFORM_SERIAL)), (50, header_text)),
    "Wechatpay-Signature": header_text,
    "Wechatpay-Signature-Type": weighted((50, st.just("WECHATPAY2-SHA256-RSA2048")), (50, header_text)),
}


def test_no_unsigned_wechat_notification_gives_a_5xx(world: World, payments: PaymentClient) -> None:
    fuzzer = Fuzzer(payments.process.port, prefix="")

    raws = st.binary(max_size=200) | wild.map(lambda v: json.dumps(v).encode())
    names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)

    @FUZZ
    @given(raw=raws, headers=near(WECHAT_HEADERS, header_text, names))
    def run(raw: bytes, headers: dict[str, str]) -> None:
        fuzzer.send("wechat", "POST", "/notify/wechatpay", body=raw, headers=headers, token=False, json_errors=False)

    try:
        run()
    finally:
        fuzzer.close()
    assert_reached(fuzzer, "wechat", 4)


STEADY = {"sp_mchid", "sp_appid", "sub_mchid", "out_trade_no"}


def resource_fields(w: World) -> dict[str, st.SearchStrategy[Any]]:
    wechat = w.payments[0]
    return {
        "sp_mchid": weighted((90, st.just(MCHID)), (10, wild)),
        "sp_appid": weighted((90, st.just(APPID)), (10, wild)),
        "sub_mchid": weighted((90, st.just(wechat["sub_mchid"])), (10, wild)),
        "out_trade_no": weighted((80, st.just(wechat["out_trade_no"])), (20, wild_text)),
        "transaction_id": st.integers(0, 10**20).map(lambda n: f"42000{n:020d}"),
        "trade_type": st.just("JSAPI"),
        "trade_state": st.sampled_from(["SUCCESS", "NOTPAY", "CLOSED", "REFUND"]),
        "success_time": weighted(
            (60, st.builds(lambda: datetime.now(UTC).isoformat(timespec="seconds"))),
            (40, st.sampled_from(["9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-14:00", "x", ""])),
        ),
        "amount": st.fixed_dictionaries(
            {"total": weighted((60, st.just(wechat["amount_fen"])), (40, wild))},
            optional={"currency": st.just("CNY"), "refund": wild},
        ),
        "out_refund_no": wild_text,
        "refund_status": st.sampled_from(["SUCCESS", "ABNORMAL", "CLOSED"]),
    }


def test_no_signed_wechat_notification_with_wild_contents_gives_a_5xx(world: World, payments: PaymentClient) -> None:
    fuzzer = Fuzzer(payments.process.port, prefix="")

    @FUZZ
    @given(
        resource=near(resource_fields(world), wild, roll=ROUGH, steady=STEADY),
        event_type=st.sampled_from(["TRANSACTION.SUCCESS", "REFUND.SUCCESS", "REFUND.ABNORMAL"]) | st.text(max_size=20),
    )
    def run(resource: dict[str, Any], event_type: str) -> None:
        try:
            body = _wechat_body(resource, event_type)
        except UnicodeEncodeError:
            return  # text with a lone surrogate cannot be encrypted as UTF-8 (nor sent by WeChat)
        headers = wp.sign_response(
            body, private_key=PLATFORM_PRIVATE, serial_no=PLATFORM_SERIAL, timestamp=int(time.time()), nonce="n" * 16
        )
        fuzzer.send(
            "wechat_signed", "POST", "/notify/wechatpay", body=body, headers=headers, token=False, json_errors=False
        )

    try:
        run()
    finally:
        fuzzer.close()
    assert_reached(fuzzer, "wechat_signed", 2, 4)


def _wechat_body(resource: dict[str, Any], event_type: str) -> bytes:
    return wp.build_notification_body(
        event_id=str(uuid.uuid4()),
        create_time=datetime.now(UTC).isoformat(),
        event_type=event_type,
        summary="fuzz",
        original_type="transaction",
        resource=resource,
        apiv3_key=APIV3_KEY,
        nonce=uuid.uuid4().hex[:12],
        associated_data="transaction",
    )


def alipay_fields(w: World) -> dict[str, st.SearchStrategy[str]]:
    alipay = w.payments[1]
    return {
        "notify_type": st.sampled_from(["trade_status_sync", "dut_user_sign", "dut_user_unsign"]) | wild_text,
        "notify_id": st.builds(lambda: uuid.uuid4().hex),
        "notify_time": st.just("2026-11-25 10:00:00"),
        "app_id": weighted((90, st.just(ALIPAY_APP_ID)), (10, wild_text)),
        "charset": st.just("utf-8"),
        "version": st.just("1.0"),
        "trade_no": st.integers(0, 10**19).map(str),
        "out_trade_no": weighted((80, st.just(alipay["id"])), (20, wild_text)),
        "seller_id": weighted((90, st.just(ALIPAY_SELLER_ID)), (10, wild_text)),
        "trade_status": weighted(
            (60, st.sampled_from(["TRADE_SUCCESS", "TRADE_FINISHED"])),
            (40, st.sampled_from(["TRADE_CLOSED", "WAIT_BUYER_PAY"])),
        ),
        "total_amount": weighted((80, st.just("50.00")), (20, wild_text)),
        "gmt_payment": weighted((70, st.just("2026-11-25 10:00:00")), (30, wild_text)),
        "out_biz_no": wild_text,
        "external_agreement_no": weighted((70, st.sampled_from(w.agreements)), (30, wild_text)),
        "agreement_no": wild_text,
        "alipay_user_id": wild_text,
    }


@pytest.mark.parametrize("notify_type", ["trade_status_sync", "dut_user_sign", "dut_user_unsign"])
def test_no_alipay_notification_signed_or_not_gives_a_5xx(
    world: World, payments: PaymentClient, notify_type: str
) -> None:
    fuzzer = Fuzzer(payments.process.port, prefix="")
    fields = {**alipay_fields(world), "notify_type": weighted((90, st.just(notify_type)), (10, wild_text))}
    # Alipay's form values are text: a wild field here is any text, never JSON.
    forms = near(fields, wild_text, roll=ROUGH)

    @FUZZ
    @given(
        form=forms, signed=weighted((80, st.just(True)), (20, st.just(False))), raw=st.none() | st.binary(max_size=80)
    )
    def run(form: dict[str, str], signed: bool, raw: bytes | None) -> None:
        try:
            params = ap.sign_notification(form, ALIPAY_PLATFORM_PRIVATE) if signed else form
            body = raw if raw is not None else ap.encode_params(params).encode()
        except UnicodeEncodeError:
            return  # text with a lone surrogate cannot be signed or sent as UTF-8
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        fuzzer.send("alipay", "POST", "/notify/alipay", body=body, headers=headers, token=False, json_errors=False)

    try:
        run()
    finally:
        fuzzer.close()
    assert_reached(fuzzer, "alipay", 2)


# ------------------------------------------------------------------------------- what the fuzzing found, pinned


@pytest.mark.parametrize("key", [{"ms": 1e300}, {"ms": 10**30}, {"ms": -(10**30)}, 2**63])
async def test_an_agreements_cursor_holding_an_out_of_range_key_is_422(payments: PaymentClient, key: Any) -> None:
    cursor = forge_cursor({"s": "agreements", "k": key, "i": "agr_x"})
    reply = await payments.call("GET", "/agreements", buyer_id="usr_x", cursor=cursor)
    assert reply.status == 422, reply.body
    assert reply.body["error"]["details"] == {"query.cursor": "not a cursor of this list"}


@pytest.mark.parametrize("header", ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial"])
async def test_a_notification_whose_headers_are_not_utf8_is_refused_and_audited(
    payments: PaymentClient, header: str
) -> None:
    fuzzer = Fuzzer(payments.process.port, prefix="")
    headers = {
        "Wechatpay-Timestamp": str(int(time.time())),
        "Wechatpay-Nonce": "n" * 16,
        "Wechatpay-Serial": PLATFORM_SERIAL,
        "Wechatpay-Signature": "c2lnbmF0dXJl",
        # http.client sends this as latin-1: the bytes 0xFF 0xFE, which the service reads surrogate-escaped.
        header: "\xff\xfe",
    }
    audited = {"provider": "wechatpay", "verified": False, f"headers.{header}": "\ufffd\ufffd"}
    before = await payments.db["notifications"].count_documents(audited)
    status, body = fuzzer.send(
        "wechat", "POST", "/notify/wechatpay", body=b"{}", headers=headers, token=False, json_errors=False
    )
    fuzzer.close()
    assert (status, body) == (401, {"code": "FAIL", "message": "verification failed"})
    assert await payments.db["notifications"].count_documents(audited) == before + 1


@pytest.mark.parametrize(
    "change",
    [
        {"amount": {"total": None}},
        {"amount": {"total": "35000"}},
        {"amount": ["35000"]},
        {"amount": None},
        {"transaction_id": None},
        {"transaction_id": 42},
        {"success_time": 20261201},
    ],
)
async def test_a_signed_wechat_notification_with_malformed_fields_is_refused_and_audited(
    payments: PaymentClient, world: World, change: dict[str, Any]
) -> None:
    payment = await payments.create(payments.order("wechat_pay", openid=world.openid))
    resource = {
        "sp_mchid": MCHID,
        "sp_appid": APPID,
        "sub_mchid": payment["sub_mchid"],
        "out_trade_no": payment["out_trade_no"],
        "transaction_id": "4200000000000000000001",
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "success_time": datetime.now(UTC).isoformat(timespec="seconds"),
        "amount": {"total": payment["amount_fen"], "currency": "CNY"},
        **change,
    }
    body = _wechat_body(resource, "TRANSACTION.SUCCESS")
    nonce = uuid.uuid4().hex
    headers = wp.sign_response(
        body, private_key=PLATFORM_PRIVATE, serial_no=PLATFORM_SERIAL, timestamp=int(time.time()), nonce=nonce
    )
    fuzzer = Fuzzer(payments.process.port, prefix="")
    status, reply = fuzzer.send("wechat", "POST", "/notify/wechatpay", body=body, headers=headers, json_errors=False)
    fuzzer.close()
    if change.get("success_time") is not None:  # an unreadable time falls back to now: the payment still succeeds
        assert status == 204
        return
    assert (status, reply) == (400, {"code": "FAIL", "message": "rejected"})
    assert (await payments.payment(payment["id"]))["status"] == "requires_action"
    audit = await payments.db["notifications"].find_one({"headers.Wechatpay-Nonce": nonce})
    assert audit is not None and (audit["verified"], audit["outcome"]) == (True, "refused")


def _alipay_post(payments: PaymentClient, form: dict[str, str]) -> tuple[int, Any]:
    fuzzer = Fuzzer(payments.process.port, prefix="")
    body = ap.encode_params(ap.sign_notification(form, ALIPAY_PLATFORM_PRIVATE)).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    try:
        return fuzzer.send("alipay", "POST", "/notify/alipay", body=body, headers=headers, json_errors=False)
    finally:
        fuzzer.close()


async def test_a_signed_alipay_trade_notification_without_trade_no_is_refused(payments: PaymentClient) -> None:
    payment = await payments.create(payments.order("alipay", amount_fen=5_000))
    form = {
        "notify_type": "trade_status_sync",
        "notify_id": uuid.uuid4().hex,
        "app_id": ALIPAY_APP_ID,
        "out_trade_no": payment["id"],
        "seller_id": ALIPAY_SELLER_ID,
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "50.00",
    }
    assert _alipay_post(payments, form) == (200, "fail")
    assert (await payments.payment(payment["id"]))["status"] == "requires_action"


async def test_a_signed_alipay_sign_notification_without_agreement_no_is_refused(
    payments: PaymentClient, world: World
) -> None:
    agreement_id = world.agreements[0]
    form = {
        "notify_type": "dut_user_sign",
        "notify_id": uuid.uuid4().hex,
        "app_id": ALIPAY_APP_ID,
        "external_agreement_no": agreement_id,
    }
    assert _alipay_post(payments, form) == (200, "fail")
    agreement = await payments.ok("GET", f"/agreements/{agreement_id}", buyer_id=world.buyers[0])
    assert agreement["status"] != "active"


@pytest.mark.parametrize(
    "expires_at",
    [
        "9999-12-31T23:59:59+00:00",
        "0001-01-01T00:00:00+14:00",
        (datetime.now(UTC) + timedelta(days=16)).isoformat(),
        (datetime.now(UTC) - timedelta(days=2)).isoformat(),
    ],
)
async def test_a_payment_expiring_outside_the_window_providers_accept_is_422(
    payments: PaymentClient, expires_at: str
) -> None:
    order = payments.order("alipay", expires_at=expires_at)
    reply = await payments.call("POST", "/payments", order)
    assert reply.status == 422, reply.body
    assert "expires_at" in reply.body["error"]["details"]
    assert await payments.db["payments"].count_documents({"order_id": order["order_id"]}) == 0
