"""The seller routes' mappings between API.md and the services: the shop's collection status joined from listing and
the wallet, the activation body onto the wallet's, the wallet's summary, statement, card and withdrawal answers, the
admin answers, and the bodies refused before any service is asked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import ValidationError

from services.channel_gateway.clients import ServiceError, WalletClient
from services.channel_gateway.routes.admin import BatchIn, batch_out, ledger_out
from services.channel_gateway.routes.agreements import agreement_out
from services.channel_gateway.routes.shop import (
    ACTIVATION_FIELDS,
    BANK_NAMES,
    UNSET_ADDRESS_CODE,
    UNSET_MEDIA_ID,
    ActivateIn,
    EditItemIn,
    NewItemIn,
    activation_body,
    collection_out,
    item_out,
    public_collection,
    renamed_details,
    shop_out,
)
from services.channel_gateway.routes.wallet import (
    BankCardIn,
    WithdrawalIn,
    card_id,
    cards_out,
    current_card_id,
    entries_out,
    mask_name,
    wallet_out,
    withdrawal_out,
)
from services.wallet.collection_api import SettlementCardBody
from services.wallet.collection_domain import BANKS, ActivationRequest, id_check_character

SELLER = "usr_seller1"
NEW_CARD = {"card_number": "6222020200112233440", "holder_name": "李四", "bank_code": "ICBC"}
FIRST17 = "44030119880214003"
ID_NUMBER = FIRST17 + id_check_character(FIRST17)


def activation(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "legal_name": "李四",
        "id_card_number": ID_NUMBER,
        "mobile": "13912345678",
        "settlement_card": {"card_number": "6225880000000000002", "bank_code": "CMB", "holder_name": "李四"},
    }
    return body | changes


def wallet_view(status: str, **application: Any) -> dict[str, Any]:
    """The wallet's GET /sellers/{id}/collection answer (services/wallet/collection_api.py collection_view)."""
    app = None
    if status not in ("not_invited", "invited"):
        app = {
            "attempt": 1,
            "status": status,
            "provider_state": None,
            "provider_state_desc": None,
            "sign_url": None,
            "sub_mchid": None,
            "reject_reason": None,
            "applicant": {
                "real_name": "李*",
                "id_card_number": "4403**********0031",
                "mobile": "139****5678",
                "bank_card": {"account_bank": "招商银行", "bank_address_code": "440300", "account_number": "****0002"},
            },
            "requested_at": "2026-01-02T03:04:05+00:00",
            "updated_at": "2026-01-02T04:00:00+00:00",
        } | application
    invitation = None
    if status != "not_invited":
        invitation = {"shop_id": "shp_1", "level": 8, "invited_at": "2026-01-01T00:00:00+00:00"}
    return {"seller_id": SELLER, "status": status, "invitation": invitation, "application": app}


def listing_shop(collection: str = "invited") -> dict[str, Any]:
    return {
        "id": "shp_1",
        "seller_id": SELLER,
        "name": "旧物小铺",
        "level": 8,
        "wechat_collection": collection,
        "created_at": "2026-01-01T00:00:00+00:00",
    }


# ---------------------------------------------------------------------------------------------- shop and collection


@pytest.mark.parametrize(
    ("wallet_status", "public"),
    [
        ("not_invited", "not_invited"),
        ("invited", "invited"),
        ("applying", "reviewing"),
        ("rejected", "rejected"),
        ("canceled", "rejected"),
        ("frozen", "rejected"),
        ("active", "active"),
    ],
)
def test_the_wallets_collection_statuses_become_api_md_s_five(wallet_status: str, public: str) -> None:
    assert public_collection(wallet_status, "not_invited") == public


def test_a_shop_under_review_says_reviewing_though_listing_knows_only_invited() -> None:
    shop = shop_out(listing_shop("invited"), wallet_view("applying"))
    assert shop.wechat_collection == "reviewing"
    assert (shop.id, shop.name, shop.level, shop.seller_id) == ("shp_1", "旧物小铺", 8, SELLER)


def test_a_shop_whose_wallet_did_not_answer_keeps_listings_status() -> None:
    assert shop_out(listing_shop("active"), None).wechat_collection == "active"


def test_an_unknown_wallet_status_leaves_listings() -> None:
    assert public_collection("something_new", "invited") == "invited"


def test_an_application_waiting_for_the_sellers_signature_shows_its_sign_url() -> None:
    out = collection_out(wallet_view("applying", provider_state="NEED_SIGN", sign_url="https://pay.example/sign"))
    assert out.status == "reviewing" and out.sign_url == "https://pay.example/sign"
    assert out.submitted_at == "2026-01-02T03:04:05+00:00" and out.invited_at == "2026-01-01T00:00:00+00:00"
    assert out.activated_at is None and out.rejection_reason is None


def test_a_rejected_application_carries_its_reason() -> None:
    out = collection_out(wallet_view("rejected", reject_reason="身份证号码校验位错误"))
    assert (out.status, out.rejection_reason, out.detail_status) == ("rejected", "身份证号码校验位错误", "rejected")


def test_a_frozen_application_is_rejected_with_why() -> None:
    out = collection_out(wallet_view("frozen", provider_state_desc="已冻结"))
    assert out.status == "rejected" and out.detail_status == "frozen"
    assert out.rejection_reason is not None and "已冻结" in out.rejection_reason


def test_an_active_collection_has_its_activation_time() -> None:
    out = collection_out(wallet_view("active", provider_state="FINISH", sub_mchid="1600000001"))
    assert out.status == "active" and out.activated_at == "2026-01-02T04:00:00+00:00" and out.sign_url is None


def test_the_applicant_is_shown_masked_only() -> None:
    out = collection_out(wallet_view("applying"))
    assert out.applicant is not None
    dumped = out.model_dump_json()
    assert ID_NUMBER not in dumped and "13912345678" not in dumped and "李四" not in dumped
    assert out.applicant.settlement_card.model_dump() == {"bank_code": "CMB", "last4": "0002"}


def test_not_invited_has_no_times() -> None:
    out = collection_out(wallet_view("not_invited"))
    assert out.model_dump(include={"status", "invited_at", "submitted_at", "applicant"}) == {
        "status": "not_invited",
        "invited_at": None,
        "submitted_at": None,
        "applicant": None,
    }


def test_api_md_s_activation_maps_onto_the_wallets_request() -> None:
    body = activation_body(ActivateIn.model_validate(activation()))
    request = ActivationRequest.model_validate(body)  # what the wallet parses
    assert request.real_name == "李四" and request.id_card_number == ID_NUMBER and request.mobile == "13912345678"
    card = request.bank_card
    assert (card.account_bank, card.account_number, card.account_name) == ("招商银行", "6225880000000000002", "李四")
    # What API.md's body lacks stands in plainly.
    assert (request.id_card_copy, request.id_card_national) == (UNSET_MEDIA_ID, UNSET_MEDIA_ID)
    assert card.bank_address_code == UNSET_ADDRESS_CODE and request.id_card_valid_time == "长期"


def test_the_additive_onboarding_fields_are_passed_on() -> None:
    card = {
        "card_number": "6225880000000000002",
        "bank_code": "OTHER",
        "holder_name": "李四",
        "bank_address_code": "440300",
        "bank_name": "深圳农村商业银行福田支行",
    }
    body = activation(
        settlement_card=card,
        id_card_valid_until="2036-06-06",
        id_card_front_media_id="media-front",
        id_card_back_media_id="media-back",
    )
    request = ActivationRequest.model_validate(activation_body(ActivateIn.model_validate(body)))
    assert (request.id_card_copy, request.id_card_national, request.id_card_valid_time) == (
        "media-front",
        "media-back",
        "2036-06-06",
    )
    assert (request.bank_card.account_bank, request.bank_card.bank_name) == ("其他银行", "深圳农村商业银行福田支行")
    assert request.bank_card.bank_address_code == "440300"


def test_every_bank_the_wallet_knows_has_a_code() -> None:
    assert sorted(BANK_NAMES.values()) == sorted(BANKS)


def test_a_lower_case_x_in_the_id_number_is_accepted_upper_case() -> None:
    first17 = next(f"11010119900307{n:03d}" for n in range(1000) if id_check_character(f"11010119900307{n:03d}") == "X")
    parsed = ActivateIn.model_validate(activation(id_card_number=first17 + "x"))
    assert parsed.id_card_number == first17 + "X"


def _errors(model: type[Any], body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id_card_number": FIRST17 + ("0" if ID_NUMBER[-1] != "0" else "1")}, "id_card_number"),
        ({"mobile": "23912345678"}, "mobile"),
        ({"legal_name": "李4"}, "legal_name"),
        ({"real_name": "李四"}, "real_name"),  # the wallet's name is not this body's
        (
            {"settlement_card": {"card_number": "6225880000000000002", "bank_code": "CMB", "holder_name": "张三"}},
            "settlement_card",
        ),
        (
            {"settlement_card": {"card_number": "12ab", "bank_code": "CMB", "holder_name": "李四"}},
            "settlement_card.card_number",
        ),
        (
            {"settlement_card": {"card_number": "6225880000000000002", "bank_code": "招商银行", "holder_name": "李四"}},
            "settlement_card.bank_code",
        ),
        (
            {"settlement_card": {"card_number": "6225880000000000002", "bank_code": "OTHER", "holder_name": "李四"}},
            "settlement_card",
        ),
    ],
)
def test_an_activation_refused_names_the_field(changes: dict[str, Any], field: str) -> None:
    assert field in _errors(ActivateIn, activation(**changes))


def test_the_wallets_validation_details_are_named_as_this_body() -> None:
    details = {"real_name": "bad", "bank_card.account_number": "bad", "other": "kept"}
    assert renamed_details(details, ACTIVATION_FIELDS) == {
        "legal_name": "bad",
        "settlement_card.card_number": "bad",
        "other": "kept",
    }


def test_an_item_patch_refuses_nulls_and_unknown_fields() -> None:
    assert "title" in _errors(EditItemIn, {"title": None})
    assert "seller_id" in _errors(EditItemIn, {"seller_id": "usr_other"})
    assert EditItemIn.model_validate({"price_fen": 100}).model_dump(exclude_unset=True) == {"price_fen": 100}


def test_a_new_item_follows_listings_rules() -> None:
    good = {"title": "Kindle", "category": "electronics", "condition": "good", "price_fen": 100, "city": "深圳"}
    assert NewItemIn.model_validate(good).model_dump()["images"] == []
    assert "price_fen" in _errors(NewItemIn, good | {"price_fen": 0})
    assert "price_fen" in _errors(NewItemIn, good | {"price_fen": "100"})  # strict: a string is not a price
    assert "title" in _errors(NewItemIn, good | {"title": "   "})


def test_an_item_is_rendered_with_its_shop() -> None:
    item = {
        "id": "itm_1",
        "title": "Kindle",
        "description": "",
        "category": "electronics",
        "condition": "good",
        "price_fen": 100,
        "images": [],
        "city": "深圳",
        "status": "draft",
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": None,
        "published_at": None,
        "seller": {"id": SELLER, "shop_id": "shp_1", "wechat_collection": False},
    }
    out = item_out(item)
    assert out.shop_id == "shp_1" and out.status == "draft" and "seller" not in out.model_dump()


# ------------------------------------------------------------------------------------------------------------ wallet


def summary() -> dict[str, Any]:
    return {
        "seller_id": SELLER,
        "wechat": {"frozen_fen": 500, "available_fen": 700, "withdrawing_fen": 300, "balance_fen": 1000},
        "alipay": {"frozen_fen": 40, "settled_fen": 60},
    }


def test_the_wallet_summary_becomes_two_accounts() -> None:
    accounts = {a.kind: a.model_dump() for a in wallet_out(summary()).accounts}
    assert accounts["wechat_balance"] == {
        "kind": "wechat_balance",
        "posted_fen": 1000,
        "pending_fen": 500,
        "available_fen": 700,
        "withdrawing_fen": 300,
        "withdrawable": True,
    }
    assert accounts["alipay_settlement"] == {
        "kind": "alipay_settlement",
        "posted_fen": 60,
        "pending_fen": 40,
        "available_fen": 60,
        "withdrawing_fen": 0,
        "withdrawable": False,
    }


def line(seq: int, phase: str, amount: int, posted: int, reason: str, **ids: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": f"2026-01-01T00:00:0{seq}+00:00",
        "transfer_id": f"trf_{seq}",
        "side": "credit" if amount > 0 else "debit",
        "phase": phase,
        "amount_fen": amount,
        "reason": reason,
        "order_id": ids.get("order_id"),
        "withdrawal_id": ids.get("withdrawal_id"),
        "balance_fen": posted,
        "available_fen": posted - ids.get("reserved", 0),
    }


def test_a_statement_lists_the_movements_of_the_balance_only() -> None:
    account = f"acc_{SELLER}.wechat_available"
    statement = {
        "account_id": account,
        "items": [
            line(5, "voided", -200, 700, "withdrawal", withdrawal_id="wdr_2"),
            line(4, "pending", -200, 700, "withdrawal", withdrawal_id="wdr_2", reserved=200),
            line(3, "posted", -300, 700, "withdrawal", withdrawal_id="wdr_1"),
            line(2, "pending", -300, 1000, "withdrawal", withdrawal_id="wdr_1", reserved=300),
            line(1, "posted", 1000, 1000, "proceeds_released", order_id="ord_1"),
        ],
        "next_cursor": None,
    }
    entries = entries_out(statement)
    assert [(e.id, e.amount_fen, e.balance_after_fen, e.kind, e.order_id) for e in entries] == [
        (f"{account}.3", -300, 700, "withdrawal", None),
        (f"{account}.1", 1000, 1000, "proceeds_released", "ord_1"),
    ]
    assert entries[0].withdrawal_id == "wdr_1"


def settlement(verify: str = "VERIFY_SUCCESS", change: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "seller_id": SELLER,
        "account_type": "ACCOUNT_TYPE_PRIVATE",
        "account_bank": "招商银行",
        "bank_name": None,
        "account_number": "622588******0002",
        "verify_result": verify,
        "verify_fail_reason": None,
        "pending_change": change,
    }


def test_the_settlement_card_is_the_sellers_one_card() -> None:
    cards = cards_out(SELLER, settlement(), "李*")
    assert [c.model_dump() for c in cards] == [
        {
            "id": card_id(SELLER, "CMB", "0002"),
            "bank_code": "CMB",
            "last4": "0002",
            "holder_name_masked": "李*",
            "status": "active",
        }
    ]


def test_a_card_under_review_is_listed_after_the_current_one_and_is_the_id_its_post_answered() -> None:
    posted = BankCardIn.model_validate(
        {"card_number": "6222020200112233440", "holder_name": "李四", "bank_code": "ICBC"}
    )
    answered_id = card_id(SELLER, posted.bank_code, posted.card_number[-4:])
    change = {"application_no": "app_1", "account_bank": "工商银行", "account_number": "****3440"}
    cards = cards_out(SELLER, settlement(change=change | {"verify_result": "AUDITING"}), "李*")
    assert [(c.bank_code, c.status) for c in cards] == [("CMB", "active"), ("ICBC", "reviewing")]
    assert cards[1].id == answered_id
    # Reviewed: WeChat's current card is the new one, listed once.
    done = settlement(change=change | {"verify_result": "AUDIT_SUCCESS"}) | {
        "account_bank": "工商银行",
        "account_number": "****3440",
    }
    assert [(c.id, c.status) for c in cards_out(SELLER, done, "李*")] == [(answered_id, "active")]
    assert current_card_id(SELLER, done) == answered_id


def test_a_rejected_change_says_so_and_the_old_card_stays_current() -> None:
    change = {"account_bank": "工商银行", "account_number": "****3440", "verify_result": "AUDIT_FAIL"}
    cards = cards_out(SELLER, settlement(change=change), "李*")
    assert [c.status for c in cards] == ["active", "rejected"]
    assert current_card_id(SELLER, settlement(change=change)) == card_id(SELLER, "CMB", "0002")


def test_card_ids_are_the_sellers_own() -> None:
    assert card_id(SELLER, "CMB", "0002") != card_id("usr_other", "CMB", "0002")


def test_a_name_is_masked_as_the_wallet_masks_it() -> None:
    assert (mask_name("李四"), mask_name("欧阳娜娜"), mask_name("李")) == ("李*", "欧***", "*")


@pytest.mark.parametrize(
    ("wallet_status", "public"),
    [
        ("requested", "processing"),
        ("submitted", "processing"),
        ("succeeded", "succeeded"),
        ("failed", "failed"),
        ("returned", "returned"),
    ],
)
def test_a_withdrawal_is_processing_until_the_provider_decides(wallet_status: str, public: str) -> None:
    w = {
        "id": "wdr_1",
        "status": wallet_status,
        "amount_fen": 10_000,
        "fee_fen": 10,
        "arrives_fen": 9_990,
        "reason": "BANK_ERROR" if wallet_status in ("failed", "returned") else None,
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": None,
    }
    out = withdrawal_out(w)
    assert (out.status, out.net_fen, out.fee_fen) == (public, 9_990, 10)
    assert out.failure_reason == ("BANK_ERROR" if public in ("failed", "returned") else None)


def test_a_withdrawal_needs_a_positive_integer_amount_and_a_card() -> None:
    assert "amount_fen" in _errors(WithdrawalIn, {"amount_fen": 0, "bank_card_id": "bnk_1"})
    assert "amount_fen" in _errors(WithdrawalIn, {"amount_fen": 10.5, "bank_card_id": "bnk_1"})
    assert "bank_card_id" in _errors(WithdrawalIn, {"amount_fen": 100})


def test_a_new_card_maps_onto_the_wallets_settlement_card() -> None:
    body = BankCardIn.model_validate(NEW_CARD)
    SettlementCardBody.model_validate(
        {
            "account_bank": BANK_NAMES[body.bank_code],
            "bank_address_code": "440300",
            "account_number": body.card_number,
            "account_name": body.holder_name,
        }
    )


# ------------------------------------------------------------------------------------ the wallet's client, over HTTP


@pytest.fixture
async def wallet_answering() -> AsyncIterator[tuple[WalletClient, list[dict[str, Any]]]]:
    """A wallet that refuses withdrawals the way services/wallet does, recording what it was sent."""
    seen: list[dict[str, Any]] = []

    async def withdraw(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append({"key": request.headers.get("Idempotency-Key"), "body": body})
        code = {1: "daily_limit_exceeded", 2: "insufficient_funds"}.get(body["amount_fen"])
        if code is not None:
            error = {"code": code, "message": "no", "details": {"asked_fen": body["amount_fen"]}}
            return web.json_response({"error": error}, status=409)
        return web.json_response({"id": "wdr_1"}, status=201)

    app = web.Application()
    app.router.add_post("/internal/v1/sellers/{seller_id}/withdrawals", withdraw)
    server = TestServer(app)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield WalletClient("wallet", str(server.make_url("/")), http, "token", 5.0), seen
    finally:
        await server.close()


async def test_the_daily_withdrawal_limit_is_api_md_s_limit_exceeded(
    wallet_answering: tuple[WalletClient, list[dict[str, Any]]],
) -> None:
    client, seen = wallet_answering
    with pytest.raises(ServiceError) as caught:
        await client.withdraw(SELLER, 1, "k1")
    assert (caught.value.code, caught.value.status) == ("limit_exceeded", 422)
    assert caught.value.details == {"asked_fen": 1, "limit": "daily"}
    with pytest.raises(ServiceError) as short:
        await client.withdraw(SELLER, 2, "k2")
    assert (short.value.code, short.value.status) == ("insufficient_funds", 422)
    assert await client.withdraw(SELLER, 100, "k3") == {"id": "wdr_1"}
    assert [s["key"] for s in seen] == ["k1", "k2", "k3"]


# ------------------------------------------------------------------------------------------------------------- admin


def test_an_invitation_batch_lists_each_shop_with_its_level() -> None:
    batch = {
        "id": "bat_1",
        "status": "completed",
        "min_level": 5,
        "max_count": 2,
        "invited_count": 2,
        "seller_ids": ["usr_a", "usr_b"],
        "invited": [
            {"seller_id": "usr_a", "shop_id": "shp_a", "level": 9},
            {"seller_id": "usr_b", "shop_id": "shp_b", "level": 5},
        ],
        "started_at": "2026-01-01T00:00:00+00:00",
        "completed_at": "2026-01-01T00:00:01+00:00",
    }
    out = batch_out(batch)
    assert (out.id, out.count) == ("bat_1", 2)
    assert [i.model_dump() for i in out.invited] == [
        {"shop_id": "shp_a", "level": 9, "seller_id": "usr_a"},
        {"shop_id": "shp_b", "level": 5, "seller_id": "usr_b"},
    ]


def test_a_batch_needs_a_positive_count() -> None:
    assert "max_count" in _errors(BatchIn, {"min_level": 5, "max_count": 0})
    assert "min_level" in _errors(BatchIn, {"min_level": 0, "max_count": 3})
    assert BatchIn.model_validate({"max_count": 3}).model_dump(exclude_none=True) == {"max_count": 3}


def test_the_ledger_check_is_summarised_with_its_details() -> None:
    check = {
        "accounts": 11,
        "full": False,
        "mismatches": [{"account_id": "acc_x", "replayed": [1, 0, 0]}],
        "negative_accounts": [],
        "overcommitted_accounts": [],
        "totals": {"posted_fen": 0, "pending_debit_fen": 300, "pending_credit_fen": 300},
        "sum_zero": True,
        "in_flight": [{"_id": "trf_w", "amount_fen": 300}],
        "escrows": {"count": 3, "problems": []},
        "ok": False,
    }
    out = ledger_out(check)
    assert (out.ok, out.accounts_checked, out.sum_fen, out.in_flight_transfers) == (False, 11, 0, 1)
    assert out.mismatches == [{"account_id": "acc_x", "replayed": [1, 0, 0]}] and out.providers is None


def test_an_agreement_shows_its_limits() -> None:
    agreement = {
        "id": "agr_1",
        "buyer_id": "usr_b",
        "status": "active",
        "sign_url": "https://x",
        "agreement_no": "2026",
        "single_limit_fen": 50_000,
        "daily_limit_fen": 200_000,
        "signed_at": "2026-01-01T00:00:00+00:00",
        "created_at": "2026-01-01T00:00:00+00:00",
    }
    assert agreement_out(agreement).model_dump() == {
        "id": "agr_1",
        "status": "active",
        "single_limit_fen": 50_000,
        "daily_limit_fen": 200_000,
        "signed_at": "2026-01-01T00:00:00+00:00",
        "created_at": "2026-01-01T00:00:00+00:00",
    }
