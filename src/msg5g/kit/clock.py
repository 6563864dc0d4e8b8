"""Time helpers: everything is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; we only ever store UTC, so naive means UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def http_date(moment: datetime | None = None) -> str:
    """RFC 1123 date as carriers expect in the `Date` header (e.g. `Thu, 11 Jul 2015 15:33:24 GMT`)."""
    return format_datetime(as_utc(moment or utcnow()), usegmt=True)


def parse_http_date(value: str) -> datetime | None:
    try:
        return as_utc(parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError):
        return None


def parse_iso(value: str) -> datetime | None:
    """An ISO 8601 time as carriers write it (`2021-01-07T14:15:40Z`), or None for empty, `"null"`
    (CT/CU send the string, protocols.md §3.3.6) or anything unreadable."""
    text = value.strip()
    if not text or text.lower() == "null":
        return None
    try:
        return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None
