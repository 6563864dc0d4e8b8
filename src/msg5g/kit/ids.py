"""Identifiers.

Message ids are UUIDv7 (time-ordered, RFC 9562) so that index inserts stay append-mostly and ids sort
by acceptance time; Python 3.11's `uuid` has no uuid7, hence this small generator.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid


def new_id() -> str:
    unix_ms = time.time_ns() // 1_000_000
    rand_a = int.from_bytes(os.urandom(2), "big") & 0x0FFF
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (unix_ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


def new_token(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)
