"""Materials (素材): the kinds of media a business uploads, what each carrier takes, and the state
of a material's copy on one chatbot account.

A carrier hosts the files a handset downloads, so every material is uploaded to every chatbot that
may send it; each copy has its own audit and its own URL with an expiry (`MaterialSync`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class MaterialKind(StrEnum):
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    THUMBNAIL = "thumbnail"  # a small image shown before a file or card media is downloaded


class SyncState(StrEnum):
    UPLOADING = "uploading"  # queued for upload, or being retried after a transient failure
    PENDING_AUDIT = "pending_audit"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNSUPPORTED = "unsupported"  # the channel does not take this file (type, size, duration, or no media)
    FAILED = "failed"  # the carrier refused the upload itself


# Sync states of a copy that will not become usable by itself (a new upload or a new material is needed).
REFUSED_SYNC_STATES = frozenset({SyncState.REJECTED, SyncState.EXPIRED, SyncState.UNSUPPORTED, SyncState.FAILED})


@dataclass(frozen=True, slots=True)
class KindLimit:
    max_bytes: int
    content_types: frozenset[str]
    max_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """What one carrier takes per material kind; a kind missing from `kinds` is not carried."""

    kinds: dict[MaterialKind, KindLimit] = field(default_factory=dict)

    def refusal(self, kind: MaterialKind, content_type: str, size: int, seconds: float | None) -> str | None:
        """Why this carrier will not take the file, or None."""
        limit = self.kinds.get(kind)
        if limit is None:
            return f"takes no {kind.value} files"
        if content_type not in limit.content_types:
            return f"takes {kind.value} only as {', '.join(sorted(limit.content_types))}, not {content_type}"
        if size > limit.max_bytes:
            return f"takes {kind.value} files up to {_megabytes(limit.max_bytes)}, this one is {_megabytes(size)}"
        if limit.max_seconds is not None and seconds is not None and seconds > limit.max_seconds:
            return f"takes {kind.value} up to {limit.max_seconds:g} s, this one is {seconds:.1f} s"
        return None


NO_MEDIA = MediaLimits()


def _megabytes(size: int) -> str:
    return f"{size / 1_048_576:.1f} MB" if size >= 1_048_576 else f"{size / 1024:.0f} KB"


@dataclass(frozen=True, slots=True)
class MediaPart:
    file_name: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class MediaUpload:
    """One material as an adapter uploads it: the file and, where the platform made one, its thumbnail."""

    material_id: str
    kind: MaterialKind
    file: MediaPart
    thumbnail: MediaPart | None = None


@dataclass(frozen=True, slots=True)
class MediaUploadResult:
    """What the carrier answered an upload with.

    `audit_refs` are the names under which the carrier's audit results will refer to this upload
    (CMCC's tid; CT/CU one per uploaded file; the aggregator's id); it is empty when the carrier
    does not audit the upload, which is then usable at once.
    """

    url: str
    until: datetime | None
    audit_refs: tuple[str, ...]
    thumbnail_url: str | None = None
    delete_ref: str | None = None  # what a later delete names (tid, url)


@dataclass(frozen=True, slots=True)
class MediaAuditReport:
    """A carrier's audit result for an upload, normalised by the adapter."""

    audit_ref: str
    approved: bool
    reason: str | None = None
    url: str | None = None  # the carrier may restate the URL and expiry it serves the file under
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class TemplateAuditReport:
    carrier_template_id: str
    approved: bool
    reason: str | None = None
