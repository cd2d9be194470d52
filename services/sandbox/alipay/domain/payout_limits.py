"""Payout limits: one payout's ceiling, and each app's daily total kept as a payout-day stream."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from services.sandbox.alipay.domain.biz import BizError
from shared.aggregate import Aggregate, NewEvent, RecordedEvent


@dataclass(frozen=True)
class PayoutDay:
    """One app's payouts on one Beijing day: what the daily limit is decided on."""

    counted: dict[str, int] = field(default_factory=dict)

    @property
    def total_fen(self) -> int:
        return sum(self.counted.values())


@dataclass(frozen=True)
class CountPayout:
    out_biz_no: str
    amount_fen: int
    daily_limit_fen: int


def decide_payout_day(state: PayoutDay, cmd: CountPayout) -> Sequence[NewEvent]:
    if cmd.out_biz_no in state.counted:
        return []
    if state.total_fen + cmd.amount_fen > cmd.daily_limit_fen:
        raise BizError("EXCEED_LIMIT_DM_AMOUNT", "日累计额度超限")
    return [NewEvent("payout_day.counted", {"out_biz_no": cmd.out_biz_no, "amount_fen": cmd.amount_fen})]


def evolve_payout_day(state: PayoutDay, event: RecordedEvent) -> PayoutDay:
    if event.type == "payout_day.counted":
        return PayoutDay({**state.counted, event.payload["out_biz_no"]: event.payload["amount_fen"]})
    return state


PAYOUT_DAY: Aggregate[PayoutDay, CountPayout] = Aggregate(
    name="alipay.payout_day", initial=PayoutDay, evolve=evolve_payout_day, decide=decide_payout_day
)


def check_single_payout(amount_fen: int, single_limit_fen: int) -> None:
    if amount_fen > single_limit_fen:
        raise BizError("EXCEED_LIMIT_SM_AMOUNT", "单笔额度超限")
