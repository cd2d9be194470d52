"""What WeChat does later by itself: accepted refunds, transfers, splits and withdrawals reach their outcome."""

from __future__ import annotations

import asyncio
import logging

from services.sandbox.wechat import domain as d
from services.sandbox.wechat import funds, profitsharing, refunds, transfers
from services.sandbox.wechat.runtime import Wechat
from services.sandbox.wechat.store import Due

log = logging.getLogger("sandbox.wechat")


async def settle_due(wechat: Wechat, due: Due) -> None:
    """Apply one due outcome. Its command id makes a retry after a crash find the outcome recorded and notify it
    again (at least once, as WeChat does), while an outcome a test applied first is not notified twice."""
    command_id = f"wechat.due:{due.id}"
    now = wechat.now()
    try:
        if due.kind == "refund":
            assert due.out_refund_no is not None
            cmd = d.SettleRefund(due.out_refund_no, d.REFUND_OUTCOMES[due.outcome], now)
            await refunds.settle(wechat, due.mchid, due.key, cmd, command_id)
        elif due.kind == "split":
            await profitsharing.finish_split(wechat, due.mchid, due.key, command_id)
        elif due.kind == "withdraw":
            status: d.WithdrawOutcome = "FAIL" if due.outcome == d.WITHDRAW_FAIL else "SUCCESS"
            change = d.SettleWithdrawal(due.key, status, due.fail_reason, now)
            await funds.change(wechat, due.mchid, change, command_id)
        else:
            settle = d.SettleTransfer(d.TRANSFER_OUTCOMES[due.outcome], due.fail_reason, now)
            await transfers.settle(wechat, due.mchid, due.key, settle, command_id)
    except d.StateError as exc:
        # A test action moved it elsewhere first: that outcome stands.
        log.info("due %s dropped: %s", due.id, exc)
    await wechat.store.done(due.id)


async def run(wechat: Wechat, stop: asyncio.Event, poll_s: float = 0.05) -> None:
    while not stop.is_set():
        due = await wechat.store.due_now(wechat.now())
        for item in due:
            await settle_due(wechat, item)
        if not due:
            wechat.wake.clear()
            try:
                await asyncio.wait_for(wechat.wake.wait(), timeout=poll_s)
            except TimeoutError:
                pass
