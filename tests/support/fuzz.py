"""Fuzzing a service's HTTP routes with hypothesis: near-valid and wild bodies, query strings and path ids, sent to
the real process; any 5xx (or an error that is not the JSON error format) fails the test with the request."""

from __future__ import annotations

import base64
import http.client
import json
import os
import urllib.parse
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.internal_api import TOKEN

FUZZ = settings(
    # 100 per route keeps the suite fast; FUZZ_EXAMPLES=2000 for a long hunt.
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

EDGE_INTS = [0, -1, 1, 20, 21, 100, 101, 100_000_000, 100_000_001, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1]
EDGE_INTS += [10**23, 10**300]
EDGE_TEXT = ["", " ", "\x00", "\t\n", "$gt", "a.b", "鱼小铺", "🐟", "\ud800", "x" * 300, "null", "1e300", "-0"]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from(EDGE_INTS)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(EDGE_TEXT)
)
wild: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
"""Any JSON value (and NaN/Infinity, which json.dumps writes and a strict parser refuses)."""

wild_text = (
    st.text(max_size=40)
    | st.sampled_from(EDGE_TEXT)
    | st.integers().map(str)
    | st.sampled_from([str(n) for n in EDGE_INTS])
)
"""Any query-string or path value."""


ABSENT = object()
"""A field strategy may draw this to leave its field out (an optional query parameter, most often unsent)."""


def forge_cursor(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def cursors(sorts: list[str], real: list[str]) -> st.SearchStrategy[Any]:
    """No cursor (most often), real cursors, cursors forged with wild or out-of-range keys, and garbage."""
    keys = wild | st.builds(dict, ms=wild) | st.sampled_from([{"ms": 1e300}, {"ms": 2**63}, 2**63, 10**23])
    forged = st.builds(
        lambda s, k, i: forge_cursor({"s": s, "k": k, "i": i}),
        st.sampled_from(sorts) | st.text(max_size=5),
        keys,
        st.text(max_size=30) | wild,
    )
    return weighted((50, st.just(ABSENT)), (20, st.sampled_from(real or ["x"])), (20, forged), (10, wild_text))


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, roughly by weight (st.one_of and st.sampled_from keep to no proportions; hypothesis
    favours the ends of an integer range too, but less so over a range of a hundred or more)."""
    total = sum(weight for weight, _ in choices)

    def pick(n: int) -> st.SearchStrategy[Any]:
        for weight, strategy in choices:
            if n < weight:
                return strategy
            n -= weight
        return choices[-1][1]

    return st.integers(0, total - 1).flatmap(pick)


ROLL = weighted((90, st.just("valid")), (4, st.just("missing")), (4, st.just("wild")), (2, st.just("extra")))
"""How `near` treats each field: mostly valid, sometimes missing or wild, and now and then an extra field."""
ROUGH = weighted((70, st.just("valid")), (15, st.just("missing")), (10, st.just("wild")), (5, st.just("extra")))
"""For messages whose every field matters (provider notifications): fields go missing or wild far more often."""


@st.composite
def near(
    draw: st.DrawFn,
    fields: dict[str, st.SearchStrategy[Any]],
    wild_values: st.SearchStrategy[Any],
    extra_names: st.SearchStrategy[str] | None = None,
    roll: st.SearchStrategy[str] | None = None,
    steady: Collection[str] = (),
) -> Any:
    """Mostly valid fields (so that many requests get past the parser), each sometimes missing or wild, sometimes
    an extra field."""
    out: dict[str, Any] = {}
    for name, good in fields.items():
        choice = draw(roll if roll is not None and name not in steady else ROLL)
        if choice == "missing":
            continue
        value = draw(wild_values) if choice == "wild" else draw(good)
        if value is not ABSENT:
            out[name] = value
    if draw(roll if roll is not None else ROLL) == "extra":
        out[draw(extra_names if extra_names is not None else st.text(min_size=1, max_size=8))] = draw(wild_values)
    return out


def bodies(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[bytes | None]:
    """A JSON body near the route's model, any JSON at all, raw bytes, or none."""
    close = near(fields, wild).map(lambda v: json.dumps(v).encode())
    anything = wild.map(lambda v: json.dumps(v).encode())
    return weighted((75, close), (15, anything), (7, st.binary(max_size=60)), (3, st.none()))


def queries(params: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, str]]:
    return near(params, wild_text)


def path_ids(real: list[str]) -> st.SearchStrategy[str]:
    odd = st.sampled_from(["%00", "..", "a/b", "%ZZ", "x" * 5000])
    return weighted((70, st.sampled_from(real or ["x"])), (20, wild_text), (10, odd))


@dataclass
class Fuzzer:
    """Sends requests to one service process with the internal token and keeps what it saw per route."""

    port: int
    prefix: str = "/internal/v1"
    seen: Counter[tuple[str, int]] = field(default_factory=Counter)
    codes: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    _conn: http.client.HTTPConnection | None = None

    def send(
        self,
        route: str,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        token: bool = True,
        json_errors: bool = True,
    ) -> tuple[int, Any]:
        """The status and parsed body; fails on a 5xx, or on a 4xx not in the JSON error format when `json_errors`
        (routes for providers answer in the provider's format instead)."""
        url = self.prefix + path
        if query:
            url += "?" + urllib.parse.urlencode(
                query, quote_via=urllib.parse.quote, encoding="utf-8", errors="surrogatepass"
            )
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Bearer {TOKEN}"
        for attempt in range(2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self._conn.request(method, url, body=body, headers=all_headers)
                resp = self._conn.getresponse()
                raw = resp.read()
                status = resp.status
                if resp.will_close:
                    self.close()
                break
            except (ConnectionError, http.client.HTTPException):
                self.close()  # the server dropped the connection (it does after an unreadable body): a new one
                if attempt:
                    raise
        self.seen[(route, status // 100)] += 1
        text = raw.decode("utf-8", errors="replace")
        assert status < 500, f"{method} {url} body={body!r} -> {status} {text[:500]}"
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = text
        if status >= 400 and raw and json_errors:
            assert isinstance(data, dict) and isinstance(data.get("error", {}).get("code"), str), (
                f"{method} {url} -> {status} without the JSON error format: {text[:300]}"
            )
            self.codes[
                (route, status, data["error"]["code"] + " " + ",".join(sorted(data["error"].get("details") or {})[:3]))
            ] += 1
        return status, data

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="", errors="surrogatepass")


def assert_reached(fuzzer: Fuzzer, route: str, *classes: int) -> None:
    """The fuzzing reached this route with these status classes (so it did not only bounce off the parser)."""
    got = {cls for (r, cls), n in fuzzer.seen.items() if r == route and n}
    errors = {f"{status} {code}": n for (r, status, code), n in fuzzer.codes.items() if r == route}
    assert set(classes) <= got, f"{route}: saw status classes {sorted(got)}, wanted {sorted(classes)}; {errors}"


@dataclass
class Route:
    """One route to fuzz: its path ids, query and body strategies drawn from a world of real, seeded resources."""

    name: str
    method: str
    path: Callable[[Any], st.SearchStrategy[str]]
    query: Callable[[Any], dict[str, st.SearchStrategy[Any]]] = lambda w: {}
    body: Callable[[Any], dict[str, st.SearchStrategy[Any]]] | None = None
    expect: tuple[int, ...] = (2, 4)
    """The status classes the fuzzing must reach: 2 shows it got past the parser into the use case."""


def one(template: str, ids: Callable[[Any], list[str]]) -> Callable[[Any], st.SearchStrategy[str]]:
    return lambda w: path_ids(ids(w)).map(lambda i: template.format(quote(i)))


def fixed(path: str) -> Callable[[Any], st.SearchStrategy[str]]:
    return lambda w: st.just(path)


def fuzz_route(route: Route, world: Any, port: int) -> None:
    """Send the route every input hypothesis draws; fail on a 5xx, or if the route was never reached as expected."""
    fuzzer = Fuzzer(port)
    query = route.query(world)
    body = route.body(world) if route.body else None

    @FUZZ
    @given(
        path=route.path(world), params=queries(query) if query else st.none(), raw=bodies(body) if body else st.none()
    )
    def run(path: str, params: dict[str, str] | None, raw: bytes | None) -> None:
        fuzzer.send(route.name, route.method, path, params, raw)

    try:
        run()
    finally:
        fuzzer.close()
    assert_reached(fuzzer, route.name, *route.expect)
