"""Every route of shared/API.md (the public contract) is registered in the route table, and the route table has no
public route the contract does not name.

The routes are read from API.md itself: each backquoted `METHOD /path` (or `METHOD P/path`, `P` being both /app/v1
and /mp/v1; `METHOD .../rest` continuing the line's previous path; a bare `GET` meaning that same path) in the route
lists above the sandbox's section. Path parameters match whatever their names (`{id}` in API.md is `{order_id}` in
the code). A route marked **app** exists only under /app/v1, and under /mp/v1 it must answer 403
`not_available_in_channel`: so its /mp/v1 twin must be registered and not allowed by the mini-program's policy.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.channel_gateway.api import ROUTES
from services.channel_gateway.routing import Route, endpoints

ROOT = Path(__file__).resolve().parents[3]
# The contract as the shared design gives it, copied into the repository (a clean checkout has nothing beside it).
API_MD = ROOT / "docs" / "contract" / "API.md"
AUDIENCES = {"P": ("/app/v1", "/mp/v1")}

# API.md routes built in a later issue: none left (sharing, issue 18, landed). Each entry would be asserted absent,
# so whoever builds one takes it out and the test holds it to the contract like the rest.
NOT_YET: set[str] = set()
# A route API.md names by the URL an answer gives (a share's `mp_code_url`), and the registered routes serving it.
URL_ROUTES = {"GET {mp_code_url}": {"GET /app/v1/shares/{}/mp-code", "GET /mp/v1/shares/{}/mp-code"}}

ROUTE_TOKEN = re.compile(r"`(GET|POST|PUT|PATCH|DELETE)(?: ([^`\s]+))?`")


def normalize(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.split("?", 1)[0])


def contract_routes(text: str) -> list[tuple[str, str, int, bool]]:
    """(method, path as written with params normalized, line, idempotency key) for each route API.md names."""
    found = []
    anchor: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("## Sandbox"):
            break
        stripped = line.lstrip()
        if not (stripped.startswith("- `") or stripped.startswith("`")):
            continue
        if stripped.startswith("- "):
            anchor = None  # a new bullet: `...` refers to this line's paths only
        for match in ROUTE_TOKEN.finditer(line):
            method, path = match.group(1), match.group(2)
            if path is None:  # "`GET` lists them": the previous path
                if anchor is None:
                    continue
                path = anchor
            elif path.startswith("..."):
                if anchor is None:
                    raise AssertionError(f"API.md line {number}: {path} continues no path")
                rest = path[3:]
                base = re.sub(r"/\{[^}]*\}$", "", anchor) if rest.startswith("/{") else anchor
                path = base + rest
            elif path.startswith(("P/", "/", "{")):
                anchor = path.split("?", 1)[0]
            else:
                continue
            tail = line[match.end() :].split("`", 1)[0]
            # A path that is all parameter (`{mp_code_url}`, a URL an answer gives) stays as written.
            written = path if path.startswith("{") else normalize(path)
            found.append((method, written, number, "Idempotency-Key" in tail))
    return found


def expand(method: str, path: str) -> list[str]:
    if path.startswith("P/"):
        return [f"{method} {prefix}{path[1:]}" for prefix in AUDIENCES["P"]]
    return [f"{method} {path}"]


def registered() -> dict[str, Route]:
    return {f"{m} {normalize(p)}": route for m, p, route, _ in endpoints(ROUTES)}


def registered_audience() -> dict[str, str]:
    return {f"{m} {normalize(p)}": audience for m, p, _, audience in endpoints(ROUTES)}


@pytest.fixture(scope="module")
def contract() -> list[tuple[str, str, int, bool]]:
    assert API_MD.is_file(), f"{API_MD} not found"
    routes = contract_routes(API_MD.read_text(encoding="utf-8"))
    assert len(routes) >= 40, f"only {len(routes)} routes read from {API_MD}: has its format changed?"
    return routes


def test_the_parser_reads_api_md_as_written() -> None:
    sample = "\n".join(
        [
            "- `PATCH /app/v1/shop/items/{id}` (any) → Item; `POST .../{id}/publish` → x; `POST .../{id}/withdraw`",
            '- `POST /app/v1/wallet/bank-cards` `{"card_number"}` → 201 — the card; `GET` lists them',
            '- `POST /app/v1/wallet/withdrawals` (Idempotency-Key) `{"amount_fen"}` → 201',
            '  `{"id"}`; `GET .../{id}`',
            "- `GET P/catalog?q=&sort=newest|price_asc` → page",
            '- `POST P/refunds/{id}/escalate` `{"reason"}` (buyer) → Case;',
            "  `POST P/refunds/{id}/withdraw` (buyer) → Case `closed`",
            "## Sandbox buyer actions",
            "- `POST /sandbox/wechat/pay` → ok",
        ]
    )
    assert [(m, p, key) for m, p, _, key in contract_routes(sample)] == [
        ("PATCH", "/app/v1/shop/items/{}", False),
        ("POST", "/app/v1/shop/items/{}/publish", False),
        ("POST", "/app/v1/shop/items/{}/withdraw", False),
        ("POST", "/app/v1/wallet/bank-cards", False),
        ("GET", "/app/v1/wallet/bank-cards", False),
        ("POST", "/app/v1/wallet/withdrawals", True),
        ("GET", "/app/v1/wallet/withdrawals/{}", False),
        ("GET", "P/catalog", False),
        ("POST", "P/refunds/{}/escalate", False),
        ("POST", "P/refunds/{}/withdraw", False),
    ]


def test_every_api_md_route_is_registered(contract: list[tuple[str, str, int, bool]]) -> None:
    have = registered()
    missing: dict[str, int] = {}
    for method, path, line, _ in contract:
        if f"{method} {path}" in NOT_YET:
            continue
        for endpoint in URL_ROUTES.get(f"{method} {path}") or expand(method, path):
            if endpoint not in have:
                missing.setdefault(endpoint, line)
    assert not missing, f"{len(missing)} API.md routes are not registered:\n" + "\n".join(
        f"  {endpoint}  (API.md line {line})" for endpoint, line in sorted(missing.items(), key=lambda kv: kv[1])
    )


def test_the_routes_not_built_yet_are_still_absent(contract: list[tuple[str, str, int, bool]]) -> None:
    written = {f"{m} {p}" for m, p, _, _ in contract}
    assert written >= NOT_YET, f"NOT_YET names routes API.md does not: {sorted(NOT_YET - written)}"
    have = registered()
    landed = []
    for entry in sorted(NOT_YET):
        method, path = entry.split(" ", 1)
        landed += [endpoint for endpoint in expand(method, path) if endpoint in have]
    assert not landed, f"built now: take them out of NOT_YET so the contract test covers them: {landed}"


def test_the_share_image_url_is_served_as_a_png_by_both_audiences() -> None:
    have = registered()
    for endpoint in URL_ROUTES["GET {mp_code_url}"]:
        assert have[endpoint].media_type == "image/png" and have[endpoint].auth == "none", endpoint


def test_app_only_routes_answer_403_under_the_mini_program(contract: list[tuple[str, str, int, bool]]) -> None:
    written = {e for m, p, _, _ in contract for e in expand(m, p)}
    have = registered()
    wrong = []
    for method, path, line, _ in contract:
        if not path.startswith("/app/v1/") or f"{method} {path}" in NOT_YET:
            continue
        twin = f"{method} /mp/v1{path.removeprefix('/app/v1')}"
        if twin in written or f"{method} {path}" not in have:
            continue  # the contract names the twin itself (sessions, refund views); or missing (reported above)
        route = have.get(twin)
        if route is None:
            wrong.append(f"  {twin}: not registered (API.md line {line}: must answer 403 not_available_in_channel)")
        elif route.allowed_in("mp"):
            wrong.append(f"  {twin}: allowed by the mp policy, but API.md line {line} makes it app only")
    assert not wrong, "app-only routes without their 403 under /mp/v1:\n" + "\n".join(wrong)


# Routes added beyond API.md, each listed as a contract addition in docs/deviations.md (issue 17) for the design.
ADDITIONS = {
    "GET /app/v1/wallet/withdrawals",  # the seller's withdrawals, newest first (API.md has only one by id)
    "GET /mp/v1/wallet/withdrawals",  # its 403 twin
    "GET /app/v1/payment-agreements/{}",  # one agreement (polled after signing)
    "GET /mp/v1/payment-agreements/{}",  # its 403 twin
}


def test_every_registered_route_is_in_api_md(contract: list[tuple[str, str, int, bool]]) -> None:
    written = {e for m, p, _, _ in contract for e in URL_ROUTES.get(f"{m} {p}") or expand(m, p)}
    app_only_twins = {f"{e.split(' ')[0]} /mp/v1{e.split(' ', 1)[1].removeprefix('/app/v1')}" for e in written}
    audience = registered_audience()
    extra = []
    for endpoint, route in registered().items():
        if endpoint in written or endpoint in ADDITIONS:
            continue
        if endpoint in app_only_twins and not route.allowed_in("mp") and audience[endpoint] == "mp":
            continue  # the 403 twin of an app-only route
        extra.append(endpoint)
    assert not extra, f"public routes API.md does not name (document them there first): {sorted(extra)}"


def test_the_routes_api_md_gives_an_idempotency_key_take_one(contract: list[tuple[str, str, int, bool]]) -> None:
    have = registered()
    wrong = []
    for method, path, line, key in contract:
        for endpoint in expand(method, path):
            route = have.get(endpoint)
            if route is not None and key and not route.idempotency_key:
                wrong.append(f"{endpoint} (API.md line {line})")
    assert not wrong, f"API.md requires an Idempotency-Key on: {wrong}"
