"""Listing's settings: the shared service settings plus its timers (seconds; the defaults are the real ones)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class ListingSettings(ServiceSettings):
    service_name: str = "listing"
    mongo_db: str = "listing"
    http_port: int = Field(default=8081, ge=0, le=65535)
    # An unpaid order closes this long after it was created, and its item goes back on sale.
    order_payment_timeout_s: float = Field(default=900.0, gt=0)
    # Slack after the payment deadline before the sweeper closes an order no payment was started for.
    order_expiry_grace_s: float = Field(default=30.0, ge=0)
    # An order whose payment started is closed by the payment service's `payment.closed` (it closes the payment at the
    # provider first, so a buyer paying at the last second keeps the item); listing closes it itself only this long
    # after the deadline, if that never came. A payment that still succeeds later is refunded by the payment service.
    order_payment_backstop_s: float = Field(default=3600.0, ge=0)
    # A shipped order completes on its own this long after shipping unless a refund case is open.
    auto_confirm_after_s: float = Field(default=10 * 24 * 3600.0, gt=0)
    # A reservation with no order after this long (a crash between the two appends) is released.
    orphan_reservation_s: float = Field(default=300.0, gt=0)
    sweep_interval_s: float = Field(default=5.0, gt=0)
    sweep_batch: int = Field(default=200, ge=1)
    # The catalog's search index: a directory of this replica's (a cache, rebuilt from the items projection at
    # start), or in memory when empty. Replicas on one host take separate slots under it.
    catalog_index_dir: str = ""
    # Index writes are committed in batches at most this often (a commit is expensive).
    catalog_commit_interval_s: float = Field(default=0.05, gt=0)
