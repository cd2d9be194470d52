"""alipay.open.app.alipaycert.download: the Alipay public-key certificate an answer's alipay_cert_sn names."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from services.sandbox.alipay import domain as d
from services.sandbox.alipay.gateway import Call, Handler
from services.sandbox.alipay.runtime import Alipay, fault_action
from services.sandbox.faults import ActiveFault
from shared.protocols.alipay_cert import cert_content


class CertDownloadBiz(d.Biz):
    alipay_cert_sn: str = Field(min_length=1, max_length=128)


async def alipaycert_download(alipay: Alipay, call: Call, fault: ActiveFault | None) -> dict[str, Any]:
    biz = d.parse_biz(CertDownloadBiz, call.biz, "isv.invalid-parameter")
    if fault_action(fault, "decline"):
        raise d.BizError("isp.unknow-error", "系统繁忙", code="20000", msg="Service Currently Unavailable")
    certs = alipay.certs
    if certs is None or biz.alipay_cert_sn != certs.alipay_cert_sn:
        raise d.BizError("isv.alipay-cert-not-exist", "支付宝公钥证书不存在", code="40002", msg="Invalid Arguments")
    return {**d.SUCCESS, "alipay_cert_content": cert_content(certs.alipay_cert_pem)}


METHODS: dict[str, Handler] = {"alipay.open.app.alipaycert.download": alipaycert_download}
