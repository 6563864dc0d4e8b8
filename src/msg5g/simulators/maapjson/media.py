"""Media (素材) of the simulated MaaP: uploads, their audit, and the checks a downlink gets (§3.3.4).

A record lives from `medias/upload` until it is forgotten (reset, or evicted by `max_media`); its
`state` walks pending -> approved | rejected, and later expired or deleted. Files are served by
the simulator itself at the url it issued, so a handset (or a test) can fetch what was approved.
"""

from __future__ import annotations

import mimetypes
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, cast

from .constants import CTCC_MEDIA_PATH, CUCC_MEDIA_PATH, MEDIA_TTL_SECONDS, Dialect
from .content import Part
from .settings import AUDIT_DECISIONS, AuditDecision, ConfigError, SimulatorSettings

MediaState = Literal["pending", "approved", "rejected", "expired", "deleted"]
UploadMode = Literal["perm", "temp"]
OCTET_STREAM = "application/octet-stream"
_EXTENSION = re.compile(r"^\.[a-z0-9]{1,8}$")


@dataclass(slots=True)
class AuditPolicy:
    """What happens to uploads from now on (PUT /_sim/audit); every upload keeps the policy it met.

    `templates` is kept so one harness can drive every simulator: CT/CU take no templates (choices
    "Templates"), so it has no effect here. `chatbot_info` decides chatbot information and menu
    updates (§3.3.5), which share `delay_seconds` and `reason` with the media.
    """

    media: AuditDecision
    templates: AuditDecision
    chatbot_info: AuditDecision
    delay_seconds: float
    reason: str | None
    ttl_seconds: float

    @classmethod
    def from_settings(cls, settings: SimulatorSettings) -> AuditPolicy:
        ttl = settings.media_ttl_seconds
        return cls(
            media=settings.audit_media,
            templates=settings.audit_media,
            chatbot_info=settings.audit_chatbot_info,
            delay_seconds=float(settings.audit_delay_seconds),
            reason=settings.audit_reason,
            ttl_seconds=float(ttl) if ttl is not None else MEDIA_TTL_SECONDS[settings.dialect],
        )

    def updated(self, data: Mapping[str, Any]) -> AuditPolicy:
        """A copy with the given keys changed; unknown keys or bad values raise ConfigError."""
        known = {f.name for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise ConfigError(f"unknown audit setting {key!r}")
            if key in ("media", "templates", "chatbot_info"):
                if value not in AUDIT_DECISIONS:
                    raise ConfigError(f"{key} must be one of {AUDIT_DECISIONS}")
                changes[key] = value
            elif key == "reason":
                if value is not None and not isinstance(value, str):
                    raise ConfigError("reason must be a string or null")
                changes[key] = value
            else:
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ConfigError(f"{key} must be a non-negative number")
                if key == "ttl_seconds" and value == 0:
                    raise ConfigError("ttl_seconds must be positive")
                changes[key] = float(value)
        return replace(self, **changes)

    def as_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class CheckNotice:
    """One `check` notification about a record, as the CSP answered it."""

    approved: bool
    ok: bool
    http_status: int | None
    attempts: int
    error: str | None
    at: float

    def as_json(self) -> dict[str, Any]:
        return {
            "result": "approved" if self.approved else "rejected",
            "ok": self.ok,
            "http_status": self.http_status,
            "attempts": self.attempts,
            "error": self.error,
            "at": self.at,
        }


@dataclass(slots=True, eq=False)
class MediaRecord:
    id: str
    chatbot_id: str
    url: str
    # The url's path, as a GET of it arrives (percent-decoded): the key of the hosted file.
    path: str
    file_name: str
    # The type the client declared (or its file name implies); what a GET of the url answers.
    content_type: str
    size: int
    sha256: str
    data: bytes
    parts: list[str]
    upload_mode: UploadMode
    until: float | None
    state: MediaState
    # False for uploads the carrier never audits (CUCC temp files): no `check` goes out for them.
    audited: bool
    reason: str | None = None
    # Bumped by every audit decision, so a scheduled automatic audit that lost the race is dropped.
    audit_seq: int = 0
    created_at: float = field(default_factory=time.time)
    audited_at: float | None = None
    notifications: list[CheckNotice] = field(default_factory=list)

    @property
    def segment(self) -> str:
        """The url's last path segment, what the `check` remark names (choices)."""
        return self.path.rpartition("/")[2]

    def current_state(self, now: float | None = None) -> MediaState:
        """The state, with a temp file past its `until` turned expired on the way."""
        if (
            self.state in ("pending", "approved")
            and self.until is not None
            and (time.time() if now is None else now) >= self.until
        ):
            self.state = "expired"
        return self.state

    def usable(self) -> bool:
        return self.current_state() == "approved"


# --- naming ---------------------------------------------------------------------------------


def declared_type(part_type: str | None, file_name: str) -> str:
    """The part's own type, else the one its file name implies (what Spring's MultipartFile reports)."""
    if part_type and part_type != OCTET_STREAM:
        return part_type
    guessed, _ = mimetypes.guess_type(file_name, strict=False)
    return guessed or part_type or OCTET_STREAM


def _extension(file_name: str, content_type: str) -> str:
    _, dot, suffix = file_name.rpartition(".")
    candidate = ("." + suffix.lower()) if dot else ""
    if _EXTENSION.match(candidate):
        return candidate
    guessed = mimetypes.guess_extension(content_type, strict=False)
    return guessed if guessed and _EXTENSION.match(guessed) else ""


def new_media_id(dialect: Dialect) -> str:
    """CTCC: a SeaweedFS-style `volume,key` (`12,489e21a8151d`); CUCC: an 18-digit file id (§3.3.4)."""
    if dialect == "ctcc":
        return f"{secrets.randbelow(20) + 1},{secrets.token_hex(6)}"
    return str(10**17 + secrets.randbelow(9 * 10**17))


def media_path(
    dialect: Dialect, media_id: str, mode: UploadMode, file_name: str, content_type: str, prefix: str
) -> str:
    """The issued url's path (constants: CTCC_MEDIA_PATH, CUCC_MEDIA_PATH)."""
    if dialect == "ctcc":
        return CTCC_MEDIA_PATH.format(mode=mode, id=media_id, ext=_extension(file_name, content_type))
    return prefix + CUCC_MEDIA_PATH.format(id=media_id)


# --- content check --------------------------------------------------------------------------


def _mp3(data: bytes) -> bool:
    return data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0)


def _iso_media(data: bytes) -> bool:
    return data[4:8] == b"ftyp"


def _webp(data: bytes) -> bool:
    return data.startswith(b"RIFF") and data[8:12] == b"WEBP"


_SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "image/png": lambda d: d.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": lambda d: d.startswith(b"\xff\xd8\xff"),
    "image/jpg": lambda d: d.startswith(b"\xff\xd8\xff"),
    "image/gif": lambda d: d.startswith((b"GIF87a", b"GIF89a")),
    "image/bmp": lambda d: d.startswith(b"BM"),
    "image/webp": _webp,
    "audio/amr": lambda d: d.startswith(b"#!AMR"),
    "audio/mpeg": _mp3,
    "audio/mp3": _mp3,
    "audio/mp4": _iso_media,
    "audio/m4a": _iso_media,
    "audio/x-m4a": _iso_media,
    "audio/aac": lambda d: len(d) > 1 and d[0] == 0xFF and d[1] & 0xF6 == 0xF0,
    "video/mp4": _iso_media,
    "video/3gpp": _iso_media,
    "video/quicktime": _iso_media,
    "video/webm": lambda d: d.startswith(b"\x1a\x45\xdf\xa3"),
    "audio/webm": lambda d: d.startswith(b"\x1a\x45\xdf\xa3"),
    "application/pdf": lambda d: d.startswith(b"%PDF-"),
}


def matches_type(content_type: str, data: bytes) -> bool:
    """False when the bytes plainly are not the declared type; types without a known signature pass."""
    check = _SIGNATURES.get(content_type)
    return True if check is None else check(data)


# --- what a downlink names ----------------------------------------------------------------------


def media_urls(parts: Sequence[Part]) -> Iterator[str]:
    """Every media url of an already validated messageList: FT entries and card media (§2.1, §3.3.2)."""
    for part in parts:
        if part.kind == "file":
            for entry in cast(list[dict[str, Any]], part.data):
                yield str(entry["url"])
        elif part.kind == "card":
            yield from _card_urls(cast(dict[str, Any], part.data)["message"])


def _card_urls(message: dict[str, Any]) -> Iterator[str]:
    body = message.get("generalPurposeCard") or message.get("generalPurposeCardCarousel") or {}
    content = body.get("content")
    cards = content if isinstance(content, list) else [content]
    for card in cards:
        media = card.get("media") if isinstance(card, dict) else None
        if isinstance(media, dict):
            for key in ("mediaUrl", "thumbnailUrl"):
                if isinstance(media.get(key), str):
                    yield media[key]
