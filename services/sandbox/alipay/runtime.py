"""What every Alipay handler works with: settings, keys, store, notifier, faults, clock and id source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from services.sandbox.alipay import domain as d
from services.sandbox.alipay.store import AlipayStore
from services.sandbox.faults import ActiveFault, FaultRegistry
from services.sandbox.notifier import Notifier
from services.sandbox.settings import SandboxSettings
from shared.clock import Clock
from shared.errors import AppError
from shared.protocols.alipay import rsa2_sign


@dataclass(frozen=True)
class CertMode:
    """公钥证书模式: the SNs requests must carry and the Alipay public-key certificate answers name."""

    app_cert_sn: str
    alipay_root_cert_sn: str
    alipay_cert_sn: str
    alipay_cert_pem: bytes


@dataclass
class Alipay:
    settings: SandboxSettings
    app_public_key: rsa.RSAPublicKey
    platform_key: rsa.RSAPrivateKey
    store: AlipayStore
    notifier: Notifier
    faults: FaultRegistry
    clock: Clock
    ids: d.Ids
    certs: CertMode | None = None  # loaded in both modes (alipaycert.download serves it); enforced in cert mode

    @property
    def cert_mode(self) -> CertMode | None:
        return self.certs if self.settings.alipay_sign_mode == "cert" else None

    @property
    def app_id(self) -> str:
        return self.settings.alipay_app_id

    def limits(self) -> d.WithholdingLimits:
        s = self.settings
        return d.WithholdingLimits(
            general_single_fen=s.alipay_withholding_single_limit_fen,
            general_daily_fen=s.alipay_withholding_daily_limit_fen,
            cycle_single_fen=s.alipay_cycle_pay_single_limit_fen,
            cycle_daily_fen=s.alipay_cycle_pay_daily_limit_fen,
            cycle_monthly_fen=s.alipay_cycle_pay_monthly_limit_fen,
        )

    def wrong_signature(self, content: str) -> str:
        """A well-formed RSA2 signature that does not verify: what ``corrupt_signature`` faults put in place."""
        return rsa2_sign(content + "\x00corrupted", self.platform_key)


ALIPAY = web.AppKey("alipay", Alipay)


def fault_action(fault: ActiveFault | None, action: str) -> bool:
    return fault is not None and fault.action == action


def str_attrs(biz: dict[str, Any]) -> dict[str, str]:
    """Fault-matching attributes: the biz fields that are strings (out_trade_no, out_request_no, out_biz_no, ...)."""
    attrs = {k: v for k, v in biz.items() if isinstance(v, str)}
    agreement = biz.get("agreement_params")
    if isinstance(agreement, dict) and isinstance(agreement.get("agreement_no"), str):
        attrs["agreement_no"] = agreement["agreement_no"]
    return attrs


def buyer_error(err: d.BizError, status: int = 409) -> AppError:
    """A provider refusal as the JSON error a buyer action answers with (code from the sub_code, snake_case)."""
    code = err.sub_code.removeprefix("ACQ.").removeprefix("isv.").replace("-", "_").replace(".", "_").lower()
    if "INVALID_PARAMETER" in err.sub_code:
        status = 422
    return AppError(err.sub_msg, code=code, status=status, details={"sub_code": err.sub_code, "sub_msg": err.sub_msg})
