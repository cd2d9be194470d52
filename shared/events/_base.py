"""The base every event payload shares: strict about what it sends, tolerant of fields added later."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Channel = Literal["app", "mp"]
PaymentMethod = Literal["alipay", "alipay_password_free", "wechat_pay"]


class Payload(BaseModel):
    # Consumers ignore fields they do not know: a producer may add optional fields within a version.
    model_config = ConfigDict(extra="ignore", frozen=True)
