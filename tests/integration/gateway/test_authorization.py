"""The authorization matrix of the whole public API, generated from the route table (`routing.endpoints`), so a route
module that lands is covered without editing this file:

- without a credential: a session route or an admin route is 401 `unauthenticated`; a route the audience's channel
  policy does not grant is 403 `not_available_in_channel`, whatever comes with it; an open route lets anyone in;
- with the wrong credential (the other audience's session, an expired or forged one, one signed with another secret,
  the admin token on a session route, a session or a wrong token on an admin route): 401 the same;
- with the right one the request gets past authentication (the control for the two above);
- another user's resource named in the path (`{order_id}`, `{refund_id}`, ...) is 404 `not_found` for every route
  that takes it, with a body valid enough to reach the ownership check, and the owner sees it unchanged after.

Resources are made for real through the gateway (the app buyer's order is checked out and paid at the sandbox) by
the factories of `FACTORIES`, keyed by path parameter name: a route with a parameter no factory makes fails, naming it,
until one is added. One set of users and resources serves the whole module.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, find, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from services.channel_gateway.api import ROUTES
from services.channel_gateway.routing import PREFIX, Audience, Route, endpoints
from services.channel_gateway.sessions import Tokens
from shared.events import Channel
from tests.integration.gateway.conftest import (
    ADMIN_TOKEN,
    APPLICATION,
    Answer,
    GatewayClient,
    Login,
    account,
    gateway_env,
    onboarded_seller,
    wechat_earnings,
)
from tests.integration.listing.conftest import ListingClient
from tests.support.infra import eventually

Endpoint = tuple[str, str, Route, Audience]
ENDPOINTS = endpoints(ROUTES)
PARAM = re.compile(r"{(\w+)(?::[^}]*)?}")
SESSION_SECRET = gateway_env("", "", "", {})["SESSION_SECRET"]

# Path prefixes (relative to the audience) whose resource is public rather than someone's: routes under them are not
# held to "another user's → 404". Catalog items are anyone's to see (and, once sharing lands, to share).
PUBLIC_RESOURCES = {"/items/{item_id}": "a catalog item is public"}


def label(endpoint: Endpoint) -> str:
    return f"{endpoint[0]} {endpoint[1]}"


def placeholder_path(path: str) -> str:
    return PARAM.sub(lambda m: f"no-such-{m.group(1).replace('_', '-')}", path)


def error_code(reply: Answer) -> str | None:
    body = reply.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        return code if isinstance(code, str) else None
    return None


# ------------------------------------------------------------------------------------------------ the cast


@dataclass
class Cast:
    """The module's users: an owner and a stranger in each audience, and the app seller of the shop resources."""

    app_owner: Login
    app_stranger: Login
    mp_owner: Login
    mp_stranger: Login
    app_seller: Login

    def own(self, audience: Audience) -> Login:
        return self.app_owner if audience == "app" else self.mp_owner

    def stranger(self, audience: Audience) -> Login:
        return self.app_stranger if audience == "app" else self.mp_stranger

    def other_audience(self, audience: Audience) -> Login:
        return self.mp_owner if audience == "app" else self.app_owner


@pytest.fixture(scope="module")
async def cast(gateway: GatewayClient) -> Cast:
    logins = await asyncio.gather(
        gateway.app_login(), gateway.app_login(), gateway.mp_login(), gateway.mp_login(), gateway.app_login()
    )
    return Cast(*logins)


def minted(user_id: str, audience: Channel, *, secret: str = SESSION_SECRET, age_s: float = 0, ttl_s: int = 60) -> str:
    """A session token made as the gateway makes them, `age_s` seconds ago."""
    started = time.time() - age_s
    token, _ = Tokens(secret.encode(), ttl_s, clock=lambda: started).issue(user_id, audience)
    return token


def wrong_credentials(cast: Cast, audience: Audience, route: Route) -> dict[str, dict[str, str]]:
    """Authorization headers that must not get in, by what they are."""
    if route.auth == "admin" or audience == "admin":
        return {
            "an app session": {"Authorization": f"Bearer {cast.app_owner.token}"},
            "an mp session": {"Authorization": f"Bearer {cast.mp_owner.token}"},
            "a wrong admin token": {"Authorization": f"Bearer {ADMIN_TOKEN}-not"},
            "the admin token without Bearer": {"Authorization": ADMIN_TOKEN},
            "a Basic credential": {"Authorization": f"Basic {ADMIN_TOKEN}"},
        }
    channel: Channel = "app" if audience == "app" else "mp"
    own = cast.own(audience)
    token = own.token
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    return {
        "the other audience's session": {"Authorization": f"Bearer {cast.other_audience(audience).token}"},
        "the user's own session, expired": {"Authorization": f"Bearer {minted(own.user_id, channel, age_s=120)}"},
        "a session signed with another secret": {
            "Authorization": f"Bearer {minted(own.user_id, channel, secret='another-secret-0123456789abcdef!')}"
        },
        "a session with a forged signature": {"Authorization": f"Bearer {flipped}"},
        "the session without Bearer": {"Authorization": token},
        "the admin token": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
        "garbage": {"Authorization": "Bearer fbs1.\u00e9\u00e9.\u00e9"},
    }


def right_credential(cast: Cast, audience: Audience, route: Route) -> dict[str, str]:
    if route.auth == "admin":
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    return {"Authorization": f"Bearer {cast.own(audience).token}"}


# ------------------------------------------------------------------------------------- 401 and 403, per endpoint


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=label)
async def test_without_a_credential(gateway: GatewayClient, endpoint: Endpoint) -> None:
    method, path, route, audience = endpoint
    reply = await gateway.request(method, placeholder_path(path))
    if not route.allowed_in(audience):
        assert (reply.status, error_code(reply)) == (403, "not_available_in_channel"), reply.body
        assert reply.body["error"]["details"] == {"channel": audience}
    elif route.auth in ("user", "admin"):
        assert (reply.status, error_code(reply)) == (401, "unauthenticated"), reply.body
    else:
        assert reply.status not in (401, 403) and reply.status < 500, reply.body


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=label)
async def test_with_the_wrong_credential(gateway: GatewayClient, cast: Cast, endpoint: Endpoint) -> None:
    method, path, route, audience = endpoint
    wrong: list[str] = []
    for what, headers in wrong_credentials(cast, audience, route).items():
        reply = await gateway.request(method, placeholder_path(path), headers=headers)
        if not route.allowed_in(audience):
            expected: tuple[int, str | None] | None = (403, "not_available_in_channel")
        elif route.auth in ("user", "admin"):
            expected = (401, "unauthenticated")
        else:
            expected = None  # an open route ignores what comes with it
        got = (reply.status, error_code(reply))
        if (expected is not None and got != expected) or (expected is None and (got[0] in (401, 403) or got[0] >= 500)):
            wrong.append(f"{what}: {got} {reply.body}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=label)
async def test_the_policy_refuses_whatever_the_right_credential(
    gateway: GatewayClient, cast: Cast, endpoint: Endpoint
) -> None:
    method, path, route, audience = endpoint
    reply = await gateway.request(method, placeholder_path(path), headers=right_credential(cast, audience, route))
    if not route.allowed_in(audience):
        assert (reply.status, error_code(reply)) == (403, "not_available_in_channel"), reply.body
    else:
        # The control of the tests above: the right credential gets past authentication and the policy (to a 404
        # for the placeholder ids, a 422 for the missing body, or an answer).
        assert reply.status not in (401, 403) and reply.status < 500, (reply.status, reply.body)


# --------------------------------------------------------------------------------- another user's resource: 404


@dataclass
class Resource:
    """Something of `owner`'s, and how the owner reads it (compared before and after a stranger's request)."""

    id: str
    owner: Login
    read: Callable[[], Awaitable[Any]]


@dataclass
class World:
    gateway: GatewayClient
    listing: ListingClient
    cast: Cast
    made: dict[str, Resource] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def resource(self, name: str) -> Resource:
        async with self.locks.setdefault(name, asyncio.Lock()):
            if name not in self.made:
                make = FACTORIES.get(name)
                if make is None:
                    raise AssertionError(
                        f"no resource factory for the path parameter {{{name}}}: add one to FACTORIES in "
                        f"{__name__} (make it through the gateway, owned by a user of the cast)"
                    )
                self.made[name] = await make(self)
            return self.made[name]


Factory = Callable[[World], Awaitable[Resource]]
FACTORIES: dict[str, Factory] = {}


def factory(name: str) -> Callable[[Factory], Factory]:
    def register(make: Factory) -> Factory:
        FACTORIES[name] = make
        return make

    return register


async def settled(read: Callable[[], Awaitable[Any]], what: str) -> Any:
    """The owner's view once two reads in a row agree (events still landing would change it under the test)."""
    seen: list[Any] = []

    async def probe() -> Any:
        seen.append(await read())
        return seen

    await eventually(probe, until=lambda s: len(s) >= 2 and s[-1] == s[-2], what=f"{what} settled")
    return seen[-1]


async def paid_app_order(world: World, price_fen: int) -> dict[str, Any]:
    """The app owner's order, checked out with Alipay through the gateway and paid at the sandbox."""
    gateway, buyer = world.gateway, world.cast.app_owner
    item = await world.listing.item(await world.listing.seller(), price_fen=price_fen)
    out = await gateway.ok(
        "POST",
        "/app/v1/orders",
        buyer,
        key=f"authz-{uuid.uuid4().hex}",
        body={"item_id": item["id"], "payment_method": "alipay"},
    )
    await gateway.sandbox(
        "/sandbox/alipay/pay",
        {"order_string": out["payment"]["alipay_order_string"], "user_id": buyer.alipay_user_id},
    )
    order: dict[str, Any] = await eventually(
        lambda: gateway.ok("GET", f"/app/v1/orders/{out['order']['id']}", buyer),
        until=lambda o: o["status"] == "paid",
        what="the order paid",
    )
    return order


@factory("order_id")
async def make_order(world: World) -> Resource:
    order = await paid_app_order(world, 12_300)
    buyer = world.cast.app_owner

    async def read() -> Any:
        return await world.gateway.ok("GET", f"/app/v1/orders/{order['id']}", buyer)

    await settled(read, "the order")
    return Resource(order["id"], buyer, read)


@factory("refund_id")
async def make_refund_case(world: World) -> Resource:
    order = await paid_app_order(world, 4_500)
    buyer = world.cast.app_owner

    async def attempt() -> Answer:
        # Until refund has heard of the paid order (listing's event is on its way) the answer is 404 "no such order",
        # stored under its key: each attempt is a new request with a new key.
        return await world.gateway.request(
            "POST",
            f"/app/v1/orders/{order['id']}/refunds",
            token=buyer.token,
            key=f"authz-{uuid.uuid4().hex}",
            body={"type": "refund_only", "amount_fen": 4_500, "reason": "不想要了", "evidence": []},
        )

    opened = await eventually(
        attempt,
        until=lambda r: (r.status, error_code(r)) != (404, "not_found"),
        what="the refund case opened",
    )
    assert opened.status == 201, opened.body
    case = opened.body

    async def read() -> Any:
        return await world.gateway.ok("GET", f"/app/v1/refunds/{case['id']}", buyer)

    await settled(read, "the refund case")
    return Resource(case["id"], buyer, read)


@factory("item_id")
async def make_shop_item(world: World) -> Resource:
    """A draft in the app seller's shop (the seller's own, not the catalog's: see PUBLIC_RESOURCES)."""
    gateway, seller = world.gateway, world.cast.app_seller
    await gateway.ok("POST", "/app/v1/shop", seller, body={"name": f"铺子 {uuid.uuid4().hex[:6]}"})
    item = await gateway.ok(
        "POST",
        "/app/v1/shop/items",
        seller,
        body={
            "title": "九成新 Kindle",
            "description": "用了一年",
            "category": "数码",
            "condition": "like_new",
            "price_fen": 35_000,
            "images": ["https://img.example/k.jpg"],
            "city": "杭州",
        },
    )

    async def read() -> Any:
        page = await gateway.ok("GET", "/app/v1/shop/items", seller, params={"limit": "100"})
        return [i for i in page["items"] if i["id"] == item["id"]]

    await settled(read, "the shop item")
    return Resource(item["id"], seller, read)


@factory("agreement_id")
async def make_agreement(world: World) -> Resource:
    gateway, buyer = world.gateway, world.cast.app_owner
    agreement = await gateway.ok("POST", "/app/v1/payment-agreements", buyer)

    async def read() -> Any:
        page = await gateway.ok("GET", "/app/v1/payment-agreements", buyer, params={"limit": "100"})
        return [a for a in page["items"] if a["id"] == agreement["id"]]

    await settled(read, "the agreement")
    return Resource(agreement["id"], buyer, read)


@factory("withdrawal_id")
async def make_withdrawal(world: World) -> Resource:
    """A withdrawal of a seller onboarded through the workbench, out of what a WeChat sale earned them."""
    gateway = world.gateway
    seller, _ = await onboarded_seller(gateway)
    await wechat_earnings(gateway, seller, 5_000)
    await eventually(
        lambda: gateway.ok("GET", "/app/v1/wallet", seller),
        until=lambda w: account(w, "wechat_balance")["available_fen"] >= 2_000,
        what="the proceeds available",
    )
    cards = await gateway.ok("GET", "/app/v1/wallet/bank-cards", seller)
    card = next(c for c in cards["items"] if c["status"] == "active")
    withdrawal = await gateway.ok(
        "POST",
        "/app/v1/wallet/withdrawals",
        seller,
        key=f"authz-{uuid.uuid4().hex}",
        body={"amount_fen": 2_000, "bank_card_id": card["id"]},
    )

    async def read() -> Any:
        return await gateway.ok("GET", f"/app/v1/wallet/withdrawals/{withdrawal['id']}", seller)

    await eventually(read, until=lambda w: w["status"] == "succeeded", what="the withdrawal paid out")
    return Resource(withdrawal["id"], seller, read)


@pytest.fixture(scope="module")
def world(gateway: GatewayClient, listing: ListingClient, cast: Cast) -> World:
    return World(gateway, listing, cast)


# ------------------------------------------------------------------ minimal valid inputs from the route's models


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _string(schema: dict[str, Any]) -> str:
    low, high = schema.get("minLength", 1), schema.get("maxLength", 10_000)
    fmt = schema.get("format")
    if fmt == "date-time":
        return "2026-01-01T00:00:00Z"
    if fmt in ("uri", "url"):
        return "https://img.example/a.jpg"
    pattern = schema.get("pattern")
    if pattern is None:
        return "x" * max(int(low), 1)
    return str(
        find(
            st.from_regex(pattern, fullmatch=True),
            lambda s: low <= len(s) <= high,
            settings=settings(database=None, derandomize=True, suppress_health_check=list(HealthCheck)),
        )
    )


# Fields whose validators check more than their schema says (an ID number's birth date and check character): a value
# known to be valid, whatever model has them (the onboarding application's, see APPLICATION in conftest).
KNOWN_VALID: dict[str, Any] = {
    "id_card_number": APPLICATION["id_card_number"],
    "mobile": APPLICATION["mobile"],
    "card_number": APPLICATION["settlement_card"]["card_number"],
}


def _field(name: str, schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    return KNOWN_VALID[name] if name in KNOWN_VALID else minimal(schema, defs)


def minimal(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """The smallest instance of a pydantic JSON schema: required fields only, lowest bounds, first choices (and the
    fields of KNOWN_VALID their known value)."""
    schema = _resolve(schema, defs)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if _resolve(o, defs).get("type") != "null"]
            return minimal(options[0], defs)
    if "allOf" in schema:
        return minimal(schema["allOf"][0], defs)
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _field(name, props[name], defs) for name in schema.get("required", [])}
    if kind == "array":
        return [minimal(schema.get("items", {}), defs) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return _string(schema)
    if kind in ("integer", "number"):
        value = 1  # an amount of 1 fen, a limit of 1: the smallest that usually means something
        if "minimum" in schema or "exclusiveMinimum" in schema:
            value = max(value, schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1))
        if "maximum" in schema or "exclusiveMaximum" in schema:
            value = min(value, schema.get("maximum", schema.get("exclusiveMaximum", 0) - 1))
        return value if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    raise AssertionError(f"minimal(): no rule for {schema}")


def minimal_for(model: type[BaseModel], where: str) -> dict[str, Any]:
    """The smallest valid input of a body or query model: its required fields, then (for a model whose validators
    want more, like a carrier for a self-shipped return) the fewest optional ones that make it valid."""
    schema = model.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    top = _resolve(schema, defs)
    base = minimal(top, defs)
    assert isinstance(base, dict), where
    optional = [name for name in top.get("properties", {}) if name not in base]
    sizes = range(len(optional) + 1) if len(optional) <= 8 else (0, len(optional))
    problem: ValidationError | None = None
    for size in sizes:
        for extra in itertools.combinations(optional, size):
            value = base | {name: _field(name, top["properties"][name], defs) for name in extra}
            try:
                model.model_validate(value)
            except ValidationError as exc:
                problem = exc
                continue
            return value
    raise AssertionError(f"{where}: no minimal valid {model.__name__} ({problem}); extend minimal()")


def owned_endpoint(endpoint: Endpoint) -> bool:
    _, _, route, audience = endpoint
    if route.auth != "user" or not route.allowed_in(audience) or not PARAM.search(route.path):
        return False
    return not any(route.path.startswith(prefix) for prefix in PUBLIC_RESOURCES)


OWNED = [e for e in ENDPOINTS if owned_endpoint(e)]


def test_the_minimal_inputs_are_valid_for_every_route() -> None:
    # Fails early, naming the model, when a new model needs minimal() to learn something.
    for route in ROUTES.routes:
        for model in (route.body, route.query):
            if model is not None:
                minimal_for(model, f"{route.method} {route.path}")


def dressed_up(resource: Resource) -> list[str]:
    """The resource's id dressed up to reach past the gateway's check into the service's URL: a query naming the
    owner (the services take `?viewer_id=`, `?buyer_id=`), a fragment, a path that walks back onto the resource."""
    owner = resource.owner.user_id
    return [
        f"{resource.id}?viewer_id={owner}&buyer_id={owner}&seller_id={owner}&user_id={owner}",
        f"{resource.id}#",
        f"x/../{resource.id}",
        f"{resource.id}/",
    ]


@pytest.mark.parametrize("endpoint", OWNED, ids=label)
async def test_another_users_resource_is_not_found_and_stays_as_it_was(world: World, endpoint: Endpoint) -> None:
    method, _, route, audience = endpoint
    resources = {name: await world.resource(name) for name in PARAM.findall(route.path)}
    stranger = world.cast.stranger(audience)
    assert all(r.owner.user_id != stranger.user_id for r in resources.values())
    body = minimal_for(route.body, label(endpoint)) if route.body is not None else None
    query = minimal_for(route.query, label(endpoint)) if route.query is not None else {}

    def path_with(ids: dict[str, str]) -> str:
        return PREFIX[audience] + PARAM.sub(lambda m: ids[m.group(1)], route.path)

    async def as_stranger(path: str) -> Answer:
        return await world.gateway.request(
            method,
            path,
            token=stranger.token,
            body=body,
            params={k: str(v) for k, v in query.items()},
            key=f"stranger-{uuid.uuid4().hex}" if route.idempotency_key else None,
        )

    ids = {name: r.id for name, r in resources.items()}
    before = {name: await r.read() for name, r in resources.items()}
    paths = [path_with(ids)] + [
        path_with(ids | {name: quote(dressed, safe="")}) for name, r in resources.items() for dressed in dressed_up(r)
    ]
    for path in paths:
        reply = await as_stranger(path)
        assert (reply.status, error_code(reply)) == (404, "not_found"), (path, body, reply.status, reply.body)
    after = {name: await r.read() for name, r in resources.items()}
    assert after == before, f"{method} {path_with(ids)} by another user changed the owner's resource"


def test_the_ownership_matrix_covers_every_resource_route() -> None:
    # Every session route with a path parameter is in the matrix unless its resource is public (PUBLIC_RESOURCES)
    # or the audience's policy refuses it anyway (403, tested above).
    for endpoint in ENDPOINTS:
        _, _, route, audience = endpoint
        if route.auth == "user" and route.allowed_in(audience) and PARAM.search(route.path):
            assert endpoint in OWNED or any(route.path.startswith(p) for p in PUBLIC_RESOURCES), label(endpoint)
    assert OWNED, "no session route takes a resource in its path?"
