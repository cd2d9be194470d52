"""Event envelope and payload contracts, defined once for every producer and consumer."""

from shared.events import listing, payment, refund, wallet
from shared.events.envelope import Envelope, routing_key
from shared.events.registry import PAYLOADS, payload_model, register

__all__ = ["PAYLOADS", "Envelope", "listing", "payload_model", "payment", "refund", "register", "routing_key", "wallet"]
