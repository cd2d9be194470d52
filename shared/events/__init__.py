"""Event envelope and payload contracts, defined once for every producer and consumer."""

from shared.events import listing, payment, refund, wallet
from shared.events._base import Channel, Payload, PaymentMethod
from shared.events.envelope import Envelope, routing_key
from shared.events.registry import PAYLOADS, payload_model, register

__all__ = [
    "PAYLOADS",
    "Channel",
    "Envelope",
    "Payload",
    "PaymentMethod",
    "listing",
    "payload_model",
    "payment",
    "refund",
    "register",
    "routing_key",
    "wallet",
]
