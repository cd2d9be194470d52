"""What each money event means in the books, pure: the accounts, the fees, and the transfers (with ids derived from
the causing fact, so a redelivered or reordered event makes the same transfers and nothing twice).

Sellers' money is held by the providers (docs/providers.md): the books say where it is. Accounts:
- `acc_ext.wechatpay`, `acc_ext.alipay`: the providers' side, what they hold that the books account for (may go below
  zero: the mirror of every seller's and the platform's money there);
- `acc_<seller>.wechat_frozen` (paid, frozen for profit sharing in the seller's sub-merchant),
  `acc_<seller>.wechat_available` (the seller's WeChat balance there, withdrawable),
  `acc_<seller>.alipay_frozen` (collected frozen on the trade for royalty), `acc_<seller>.alipay_settled` (settled to
  the seller's own Alipay account);
- `acc_platform.fees.wechatpay`, `acc_platform.fees.alipay`: the platform's commission, profit-shared to the
  platform's own merchant account at WeChat Pay, or kept on the platform's Alipay account.

Withdrawals move the seller's WeChat balance out to the settlement card (`acc_ext.wechatpay`, the world beyond the
books): pending while the provider pays it out, posted on success, voided on failure; a bank return later is a
correcting transfer back.
"""

from __future__ import annotations

from typing import Literal

from services.wallet.ledger import CreateTransfer

Provider = Literal["wechatpay", "alipay"]

BASIS_POINTS = 10_000


def external(provider: Provider) -> str:
    return f"acc_ext.{provider}"


def fees(provider: Provider) -> str:
    return f"acc_platform.fees.{provider}"


def seller_account(seller_id: str, kind: str) -> str:
    return f"acc_{seller_id}.{kind}"


def frozen(seller_id: str, provider: Provider) -> str:
    return seller_account(seller_id, "wechat_frozen" if provider == "wechatpay" else "alipay_frozen")


def released(seller_id: str, provider: Provider) -> str:
    """Where a seller's proceeds go once the order completes: the WeChat balance, or the seller's Alipay account."""
    return seller_account(seller_id, "wechat_available" if provider == "wechatpay" else "alipay_settled")


def _rate(amount_fen: int, rate_bp: int) -> int:
    """`amount_fen` × `rate_bp` / 10,000, rounded to the nearest fen (halves up): integer arithmetic only."""
    return (amount_fen * rate_bp + BASIS_POINTS // 2) // BASIS_POINTS


def platform_fee(amount_fen: int, *, rate_bp: int = 60, cap_fen: int = 6_000) -> int:
    """The platform's commission on what a completed order leaves the seller: 0.6 % by default, at most ¥60."""
    if amount_fen < 0:
        raise ValueError("a fee is taken on a non-negative amount")
    return min(cap_fen, _rate(amount_fen, rate_bp))


def withdrawal_fee(amount_fen: int, *, rate_bp: int = 10, minimum_fen: int = 10) -> int:
    """What a withdrawal to the bank card costs: 0.1 % with a minimum of ¥0.10 (domain.md 7), never more than the
    amount."""
    if amount_fen <= 0:
        raise ValueError("a withdrawal moves a positive amount")
    return min(amount_fen, max(minimum_fen, _rate(amount_fen, rate_bp)))


def hold(payment_id: str, order_id: str, seller_id: str, provider: Provider, amount_fen: int) -> CreateTransfer:
    """`payment.succeeded`: the buyer's money, frozen at the provider for this order."""
    return CreateTransfer(
        transfer_id=f"trf_hold:{payment_id}",
        debit_account=external(provider),
        credit_account=frozen(seller_id, provider),
        amount_fen=amount_fen,
        reason="payment_held",
        order_id=order_id,
    )


def refund_release(
    refund_id: str, order_id: str, seller_id: str, provider: Provider, amount_fen: int, *, after_settlement: bool
) -> CreateTransfer:
    """`payment.refunded`: the refunded part goes back to the buyer via the provider — out of the hold before
    settlement, out of what the seller received after it (WeChat draws a refund beyond the frozen funds from the
    seller's available balance; Alipay takes the royalty back from the seller's account)."""
    return CreateTransfer(
        transfer_id=f"trf_refund:{refund_id}",
        debit_account=released(seller_id, provider) if after_settlement else frozen(seller_id, provider),
        credit_account=external(provider),
        amount_fen=amount_fen,
        reason="payment_refunded",
        order_id=order_id,
        draw_reserved=True,  # the provider has paid it back already: the books must record it
    )


def withdrawal(withdrawal_id: str, seller_id: str, amount_fen: int) -> CreateTransfer:
    """A withdrawal of the WeChat balance to the settlement card: pending until the provider pays it out."""
    return CreateTransfer(
        transfer_id=f"trf_withdraw:{withdrawal_id}",
        debit_account=released(seller_id, "wechatpay"),
        credit_account=external("wechatpay"),
        amount_fen=amount_fen,
        reason="withdrawal",
        withdrawal_id=withdrawal_id,
    )


def bank_return(withdrawal_id: str, seller_id: str, amount_fen: int) -> CreateTransfer:
    """退票: the bank sent a paid-out withdrawal back; a correcting transfer restores the balance (once: its id)."""
    return CreateTransfer(
        transfer_id=f"trf_bank_return:{withdrawal_id}",
        debit_account=external("wechatpay"),
        credit_account=released(seller_id, "wechatpay"),
        amount_fen=amount_fen,
        reason="withdrawal_returned",
        withdrawal_id=withdrawal_id,
    )


def settlement_split(held_fen: int, *, rate_bp: int = 60, cap_fen: int = 6_000) -> tuple[int, int]:
    """(platform fee, seller's part) of what is left held for a completed order."""
    fee = platform_fee(held_fen, rate_bp=rate_bp, cap_fen=cap_fen)
    return fee, held_fen - fee


def completion(
    order_id: str, seller_id: str, provider: Provider, held_fen: int, *, rate_bp: int = 60, cap_fen: int = 6_000
) -> list[CreateTransfer]:
    """`order.completed`: of what is still held for the order, the platform's fee (profit-shared on WeChat, kept on
    Alipay) and the rest to the seller (unfrozen to the WeChat balance, or settled to the seller's Alipay account)."""
    if held_fen <= 0:
        return []
    fee, seller_fen = settlement_split(held_fen, rate_bp=rate_bp, cap_fen=cap_fen)
    return settlement(order_id, order_id, seller_id, provider, fee, seller_fen)


def settlement(
    settlement_no: str, order_id: str, seller_id: str, provider: Provider, fee_fen: int, seller_fen: int
) -> list[CreateTransfer]:
    """The transfers of a settlement whose split is decided — the fee to the platform, the rest to the seller —
    named after its number (a settlement the provider refused is voided; the next one has a number of its own)."""
    transfers = []
    if fee_fen:
        transfers.append(
            CreateTransfer(
                transfer_id=f"trf_fee:{settlement_no}",
                debit_account=frozen(seller_id, provider),
                credit_account=fees(provider),
                amount_fen=fee_fen,
                reason="platform_fee",
                order_id=order_id,
            )
        )
    if seller_fen:
        transfers.append(
            CreateTransfer(
                transfer_id=f"trf_release:{settlement_no}",
                debit_account=frozen(seller_id, provider),
                credit_account=released(seller_id, provider),
                amount_fen=seller_fen,
                reason="proceeds_released",
                order_id=order_id,
            )
        )
    return transfers
