"""The gateway's refund-case views, pure: the refund service's cases (driven through its own domain and rendered by
its own internal view) mapped to API.md's statuses and fields, the mini-program's status-only view chosen by the
channel policy, the key a retried open-case call carries, and a return by a method the order's channel does not
allow refused before refund is asked to change anything."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from pydantic import ValidationError

from services.channel_gateway.api import ROUTES
from services.channel_gateway.clients import ServiceError
from services.channel_gateway.keys import CLIENTS
from services.channel_gateway.routes.refunds import (
    CaseOut,
    CaseStatusOut,
    DecisionIn,
    OpenCaseIn,
    ReturnShipmentIn,
    case_out,
    check_buyer,
    public_error,
    public_status,
    refund_idempotency_key,
    status_out,
    summary_out,
)
from services.channel_gateway.routing import PREFIX, Ctx, Empty, Session, endpoints
from services.refund.api import case_view
from services.refund.domain import (
    AFTER_SALE,
    AfterSale,
    Agree,
    CaseStatus,
    ConfirmReturn,
    Decide,
    Durations,
    Escalate,
    Open,
    RecordOrder,
    RecordRefunded,
    RecordRefundFailed,
    Reject,
    ShipReturn,
    Withdraw,
)
from shared.channels import policy
from shared.errors import AppError, NotFound
from tests.support.aggregates import T0, apply

D = Durations()
BUYER, SELLER = "usr_buyer", "usr_seller"
# API.md: requested → agreed | rejected (→ escalated → decided) → (return_shipped → return_received) → refunding →
# refunded; closed
PUBLIC = {
    "requested",
    "agreed",
    "rejected",
    "escalated",
    "return_shipped",
    "return_received",
    "refunding",
    "refunded",
    "closed",
}


def paid_order(channel: str = "app", shipped: bool = True) -> AfterSale:
    s, _ = apply(
        AFTER_SALE,
        AfterSale(),
        RecordOrder(
            order_id="ord_1",
            buyer_id=BUYER,
            seller_id=SELLER,
            channel=channel,  # type: ignore[arg-type]
            payment_method="wechat_pay" if channel == "mp" else "alipay",
            payment_id="pay_1",
            amount_fen=26_800,
            state="paid",
        ),
    )
    if shipped:
        s, _ = apply(AFTER_SALE, s, RecordOrder(order_id="ord_1", buyer_id=BUYER, seller_id=SELLER, state="shipped"))
    return s


def opened(kind: str, amount: int = 26_800, channel: str = "app") -> AfterSale:
    command = Open(
        refund_id="rfd_1", buyer_id=BUYER, kind=kind, amount_fen=amount, reason="broken", now=T0, durations=D
    )  # type: ignore[arg-type]
    return apply(AFTER_SALE, paid_order(channel), command)[0]


def then(s: AfterSale, command: Any) -> AfterSale:
    return apply(AFTER_SALE, s, command)[0]


def internal(s: AfterSale) -> dict[str, Any]:
    """What the refund service answers for the case (its full view, through JSON)."""
    doc: dict[str, Any] = json.loads(json.dumps(case_view(s.case("rfd_1"), s)))
    return doc


def test_every_internal_status_maps_to_a_public_status_of_the_contract() -> None:
    mapped = {status: public_status(status) for status in get_args(CaseStatus)}
    assert set(mapped.values()) <= PUBLIC
    assert mapped == {
        "requested": "requested",
        "awaiting_return": "agreed",
        "rejected": "rejected",
        "escalated": "escalated",
        "return_shipped": "return_shipped",
        "approved": "refunding",
        "refund_failed": "refunding",
        "refunded": "refunded",
        "closed": "closed",
    }


def test_a_status_the_gateway_does_not_know_is_unavailable_not_a_crash() -> None:
    with pytest.raises(AppError) as caught:
        public_status("teleported")
    assert (caught.value.status, caught.value.code) == (503, "unavailable")


def test_a_requested_case_has_the_contract_fields_and_its_seller_response_deadline() -> None:
    out = case_out(internal(opened("refund_only", 10_000)))
    assert out.model_dump(include=set(CaseOut.model_fields) - {"timeline", "opened_at", "deadline_at"}) == {
        "id": "rfd_1",
        "order_id": "ord_1",
        "channel": "app",
        "type": "refund_only",
        "status": "requested",
        "amount_fen": 10_000,
        "reason": "broken",
        "return_shipment": None,
        "provider_refund_id": None,
        "buyer_id": BUYER,
        "seller_id": SELLER,
        "payment_method": "alipay",
        "refunded_fen": 0,
        "evidence": [],
        "deadline_for": "seller_response",
        "escalated": False,
        "rejection_reason": None,
        "decision": None,
        "refund_failure": None,
        "closed_reason": None,
    }
    assert out.deadline_at is not None and out.deadline_at > out.opened_at  # type: ignore[operator]
    assert [(e.type, e.actor) for e in out.timeline] == [("requested", "buyer")]


def test_an_agreed_refund_only_case_is_refunding_at_once_then_refunded_with_the_provider_refund_id() -> None:
    s = then(opened("refund_only", 10_000), Agree(refund_id="rfd_1", seller_id=SELLER, now=T0, durations=D))
    out = case_out(internal(s))
    assert (out.status, out.deadline_at, out.deadline_for) == ("refunding", None, None)
    assert [(e.type, e.actor) for e in out.timeline] == [
        ("requested", "buyer"),
        ("agreed", "seller"),
        ("refunding", "system"),
    ]
    s = then(s, RecordRefunded(refund_id="rfd_1", amount_fen=10_000, provider_refund_id="2026112522001", now=T0))
    out = case_out(internal(s))
    assert (out.status, out.provider_refund_id, out.refunded_fen) == ("refunded", "2026112522001", 10_000)
    assert out.timeline[-1].type == "refunded"
    assert out.timeline[-1].details["provider_refund_id"] == "2026112522001"


def test_a_return_goes_agreed_then_return_shipped_with_its_waybill_then_refunding_once_received() -> None:
    s = then(opened("return_and_refund"), Agree(refund_id="rfd_1", seller_id=SELLER, now=T0, durations=D))
    out = case_out(internal(s))
    assert (out.status, out.deadline_for) == ("agreed", "return_shipment")
    s = then(
        s,
        ShipReturn(
            refund_id="rfd_1",
            buyer_id=BUYER,
            method="self_ship",
            carrier="SF",
            tracking_no="SF1234567890123",
            now=T0,
            durations=D,
        ),
    )
    out = case_out(internal(s))
    assert (out.status, out.deadline_for) == ("return_shipped", "return_confirmation")
    assert out.return_shipment is not None
    assert (out.return_shipment.method, out.return_shipment.carrier, out.return_shipment.tracking_no) == (
        "self_ship",
        "SF",
        "SF1234567890123",
    )
    assert out.return_shipment.shipped_at is not None and out.return_shipment.carrier_name
    s = then(s, ConfirmReturn(refund_id="rfd_1", seller_id=SELLER, now=T0))
    out = case_out(internal(s))
    assert out.status == "refunding"
    assert [e.type for e in out.timeline][-2:] == ["return_received", "refunding"]


def test_a_pickup_return_without_a_waybill_names_no_carrier() -> None:
    s = then(opened("return_and_refund"), Agree(refund_id="rfd_1", seller_id=SELLER, now=T0, durations=D))
    s = then(s, ShipReturn(refund_id="rfd_1", buyer_id=BUYER, method="courier_pickup", now=T0, durations=D))
    shipment = case_out(internal(s)).return_shipment
    assert shipment is not None
    assert (shipment.method, shipment.carrier, shipment.tracking_no, shipment.carrier_name) == (
        "courier_pickup",
        None,
        None,
        None,
    )


def test_a_rejected_case_escalated_and_decided_refund_in_part_shows_the_decision() -> None:
    s = then(
        opened("refund_only", 10_000), Reject(refund_id="rfd_1", seller_id=SELLER, reason="used", now=T0, durations=D)
    )
    out = case_out(internal(s))
    assert (out.status, out.rejection_reason, out.deadline_for) == ("rejected", "used", "escalation")
    s = then(s, Escalate(refund_id="rfd_1", buyer_id=BUYER, reason="it arrived broken", now=T0))
    out = case_out(internal(s))
    assert (out.status, out.escalated, out.deadline_at) == ("escalated", True, None)
    s = then(
        s, Decide(refund_id="rfd_1", outcome="refund", amount_fen=6_000, reason="half the fault", admin="ops", now=T0)
    )
    out = case_out(internal(s))
    assert (out.status, out.amount_fen) == ("refunding", 6_000)
    assert out.decision is not None
    assert out.decision.model_dump(exclude={"at"}) == {
        "outcome": "refund",
        "amount_fen": 6_000,
        "reason": "half the fault",
    }
    decided = [e for e in out.timeline if e.type == "decided"]
    assert len(decided) == 1 and decided[0].actor == "admin" and decided[0].details["reason"] == "half the fault"


def test_a_case_decided_close_is_closed_with_the_platforms_reason() -> None:
    s = then(opened("refund_only"), Reject(refund_id="rfd_1", seller_id=SELLER, reason="used", now=T0, durations=D))
    s = then(s, Escalate(refund_id="rfd_1", buyer_id=BUYER, reason="no", now=T0))
    s = then(s, Decide(refund_id="rfd_1", outcome="close", reason="as described", admin="ops", now=T0))
    out = case_out(internal(s))
    assert (out.status, out.closed_reason) == ("closed", "platform_decided")
    assert out.decision is not None and (out.decision.outcome, out.decision.amount_fen) == ("close", None)
    assert [e.type for e in out.timeline][-2:] == ["decided", "closed"]


def test_a_withdrawn_case_is_closed_by_the_buyer() -> None:
    s = then(opened("refund_only"), Withdraw(refund_id="rfd_1", buyer_id=BUYER, now=T0))
    out = case_out(internal(s))
    assert (out.status, out.closed_reason, out.timeline[-1].actor) == ("closed", "buyer_withdrew", "buyer")


def test_a_failed_refund_is_still_refunding_and_says_whether_it_is_retried() -> None:
    s = then(opened("refund_only"), Agree(refund_id="rfd_1", seller_id=SELLER, now=T0, durations=D))
    s = then(s, RecordRefundFailed(refund_id="rfd_1", reason="provider_error", now=T0, durations=D))
    out = case_out(internal(s))
    assert (out.status, out.deadline_for) == ("refunding", "refund_retry")
    assert out.refund_failure is not None and out.refund_failure.model_dump() == {
        "reason": "provider_error",
        "final": False,
    }
    s = then(s, RecordRefundFailed(refund_id="rfd_1", reason="exceeds_amount_paid", now=T0, durations=D))
    out = case_out(internal(s))
    assert out.status == "refunding"
    assert out.refund_failure is not None and out.refund_failure.final is True


def test_the_status_only_view_has_exactly_the_mini_programs_fields() -> None:
    s = then(opened("return_and_refund", channel="mp"), Agree(refund_id="rfd_1", seller_id=SELLER, now=T0, durations=D))
    view = json.loads(status_out(internal(s)).model_dump_json())
    assert view == {
        "id": "rfd_1",
        "order_id": "ord_1",
        "status": "agreed",
        "amount_fen": 26_800,
        "details_in_app": True,
    }


def test_a_list_row_maps_to_a_summary_with_the_public_status() -> None:
    row = {
        "id": "rfd_1",
        "order_id": "ord_1",
        "kind": "return_and_refund",
        "status": "awaiting_return",
        "amount_fen": 500,
        "refunded_fen": 0,
        "opened_at": "2026-11-25T10:00:00+00:00",
        "deadline_at": "2026-12-02T10:00:00+00:00",
    }
    assert summary_out(row).model_dump() == {
        "id": "rfd_1",
        "order_id": "ord_1",
        "type": "return_and_refund",
        "status": "agreed",
        "amount_fen": 500,
        "refunded_fen": 0,
        "opened_at": "2026-11-25T10:00:00+00:00",
        "deadline_at": "2026-12-02T10:00:00+00:00",
    }


def test_the_open_case_key_is_the_same_for_a_retry_and_another_for_another_user_audience_or_key() -> None:
    key = refund_idempotency_key("app", "usr_1", "k-1")
    assert key == refund_idempotency_key("app", "usr_1", "k-1")
    assert len(key) <= 255 and "k-1" not in key
    others = {
        refund_idempotency_key("app", "usr_2", "k-1"),
        refund_idempotency_key("mp", "usr_1", "k-1"),
        refund_idempotency_key("app", "usr_1", "k-2"),
        refund_idempotency_key("app", "usr_1\nk", "-1"),
    }
    assert key not in others and len(others) == 4


def _routes(method: str, path: str) -> dict[str, Any]:
    return {a: r for m, p, r, a in endpoints(ROUTES) if m == method and p == PREFIX[a] + path}


def test_each_audience_reads_cases_in_the_view_its_policy_names() -> None:
    expected = {"full": CaseOut, "status_only": CaseStatusOut}
    assert {c: policy(c).refund_detail for c in ("app", "mp")} == {"app": "full", "mp": "status_only"}
    case_answers = [
        ("POST", "/orders/{order_id}/refunds"),
        ("GET", "/refunds/{refund_id}"),
        ("POST", "/refunds/{refund_id}/return-shipment"),
        ("POST", "/refunds/{refund_id}/escalate"),
        ("POST", "/refunds/{refund_id}/withdraw"),
    ]
    for method, path in case_answers:
        routes = _routes(method, path)
        assert set(routes) == {"app", "mp"}, path
        for channel, route in routes.items():
            assert route.response is expected[policy(channel).refund_detail], (method, path, channel)
            assert route.allowed_in(channel)
    assert _routes("POST", "/orders/{order_id}/refunds")["mp"].idempotency_key


def test_seller_actions_exist_in_the_mini_program_only_to_answer_not_available() -> None:
    for path in ("/refunds/{refund_id}/agree", "/refunds/{refund_id}/reject", "/refunds/{refund_id}/confirm-return"):
        routes = _routes("POST", path)
        assert routes["app"].allowed_in("app") and not routes["mp"].allowed_in("mp"), path


def test_the_decision_is_an_admin_route_answering_the_full_case() -> None:
    routes = _routes("POST", "/refunds/{refund_id}/decision")
    assert set(routes) == {"admin"}
    assert (routes["admin"].auth, routes["admin"].response) == ("admin", CaseOut)


def test_bodies_refuse_what_the_contract_does_not_allow() -> None:
    ok = {"type": "refund_only", "amount_fen": 100, "reason": "broken", "evidence": ["https://img.example/a.jpg"]}
    assert OpenCaseIn.model_validate(ok).type == "refund_only"
    for bad in (
        ok | {"type": "exchange"},
        ok | {"amount_fen": 0},
        ok | {"amount_fen": "100"},
        ok | {"evidence": ["not a url"]},
        ok | {"buyer_id": "usr_x"},
        {k: v for k, v in ok.items() if k != "reason"},
    ):
        with pytest.raises(ValidationError):
            OpenCaseIn.model_validate(bad)
    with pytest.raises(ValidationError):
        ReturnShipmentIn.model_validate({"method": "drone"})
    assert DecisionIn.model_validate({"outcome": "refund", "amount_fen": 5, "reason": "r"}).amount_fen == 5
    with pytest.raises(ValidationError):
        DecisionIn.model_validate({"outcome": "close", "amount_fen": 5, "reason": "r"})


def test_a_buyers_action_on_a_case_by_another_user_is_not_found() -> None:
    case = internal(opened("refund_only"))
    check_buyer(case, BUYER)
    with pytest.raises(NotFound):
        check_buyer(case, SELLER)


class FakeRefund:
    """The refund client's two calls the return-shipment route makes, recorded."""

    def __init__(self, case: dict[str, Any]) -> None:
        self.stored = case
        self.actions: list[tuple[str, str, dict[str, Any]]] = []

    async def case(self, refund_id: str, user_id: str, view: str = "full") -> dict[str, Any]:
        if user_id not in (self.stored["buyer_id"], self.stored["seller_id"]):
            raise NotFound("no such refund case")
        return self.stored

    async def case_action(self, refund_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        self.actions.append((refund_id, action, body))
        return self.stored


class FakeClients:
    def __init__(self, refund: FakeRefund) -> None:
        self.refund = refund


def _ship_ctx(refund: FakeRefund, audience: str, user_id: str, body: dict[str, Any]) -> Ctx[Any, Any]:
    app = web.Application()
    app[CLIENTS] = FakeClients(refund)  # type: ignore[assignment]
    request = make_mocked_request(
        "POST", "/x/v1/refunds/rfd_1/return-shipment", match_info={"refund_id": "rfd_1"}, app=app
    )
    session = Session(user_id=user_id, channel=audience)  # type: ignore[arg-type]
    return Ctx(
        request=request,
        audience=audience,  # type: ignore[arg-type]
        session=session,
        body=ReturnShipmentIn.model_validate(body),
        query=Empty(),
    )


async def _ship(audience: str, order_channel: str, user_id: str, body: dict[str, Any]) -> tuple[Any, FakeRefund]:
    s = then(
        opened("return_and_refund", channel=order_channel),
        Agree(refund_id="rfd_1", seller_id=SELLER, now=T0, durations=D),
    )
    refund = FakeRefund(internal(s))
    route = _routes("POST", "/refunds/{refund_id}/return-shipment")[audience]
    return await route.handler(_ship_ctx(refund, audience, user_id, body)), refund


async def test_a_return_of_a_mini_program_order_by_courier_pickup_is_refused_and_nothing_is_asked_of_refund() -> None:
    for audience in ("mp", "app"):  # the order's channel decides, whichever audience asks
        with pytest.raises(AppError) as caught:
            await _ship(audience, "mp", BUYER, {"method": "courier_pickup"})
        assert (caught.value.status, caught.value.code) == (422, "return_method_not_available_in_channel")
        assert caught.value.details == {"channel": "mp", "allowed": ["self_ship"]}
    _, refund = await _ship(
        "mp", "mp", BUYER, {"method": "self_ship", "carrier": "SF", "tracking_no": "SF1234567890123"}
    )
    assert refund.actions == [
        (
            "rfd_1",
            "return-shipment",
            {"buyer_id": BUYER, "method": "self_ship", "carrier": "SF", "tracking_no": "SF1234567890123"},
        )
    ]


async def test_the_seller_shipping_the_buyers_return_is_not_found_before_the_method_is_looked_at() -> None:
    with pytest.raises(NotFound):
        await _ship("app", "mp", SELLER, {"method": "courier_pickup"})


async def test_an_app_order_may_be_returned_by_pickup_and_the_mini_program_answers_the_status_view() -> None:
    out, refund = await _ship("app", "app", BUYER, {"method": "courier_pickup"})
    assert isinstance(out, CaseOut) and [a[1] for a in refund.actions] == ["return-shipment"]
    out, _ = await _ship("mp", "mp", BUYER, {"method": "self_ship", "carrier": "SF", "tracking_no": "SF1234567890123"})
    assert isinstance(out, CaseStatusOut) and out.details_in_app is True


def test_a_command_refused_in_the_cases_state_names_public_statuses() -> None:
    refused = ServiceError(
        "the case is awaiting_return",
        code="invalid_state",
        status=409,
        details={"status": "approved", "allowed_from": ["requested", "rejected", "escalated", "awaiting_return"]},
    )
    told = public_error(refused)
    assert (told.code, told.status, told.message) == ("invalid_state", 409, "the case is refunding")
    assert told.details == {"status": "refunding", "allowed_from": ["requested", "rejected", "escalated", "agreed"]}
    other = ServiceError("a case can be escalated once", code="already_escalated", status=409)
    assert public_error(other) is other
