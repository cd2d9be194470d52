"""What every v3 request shares: the Wire base model, its parsing, the merchant that signed it, repeats."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from services.sandbox.wechat.domain.errors import WechatError, param_error


class Wire(BaseModel):
    # Fields WeChat knows but the sandbox does not model are accepted and ignored, as unknown ones are.
    model_config = ConfigDict(extra="ignore")


M = TypeVar("M", bound=BaseModel)


def parse_model(model: type[M], data: Any, location: str = "body") -> M:
    """Validate a request; the first problem becomes a PARAM_ERROR naming the field, as WeChat reports it."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        path = "/" + "/".join(str(p) for p in (location, *err["loc"]))
        raise param_error(f"输入源“{path}”校验失败: {err['msg']}", {"location": location, "field": path}) from None


def check_mchid(mchid: str, *, auth_mchid: str) -> None:
    """A request's mchid (body or query) must be the merchant that signed it."""
    if mchid != auth_mchid:
        raise param_error(f"mchid {mchid} 与请求签名的商户号 {auth_mchid} 不一致 (mchid differs from the signer)")


def check_appid(appid: str, *, mchid: str, known_appid: str) -> None:
    """The appid must be bound to the merchant."""
    if appid != known_appid:
        raise WechatError(400, "APPID_MCHID_NOT_MATCH", f"AppID和mch_id不匹配 ({appid} is not bound to {mchid})")


def check_merchant(appid: str, mchid: str, *, auth_mchid: str, known_appid: str) -> None:
    """The body's mchid is the signer's, and the appid is bound to it."""
    check_mchid(mchid, auth_mchid=auth_mchid)
    check_appid(appid, mchid=mchid, known_appid=known_appid)


def differing_terms(first: dict[str, Any], again: dict[str, Any]) -> str:
    """The terms a repeated request changed, for the refusal that names them: ``"amount, description"``."""
    return ", ".join(sorted(k for k in again if again.get(k) != first.get(k)))
