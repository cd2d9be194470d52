"""The seller's shop workbench (app): the shop, its items from draft to sale and withdrawal, and WeChat collection —
the seller's onboarding as a WeChat Pay e-commerce sub-merchant, decided by the wallet.

A shop's `wechat_collection` joins two services: listing knows the shop (and only not_invited/invited/active, from the
wallet's events), the wallet knows the application under review or rejected. Each is asked once, side by side; when
the wallet does not answer, listing's coarser status stands rather than failing the whole shop."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from services.channel_gateway.clients import Clients, ServiceError
from services.channel_gateway.keys import CLIENTS
from services.channel_gateway.models import In, PageQuery
from services.channel_gateway.routing import Ctx, Registry
from services.listing.domain import Condition, ItemFields, ItemStatus, NewItemFields
from services.wallet.collection_domain import NAME, VALID_UNTIL, Bank, id_number_problem
from shared.errors import Unavailable, ValidationFailed

log = logging.getLogger("channel_gateway.shop")
registry = Registry()

CollectionStatus = Literal["not_invited", "invited", "reviewing", "rejected", "active"]

# The wallet's statuses of a seller's collection (services/wallet/collection_api.py) onto API.md's five. A canceled
# application may be submitted again, as a rejected one; a frozen one may not (the wallet answers 409
# `collection_frozen`), and says so in `detail_status` and its reason.
COLLECTION_STATUS: dict[str, CollectionStatus] = {
    "not_invited": "not_invited",
    "invited": "invited",
    "applying": "reviewing",
    "rejected": "rejected",
    "canceled": "rejected",
    "frozen": "rejected",
    "active": "active",
}

# Alipay's bank codes (what the app knows its cards by) → WeChat Pay's `account_bank` names of a personal account.
BankCode = Literal[
    "ICBC",
    "COMM",
    "CMB",
    "CMBC",
    "CITIC",
    "SPDB",
    "CIB",
    "CEB",
    "GDB",
    "SPABANK",
    "BJBANK",
    "HXBANK",
    "ABC",
    "CCB",
    "PSBC",
    "BOC",
    "NBBANK",
    "OTHER",
]
BANK_NAMES: dict[str, Bank] = {
    "ICBC": "工商银行",
    "COMM": "交通银行",
    "CMB": "招商银行",
    "CMBC": "民生银行",
    "CITIC": "中信银行",
    "SPDB": "浦发银行",
    "CIB": "兴业银行",
    "CEB": "光大银行",
    "GDB": "广发银行",
    "SPABANK": "平安银行",
    "BJBANK": "北京银行",
    "HXBANK": "华夏银行",
    "ABC": "农业银行",
    "CCB": "建设银行",
    "PSBC": "邮政储蓄银行",
    "BOC": "中国银行",
    "NBBANK": "宁波银行",
    "OTHER": "其他银行",
}
BANK_CODES: dict[str, str] = {name: code for code, name in BANK_NAMES.items()}

# What WeChat's onboarding needs beyond API.md's body. The app may send each (additive fields); when it does not,
# these stand in: plainly not real values, so WeChat's review names the field instead of accepting a guess (the
# sandbox does not check them). See the report on this route.
UNSET_MEDIA_ID = "not-uploaded"
UNSET_VALID_UNTIL = "长期"
UNSET_ADDRESS_CODE = "000000"

# The wallet's activation fields (validation details) → this body's.
ACTIVATION_FIELDS = {
    "real_name": "legal_name",
    "id_card_number": "id_card_number",
    "mobile": "mobile",
    "id_card_valid_time": "id_card_valid_until",
    "id_card_copy": "id_card_front_media_id",
    "id_card_national": "id_card_back_media_id",
    "bank_card": "settlement_card",
    "bank_card.account_bank": "settlement_card.bank_code",
    "bank_card.account_number": "settlement_card.card_number",
    "bank_card.account_name": "settlement_card.holder_name",
    "bank_card.bank_address_code": "settlement_card.bank_address_code",
    "bank_card.bank_name": "settlement_card.bank_name",
}


# ------------------------------------------------------------------------------------------------------- models


class ShopIn(In):
    name: str = Field(min_length=1, max_length=40)

    @field_validator("name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class ShopOut(BaseModel):
    id: str
    name: str
    level: int
    wechat_collection: CollectionStatus
    created_at: str | None
    seller_id: str | None = None


class NewItemIn(NewItemFields, In):
    """An item's details (listing's rules): a draft until published."""

    model_config = ConfigDict(extra="forbid", strict=True)


class EditItemIn(ItemFields, In):
    """Any of the item's details; a field left out is unchanged (none may be null)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null (leave the field out to keep it)")
        return value


class ShopItem(BaseModel):
    id: str
    shop_id: str
    title: str
    description: str
    category: str
    condition: Condition
    price_fen: int
    images: list[str]
    city: str
    status: ItemStatus
    created_at: str | None
    updated_at: str | None = None
    published_at: str | None = None


class ShopItemPage(BaseModel):
    items: list[ShopItem]
    next_cursor: str | None


class ShopItemsQuery(PageQuery):
    status: ItemStatus | None = None


class SettlementCardIn(In):
    card_number: str = Field(pattern=r"^\d{10,30}$", repr=False)
    bank_code: BankCode = Field(description="Alipay's bank code; OTHER needs bank_name")
    holder_name: str = Field(min_length=2, max_length=64, repr=False, description="must be the legal_name")
    bank_address_code: str | None = Field(
        default=None, pattern=r"^\d{6}$", description="the bank's province and city code (省市编码, 6 digits)"
    )
    bank_name: str | None = Field(
        default=None, min_length=4, max_length=128, description="the branch's full name (required with OTHER)"
    )

    @model_validator(mode="after")
    def _other_bank_named(self) -> SettlementCardIn:
        if self.bank_code == "OTHER" and self.bank_name is None:
            raise ValueError("bank_name is required with bank_code OTHER")
        return self


class ActivateIn(In):
    legal_name: str = Field(min_length=2, max_length=64, repr=False)
    id_card_number: str = Field(min_length=18, max_length=18, repr=False)
    mobile: str = Field(pattern=r"^1[3-9]\d{9}$", repr=False)
    settlement_card: SettlementCardIn
    id_card_valid_until: str | None = Field(
        default=None, pattern=VALID_UNTIL.pattern, description="the ID card's end date (YYYY-MM-DD) or 长期"
    )
    id_card_front_media_id: str | None = Field(
        default=None, min_length=1, max_length=256, description="WeChat media id of the ID card's portrait side"
    )
    id_card_back_media_id: str | None = Field(
        default=None, min_length=1, max_length=256, description="WeChat media id of the ID card's national-emblem side"
    )

    @field_validator("legal_name")
    @classmethod
    def _a_name(cls, value: str) -> str:
        value = value.strip()
        if not NAME.fullmatch(value):
            raise ValueError("legal_name must be a person's name (no digits or symbols)")
        return value

    @field_validator("id_card_number")
    @classmethod
    def _an_id_number(cls, value: str) -> str:
        value = value.upper()
        problem = id_number_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("settlement_card")
    @classmethod
    def _card_in_holders_name(cls, card: SettlementCardIn, info: ValidationInfo) -> SettlementCardIn:
        legal_name = info.data.get("legal_name")  # absent when it failed its own rules (reported there)
        if legal_name is not None and card.holder_name.strip() != legal_name:
            raise ValueError("holder_name must be the legal_name (a personal card in the holder's name)")
        return card


class MaskedCard(BaseModel):
    bank_code: str | None
    last4: str | None


class Applicant(BaseModel):
    """Who applied, masked (the wallet never keeps the clear values past the submission)."""

    legal_name_masked: str | None
    id_card_number_masked: str | None
    mobile_masked: str | None
    settlement_card: MaskedCard


class WechatCollectionOut(BaseModel):
    status: CollectionStatus
    invited_at: str | None
    submitted_at: str | None
    activated_at: str | None = Field(description="the application's last change once active (wallet's record)")
    rejection_reason: str | None
    detail_status: str = Field(description="the wallet's finer status (e.g. frozen or canceled, both `rejected`)")
    provider_state: str | None = Field(default=None, description="WeChat Pay's application state")
    sign_url: str | None = Field(default=None, description="WeChat Pay's signing link while it waits for the seller")
    applicant: Applicant | None = None


# ------------------------------------------------------------------------------------------------------ mapping


def public_collection(wallet_status: str | None, fallback: str) -> CollectionStatus:
    """API.md's status of a seller's collection: the wallet's when it answered, listing's otherwise."""
    if wallet_status is not None and wallet_status in COLLECTION_STATUS:
        return COLLECTION_STATUS[wallet_status]
    if wallet_status is not None:
        log.warning("unknown wallet collection status %r; listing's %r stands", wallet_status, fallback)
    return COLLECTION_STATUS.get(fallback, "not_invited")


def shop_out(shop: dict[str, Any], collection: dict[str, Any] | None) -> ShopOut:
    status = public_collection(collection.get("status") if collection else None, str(shop["wechat_collection"]))
    return ShopOut(
        id=shop["id"],
        name=shop["name"],
        level=shop["level"],
        wechat_collection=status,
        created_at=shop.get("created_at"),
        seller_id=shop.get("seller_id"),
    )


def item_out(item: dict[str, Any]) -> ShopItem:
    return ShopItem.model_validate(
        {k: v for k, v in item.items() if k in ShopItem.model_fields} | {"shop_id": item["seller"]["shop_id"]}
    )


def last4(masked: str | None) -> str | None:
    """The last four digits of a card number however it is masked (`****3445`, `6222***3445`)."""
    if not masked:
        return None
    digits = masked[-4:]
    return digits if digits.isdigit() else None


def collection_out(view: dict[str, Any]) -> WechatCollectionOut:
    wallet_status = str(view["status"])
    status = public_collection(wallet_status, "not_invited")
    invitation = view.get("invitation") or {}
    application = view.get("application") or {}
    reason = application.get("reject_reason")
    if wallet_status == "frozen":
        reason = reason or f"frozen by WeChat Pay: {application.get('provider_state_desc') or 'no reason given'}"
    elif wallet_status == "canceled":
        reason = reason or "the application was canceled at WeChat Pay"
    applicant = None
    if application.get("applicant"):
        a = application["applicant"]
        card = a.get("bank_card") or {}
        applicant = Applicant(
            legal_name_masked=a.get("real_name"),
            id_card_number_masked=a.get("id_card_number"),
            mobile_masked=a.get("mobile"),
            settlement_card=MaskedCard(
                bank_code=BANK_CODES.get(card.get("account_bank") or "", "OTHER") if card.get("account_bank") else None,
                last4=last4(card.get("account_number")),
            ),
        )
    return WechatCollectionOut(
        status=status,
        invited_at=invitation.get("invited_at"),
        submitted_at=application.get("requested_at"),
        activated_at=application.get("updated_at") if status == "active" else None,
        rejection_reason=reason if status == "rejected" else None,
        detail_status=wallet_status,
        provider_state=application.get("provider_state"),
        sign_url=application.get("sign_url") if status == "reviewing" else None,
        applicant=applicant,
    )


def activation_body(body: ActivateIn) -> dict[str, Any]:
    """API.md's activation onto the wallet's ActivationRequest (an individual seller, 小微)."""
    card = body.settlement_card
    bank_card: dict[str, Any] = {
        "account_bank": BANK_NAMES[card.bank_code],
        "bank_address_code": card.bank_address_code or UNSET_ADDRESS_CODE,
        "account_number": card.card_number,
        "account_name": card.holder_name.strip(),
    }
    if card.bank_name is not None:
        bank_card["bank_name"] = card.bank_name
    return {
        "real_name": body.legal_name,
        "id_card_number": body.id_card_number,
        "id_card_valid_time": body.id_card_valid_until or UNSET_VALID_UNTIL,
        "id_card_copy": body.id_card_front_media_id or UNSET_MEDIA_ID,
        "id_card_national": body.id_card_back_media_id or UNSET_MEDIA_ID,
        "mobile": body.mobile,
        "bank_card": bank_card,
    }


def renamed_details(details: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A service's validation details with its field names replaced by the public body's."""
    return {names.get(key, key): value for key, value in details.items()}


async def collection_or_none(clients: Clients, seller_id: str) -> dict[str, Any] | None:
    """The wallet's view of the seller's collection, or None when the wallet does not answer (listing's stands)."""
    try:
        return await clients.wallet.collection(seller_id)
    except Unavailable:
        log.warning("wallet unavailable: shop of %s shown with listing's collection status", seller_id)
        return None


async def shop_with_collection(clients: Clients, shop: dict[str, Any]) -> ShopOut:
    return shop_out(shop, await collection_or_none(clients, str(shop["seller_id"])))


# ------------------------------------------------------------------------------------------------------- routes


@registry.route(
    "POST",
    "/shop",
    summary="Open the seller's shop (one per seller)",
    body=ShopIn,
    response=ShopOut,
    status=201,
    capability="manage_shop",
    errors=(409,),
    tags=("shop",),
)
async def open_shop(ctx: Ctx[ShopIn, Any]) -> tuple[int, ShopOut]:
    shop = await ctx.app[CLIENTS].listing.open_shop(ctx.user_id, ctx.body.name)
    # A shop just opened cannot have been invited yet: listing's not_invited is the whole story.
    return 201, shop_out(shop, None)


@registry.route(
    "GET",
    "/shop",
    summary="The seller's shop, with its WeChat collection status",
    response=ShopOut,
    capability="manage_shop",
    tags=("shop",),
)
async def get_shop(ctx: Ctx[Any, Any]) -> ShopOut:
    clients = ctx.app[CLIENTS]
    shop, collection = await asyncio.gather(
        clients.listing.shop_of(ctx.user_id), collection_or_none(clients, ctx.user_id)
    )
    return shop_out(shop, collection)


@registry.route(
    "POST",
    "/shop/items",
    summary="Draft an item in the seller's shop",
    body=NewItemIn,
    response=ShopItem,
    status=201,
    capability="manage_shop",
    errors=(409,),
    tags=("shop",),
)
async def draft_item(ctx: Ctx[NewItemIn, Any]) -> tuple[int, ShopItem]:
    item = await ctx.app[CLIENTS].listing.draft_item(ctx.user_id, ctx.body.model_dump())
    return 201, item_out(item)


@registry.route(
    "GET",
    "/shop/items",
    summary="The seller's items, newest first, optionally of one status",
    query=ShopItemsQuery,
    response=ShopItemPage,
    capability="manage_shop",
    tags=("shop",),
)
async def list_items(ctx: Ctx[Any, ShopItemsQuery]) -> ShopItemPage:
    page = await ctx.app[CLIENTS].listing.seller_items(ctx.user_id, ctx.query.model_dump(exclude_none=True))
    return ShopItemPage(items=[item_out(i) for i in page["items"]], next_cursor=page.get("next_cursor"))


@registry.route(
    "PATCH",
    "/shop/items/{item_id}",
    summary="Change any of an item's details (not while reserved or sold)",
    body=EditItemIn,
    response=ShopItem,
    capability="manage_shop",
    errors=(409,),
    tags=("shop",),
)
async def edit_item(ctx: Ctx[EditItemIn, Any]) -> ShopItem:
    fields = ctx.body.model_dump(exclude_unset=True)
    return item_out(await ctx.app[CLIENTS].listing.edit_item(ctx.path("item_id"), ctx.user_id, fields))


@registry.route(
    "POST",
    "/shop/items/{item_id}/publish",
    summary="Put an item on sale",
    response=ShopItem,
    capability="manage_shop",
    errors=(409,),
    tags=("shop",),
)
async def publish_item(ctx: Ctx[Any, Any]) -> ShopItem:
    return item_out(await ctx.app[CLIENTS].listing.item_action(ctx.path("item_id"), ctx.user_id, "publish"))


@registry.route(
    "POST",
    "/shop/items/{item_id}/withdraw",
    summary="Take an item off sale",
    response=ShopItem,
    capability="manage_shop",
    errors=(409,),
    tags=("shop",),
)
async def withdraw_item(ctx: Ctx[Any, Any]) -> ShopItem:
    return item_out(await ctx.app[CLIENTS].listing.item_action(ctx.path("item_id"), ctx.user_id, "withdraw"))


@registry.route(
    "GET",
    "/shop/wechat-collection",
    summary="The seller's WeChat collection: invitation, application under review, rejection, activation",
    response=WechatCollectionOut,
    capability="activate_wechat_collection",
    tags=("shop",),
)
async def get_collection(ctx: Ctx[Any, Any]) -> WechatCollectionOut:
    return collection_out(await ctx.app[CLIENTS].wallet.collection(ctx.user_id))


@registry.route(
    "POST",
    "/shop/wechat-collection/activate",
    summary="Apply for WeChat collection (an invited seller): onboarding as a WeChat Pay e-commerce sub-merchant",
    body=ActivateIn,
    response=WechatCollectionOut,
    status=202,
    capability="activate_wechat_collection",
    errors=(409,),
    tags=("shop",),
)
async def activate(ctx: Ctx[ActivateIn, Any]) -> tuple[int, WechatCollectionOut]:
    try:
        view = await ctx.app[CLIENTS].wallet.activate(ctx.user_id, activation_body(ctx.body))
    except ServiceError as exc:
        if exc.code == "validation_error" and isinstance(exc.details, dict):
            raise ValidationFailed(exc.message, details=renamed_details(exc.details, ACTIVATION_FIELDS)) from None
        raise
    return 202, collection_out(view)
