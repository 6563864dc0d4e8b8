"""Signed business callbacks: HMAC-SHA256 over the timestamp and the body with the business secret.

Headers on every callback:
  X-Msg5g-Event-Id    unique per event (deduplicate on it; retries repeat it)
  X-Msg5g-Timestamp   Unix seconds when this delivery attempt was signed
  X-Msg5g-Signature   v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>
A receiver recomputes the signature and refuses timestamps outside its replay window, so a captured
request cannot be replayed later. `verify_callback` is that check, for Python receivers.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Msg5g-Signature"
TIMESTAMP_HEADER = "X-Msg5g-Timestamp"
EVENT_ID_HEADER = "X-Msg5g-Event-Id"
EVENT_TYPE_HEADER = "X-Msg5g-Event-Type"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def signed_headers(
    secret: str, body: bytes, event_id: str, event_type: str, now: float | None = None
) -> dict[str, str]:
    timestamp = int(now if now is not None else time.time())
    return {
        "Content-Type": "application/json",
        EVENT_ID_HEADER: event_id,
        EVENT_TYPE_HEADER: event_type,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify_callback(secret: str, body: bytes, headers: Mapping[str, str], *, window_seconds: int = 300,
                    now: float | None = None) -> bool:
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = int(lowered[TIMESTAMP_HEADER.lower()])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > window_seconds:
        return False
    expected = signature(secret, timestamp, body)
    return hmac.compare_digest(expected, lowered.get(SIGNATURE_HEADER.lower(), ""))
