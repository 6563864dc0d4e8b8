"""Uploaded media (素材), submitted templates (模板) and the audit policy of the simulated MaaP.

Everything lives in memory on the one event loop. Uploaded bytes are bounded by
`max_media_bytes`; the oldest uploads are forgotten first (their URLs are then no longer known,
so a send naming them is no longer checked, as for any URL this MaaP did not issue).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, Literal

from .settings import AUDIT_DECISIONS, AuditDecision, ConfigError, SimulatorSettings
from .wire import FileInfo, build_file_descriptor

MediaState = Literal["pending", "approved", "rejected", "expired", "deleted"]
TemplateState = Literal["pending", "approved", "rejected"]
# States from which time alone moves an upload to "expired".
_EXPIRING: frozenset[str] = frozenset({"pending", "approved"})


def iso_seconds(ts: float) -> str:
    """§2.4 `until` form: 2021-01-07T14:15:40Z (UTC, whole seconds)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class AuditPolicy:
    """What happens to uploads and submissions from now on (PUT /_sim/audit)."""

    media: AuditDecision
    templates: AuditDecision
    delay_seconds: float
    reason: str
    ttl_seconds: float

    @classmethod
    def from_settings(cls, settings: SimulatorSettings) -> AuditPolicy:
        return cls(
            media=settings.media_audit,
            templates=settings.template_audit,
            delay_seconds=settings.audit_delay_seconds,
            reason=settings.audit_reject_reason,
            ttl_seconds=settings.media_ttl_seconds,
        )

    def updated(self, data: Mapping[str, Any]) -> AuditPolicy:
        """A copy with the given keys changed; unknown keys or bad values raise ConfigError."""
        known = {f.name for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise ConfigError(f"unknown audit setting {key!r}")
            if key in ("media", "templates"):
                if value not in AUDIT_DECISIONS:
                    raise ConfigError(f"{key!r} must be one of {AUDIT_DECISIONS}")
                changes[key] = value
            elif key == "reason":
                if not isinstance(value, str) or not value:
                    raise ConfigError("'reason' must be a non-empty string")
                changes[key] = value
            else:
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ConfigError(f"{key!r} must be a non-negative number")
                changes[key] = float(value)
        return replace(self, **changes)

    def as_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class AuditNotice:
    """One audit result sent (or given up on) to the CSP."""

    approved: bool
    ok: bool
    http_status: int | None
    attempts: int
    at: float

    def as_json(self) -> dict[str, Any]:
        return {
            "approved": self.approved,
            "ok": self.ok,
            "http_status": self.http_status,
            "attempts": self.attempts,
            "at": self.at,
        }


@dataclass(slots=True, eq=False)
class StoredFile:
    """One hosted file: the uploaded File or its Thumbnail."""

    url: str
    # The download path of `url` (/s/{tid}FD.jpg), the key GET requests are looked up by.
    path: str
    data: bytes
    # What the descriptor says: the declared type when there is one, else the sniffed one.
    content_type: str
    detected_type: str
    declared_type: str | None
    file_name: str | None
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(slots=True, eq=False)
class MediaItem:
    tid: str
    chatbot_id: str
    file: StoredFile
    thumbnail: StoredFile | None
    # Names of the multipart parts received, in order.
    parts: list[str]
    uploaded_at: float
    until_ts: float
    # The audit the policy chose at upload ("hold": none until settled by hand).
    planned: AuditDecision
    # Set when the bytes contradict the declared type: the audit rejects with this reason.
    mismatch: str | None = None
    state: MediaState = "pending"
    reason: str | None = None
    notices: list[AuditNotice] = field(default_factory=list)

    def current_state(self, now: float) -> MediaState:
        """The state, after letting `until` pass: a file past it is expired (§2.4)."""
        if self.state in _EXPIRING and now >= self.until_ts:
            self.state = "expired"
        return self.state

    @property
    def until(self) -> str:
        return iso_seconds(self.until_ts)

    def descriptor(self) -> str:
        """The FT-HTTP `<file>` XML of §2.4: thumbnail first (when sent), then the file."""
        until = self.until
        file = FileInfo(self.file.url, self.file.content_type, self.file.size, name=self.file.file_name, until=until)
        thumbnail = None
        if self.thumbnail is not None:
            thumbnail = FileInfo(self.thumbnail.url, self.thumbnail.content_type, self.thumbnail.size, until=until)
        return build_file_descriptor(file, thumbnail)

    def stored_bytes(self) -> int:
        return self.file.size + (self.thumbnail.size if self.thumbnail else 0)

    def as_json(self, now: float) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.tid,
            "chatbot_id": self.chatbot_id,
            "state": self.current_state(now),
            "url": self.file.url,
            "until": self.until,
            "file_name": self.file.file_name,
            "content_type": self.file.content_type,
            "detected_content_type": self.file.detected_type,
            "declared_content_type": self.file.declared_type,
            "size": self.file.size,
            "sha256": self.file.sha256,
            "parts": list(self.parts),
            "uploaded_at": self.uploaded_at,
            "notifications": [n.as_json() for n in self.notices],
        }
        if self.thumbnail is not None:
            out["thumbnail_url"] = self.thumbnail.url
            out["thumbnail_content_type"] = self.thumbnail.content_type
            out["thumbnail_size"] = self.thumbnail.size
            out["thumbnail_sha256"] = self.thumbnail.sha256
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(slots=True, eq=False)
class TemplateItem:
    template_id: str
    chatbot_id: str
    name: str
    content_type: str
    body: str
    submitted_at: float
    planned: AuditDecision
    state: TemplateState = "pending"
    reason: str | None = None
    notices: list[AuditNotice] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.template_id,
            "chatbot_id": self.chatbot_id,
            "name": self.name,
            "state": self.state,
            "content_type": self.content_type,
            "body": self.body,
            "submitted_at": self.submitted_at,
            "notifications": [n.as_json() for n in self.notices],
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out


class MaterialStore:
    """Uploads by tid, download paths and issued URLs, templates by id, and the audit policy."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.policy = AuditPolicy.from_settings(settings)
        self.media: dict[str, MediaItem] = {}
        # Exact URLs this MaaP issued: only these are checked in downlinks.
        self.by_url: dict[str, MediaItem] = {}
        self.by_path: dict[str, tuple[MediaItem, StoredFile]] = {}
        self.templates: dict[str, TemplateItem] = {}
        self.stored_bytes = 0
        # Bumped by clear(): audits scheduled before it find their item gone and do nothing.
        self.generation = 0

    def clear(self) -> None:
        self.generation += 1
        self.policy = AuditPolicy.from_settings(self.settings)
        self.media.clear()
        self.by_url.clear()
        self.by_path.clear()
        self.templates.clear()
        self.stored_bytes = 0

    # -- media --

    def add_media(self, item: MediaItem) -> None:
        size = item.stored_bytes()
        while self.media and self.stored_bytes + size > self.settings.max_media_bytes:
            self._forget(next(iter(self.media.values())))
        self.media[item.tid] = item
        self.stored_bytes += size
        for stored in self._files(item):
            self.by_url[stored.url] = item
            self.by_path[stored.path] = (item, stored)

    def _forget(self, item: MediaItem) -> None:
        del self.media[item.tid]
        self.stored_bytes -= item.stored_bytes()
        for stored in self._files(item):
            if self.by_url.get(stored.url) is item:
                del self.by_url[stored.url]
            self.by_path.pop(stored.path, None)

    def delete_media(self, item: MediaItem) -> None:
        """The file is gone (its bytes freed); the record and its URLs stay, so sends naming them are refused."""
        self.stored_bytes -= item.stored_bytes()
        item.state = "deleted"
        item.file.data = b""
        if item.thumbnail is not None:
            item.thumbnail.data = b""

    def find_media(self, tid: str) -> MediaItem | None:
        return self.media.get(tid)

    def list_media(self, chatbot_id: str | None = None) -> list[dict[str, Any]]:
        now = time.time()
        return [i.as_json(now) for i in self.media.values() if chatbot_id is None or i.chatbot_id == chatbot_id]

    @staticmethod
    def _files(item: MediaItem) -> list[StoredFile]:
        return [item.file] if item.thumbnail is None else [item.file, item.thumbnail]

    # -- templates --

    def add_template(self, item: TemplateItem) -> None:
        self.templates[item.template_id] = item

    def find_template(self, template_id: str, chatbot_id: str | None = None) -> TemplateItem | None:
        item = self.templates.get(template_id)
        if item is None or (chatbot_id is not None and item.chatbot_id != chatbot_id):
            return None
        return item

    def list_templates(self, chatbot_id: str | None = None) -> list[dict[str, Any]]:
        return [t.as_json() for t in self.templates.values() if chatbot_id is None or t.chatbot_id == chatbot_id]
