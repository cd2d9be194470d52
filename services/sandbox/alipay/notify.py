"""Alipay async notifications: the documented form fields, RSA2-signed with the platform key, queued for delivery."""

from __future__ import annotations

import json
from datetime import datetime

from services.sandbox.alipay import domain as d
from services.sandbox.alipay.runtime import Alipay
from shared.protocols.alipay import CHARSET, VERSION, encode_params, sign_content, sign_notification

FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


async def send(
    alipay: Alipay, *, topic: str, key: str, url: str | None, fields: dict[str, str | None], attrs: dict[str, str]
) -> None:
    """Sign and queue one notification; nothing is sent when there is nowhere to send it."""
    if not url:
        return
    now = alipay.clock.now()
    params = {
        "notify_time": d.wire_time(now),
        "notify_id": alipay.ids.notify_id(),
        "app_id": alipay.app_id,
        "auth_app_id": alipay.app_id,
        "charset": CHARSET,
        "version": VERSION,
        # Empty values are left out: signers skip them, but some verifiers (python-alipay-sdk) would not.
        **{k: v for k, v in fields.items() if v},
    }
    signed = sign_notification(params, alipay.platform_key)
    fault = alipay.faults.take("alipay.notify", {"topic": topic, "key": key, **attrs}, actions={"corrupt_signature"})
    if fault is not None:
        signed["sign"] = alipay.wrong_signature(sign_content(params, exclude_sign_type=True))
    await alipay.notifier.enqueue(
        "alipay", topic=topic, key=key, url=url, body=encode_params(signed), headers=FORM, fault_attrs=attrs
    )


def _fund_bill_list(amount_fen: int) -> str:
    # Notifications spell this field's keys in camelCase, unlike the query response.
    return json.dumps([{"amount": d.yuan(amount_fen), "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":"))


def trade_fields(state: d.TradeState, now: datetime) -> dict[str, str | None]:
    order = state.order
    assert order is not None and state.created_at is not None
    paid = state.paid_at is not None
    fields: dict[str, str | None] = {
        "notify_type": "trade_status_sync",
        "trade_no": state.trade_no,
        "out_trade_no": order.out_trade_no,
        "seller_id": order.seller_id,
        "trade_status": state.status(now),
        "total_amount": d.yuan(order.total_fen),
        "subject": order.subject,
        "body": order.body,
        "passback_params": order.passback_params,
        "gmt_create": d.wire_time(state.created_at),
    }
    if paid and state.buyer_id is not None and state.paid_at is not None:
        # Under the OpenID regime the buyer is buyer_open_id and no buyer_id is sent.
        who = {"buyer_open_id": state.buyer_open_id} if state.buyer_open_id else {"buyer_id": state.buyer_id}
        fields.update(
            {
                **who,
                "buyer_logon_id": d.masked_logon_id(state.buyer_id),
                "receipt_amount": d.yuan(order.total_fen),
                "invoice_amount": d.yuan(order.total_fen),
                "buyer_pay_amount": d.yuan(order.total_fen),
                "point_amount": "0.00",
                "gmt_payment": d.wire_time(state.paid_at),
                "fund_bill_list": _fund_bill_list(order.total_fen),
            }
        )
    return fields


def trade_attrs(state: d.TradeState, now: datetime) -> dict[str, str]:
    assert state.order is not None
    return {"out_trade_no": state.order.out_trade_no, "trade_status": state.status(now)}


async def _trade_status_sync(
    alipay: Alipay,
    state: d.TradeState,
    now: datetime,
    *,
    key: str | None = None,
    fields: dict[str, str | None] | None = None,
    attrs: dict[str, str] | None = None,
) -> None:
    """A trade_status_sync to the trade's notify_url: the trade as of ``now`` and what this change adds to it."""
    assert state.order is not None
    await send(
        alipay,
        topic="trade_status_sync",
        key=state.order.out_trade_no if key is None else key,
        url=state.order.notify_url,
        fields={**trade_fields(state, now), **(fields or {})},
        attrs={**trade_attrs(state, now), **(attrs or {})},
    )


async def trade_paid(alipay: Alipay, state: d.TradeState) -> None:
    await _trade_status_sync(alipay, state, alipay.clock.now())


async def trade_closed(alipay: Alipay, state: d.TradeState) -> None:
    assert state.closed_at is not None
    await _trade_status_sync(alipay, state, alipay.clock.now(), fields={"gmt_close": d.wire_time(state.closed_at)})


async def trade_refunded(alipay: Alipay, state: d.TradeState, refund: d.Refund) -> None:
    """A refund changes the trade: TRADE_SUCCESS after a partial one, TRADE_CLOSED once everything is refunded."""
    now = alipay.clock.now()
    await _trade_status_sync(
        alipay,
        state,
        now,
        key=refund.out_request_no,
        fields={
            "out_biz_no": refund.out_request_no,
            "refund_fee": d.yuan(state.refunded_fen),
            "gmt_refund": d.wire_time_ms(refund.at),
            "gmt_close": d.wire_time(refund.at) if state.status(now) == d.TRADE_CLOSED else None,
        },
        attrs={"out_request_no": refund.out_request_no},
    )


def _agreement_fields(state: d.AgreementState, now: datetime) -> dict[str, str | None]:
    terms = state.terms
    assert terms is not None
    return {
        "agreement_no": terms.agreement_no,
        "external_agreement_no": terms.external_agreement_no,
        "external_logon_id": terms.external_logon_id,
        # Under the OpenID regime the user is alipay_open_id and no alipay_user_id is sent.
        **({"alipay_open_id": terms.open_id} if terms.open_id else {"alipay_user_id": terms.user_id}),
        "alipay_logon_id": d.masked_logon_id(terms.user_id),
        "personal_product_code": terms.personal_product_code,
        "sign_scene": terms.sign_scene,
        "status": state.status(now),
    }


async def agreement_signed(alipay: Alipay, state: d.AgreementState) -> None:
    terms = state.terms
    assert terms is not None
    now = alipay.clock.now()
    await send(
        alipay,
        topic="dut_user_sign",
        key=terms.agreement_no,
        url=terms.notify_url,
        fields={
            "notify_type": "dut_user_sign",
            **_agreement_fields(state, now),
            "sign_time": d.wire_time(terms.signed_at),
            "valid_time": d.wire_time(terms.signed_at),
            "invalid_time": d.wire_time(terms.invalid_at),
        },
        attrs={"agreement_no": terms.agreement_no, "notify_type": "dut_user_sign"},
    )


async def agreement_unsigned(alipay: Alipay, state: d.AgreementState, notify_url: str | None) -> None:
    """Merchant-initiated unsigning notifies the unsign request's notify_url, else the app gateway."""
    terms = state.terms
    assert terms is not None and state.unsigned_at is not None
    now = alipay.clock.now()
    await send(
        alipay,
        topic="dut_user_unsign",
        key=terms.agreement_no,
        url=notify_url,
        fields={
            "notify_type": "dut_user_unsign",
            **_agreement_fields(state, now),
            "unsign_time": d.wire_time(state.unsigned_at),
        },
        attrs={"agreement_no": terms.agreement_no, "notify_type": "dut_user_unsign"},
    )
