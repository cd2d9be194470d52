"""What money events mean in the books: fees in integer fen, and the transfers of a paid, refunded and completed
order, run through the books (in memory), where every fen of the order ends up accounted for."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.wallet import flows
from tests.unit.wallet.test_books import books


@pytest.mark.parametrize(
    ("amount", "fee"),
    [(0, 0), (83, 0), (84, 1), (26_800, 161), (1_000_000, 6_000), (99_999_999, 6_000)],
)
def test_the_platform_fee_is_six_per_mille_rounded_to_the_fen_and_capped_at_60_yuan(amount: int, fee: int) -> None:
    assert flows.platform_fee(amount) == fee


@pytest.mark.parametrize(("amount", "fee"), [(1, 1), (10, 10), (9_999, 10), (10_000, 10), (10_050, 10), (20_000, 20)])
def test_a_withdrawal_costs_one_per_mille_at_least_ten_fen_never_more_than_itself(amount: int, fee: int) -> None:
    assert flows.withdrawal_fee(amount) == fee


@given(st.integers(0, 10**9))
def test_the_fee_is_an_int_between_zero_and_the_cap_and_never_more_than_the_amount(amount: int) -> None:
    fee = flows.platform_fee(amount)
    assert isinstance(fee, int) and 0 <= fee <= min(6_000, amount)


@pytest.mark.parametrize("provider", ["wechatpay", "alipay"])
async def test_a_paid_order_refunded_in_part_then_completed_leaves_every_fen_accounted_for(provider: str) -> None:
    b = await books()
    seller, order = "usr_s", "ord_1"
    hold = flows.hold("pay_1", order, seller, provider, 26_800)  # type: ignore[arg-type]
    assert (await b.make(hold)).status == "posted"
    assert (await b.make(hold)).status == "posted"  # payment.succeeded delivered twice: one hold
    await b.make(flows.refund_release("rfd_1", order, seller, provider, 6_800, after_settlement=False))  # type: ignore[arg-type]
    held = (await b.account(flows.frozen(seller, provider))).posted_fen  # type: ignore[arg-type]
    assert held == 20_000
    for t in flows.completion(order, seller, provider, held):  # type: ignore[arg-type]
        assert (await b.make(t)).status == "posted"
    frozen = await b.account(flows.frozen(seller, provider))  # type: ignore[arg-type]
    released = await b.account(flows.released(seller, provider))  # type: ignore[arg-type]
    fees, ext = await b.account(flows.fees(provider)), await b.account(flows.external(provider))  # type: ignore[arg-type]
    assert (frozen.posted_fen, released.posted_fen, fees.posted_fen) == (0, 20_000 - 120, 120)
    assert ext.posted_fen == -(released.posted_fen + fees.posted_fen)  # what the provider holds, in the books
