"""Alipay's business-call contract: the Success body, BizError failures, biz_content parsed into Biz models."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

SUCCESS = {"code": "10000", "msg": "Success"}


class BizError(Exception):
    """A business failure as Alipay reports it: code 40004 with a ``sub_code`` (``ACQ.*`` for trades)."""

    def __init__(
        self,
        sub_code: str,
        sub_msg: str,
        *,
        code: str = "40004",
        msg: str = "Business Failed",
        member: str | None = None,
    ) -> None:
        super().__init__(f"{sub_code}: {sub_msg}")
        self.code = code
        self.msg = msg
        self.sub_code = sub_code
        self.sub_msg = sub_msg
        # Some methods (alipay.system.oauth.token) report failures under error_response, not <method>_response.
        self.member = member

    def response(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg, "sub_code": self.sub_code, "sub_msg": self.sub_msg}


def invalid(exc: ValidationError, sub_code: str = "ACQ.INVALID_PARAMETER") -> BizError:
    """Pydantic's complaint about biz_content, as the ``INVALID_PARAMETER`` failure Alipay answers with."""
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "biz_content"
        problems.append(f"{where}: {err['msg']}")
    return BizError(sub_code, "参数无效: " + "; ".join(problems))


B = TypeVar("B", bound=BaseModel)


def parse_biz(model: type[B], biz: dict[str, Any], sub_code: str = "ACQ.INVALID_PARAMETER") -> B:
    try:
        return model.model_validate(biz)
    except ValidationError as exc:
        raise invalid(exc, sub_code) from None


class Biz(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
