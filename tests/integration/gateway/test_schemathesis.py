"""schemathesis against the running gateway, from the document it serves at `/openapi.json`: every operation, with
a valid session of its audience (an app session on /app/v1, an mp session on /mp/v1, the admin token on /admin/v1).
Every answer must not be a server error and must conform to the document: its status code documented, its content
type and its body as documented.

Each operation runs in up to three modes, a few derandomized examples each (the same cases every run):
- `positive`: input the document allows;
- `negative`: input it does not (a 4xx is expected; never a 5xx, never an undocumented status). Run only for the
  operations whose document gives them an input to violate: a parameter (path, query or header) or a request body.
  The Authorization header does not count: the session header the test sends replaces whatever a case has, so a case
  whose only violation is that header answers as a positive one. An operation with neither (`GET /app/v1/wallet`, or
  an app-only route under /mp/v1, documented as a bare 403) leaves hypothesis nothing to generate (`Unsatisfiable`);
- `seeded`: input it allows, with the path parameters and body fields that name a resource (`order_id`, `item_id`)
  replaced by real ones of this module's users (the `seeds` fixture), so success answers (an order, a checkout) are
  checked against the document too, not only the 404s random ids get. Run for the operations that name a seeded
  resource.

One test per operation and mode, parametrized from the route table's document (the first test checks the gateway
serves that very document), each drawing its cases from schemathesis' strategy for the operation
(`APIOperation.as_strategy`, for use with `@given`). schemathesis' own pytest loader for a schema known only at run
time (`schemathesis.pytest.from_fixture`) cannot be used: 4.32.5 sets `Function._nodeid`, which pytest 9.2 no longer
has (AttributeError).

No operation is excluded (every one runs positive at least). The gateway fixture's rate limits are high (see
conftest); where a limit is low (withdrawals) a 429 is documented, so spending it is no failure.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.channel_gateway.api import openapi_document
from tests.integration.flows.test_checkout_flow import wechat_seller_item
from tests.integration.gateway.conftest import ADMIN_TOKEN, GatewayClient, Login
from tests.integration.listing.conftest import ListingClient
from tests.integration.payment.conftest import PaymentClient
from tests.support.infra import eventually

MAX_EXAMPLES = 8
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
METHODS = {"get", "put", "post", "delete", "patch"}
DOCUMENT = openapi_document()
PREFIXES = {"/app/v1/": "app", "/mp/v1/": "mp", "/admin/v1/": "admin"}
# The resources `seeds` makes for each audience's user, by the name a path parameter or body field gives them.
SEEDED = frozenset({"order_id", "item_id"})
CASES: Counter[str] = Counter()
STATUSES: Counter[str] = Counter()


def names_in(path: str, op: dict[str, Any]) -> set[str]:
    """The path parameters and top-level body fields of an operation."""
    names = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return names | set(schema.get("properties", {}))


def has_inputs(op: dict[str, Any]) -> bool:
    """Whether the operation takes anything a negative case can violate: a parameter or a request body (security
    aside: the test's own session header replaces a case's)."""
    return bool(op.get("parameters")) or "requestBody" in op


def runs() -> list[tuple[str, str, str]]:
    found = []
    for path, item in DOCUMENT["paths"].items():
        for method, op in item.items():
            if method not in METHODS:
                continue
            found.append((method.upper(), path, "positive"))
            if has_inputs(op):
                found.append((method.upper(), path, "negative"))
            if names_in(path, op) & SEEDED and not path.startswith("/admin/"):
                found.append((method.upper(), path, "seeded"))
    return found


RUNS = runs()


@pytest.fixture(scope="module")
async def users(gateway: GatewayClient) -> dict[str, Login]:
    """This module's own users, so what the cases create or change stays theirs."""
    app, mp = await asyncio.gather(gateway.app_login(), gateway.mp_login())
    return {"app": app, "mp": mp}


def authorization(users: dict[str, Login], audience: str) -> dict[str, str]:
    token = ADMIN_TOKEN if audience == "admin" else users[audience].token
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
async def seeds(
    gateway: GatewayClient, listing: ListingClient, payments: PaymentClient, users: dict[str, Login]
) -> dict[str, dict[str, str]]:
    """Per audience: an order of its user's (the app one paid with Alipay at the sandbox) and an item it can buy."""
    app, mp = users["app"], users["mp"]
    plain_seller = await listing.seller()
    bought, app_item, wechat_item, mp_item = await asyncio.gather(
        listing.item(plain_seller, price_fen=9_900),
        listing.item(plain_seller, price_fen=8_800),
        wechat_seller_item(listing, payments),
        wechat_seller_item(listing, payments),
    )
    app_out, mp_out = await asyncio.gather(
        gateway.ok("POST", "/app/v1/orders", app, key=uuid.uuid4().hex, body={"item_id": bought["id"]}),
        gateway.ok("POST", "/mp/v1/orders", mp, key=uuid.uuid4().hex, body={"item_id": wechat_item["id"]}),
    )
    order_string = app_out["payment"]["alipay_order_string"]
    await gateway.sandbox("/sandbox/alipay/pay", {"order_string": order_string, "user_id": app.alipay_user_id})
    await eventually(
        lambda: gateway.ok("GET", f"/app/v1/orders/{app_out['order']['id']}", app),
        until=lambda o: o["status"] == "paid",
        what="the app order paid",
    )
    return {
        "app": {"order_id": app_out["order"]["id"], "item_id": app_item["id"]},
        "mp": {"order_id": mp_out["order"]["id"], "item_id": mp_item["id"]},
    }


@pytest.fixture(scope="module")
def served(gateway: GatewayClient) -> Iterator[Any]:
    config = schemathesis.Config.from_dict({"generation": {"deterministic": True, "database": "none"}})
    yield schemathesis.openapi.from_url(f"{gateway.url}/openapi.json", config=config)
    if CASES:
        print(f"\nschemathesis: {sum(CASES.values())} cases in {len(CASES)} operation × mode runs")
        print("  answers: " + ", ".join(f"{status} ×{n}" for status, n in sorted(STATUSES.items())))


def test_the_gateway_serves_the_route_tables_document(served: Any) -> None:
    assert served.raw_schema == DOCUMENT
    operations = {(op.ok().method.upper(), op.ok().path) for op in served.get_all_operations()}
    assert operations == {(method, path) for method, path, _ in RUNS}


def seed(case: schemathesis.Case[Any], values: dict[str, str]) -> None:
    for name in list(case.path_parameters or {}):
        if name in values:
            case.path_parameters[name] = values[name]
    if isinstance(case.body, dict):
        for name in list(case.body):
            if name in values:
                case.body[name] = values[name]


@pytest.mark.parametrize(("method", "path", "mode"), RUNS, ids=[f"{m} {p} {mode}" for m, p, mode in RUNS])
def test_the_gateway_answers_as_its_document_says(
    request: pytest.FixtureRequest,
    gateway: GatewayClient,
    served: Any,
    users: dict[str, Login],
    method: str,
    path: str,
    mode: str,
) -> None:
    operation = served[path][method]
    audience = next(a for prefix, a in PREFIXES.items() if path.startswith(prefix))
    headers = authorization(users, audience)
    values = request.getfixturevalue("seeds")[audience] if mode == "seeded" else {}
    generation = GenerationMode.NEGATIVE if mode == "negative" else GenerationMode.POSITIVE
    label = f"{method} {path} {mode}"

    @given(case=operation.as_strategy(generation_mode=generation))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case[Any]) -> None:
        CASES[label] += 1
        seed(case, values)
        response = case.call(base_url=gateway.url, headers=headers)
        STATUSES[f"{mode} {response.status_code}"] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()
    assert CASES[label] >= 1
