"""One escrow per paid payment (`esc_<payment_id>`), pure: what the provider holds for the order, what was refunded
out of it, and its settlement once the order completes (the provider number minted once, the attempts, the result).

The books' transfers follow from these events (services/wallet/flows.py); this stream decides the order of things:
a refund is applied once per refund id and never beyond what was paid, a settlement starts once (whatever the
number of `order.completed` deliveries) and completes once, and a refund that arrives while a settlement is at the
provider waits for it (the provider draws it from the frozen funds before, from the seller's balance after).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from services.wallet.flows import settlement_split
from shared.aggregate import Aggregate, NewEvent, RecordedEvent
from shared.errors import Conflict, InvalidState
from shared.events.wallet import (
    EscrowHeld,
    EscrowRefunded,
    EscrowReleased,
    SettlementAbandoned,
    SettlementAttempted,
    SettlementCompleted,
    SettlementStarted,
)

Provider = Literal["wechatpay", "alipay"]
EscrowStatus = Literal["none", "held", "settling", "settled"]


def escrow_id(payment_id: str) -> str:
    return f"esc_{payment_id}"


def hold_transfer_id(payment_id: str) -> str:
    return f"trf_hold:{payment_id}"


class Settlement(BaseModel):
    out_request_no: str
    held_fen: int
    fee_fen: int
    seller_fen: int
    attempts: int = 0
    last_error: str | None = None
    retry_at: datetime | None = None
    attention: bool = False
    provider_status: str | None = None


class Escrow(BaseModel):
    payment_id: str = ""
    order_id: str = ""
    seller_id: str = ""
    provider: Provider = "wechatpay"
    amount_fen: int = 0
    sub_mchid: str | None = None
    trade_no: str = ""
    status: EscrowStatus = "none"
    refunds: dict[str, int] = Field(default_factory=dict)
    refunded_fen: int = 0
    settlement: Settlement | None = None
    # The order completed: settled, being settled, or — after the provider refused a settlement for lack of frozen
    # funds (a refund not booked yet) — to be settled anew from `resettle_at`.
    completed: bool = False
    resettle_at: datetime | None = None
    abandoned: int = 0  # settlements the provider refused that way

    @property
    def exists(self) -> bool:
        return self.status != "none"

    @property
    def held_fen(self) -> int:
        """What the provider still holds frozen for the order (nothing once settled)."""
        return self.amount_fen - self.refunded_fen if self.status in ("held", "settling") else 0


class Hold(BaseModel):
    payment_id: str
    order_id: str
    seller_id: str
    provider: Provider
    amount_fen: int = Field(gt=0)
    sub_mchid: str | None = None
    trade_no: str


class Refund(BaseModel):
    refund_id: str
    amount_fen: int = Field(gt=0)


class StartSettlement(BaseModel):
    out_request_no: str  # minted by the caller; kept only if this is the settlement's start
    fee_bp: int
    fee_cap_fen: int


class AbandonSettlement(BaseModel):
    reason: str
    retry_at: datetime


class RecordAttempt(BaseModel):
    reason: str
    retry_at: datetime
    attention_after: int


class CompleteSettlement(BaseModel):
    provider_status: str


EscrowCommand = Hold | Refund | StartSettlement | RecordAttempt | AbandonSettlement | CompleteSettlement


def decide(state: Escrow, c: EscrowCommand) -> list[NewEvent]:
    if isinstance(c, Hold):
        if state.exists:
            if (state.amount_fen, state.seller_id, state.order_id) != (c.amount_fen, c.seller_id, c.order_id):
                raise Conflict("this payment is held with other terms", code="escrow_exists")
            return []
        return [
            NewEvent.of(
                EscrowHeld(
                    transfer_id=hold_transfer_id(c.payment_id),
                    order_id=c.order_id,
                    seller_id=c.seller_id,
                    amount_fen=c.amount_fen,
                    payment_id=c.payment_id,
                    provider=c.provider,
                    sub_mchid=c.sub_mchid,
                    provider_trade_no=c.trade_no,
                )
            )
        ]
    if not state.exists:
        raise InvalidState("no payment held for this escrow yet")
    if isinstance(c, Refund):
        if c.refund_id in state.refunds:
            if state.refunds[c.refund_id] != c.amount_fen:
                raise Conflict("this refund was applied with another amount", code="refund_amount_differs")
            return []
        if state.status == "settling":
            raise InvalidState("the settlement is at the provider: the refund is applied once it is done")
        if c.amount_fen > state.amount_fen - state.refunded_fen:
            raise InvalidState(
                "more refunded than was paid",
                details={"refundable_fen": state.amount_fen - state.refunded_fen, "asked_fen": c.amount_fen},
            )
        return [
            NewEvent.of(
                EscrowRefunded(
                    payment_id=state.payment_id,
                    order_id=state.order_id,
                    seller_id=state.seller_id,
                    refund_id=c.refund_id,
                    transfer_id=f"trf_refund:{c.refund_id}",
                    amount_fen=c.amount_fen,
                    after_settlement=state.status == "settled",
                )
            )
        ]
    if isinstance(c, StartSettlement):
        if state.status != "held":
            return []  # started already (or settled): the first start's number and amounts stand
        held = state.amount_fen - state.refunded_fen
        fee, seller = settlement_split(held, rate_bp=c.fee_bp, cap_fen=c.fee_cap_fen)
        return [
            NewEvent.of(
                SettlementStarted(
                    payment_id=state.payment_id,
                    order_id=state.order_id,
                    seller_id=state.seller_id,
                    provider=state.provider,
                    out_request_no=c.out_request_no,
                    held_fen=held,
                    fee_fen=fee,
                    seller_fen=seller,
                )
            )
        ]
    if isinstance(c, AbandonSettlement):
        if state.status != "settling" or state.settlement is None:
            return []
        return [
            NewEvent.of(
                SettlementAbandoned(
                    payment_id=state.payment_id,
                    out_request_no=state.settlement.out_request_no,
                    reason=c.reason[:500],
                    retry_at=c.retry_at,
                )
            )
        ]
    if isinstance(c, RecordAttempt):
        if state.status != "settling" or state.settlement is None:
            return []
        attempt = state.settlement.attempts + 1
        return [
            NewEvent.of(
                SettlementAttempted(
                    payment_id=state.payment_id,
                    attempt=attempt,
                    reason=c.reason[:500],
                    retry_at=c.retry_at,
                    attention=attempt >= c.attention_after,
                )
            )
        ]
    # CompleteSettlement
    if state.status == "settled":
        return []
    if state.status != "settling" or state.settlement is None:
        raise InvalidState("no settlement started")
    s = state.settlement
    events = [
        NewEvent.of(
            SettlementCompleted(
                payment_id=state.payment_id,
                order_id=state.order_id,
                seller_id=state.seller_id,
                provider_status=c.provider_status,
            )
        )
    ]
    if s.seller_fen > 0:
        events.append(
            NewEvent.of(
                EscrowReleased(
                    transfer_id=f"trf_release:{s.out_request_no}",
                    order_id=state.order_id,
                    seller_id=state.seller_id,
                    amount_fen=s.seller_fen,
                    fee_fen=s.fee_fen,
                )
            )
        )
    return events


def evolve(state: Escrow, event: RecordedEvent) -> Escrow:
    p = event.payload
    if event.type == "wallet.escrow_held":
        return Escrow(
            payment_id=p["payment_id"],
            order_id=p["order_id"],
            seller_id=p["seller_id"],
            provider=p["provider"],
            amount_fen=p["amount_fen"],
            sub_mchid=p.get("sub_mchid"),
            trade_no=p["provider_trade_no"],
            status="held",
        )
    if event.type == "wallet.escrow_refunded":
        return state.model_copy(
            update={
                "refunds": {**state.refunds, p["refund_id"]: p["amount_fen"]},
                "refunded_fen": state.refunded_fen + p["amount_fen"],
            }
        )
    if event.type == "wallet.settlement_started":
        settlement = Settlement(
            out_request_no=p["out_request_no"], held_fen=p["held_fen"], fee_fen=p["fee_fen"], seller_fen=p["seller_fen"]
        )
        # Nothing left to settle (all of it refunded): settled without a provider step.
        status: EscrowStatus = "settling" if p["held_fen"] else "settled"
        return state.model_copy(
            update={"status": status, "settlement": settlement, "completed": True, "resettle_at": None}
        )
    if event.type == "wallet.settlement_abandoned":
        at = p["retry_at"]
        return state.model_copy(
            update={
                "status": "held",
                "settlement": None,
                "resettle_at": datetime.fromisoformat(at) if isinstance(at, str) else at,
                "abandoned": state.abandoned + 1,
            }
        )
    if event.type == "wallet.settlement_attempted" and state.settlement is not None:
        settlement = state.settlement.model_copy(
            update={
                "attempts": p["attempt"],
                "last_error": p["reason"],
                "retry_at": datetime.fromisoformat(p["retry_at"]) if isinstance(p["retry_at"], str) else p["retry_at"],
                "attention": p["attention"],
            }
        )
        return state.model_copy(update={"settlement": settlement})
    if event.type == "wallet.settlement_completed" and state.settlement is not None:
        settlement = state.settlement.model_copy(
            update={"provider_status": p["provider_status"], "attention": False, "retry_at": None}
        )
        return state.model_copy(update={"status": "settled", "settlement": settlement})
    return state


ESCROW: Aggregate[Escrow, EscrowCommand] = Aggregate(
    "escrow",
    Escrow,
    evolve,
    decide,
    state_model=Escrow,
    events=(
        "wallet.escrow_held",
        "wallet.escrow_refunded",
        "wallet.settlement_started",
        "wallet.settlement_attempted",
        "wallet.settlement_abandoned",
        "wallet.settlement_completed",
        "wallet.escrow_released",
    ),
)
