"""Session tokens: what one audience issues verifies there until it expires, and nothing else verifies — not a token
of the other audience, not one signed with another secret or altered in any part, not garbage of any shape."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from services.channel_gateway.routing import Session
from services.channel_gateway.sessions import TOKEN_PREFIX, Tokens

SECRET = b"unit-test-session-secret-0123456789abcdef"
TTL = 3600


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def signed_by(tokens: Tokens, claims: object | bytes) -> str:
    """A token carrying these claims with a valid MAC (what only the holder of the secret can make)."""
    raw = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    signed = f"{TOKEN_PREFIX}.{b64(raw)}"
    return f"{signed}.{tokens._mac(signed)}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(clock: Clock) -> Tokens:
    return Tokens(SECRET, TTL, clock=clock)


def test_a_token_verifies_in_its_audience_with_its_user(tokens: Tokens, clock: Clock) -> None:
    for audience in ("app", "mp"):
        token, expires = tokens.issue("usr_1", audience)
        assert tokens.verify(token, audience) == Session(user_id="usr_1", channel=audience)
        assert expires == datetime.fromtimestamp(int(clock.now) + TTL, UTC)
        assert token.startswith(f"{TOKEN_PREFIX}.") and token.count(".") == 2


def test_two_tokens_issued_in_the_same_second_differ(tokens: Tokens) -> None:
    first, _ = tokens.issue("usr_1", "mp")
    second, _ = tokens.issue("usr_1", "mp")
    assert first != second
    assert tokens.verify(first, "mp") == tokens.verify(second, "mp")


def test_a_token_of_the_other_audience_is_refused(tokens: Tokens) -> None:
    app_token, _ = tokens.issue("usr_1", "app")
    mp_token, _ = tokens.issue("usr_1", "mp")
    assert tokens.verify(app_token, "mp") is None
    assert tokens.verify(mp_token, "app") is None


def test_a_token_expires_at_its_exp(tokens: Tokens, clock: Clock) -> None:
    token, _ = tokens.issue("usr_1", "app")
    clock.now += TTL - 1
    assert tokens.verify(token, "app") is not None
    clock.now += 1  # exp itself is already past
    assert tokens.verify(token, "app") is None
    clock.now += 86_400
    assert tokens.verify(token, "app") is None


def test_a_token_signed_with_another_secret_is_refused(tokens: Tokens, clock: Clock) -> None:
    other = Tokens(b"another-secret-of-the-same-length-000000", TTL, clock=clock)
    token, _ = other.issue("usr_1", "app")
    assert tokens.verify(token, "app") is None


def test_any_altered_part_is_refused(tokens: Tokens) -> None:
    token, _ = tokens.issue("usr_1", "app")
    prefix, claims, mac = token.split(".")
    # Other claims (another user, a later expiry) under the original MAC.
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    for change in ({"sub": "usr_2"}, {"exp": decoded["exp"] + 10**6}, {"aud": "mp"}):
        forged_claims = b64(json.dumps(decoded | change, separators=(",", ":")).encode())
        assert tokens.verify(f"{prefix}.{forged_claims}.{mac}", "app") is None
        assert tokens.verify(f"{prefix}.{forged_claims}.{mac}", "mp") is None
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    assert tokens.verify(f"{prefix}.{claims}.{flipped}", "app") is None
    assert tokens.verify(f"{prefix}.{claims}.", "app") is None
    assert tokens.verify(f"fbs2.{claims}.{mac}", "app") is None


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        ".",
        "..",
        "fbs1",
        "fbs1..",
        "fbs1.a.b.c",
        "not-a-token",
        "Bearer fbs1.x.y",
        "fbs1.!!!.???",
        "fbs1.x.é",  # not ASCII: must be refused, not raise
        "fbs1.\udce9\udcff.x",  # a non-UTF-8 header as aiohttp hands it over (surrogate-escaped)
        "fbs1.eyJzdWIiOiJ1c3JfMSJ9." + "A" * 43,
        "x" * 10_000,
    ],
)
def test_garbage_is_refused_without_raising(tokens: Tokens, garbage: str) -> None:
    assert tokens.verify(garbage, "app") is None
    assert tokens.verify(garbage, "mp") is None


@pytest.mark.parametrize(
    "claims",
    [
        b"not json",
        b"\xff\xfe not utf-8",
        [],
        "usr_1",
        {},
        {"sub": "usr_1", "aud": "app"},  # no expiry
        {"sub": "usr_1", "aud": "app", "exp": "9999999999"},
        {"sub": "usr_1", "aud": "app", "exp": 9_999_999_999.5},
        {"sub": 7, "aud": "app", "exp": 9_999_999_999},
        {"aud": "app", "exp": 9_999_999_999},
        {"sub": "usr_1", "aud": ["app", "mp"], "exp": 9_999_999_999},
        {"sub": "usr_1", "exp": 9_999_999_999},
    ],
)
def test_well_signed_but_malformed_claims_are_refused(tokens: Tokens, claims: object) -> None:
    assert tokens.verify(signed_by(tokens, claims), "app") is None


def test_well_signed_claims_of_the_right_shape_verify(tokens: Tokens) -> None:
    # The control for the test above: the same construction with good claims is accepted.
    token = signed_by(tokens, {"sub": "usr_1", "aud": "app", "exp": 9_999_999_999})
    assert tokens.verify(token, "app") == Session(user_id="usr_1", channel="app")
