"""The onboarding input's rules (ID number with its check character, mobile, card, name) and the masks answers show."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.wallet.collection_domain import (
    ActivationRequest,
    id_number_problem,
    mask_card,
    mask_id_number,
    mask_mobile,
    mask_name,
)
from shared.http.app import validation_details
from tests.unit.wallet.collection_fakes import activation, id_number


def _problems(body: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as err:
        ActivationRequest.model_validate(body)
    return str(err.value)


def test_a_valid_request_passes_and_its_id_number_is_upper_cased() -> None:
    request = ActivationRequest.model_validate(activation(id_card_number=id_number("11010519491231002").lower()))
    assert request.id_card_number == id_number("11010519491231002")
    assert request.organization_type == "2401"


def test_id_numbers_are_checked_by_gb_11643() -> None:
    good = id_number("11010519491231002")
    assert id_number_problem(good) is None
    wrong_check = good[:17] + ("1" if good[17] != "1" else "2")
    assert "check character" in (id_number_problem(wrong_check) or "")
    assert "birth date" in (id_number_problem("11010519491332002X") or "")
    assert id_number_problem("1101051949123100") is not None  # 16 characters
    assert id_number_problem("11010519491231002Y") is not None


@pytest.mark.parametrize(
    "field, value",
    [
        ("id_card_number", "110105194912310021"),  # check character wrong (valid one is 8)
        ("mobile", "12800138000"),
        ("mobile", "1380013800"),
        ("real_name", "张3"),
        ("id_card_valid_time", "someday"),
    ],
)
def test_invalid_fields_are_refused_without_echoing_the_value(field: str, value: str) -> None:
    assert field != "id_card_number" or id_number_problem(value) is not None  # the sample is invalid
    with pytest.raises(ValidationError) as err:
        ActivationRequest.model_validate(activation(**{field: value}))
    details = validation_details(err.value)  # what a 422 answer carries
    assert field in details
    assert value not in str(details)


@pytest.mark.parametrize("number", ["622588013", "6" * 31, "62258801370000a2"])
def test_card_numbers_are_10_to_30_digits(number: str) -> None:
    assert "account_number" in _problems(activation(bank_card={"account_number": number}))


def test_the_card_must_be_in_the_holders_name() -> None:
    assert "account_name must be the real_name" in _problems(activation(bank_card={"account_name": "李四"}))


def test_other_banks_need_their_branch_name_and_unknown_banks_are_refused() -> None:
    assert "bank_name is required" in _problems(activation(bank_card={"account_bank": "其他银行"}))
    assert "account_bank" in _problems(activation(bank_card={"account_bank": "花旗银行"}))
    ok = activation(bank_card={"account_bank": "其他银行", "bank_name": "深圳农村商业银行福田支行"})
    assert ActivationRequest.model_validate(ok).bank_card.bank_name == "深圳农村商业银行福田支行"


def test_unknown_fields_are_refused() -> None:
    assert "extra" in _problems(activation(nickname="x"))


def test_the_request_never_shows_its_sensitive_values_in_its_repr() -> None:
    request = ActivationRequest.model_validate(activation())
    text = repr(request)
    for secret in ("张三", id_number(), "13800138000", "6225880000000000002"):
        assert secret not in text


def test_masks() -> None:
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_id_number("110101199003071234") == "1101**********1234"
    assert mask_mobile("13800138000") == "138****8000"
    assert mask_card("6222020200112233445") == "****3445"
    assert ActivationRequest.model_validate(activation()).masked() == {
        "real_name_masked": "张*",
        "id_card_number_masked": id_number()[:4] + "*" * 10 + id_number()[-4:],
        "mobile_masked": "138****8000",
        "account_bank": "招商银行",
        "bank_address_code": "110000",
        "account_number_masked": "****0002",
    }
