"""二级商户进件 rules: ID numbers, card numbers, masks, what a submission keeps, the application's state machine and
the sub-merchant registry's settlement changes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.sandbox.wechat import domain as d
from services.sandbox.wechat.domain import applyments as da
from services.sandbox.wechat.domain import sub_merchants as ds
from shared.aggregate import RecordedEvent

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ID_NUMBER = "11010519491231002X"  # the example of GB 11643
CARD = "6225880000000000002"  # passes Luhn


def test_id_numbers_are_checked_by_birth_date_and_check_character() -> None:
    assert da.id_number_problem(ID_NUMBER) is None
    assert da.id_number_problem(ID_NUMBER.lower()) is None
    assert "校验位" in (da.id_number_problem("110105194912310021") or "")
    assert "出生日期" in (da.id_number_problem("110105194902300026") or "")  # 30 February
    first17 = "44030419900307123"
    assert da.id_number_problem(first17 + da.id_check_character(first17)) is None


def test_card_numbers_masks_and_last_digits() -> None:
    assert da.luhn_ok(CARD) and not da.luhn_ok("6225880000000000001")
    assert da.mask_number(CARD) == "*" * 15 + "0002" and da.last4(CARD) == "0002"
    assert da.mask_number("123") == "***" and da.last4("123") == ""
    assert da.mask_name("张三") == "*三" and da.mask_name("深圳某某科技有限公司") == "*********司"
    assert da.mask_name("李") == "*"


def body(**change: Any) -> dict[str, Any]:
    """A personal seller (个人卖家) with a personal card; encrypted fields hold the clear values here (see clear())."""
    base: dict[str, Any] = {
        "out_request_no": "APPLY0001",
        "organization_type": "2500",
        "id_card_info": {
            "id_card_copy": "media-1",
            "id_card_national": "media-2",
            "id_card_name": "张三",
            "id_card_number": ID_NUMBER,
            "id_card_valid_time": "2036-06-06",
        },
        "account_info": {
            "bank_account_type": "75",
            "account_bank": "招商银行",
            "account_name": "张三",
            "bank_address_code": "440300",
            "account_number": CARD,
        },
        "contact_info": {"contact_type": "65", "contact_name": "张三", "mobile_phone": "13800138000"},
        "sales_scene_info": {"store_name": "旧书小铺"},
        "merchant_shortname": "旧书小铺",
    }
    for key, value in change.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) and key in base else value
    return base


def submitted(**change: Any) -> da.Submission:
    req = d.parse_model(da.ApplymentRequest, body(**change))
    return da.submission_from(req, req.encrypted_fields())


def test_a_valid_submission_keeps_masks_only() -> None:
    sub = submitted()
    assert sub.rejections == ()
    kept = repr(sub.payload())
    for clear in ("张三", ID_NUMBER, CARD, "13800138000"):
        assert clear not in kept
    assert (sub.account_number_last4, sub.account_name_masked, sub.mobile_phone_masked) == (
        "0002",
        "*三",
        "*******8000",
    )
    assert sub.account_type == da.ACCOUNT_TYPE_PRIVATE and not sub.corporate


def test_shapes_are_refused_at_once_without_echoing_values() -> None:
    cases = [
        {"contact_info": {"mobile_phone": "12800138000"}},
        {"id_card_info": {"id_card_number": "1101051949123100"}},
        {"account_info": {"account_number": "6225-8800"}},
        {"account_info": {"bank_account_type": "74"}},  # a personal seller's account is personal
        {"organization_type": "2"},  # an enterprise needs its licence
        {"organization_type": "9"},
        {"id_card_info": None},
    ]
    for change in cases:
        with pytest.raises(d.WechatError) as refused:
            submitted(**change)
        assert refused.value.code == "PARAM_ERROR", change
        assert "13800138000" not in refused.value.message and "12800138000" not in refused.value.message


def test_what_the_review_would_catch_is_recorded_as_rejections() -> None:
    bad_id = submitted(id_card_info={"id_card_number": "110105194912310021"})
    assert [r.param_name for r in bad_id.rejections] == ["id_card_number"]
    other_name = submitted(account_info={"account_name": "李四"})
    assert [r.param_name for r in other_name.rejections] == ["account_name"]
    not_luhn = submitted(account_info={"account_number": "6225880000000000001"})
    assert [r.param_name for r in not_luhn.rejections] == ["account_number"]
    license_info = {
        "business_license_copy": "media-3",
        "business_license_number": "91440300MA5XXXXXXX",
        "merchant_name": "深圳某某科技有限公司",
        "legal_person": "张三",
    }
    corporate = submitted(
        organization_type="2",
        business_license_info=license_info,
        account_info={
            "bank_account_type": "74",
            "account_name": "深圳某某科技有限公司",
            "account_number": "12345678901",
        },
    )
    assert corporate.rejections == () and corporate.corporate
    wrong_company = submitted(
        organization_type="2",
        business_license_info=license_info,
        account_info={"bank_account_type": "74", "account_name": "别的公司", "account_number": "12345678901"},
    )
    assert [r.param_name for r in wrong_company.rejections] == ["account_name"]


def run(state: da.Applyment, *cmds: da.ApplymentCommand) -> da.Applyment:
    for cmd in cmds:
        for event in da.decide_applyment(state, cmd):
            recorded = RecordedEvent(event_id="e", type=event.type, version=1, payload=event.payload, occurred_at=T0)
            state = da.evolve_applyment(state, recorded)
    return state


def fresh_application(submission: da.Submission | None = None) -> da.Applyment:
    return run(da.Applyment(), da.SubmitApplyment(2000002000000001, "APPLY0001", submission or submitted(), T0))


def advance(state: da.Applyment, sub_mchid: str | None = None) -> da.Applyment:
    validation = da.account_validation(state.submission, 1, T0) if state.submission else None  # type: ignore[arg-type]
    return run(state, da.Advance(state.state, state.round, T0, sub_mchid, validation))


def test_an_application_goes_by_itself_to_finish_with_its_sub_mchid_from_need_sign() -> None:
    state = fresh_application()
    assert (state.state, state.round, state.sub_mchid) == (da.CHECKING, 1, None)
    seen = [state.state]
    while da.next_state(state) is not None:
        state = advance(state, "1600000001")
        seen.append(state.state)
    assert seen == [da.CHECKING, da.AUDITING, da.NEED_SIGN, da.FINISH]
    assert state.sub_mchid == "1600000001" and state.signed


def test_a_corporate_account_is_verified_first() -> None:
    license_info = {
        "business_license_copy": "m",
        "business_license_number": "91440300MA5XXXXXXX",
        "merchant_name": "某公司",
        "legal_person": "张三",
    }
    sub = submitted(
        organization_type="4",
        business_license_info=license_info,
        account_info={"bank_account_type": "74", "account_name": "某公司", "account_number": "12345678901"},
    )
    state = advance(fresh_application(sub))
    assert state.state == da.ACCOUNT_NEED_VERIFY and state.validation is not None
    assert state.validation.account_no == "*******8901" and 1 <= state.validation.pay_amount <= 99
    assert advance(state).state == da.AUDITING


def test_a_rejected_application_may_be_resubmitted_under_the_same_number() -> None:
    rejected = advance(fresh_application(submitted(id_card_info={"id_card_number": "110105194912310021"})))
    assert rejected.state == da.REJECTED and [a.param_name for a in rejected.audit_detail] == ["id_card_number"]
    assert da.next_state(rejected) is None
    again = run(rejected, da.SubmitApplyment(2000002999999999, "APPLY0001", submitted(), T0))
    assert (again.state, again.round, again.applyment_id, again.audit_detail) == (da.CHECKING, 2, 2000002000000001, ())
    # A step of the first round, due late, does nothing to the second.
    assert da.decide_applyment(again, da.Advance(da.CHECKING, 1, T0)) == []
    # An application that is not rejected is the same application: submitting again changes nothing.
    assert da.decide_applyment(again, da.SubmitApplyment(1, "APPLY0001", submitted(), T0)) == []


def test_tests_decide_forward_reject_before_sign_freeze_any_time() -> None:
    state = fresh_application()
    rejected = run(state, da.Decide(da.REJECTED, "照片模糊", T0))
    assert [(a.param_name, a.reject_reason) for a in rejected.audit_detail] == [("", "照片模糊")]
    finished = run(state, da.Decide(da.FINISH, None, T0, "1600000002"))
    assert (finished.state, finished.sub_mchid, finished.signed) == (da.FINISH, "1600000002", True)
    frozen = run(finished, da.Decide(da.FROZEN, None, T0))
    assert frozen.state == da.FROZEN and frozen.audit_detail[0].reject_reason == da.DEFAULT_FREEZE_REASON
    with pytest.raises(d.StateError):
        da.decide_applyment(finished, da.Decide(da.REJECTED, None, T0))
    with pytest.raises(d.StateError):
        da.decide_applyment(finished, da.Decide(da.AUDITING, None, T0))
    with pytest.raises(d.StateError):
        da.decide_applyment(state, da.Sign(T0))  # nothing to sign before NEED_SIGN
    need_sign = run(state, da.Decide(da.NEED_SIGN, None, T0, "1600000003"))
    signed = run(need_sign, da.Sign(T0))
    assert signed.state == da.FINISH and da.decide_applyment(signed, da.Sign(T0)) == []


def card(number: str = CARD, kind: str = da.ACCOUNT_TYPE_PRIVATE) -> ds.Settlement:
    return ds.settlement_of(
        account_type=kind,
        account_bank="招商银行",
        bank_name=None,
        bank_branch_id=None,
        bank_address_code="440300",
        account_number=number,
        account_name_masked="*三",
    )


def run_sub(state: ds.SubMerchant, *cmds: ds.SubMerchantCommand) -> ds.SubMerchant:
    for cmd in cmds:
        for event in ds.SUB_MERCHANT.decide(state, cmd):
            recorded = RecordedEvent(event_id="e", type=event.type, version=1, payload=event.payload, occurred_at=T0)
            state = ds.SUB_MERCHANT.evolve(state, recorded)
    return state


def mirror(state: str, seq: int) -> ds.MirrorApplyment:
    return ds.MirrorApplyment(
        "1600000004", "1900000001", state, 2000002000000001, "APPLY0001", seq, "旧书小铺", None, card(), T0
    )


def test_the_registry_mirrors_the_application_and_ignores_older_mirrors() -> None:
    opened = run_sub(ds.SubMerchant(), mirror(da.NEED_SIGN, 3))
    finished = run_sub(opened, mirror(da.FINISH, 4), mirror(da.NEED_SIGN, 3))
    assert finished.state == da.FINISH
    doc = finished.registry()
    assert (doc["_id"], doc["state"], doc["settlement"]["account_number_last4"]) == ("1600000004", "FINISH", "0002")
    assert set(doc["settlement"]) == {
        "account_type",
        "account_bank",
        "bank_name",
        "account_number_last4",
        "account_name_masked",
        "verify_result",
    }


def test_a_settlement_change_is_reviewed_once_and_replaces_the_card_on_success() -> None:
    finished = run_sub(ds.SubMerchant(), mirror(da.FINISH, 1))
    with pytest.raises(d.WechatError):
        run_sub(run_sub(ds.SubMerchant(), mirror(da.NEED_SIGN, 1)), ds.RequestSettlementChange("A1", card(), None, T0))
    changing = run_sub(finished, ds.RequestSettlementChange("A1", card("6212260000000000018"), None, T0))
    with pytest.raises(d.WechatError):  # one change at a time
        run_sub(changing, ds.RequestSettlementChange("A2", card(), None, T0))
    assert changing.settlement is not None and changing.settlement.account_number_last4 == "0002"
    done = run_sub(changing, ds.ReviewSettlementChange("A1", T0), ds.ReviewSettlementChange("A1", T0))
    assert done.change("A1").verify_result == ds.AUDIT_SUCCESS  # type: ignore[union-attr]
    assert done.settlement is not None and done.settlement.account_number_last4 == "0018"
    failing = run_sub(done, ds.RequestSettlementChange("A3", card("6212260000000000005"), "luhn", T0))
    failed = run_sub(failing, ds.ReviewSettlementChange("A3", T0))
    assert (failed.change("A3").verify_result, failed.change("A3").fail_reason) == (ds.AUDIT_FAIL, "luhn")  # type: ignore[union-attr]
    assert failed.settlement is not None and failed.settlement.account_number_last4 == "0018"
