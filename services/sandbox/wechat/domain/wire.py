"""WeChat's wire values: rfc3339 times (written in Beijing time) and callback addresses."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

BEIJING = timezone(timedelta(hours=8))

_RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})",
)


def parse_rfc3339(text: str) -> datetime:
    """``2018-06-08T10:34:56+08:00``: a date, a time and a zone are all required; kept to millisecond precision
    (what Mongo stores) so a stored time compares equal to the same text parsed again."""
    match = _RFC3339_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"not an rfc3339 time with a time zone (yyyy-MM-DDTHH:mm:ss+08:00): {text!r}")
    zone = match.group(8)
    normalised = text[: match.start(7)] if match.group(7) else text[: match.start(8)]
    try:
        at = datetime.fromisoformat(normalised + ("+00:00" if zone == "Z" else zone))
    except ValueError as exc:
        raise ValueError(f"not a valid time: {text!r} ({exc})") from None
    if match.group(7):
        at = at.replace(microsecond=int(match.group(7)[1:].ljust(6, "0")[:3]) * 1000)
    return at


def wire_time(at: datetime) -> str:
    """Times as WeChat writes them: rfc3339 in Beijing time, whole seconds."""
    return at.astimezone(BEIJING).replace(microsecond=0).isoformat()


def _is_local_host(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        # A single-label name is a compose service or a hosts-file alias, never a public domain.
        return host == "localhost" or "." not in host
    return address.is_loopback or address.is_private


def check_notify_url(url: str) -> str:
    """WeChat's rules for callback addresses: absolute, at most 255 chars, no query string, HTTPS on the internet.
    The sandbox also accepts HTTP to loopback, private and single-label hosts (where test merchants listen)."""
    if len(url) > 255:
        raise ValueError("notify_url must be at most 255 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("notify_url must be an absolute https:// URL")
    if parts.query or parts.fragment:
        raise ValueError("notify_url must not carry parameters (不能携带参数)")
    if parts.scheme == "http" and not _is_local_host(parts.hostname):
        raise ValueError("notify_url must use https on a public host")
    return url
