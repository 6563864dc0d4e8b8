"""In-memory state of the simulated aggregator: accounts, handsets, sends, materials, counters."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from .constants import BURST_STATUSES
from .content import Item
from .settings import Account, AuditPolicy, Capability, Carrier, ConfigError, Faults, SimulatorSettings
from .wire import carrier_of, expired_time, iso_utc, normalize_number

# Life of one sendID: pending until the carrier settles it, then one final state.
SendState = Literal["pending", "delivered", "sms", "failed", "revoked"]
# Life of an upload: pending until audited; an approved one expires at `until`. The aggregator has
# no delete call, so "deleted" (a state of the common control API) never occurs here.
MediaState = Literal["pending", "approved", "rejected", "expired", "deleted"]
TemplateState = Literal["pending", "approved", "rejected"]
DeliveredAs = Literal["rcs", "sms"]
HANG: Literal["hang"] = "hang"
UPLINK_HISTORY = 50


@dataclass(slots=True)
class StoredContent:
    """What an accepted send carries; shared by all of its numbers."""

    items: list[Item]
    sms_text: str | None


@dataclass(slots=True)
class Push:
    event: str
    status: str
    ok: bool
    http_status: int | None
    attempts: int
    at: float

    def as_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "status": self.status,
            "ok": self.ok,
            "http_status": self.http_status,
            "attempts": self.attempts,
            "at": iso_utc(self.at),
        }


@dataclass(slots=True)
class SendRecord:
    """One sendID: one number of one accepted /rcs/send."""

    send_id: str
    appid: str
    chatbot: str
    to: str
    carrier: Carrier
    client_ref: str | None
    content: StoredContent
    conversation_id: str
    generation: int
    # Accepted requests answered with this sendID (more than one = idempotent repeats).
    received: int = 1
    # Times the content reached the handset; an exactly-once proof expects at most 1.
    delivered: int = 0
    state: SendState = "pending"
    revoke_requests: int = 0
    pushes: list[Push] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return {
            "send_id": self.send_id,
            "appid": self.appid,
            "chatbot": self.chatbot,
            "to": self.to,
            "carrier": self.carrier,
            "client_ref": self.client_ref,
            "received": self.received,
            "delivered": self.delivered,
            "state": self.state,
            "revoke_requests": self.revoke_requests,
            "conversation_id": self.conversation_id,
            "pushes_sent": [p.status for p in self.pushes if p.ok],
            "pushes": [p.as_json() for p in self.pushes],
            "content_types": [i.content_type for i in self.content.items],
            "sms": self.content.sms_text,
            "created_at": iso_utc(self.created_at),
        }


@dataclass(slots=True)
class StoredFile:
    """One hosted file of an upload (the file or its thumbnail)."""

    name: str
    content_type: str
    data: bytes
    url: str


@dataclass(slots=True)
class Upload:
    """One POST /rcs/media: a material of one chatbot, with its audit."""

    media_id: str
    appid: str
    chatbot: str
    file: StoredFile
    thumbnail: StoredFile | None
    parts: list[str]
    sha256: str
    until: float
    # Why the audit rejects it whatever the policy says (bytes unlike the declared type).
    defect: str | None = None
    state: MediaState = "pending"
    reason: str | None = None
    # The automatic audit still owed; cancelled when the control API settles the upload first.
    timer: asyncio.TimerHandle | None = None
    pushes: list[Push] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)

    def state_at(self, now: float) -> MediaState:
        if self.state == "approved" and now >= self.until:
            return "expired"
        return self.state

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.media_id,
            "chatbot_id": self.chatbot,
            "state": self.state_at(time.time()),
            "url": self.file.url,
        }
        if self.thumbnail is not None:
            out["thumbnail_url"] = self.thumbnail.url
        out.update(
            {
                "until": expired_time(self.until),
                "file_name": self.file.name,
                "content_type": self.file.content_type,
                "size": len(self.file.data),
                "sha256": self.sha256,
                "parts": list(self.parts),
            }
        )
        if self.thumbnail is not None:
            out["thumbnail_content_type"] = self.thumbnail.content_type
            out["thumbnail_size"] = len(self.thumbnail.data)
        if self.reason is not None:
            out["reason"] = self.reason
        out["appid"] = self.appid
        out["pushes"] = [p.as_json() for p in self.pushes]
        out["created_at"] = iso_utc(self.created_at)
        return out


@dataclass(slots=True)
class Template:
    """One POST /rcs/template, with its audit."""

    template_id: str
    appid: str
    chatbot: str
    name: str
    message_list: list[Any]
    # Why the audit rejects it whatever the policy says (the forbidden word).
    defect: str | None = None
    state: TemplateState = "pending"
    reason: str | None = None
    timer: asyncio.TimerHandle | None = None
    pushes: list[Push] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.template_id,
            "chatbot_id": self.chatbot,
            "name": self.name,
            "state": self.state,
            "body": {"messageList": self.message_list},
        }
        if self.reason is not None:
            out["reason"] = self.reason
        out["appid"] = self.appid
        out["pushes"] = [p.as_json() for p in self.pushes]
        out["created_at"] = iso_utc(self.created_at)
        return out


@dataclass(slots=True)
class RefRecord:
    """Every request seen for one (appid, client_ref), including faulted and refused ones."""

    appid: str
    client_ref: str
    received: int = 0
    accepted: int = 0
    faulted: int = 0
    rejected: int = 0
    send_ids: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "appid": self.appid,
            "client_ref": self.client_ref,
            "received": self.received,
            "accepted": self.accepted,
            "faulted": self.faulted,
            "rejected": self.rejected,
            "send_ids": dict(self.send_ids),
        }


@dataclass(slots=True)
class InboxEntry:
    record: SendRecord
    delivered_as: DeliveredAs
    received_at: float


@dataclass(slots=True)
class Handset:
    number: str
    capability: Capability
    # None: the carrier of the number's prefix.
    carrier_override: Carrier | None = None
    # Configured through settings or the control API: never evicted to bound memory.
    pinned: bool = False
    # Plain lists trimmed by hand: a deque costs ~600 bytes even when empty, and a benchmark
    # touches hundreds of thousands of numbers.
    inbox: list[InboxEntry] = field(default_factory=list)
    uplinks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def carrier(self) -> Carrier | None:
        return self.carrier_override or carrier_of(self.number)

    def receive(self, entry: InboxEntry, limit: int) -> None:
        self.inbox.append(entry)
        if len(self.inbox) > limit:
            del self.inbox[0]

    def sent(self, uplink: dict[str, Any], limit: int = UPLINK_HISTORY) -> None:
        self.uplinks.append(uplink)
        if len(self.uplinks) > limit:
            del self.uplinks[0]


@dataclass(slots=True)
class Stats:
    requests: int = 0
    accepted: int = 0
    rejected: int = 0
    # Numbers of accepted sends whose client_ref was already known (answered, not sent again).
    duplicates: int = 0
    send_ids_created: int = 0
    delivered: int = 0
    sms_fallbacks: int = 0
    delivery_impossible: int = 0
    revoked: int = 0
    revoke_failed: int = 0
    capability_queries: int = 0
    pushes_sent: int = 0
    pushes_failed: int = 0
    push_retries: int = 0
    # Pushes that found the sender queue full and waited for room (nothing is dropped).
    push_queue_overflows: int = 0
    uplinks_sent: int = 0
    uplinks_failed: int = 0
    media_uploads: int = 0
    templates_submitted: int = 0
    audits_approved: int = 0
    audits_rejected: int = 0
    rejected_by_code: dict[str, int] = field(default_factory=dict)
    faults_injected: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["rejected_by_code"] = dict(self.rejected_by_code)
        out["faults_injected"] = dict(self.faults_injected)
        return out


class TokenBucket:
    """`rate` requests per second with a burst of `rate`: the TPS limit of one appid."""

    __slots__ = ("_at", "_tokens")

    def __init__(self, rate: int) -> None:
        self._tokens = float(rate)
        self._at = time.monotonic()

    def take(self, rate: int) -> bool:
        now = time.monotonic()
        self._tokens = min(float(rate), self._tokens + (now - self._at) * rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class SimState:
    """All mutable state. Single event loop, so no locks."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.accounts: dict[str, Account] = {a.appid: a for a in settings.accounts}
        self.chatbots: dict[str, str] = dict(settings.chatbots)
        self.faults: Faults = settings.faults.updated({})
        self.rng = random.Random(settings.random_seed)  # noqa: S311 - fault dice, not crypto
        self._burst_index = 0
        self.generation = 0
        self.stats = Stats()
        self.handsets: dict[str, Handset] = {}
        self.sends: dict[str, SendRecord] = {}
        # (appid, client_ref, number) -> sendID: the idempotency index of the choices document.
        self.dedupe: dict[tuple[str, str, str], str] = {}
        self.refs: dict[tuple[str, str], RefRecord] = {}
        self.buckets: dict[str, TokenBucket] = {}
        self.audit: AuditPolicy = settings.audit_policy()
        self.uploads: dict[str, Upload] = {}
        # Issued URL (file and thumbnail) -> its upload: what a send's media URLs are checked against.
        self.media_urls: dict[str, Upload] = {}
        self.templates: dict[str, Template] = {}
        self._seed_handsets()

    def _seed_handsets(self) -> None:
        for raw in {*self.settings.handsets, *self.settings.carriers}:
            number = normalize_number(raw)
            if number is None:
                raise ConfigError(f"handset {raw!r} is not an 11-digit mobile number")
            handset = self.handset(number)
            handset.pinned = True
            handset.capability = self.settings.handsets.get(raw, handset.capability)
            handset.carrier_override = self.settings.carriers.get(raw)

    def reset(self, *, faults: bool = False, handsets: bool = False, media: bool = False) -> None:
        """Clear sends, inboxes and counters; keep accounts and chatbots.

        Faults, per-number handset settings and materials survive unless asked for; `faults=True`
        restores the configured faults, `handsets=True` forgets runtime handset settings,
        `media=True` forgets uploads and templates (audits still owed are dropped) and restores the
        configured audit policy.
        """
        self.generation += 1
        if media:
            records: list[Upload | Template] = [*self.uploads.values(), *self.templates.values()]
            for record in records:
                if record.timer is not None:
                    record.timer.cancel()
            self.uploads.clear()
            self.media_urls.clear()
            self.templates.clear()
            self.audit = self.settings.audit_policy()
        if faults:
            self.faults = self.settings.faults.updated({})
        if handsets:
            self.handsets.clear()
            self._seed_handsets()
        self.stats = Stats()
        self.sends.clear()
        self.dedupe.clear()
        self.refs.clear()
        self.buckets.clear()
        for number in [n for n, h in self.handsets.items() if not h.pinned]:
            del self.handsets[number]
        for handset in self.handsets.values():
            handset.inbox.clear()
            handset.uplinks.clear()

    # -- faults and limits --

    def take_fault(self) -> int | Literal["hang"] | None:
        """Decide the injected outcome of the next API request, consuming one-shot counters."""
        faults = self.faults
        if faults.timeout_next > 0:
            faults.timeout_next -= 1
            self._count_fault("timeout")
            return HANG
        if faults.burst_5xx > 0:
            faults.burst_5xx -= 1
            status = BURST_STATUSES[self._burst_index % len(BURST_STATUSES)]
            self._burst_index += 1
            self._count_fault(f"burst_{status}")
            return status
        if faults.error_rate > 0.0 and self.rng.random() < faults.error_rate:
            self._count_fault("error_rate_500")
            return 500
        return None

    def within_tps(self, appid: str) -> bool:
        rate = self.faults.tps_limit
        if rate <= 0:
            return True
        bucket = self.buckets.get(appid)
        if bucket is None:
            bucket = self.buckets[appid] = TokenBucket(rate)
        return bucket.take(rate)

    def _count_fault(self, name: str) -> None:
        counts = self.stats.faults_injected
        counts[name] = counts.get(name, 0) + 1

    def count_rejection(self, code: str) -> None:
        self.stats.rejected += 1
        counts = self.stats.rejected_by_code
        counts[code] = counts.get(code, 0) + 1

    # -- handsets --

    def handset(self, number: str) -> Handset:
        handset = self.handsets.get(number)
        if handset is None:
            if len(self.handsets) >= self.settings.max_handsets:
                self._evict_handset()
            handset = Handset(number, self.settings.default_capability)
            self.handsets[number] = handset
        return handset

    def peek_handset(self, number: str) -> Handset:
        """The handset as it would be, without creating state for a number nobody configured."""
        return self.handsets.get(number) or Handset(number, self.settings.default_capability)

    def _evict_handset(self) -> None:
        for number, handset in self.handsets.items():
            if not handset.pinned:
                del self.handsets[number]
                return

    # -- sends --

    def ref(self, appid: str, client_ref: str) -> RefRecord:
        key = (appid, client_ref)
        record = self.refs.get(key)
        if record is None:
            if len(self.refs) >= self.settings.max_messages:
                del self.refs[next(iter(self.refs))]
            record = self.refs[key] = RefRecord(appid, client_ref)
        return record

    def add_send(self, record: SendRecord) -> None:
        if len(self.sends) >= self.settings.max_messages:
            # Oldest first: dicts keep insertion order. Dedupe is lost for evicted sends.
            old = self.sends.pop(next(iter(self.sends)))
            if old.client_ref is not None:
                self.dedupe.pop((old.appid, old.client_ref, old.to), None)
        self.sends[record.send_id] = record
        if record.client_ref is not None:
            self.dedupe[(record.appid, record.client_ref, record.to)] = record.send_id

    # -- materials and templates --

    def add_upload(self, upload: Upload) -> None:
        if len(self.uploads) >= self.settings.max_media:
            self.forget_upload(next(iter(self.uploads)))
        self.uploads[upload.media_id] = upload
        self.media_urls[upload.file.url] = upload
        if upload.thumbnail is not None:
            self.media_urls[upload.thumbnail.url] = upload

    def forget_upload(self, media_id: str) -> None:
        upload = self.uploads.pop(media_id)
        if upload.timer is not None:
            upload.timer.cancel()
        self.media_urls.pop(upload.file.url, None)
        if upload.thumbnail is not None:
            self.media_urls.pop(upload.thumbnail.url, None)

    def add_template(self, template: Template) -> None:
        if len(self.templates) >= self.settings.max_templates:
            old = self.templates.pop(next(iter(self.templates)))
            if old.timer is not None:
                old.timer.cancel()
        self.templates[template.template_id] = template
