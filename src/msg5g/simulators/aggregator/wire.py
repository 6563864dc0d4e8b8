"""The aggregator's wire format: signatures, numbers and carriers, answer and push bodies.

Built from docs/protocol-choices.md ("Third-party aggregator") and protocols.md §3.6 only, never
from the platform's adapter, so a wrong adapter and this simulator cannot share a mistake.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast
from urllib.parse import quote

import orjson

from .constants import (
    BEIJING_UTC_OFFSET_HOURS,
    CARRIER_PREFIXES,
    EVENT_INVOKE,
    EVENT_MEDIA,
    EVENT_MESSAGE,
    EVENT_TEMPLATE,
    EXPIRED_FORMAT,
    GEO_CRS,
    INVOKE_FIELDS,
    MO_DESC,
    MO_RESULT,
    NGINX_REASONS,
    NOT_SERVED_PREFIXES,
    TIMESTAMP_FORMAT,
)
from .settings import Carrier

BEIJING = timezone(timedelta(hours=BEIJING_UTC_OFFSET_HOURS), "Asia/Shanghai")


class ApiError(Exception):
    """A request answered with `{"status":"error","code","msg"}`."""

    def __init__(self, code: str, msg: str, *, http_status: int = 200) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.http_status = http_status


# --- signatures (choices: Auth) -----------------------------------------------------------------


def request_signature(appid: str, appkey: str, timestamp: str, body: bytes) -> str:
    """hex(sha256(appid + appkey + timestamp + raw_body)) of a customer request."""
    digest = hashlib.sha256((appid + appkey + timestamp).encode("utf-8"))
    digest.update(body)
    return digest.hexdigest()


def push_signature(appkey: str, timestamp: str, body: bytes) -> str:
    """hex(sha256(appkey + timestamp + raw_body)) of a push to the customer."""
    digest = hashlib.sha256((appkey + timestamp).encode("utf-8"))
    digest.update(body)
    return digest.hexdigest()


def signature_matches(expected: str, given: str) -> bool:
    # [I] the hex case is not fixed; accept either, compare in constant time.
    return hmac.compare_digest(expected, given.strip().lower())


def parse_timestamp(value: str) -> int | None:
    """X-Timestamp is decimal seconds since the epoch; anything else (ms included) is refused later."""
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        return None
    return int(text)


# --- time -----------------------------------------------------------------------------------------


class _BeijingClock:
    """Formats "yyyy-MM-dd HH:mm:ss" in UTC+8 once per second: pushes reuse it thousands of times."""

    __slots__ = ("_second", "_text")

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def format(self, ts: float) -> str:
        second = int(ts)
        if second != self._second:
            self._second = second
            self._text = datetime.fromtimestamp(second, BEIJING).strftime(TIMESTAMP_FORMAT)
        return self._text

    def now(self) -> str:
        return self.format(time.time())


_clock = _BeijingClock()
beijing_now = _clock.now


def beijing_time(ts: float) -> str:
    if int(ts) == int(time.time()):
        return _clock.format(ts)
    return datetime.fromtimestamp(int(ts), BEIJING).strftime(TIMESTAMP_FORMAT)


def iso_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def expired_time(ts: float) -> str:
    """§3.6 `expired`: "2024-04-10T11:45:33Z" (UTC, whole seconds)."""
    return datetime.fromtimestamp(int(ts), UTC).strftime(EXPIRED_FORMAT)


# --- numbers and carriers -------------------------------------------------------------------------

_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_PREFIX_TABLE: dict[str, Carrier] = {
    prefix: cast(Carrier, carrier) for carrier, prefixes in CARRIER_PREFIXES.items() for prefix in prefixes
}


def is_mobile_number(value: object) -> bool:
    """An 11-digit Chinese national mobile number (no +86, no tel:)."""
    return isinstance(value, str) and _MOBILE.match(value) is not None


def carrier_of(number: str) -> Carrier | None:
    """The carrier a number range belongs to (longest prefix wins); None when no carrier serves it."""
    if number.startswith(NOT_SERVED_PREFIXES):
        return None
    return _PREFIX_TABLE.get(number[:4]) or _PREFIX_TABLE.get(number[:3])


def normalize_number(value: str) -> str | None:
    """Control-API number forms (11 digits, +86..., 86..., tel:+86...) -> 11 digits."""
    text = value.strip()
    if text.lower().startswith("tel:"):
        text = text[4:]
    text = text.replace(" ", "").replace("-", "")
    if text.startswith("+86"):
        text = text[3:]
    elif len(text) == 13 and text.startswith("86"):
        text = text[2:]
    return text if _MOBILE.match(text) else None


# --- answers --------------------------------------------------------------------------------------

_SUCCESS = orjson.dumps({"status": "success"})


def error_body(code: str, msg: str) -> bytes:
    return orjson.dumps({"status": "error", "code": code, "msg": msg})


def success_body(extra: dict[str, Any] | None = None) -> bytes:
    if not extra:
        return _SUCCESS
    return orjson.dumps({"status": "success", **extra})


def nginx_page(status: int) -> bytes:
    reason = NGINX_REASONS.get(status, "Error")
    title = f"{status} {reason}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


# --- pushes (§3.6) --------------------------------------------------------------------------------


def message_event(send_id: str, to: str, status: str, timestamp: str) -> bytes:
    """Submail Message event, field for field: {"event","sendID","to","status","timestamp"}."""
    return orjson.dumps({"event": EVENT_MESSAGE, "sendID": send_id, "to": to, "status": status, "timestamp": timestamp})


def invoke_event(send_id: str, to: str, status: str, timestamp: str) -> bytes:
    """Submail Invoke (revoke result) event; §3.6 elides its fields, see constants.INVOKE_FIELDS [I]."""
    return orjson.dumps(dict(zip(INVOKE_FIELDS, (EVENT_INVOKE, send_id, to, status, timestamp), strict=True)))


def media_event(
    media_id: str, url: str, filesize: int, status: str, expired: str, timestamp: str, reason: str | None
) -> bytes:
    """Submail Media event, field for field: {"event","id","file","filesize","status","expired","timestamp"};
    [invented] a rejection adds "reason"."""
    event: dict[str, Any] = {
        "event": EVENT_MEDIA,
        "id": media_id,
        "file": url,
        "filesize": filesize,
        "status": status,
        "expired": expired,
        "timestamp": timestamp,
    }
    if reason is not None:
        event["reason"] = reason
    return orjson.dumps(event)


def template_event(template_id: str, status: str, timestamp: str, reason: str | None) -> bytes:
    """Submail Template event: {"event","templateID","status","timestamp"}; [invented] + "reason"."""
    event: dict[str, Any] = {
        "event": EVENT_TEMPLATE,
        "templateID": template_id,
        "status": status,
        "timestamp": timestamp,
    }
    if reason is not None:
        event["reason"] = reason
    return orjson.dumps(event)


def mo_push(forward: dict[str, Any]) -> bytes:
    """Dahantc MO push: {"result":"0","desc":"成功","rcsReplyForwards":[{...}]}."""
    return orjson.dumps({"result": MO_RESULT, "desc": MO_DESC, "rcsReplyForwards": [forward]})


def geo_uri(lat: float, lon: float, label: str | None, radius: float | None) -> str:
    """§1.1 / §3.3.6 geo text: geo:lat,lon;crs=gcj02[;u=radius][;rcs-l=<percent-encoded label>]."""
    uri = f"geo:{lat!r},{lon!r};crs={GEO_CRS}"
    if radius is not None:
        uri += f";u={int(radius) if float(radius).is_integer() else radius}"
    if label:
        uri += ";rcs-l=" + quote(label, safe="")
    return uri
