"""In-memory state of the simulated MaaP: accounts, tokens, handsets, messages, media, chatbot
information, counters."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

from .chatbot_info import ChatbotProfile
from .constants import BURST_STATUSES, MAX_TOKENS, Dialect
from .content import Part
from .media import AuditPolicy, MediaRecord
from .settings import Capability, ChatbotAccount, Faults, SimulatorSettings
from .wire import chatbot_uri, normalize_number

if TYPE_CHECKING:
    from .notifier import Chain

DeliveredAs = Literal["rcs", "up1", "sms"]
# Per-recipient state of a message. "pending" = on its way (arrives after delivered_delay_ms),
# "held" = waiting for an offline handset; both can still be revoked.
RecipientState = Literal["pending", "held", "delivered", "sms", "failed", "revoked"]
REVOCABLE: frozenset[str] = frozenset({"pending", "held"})
HANG: Literal["hang"] = "hang"
ERROR_RATE: Literal["error_rate"] = "error_rate"
UPLINK_HISTORY = 50


@dataclass(slots=True)
class AccountEntry:
    account: ChatbotAccount
    uri: str
    # Result of the last notifyPath handshake; None until one was tried.
    verified: bool | None = None
    reason: str | None = None
    verified_at: float | None = None
    # Token bucket for tps_limit: `allowance` requests are free right now.
    allowance: float = 0.0
    checked_at: float = 0.0

    def __post_init__(self) -> None:
        self.allowance = max(1.0, self.account.tps_limit or 0.0)
        self.checked_at = time.monotonic()

    def take_rate(self) -> bool:
        """One request against tps_limit; False when over it."""
        limit = self.account.tps_limit
        if limit is None:
            return True
        now = time.monotonic()
        # Capacity of one second's worth (at least one request) so bursts stay bounded by the TPS.
        self.allowance = min(max(1.0, limit), self.allowance + (now - self.checked_at) * limit)
        self.checked_at = now
        if self.allowance < 1.0:
            return False
        self.allowance -= 1.0
        return True


@dataclass(slots=True)
class TokenEntry:
    chatbot_id: str
    expires_at: float


@dataclass(slots=True)
class StoredContent:
    """What an accepted downlink carries; shared by all of its recipients."""

    parts: list[Part]
    reports: frozenset[str]
    sms_content: str | None
    store_supported: bool
    traffic_type: str | None


@dataclass(slots=True)
class Notification:
    address: str
    status: str
    error_code: int | None
    ok: bool
    http_status: int | None
    attempts: int
    at: float

    def as_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "status": self.status,
            "error_code": self.error_code,
            "ok": self.ok,
            "http_status": self.http_status,
            "attempts": self.attempts,
            "at": self.at,
        }


@dataclass(slots=True, eq=False)
class MessageRecord:
    chatbot_id: str
    # The CSP's messageId; `carrier_id` is the id every notification carries (CUCC: its own).
    message_id: str
    carrier_id: str = ""
    conversation_id: str | None = None
    contribution_id: str | None = None
    received: int = 0
    accepted: int = 0
    faulted: int = 0
    rejected: int = 0
    rate_limited: int = 0
    duplicates: int = 0
    delivered: int = 0
    content: StoredContent | None = None
    recipients: dict[str, RecipientState] = field(default_factory=dict)
    # One status chain per recipient, so a later revoke result queues behind earlier statuses.
    chains: dict[str, Chain] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "carrier_message_id": self.carrier_id or None,
            "chatbot_id": self.chatbot_id,
            "conversation_id": self.conversation_id,
            "contribution_id": self.contribution_id,
            "received": self.received,
            "accepted": self.accepted,
            "faulted": self.faulted,
            "rejected": self.rejected,
            "rate_limited": self.rate_limited,
            "duplicates": self.duplicates,
            "delivered": self.delivered,
            "recipients": list(self.recipients),
            "recipient_states": dict(self.recipients),
            "notifications_sent": [n.status for n in self.notifications if n.ok],
            "notifications": [n.as_json() for n in self.notifications],
        }


@dataclass(slots=True)
class InboxEntry:
    message_id: str
    chatbot_id: str
    delivered_as: DeliveredAs
    content: StoredContent
    received_at: float


@dataclass(slots=True)
class Handset:
    number: str
    capability: Capability
    ported_out: bool = False
    # Configured through settings or the control API: never evicted to bound memory.
    pinned: bool = False
    # Plain lists trimmed by hand: a deque costs ~600 bytes even when empty, and a benchmark
    # touches hundreds of thousands of numbers.
    inbox: list[InboxEntry] = field(default_factory=list)
    held: list[MessageRecord] = field(default_factory=list)
    uplinks: list[dict[str, Any]] = field(default_factory=list)

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
    duplicates: int = 0
    rate_limited: int = 0
    tokens_issued: int = 0
    delivered: int = 0
    sms_fallbacks: int = 0
    failed: int = 0
    held: int = 0
    revoked: int = 0
    revoke_failed: int = 0
    notifications_sent: int = 0
    notifications_failed: int = 0
    notification_retries: int = 0
    # Reports that found the sender queue full and waited for room (nothing is dropped).
    notification_queue_overflows: int = 0
    uplinks_sent: int = 0
    uplinks_failed: int = 0
    media_uploaded: int = 0
    media_approved: int = 0
    media_rejected: int = 0
    media_deleted: int = 0
    media_checks_sent: int = 0
    media_checks_failed: int = 0
    info_updates: int = 0
    info_approved: int = 0
    info_rejected: int = 0
    info_checks_sent: int = 0
    info_checks_failed: int = 0
    information_changes_sent: int = 0
    information_changes_failed: int = 0
    rejected_by_code: dict[str, int] = field(default_factory=dict)
    faults_injected: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["rejected_by_code"] = dict(self.rejected_by_code)
        out["faults_injected"] = dict(self.faults_injected)
        return out


class SimState:
    """All mutable state. Single event loop, so no locks."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.dialect: Dialect = settings.dialect
        self.accounts: dict[str, AccountEntry] = {}
        for bot in settings.chatbots:
            self.put_account(bot)
        self.tokens: dict[str, TokenEntry] = {}
        self.faults: Faults = settings.faults.updated({})
        self.rng = random.Random(settings.random_seed)  # noqa: S311 - fault dice, not crypto
        self._burst_index = 0
        self.generation = 0
        self.stats = Stats()
        self.handsets: dict[str, Handset] = {}
        self.messages: dict[tuple[str, str], MessageRecord] = {}
        # Lookup by either id (the CSP's or CUCC's own), for revoke and /_sim/messages.
        self.by_id: dict[tuple[str, str], MessageRecord] = {}
        self.by_any_id: dict[str, MessageRecord] = {}
        # Uploads by id, and by the path of their url (a GET of the url, a url in a downlink).
        self.media: dict[str, MediaRecord] = {}
        self.media_paths: dict[str, MediaRecord] = {}
        self.audit = AuditPolicy.from_settings(settings)
        # Chatbot information, menu and carrier-side status (§3.3.5), made on first use.
        self.profiles: dict[str, ChatbotProfile] = {}
        self._seed_handsets()

    def _seed_handsets(self) -> None:
        for number, capability in self.settings.handsets.items():
            handset = self.handset(number)
            handset.capability = capability
            handset.pinned = True
        for raw in self.settings.ported_out:
            ported = normalize_number(raw)
            if ported is not None:
                handset = self.handset(ported)
                handset.ported_out = True
                handset.pinned = True

    def reset(
        self,
        *,
        faults: bool = False,
        handsets: bool = False,
        tokens: bool = False,
        media: bool = False,
        chatbot_info: bool = False,
    ) -> None:
        """Clear messages, inboxes and counters; keep chatbots and (unless asked) tokens.

        Faults and per-number handset settings survive unless asked for; `faults=True` restores the
        configured faults, `handsets=True` forgets runtime handset settings, `media=True` forgets
        every upload and restores the configured audit policy, `chatbot_info=True` forgets every
        chatbot's information, menu, status and pending updates.
        """
        self.generation += 1
        if chatbot_info:
            self.profiles.clear()
        if media:
            self.media.clear()
            self.media_paths.clear()
            self.audit = AuditPolicy.from_settings(self.settings)
        if faults:
            self.faults = self.settings.faults.updated({})
        if handsets:
            self.handsets.clear()
            self._seed_handsets()
        if tokens:
            self.tokens.clear()
        self.stats = Stats()
        self.messages.clear()
        self.by_id.clear()
        self.by_any_id.clear()
        for number in [n for n, h in self.handsets.items() if not h.pinned]:
            del self.handsets[number]
        for handset in self.handsets.values():
            handset.inbox.clear()
            handset.held.clear()
            handset.uplinks.clear()

    # -- accounts and tokens --

    def put_account(self, account: ChatbotAccount) -> AccountEntry:
        entry = AccountEntry(account, chatbot_uri(account.chatbot_id, self.settings.dialect))
        self.accounts[account.chatbot_id] = entry
        return entry

    def issue_token(self, key: str, chatbot_id: str) -> None:
        """Remember the Authorization value a client must present (`accessToken <x>` on both)."""
        if len(self.tokens) >= MAX_TOKENS:
            del self.tokens[next(iter(self.tokens))]
        self.tokens[key] = TokenEntry(chatbot_id, time.monotonic() + self.settings.token_ttl_seconds)
        self.stats.tokens_issued += 1

    def token_owner(self, authorization: str | None) -> str | None:
        if not authorization:
            return None
        entry = self.tokens.get(authorization)
        if entry is None:
            return None
        if time.monotonic() >= entry.expires_at:
            del self.tokens[authorization]
            return None
        return entry.chatbot_id

    def expire_tokens(self) -> int:
        count = len(self.tokens)
        self.tokens.clear()
        return count

    def profile(self, chatbot_id: str) -> ChatbotProfile:
        profile = self.profiles.get(chatbot_id)
        if profile is None:
            profile = ChatbotProfile(chatbot_id)
            self.profiles[chatbot_id] = profile
        return profile

    # -- faults --

    def take_fault(self) -> int | Literal["hang", "error_rate"] | None:
        """Decide the injected outcome of the next API call, consuming one-shot counters."""
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
            self._count_fault("error_rate")
            return ERROR_RATE
        return None

    def _count_fault(self, name: str) -> None:
        counts = self.stats.faults_injected
        counts[name] = counts.get(name, 0) + 1

    def count_rejection(self, code: int) -> None:
        self.stats.rejected += 1
        counts = self.stats.rejected_by_code
        key = str(code)
        counts[key] = counts.get(key, 0) + 1

    # -- handsets --

    def handset(self, number: str) -> Handset:
        handset = self.handsets.get(number)
        if handset is None:
            if len(self.handsets) >= self.settings.max_handsets:
                self._evict_handset()
            handset = Handset(number, self.settings.default_capability)
            self.handsets[number] = handset
        return handset

    def _evict_handset(self) -> None:
        for number, handset in self.handsets.items():
            if not handset.pinned and not handset.held:
                del self.handsets[number]
                return

    # -- message records --

    def record(self, chatbot_id: str, message_id: str) -> MessageRecord:
        key = (chatbot_id, message_id)
        record = self.messages.get(key)
        if record is None:
            if len(self.messages) >= self.settings.max_messages:
                # Oldest first: dicts keep insertion order. Dedupe is lost for evicted ids.
                self._forget(self.messages.pop(next(iter(self.messages))))
            record = MessageRecord(chatbot_id, message_id)
            self.messages[key] = record
            self.index(record, message_id)
        return record

    def index(self, record: MessageRecord, any_id: str) -> None:
        self.by_id[(record.chatbot_id, any_id)] = record
        self.by_any_id[any_id] = record

    def _forget(self, old: MessageRecord) -> None:
        for any_id in {old.message_id, old.carrier_id}:
            if not any_id:
                continue
            if self.by_id.get((old.chatbot_id, any_id)) is old:
                del self.by_id[(old.chatbot_id, any_id)]
            if self.by_any_id.get(any_id) is old:
                del self.by_any_id[any_id]

    def find_record(self, any_id: str, chatbot_id: str | None = None) -> MessageRecord | None:
        if chatbot_id is not None:
            return self.by_id.get((chatbot_id, any_id))
        return self.by_any_id.get(any_id)

    # -- media --

    def add_media(self, record: MediaRecord) -> None:
        if len(self.media) >= self.settings.max_media:
            # Oldest first: dicts keep insertion order.
            old = self.media.pop(next(iter(self.media)))
            if self.media_paths.get(old.path) is old:
                del self.media_paths[old.path]
        self.media[record.id] = record
        self.media_paths[record.path] = record
        self.stats.media_uploaded += 1

    def find_media(self, key: str) -> MediaRecord | None:
        """By media id, or by the last segment of its url (what a `check` remark names)."""
        record = self.media.get(key)
        if record is None:
            record = next((r for r in self.media.values() if r.segment == key), None)
        return record

    def media_at(self, url: str) -> MediaRecord | None:
        """The upload a url names, whatever host it was written with; None for foreign urls."""
        if not self.media_paths:
            return None
        try:
            path = urlsplit(url).path
        except ValueError:
            return None
        return self.media_paths.get(unquote(path))

    def live_media_count(self, chatbot_id: str) -> int:
        """A chatbot's files still held (the `fileCount` of upload and delete answers)."""
        gone = ("expired", "deleted")
        return sum(1 for r in self.media.values() if r.chatbot_id == chatbot_id and r.current_state() not in gone)
