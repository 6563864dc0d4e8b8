"""In-memory state of the simulated MaaP: accounts, handsets, message records, material, counters."""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

from .constants import BURST_STATUSES
from .materials import MaterialStore
from .settings import AddressForm, Capability, ChatbotAccount, Faults, SimulatorSettings
from .wire import password_token

if TYPE_CHECKING:
    from .notifier import Chain

DeliveredAs = Literal["rcs", "up1", "sms"]
# Per-recipient state of a message. "pending" = on its way (it reaches the handset after
# delivered_delay_ms), "held" = waiting for an offline handset; only those two can be revoked (§1.5).
RecipientState = Literal["pending", "held", "delivered", "sms", "failed", "revoked"]
REVOCABLE: frozenset[str] = frozenset({"pending", "held"})
HANG: Literal["hang"] = "hang"
UPLINK_HISTORY = 50
# One counter for every handset: a handset forgotten (evicted or reset) and made anew never repeats a
# revision an open handset page still holds, so the page cannot miss the change.
_REVISIONS = itertools.count(1)


@dataclass(frozen=True, slots=True)
class AccountEntry:
    account: ChatbotAccount
    # hex(sha256(password)) is the same for every request; compute it once (§1.8).
    token: str

    @classmethod
    def of(cls, account: ChatbotAccount) -> AccountEntry:
        return cls(account, password_token(account.password))


@dataclass(slots=True)
class StoredContent:
    """What an accepted downlink carries; shared by all of its recipients."""

    content_type: str
    body_text: str
    conversation_id: str | None
    contribution_id: str | None
    reports: frozenset[str]
    rcs_fallback_type: str | None = None
    rcs_fallback: str | None = None
    sms_text: str | None = None
    traffic_type: str | None = None
    # A static-template send (§3.2) carries the approved template's body; this names the template.
    template_id: str | None = None


@dataclass(slots=True)
class Notification:
    address: str
    status: str
    description: str | None
    ok: bool
    http_status: int | None
    attempts: int
    at: float

    def as_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "status": self.status,
            "description": self.description,
            "ok": self.ok,
            "http_status": self.http_status,
            "attempts": self.attempts,
            "at": self.at,
        }


@dataclass(slots=True)
class MessageRecord:
    chatbot_id: str
    message_id: str
    received: int = 0
    accepted: int = 0
    faulted: int = 0
    rejected: int = 0
    delivered: int = 0
    content: StoredContent | None = None
    link: str = ""
    recipients: dict[str, RecipientState] = field(default_factory=dict)
    # One status chain per recipient, so a revoke result queues behind what is still owed.
    chains: dict[str, Chain] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    # Accepted revoke requests (§1.5) and the latest outcome per address (Revoked / RevokeFailed).
    revoke_requests: int = 0
    revocations: dict[str, str] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "chatbot_id": self.chatbot_id,
            "received": self.received,
            "accepted": self.accepted,
            "faulted": self.faulted,
            "rejected": self.rejected,
            "delivered": self.delivered,
            "recipients": list(self.recipients),
            "recipient_states": dict(self.recipients),
            "revoke_requests": self.revoke_requests,
            "revocations": dict(self.revocations),
            "revoked": [a for a, s in self.recipients.items() if s == "revoked"],
            "notifications_sent": [n.status for n in self.notifications if n.ok],
            "notifications": [n.as_json() for n in self.notifications],
            "content_type": self.content.content_type if self.content else None,
            "conversation_id": self.content.conversation_id if self.content else None,
            "contribution_id": self.content.contribution_id if self.content else None,
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
    address_form: AddressForm | None = None
    # [I] ported to another carrier: sends to it are refused as "not our subscriber".
    ported_out: bool = False
    # Configured through settings or the control API: never evicted to bound memory.
    pinned: bool = False
    # Plain lists trimmed by hand: a deque costs ~600 bytes even when empty, and a benchmark
    # touches hundreds of thousands of numbers.
    inbox: list[InboxEntry] = field(default_factory=list)
    held: list[MessageRecord] = field(default_factory=list)
    uplinks: list[dict[str, Any]] = field(default_factory=list)
    # Changes whenever the inbox or the uplinks do: a handset page polls it to learn there is news.
    revision: int = 0

    def receive(self, entry: InboxEntry, limit: int) -> None:
        self.inbox.append(entry)
        if len(self.inbox) > limit:
            del self.inbox[0]
        self.revision = next(_REVISIONS)

    def sent(self, uplink: dict[str, Any], limit: int = UPLINK_HISTORY) -> None:
        self.uplinks.append(uplink)
        if len(self.uplinks) > limit:
            del self.uplinks[0]
        self.revision = next(_REVISIONS)

    def forget_messages(self) -> None:
        self.inbox.clear()
        self.held.clear()
        self.uplinks.clear()
        self.revision = next(_REVISIONS)


@dataclass(slots=True)
class Stats:
    requests: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    delivered: int = 0
    sms_fallbacks: int = 0
    delivery_impossible: int = 0
    held: int = 0
    notifications_sent: int = 0
    notifications_failed: int = 0
    notification_retries: int = 0
    # Reports that found the sender queue full and waited for room (nothing is dropped).
    notification_queue_overflows: int = 0
    uplinks_sent: int = 0
    uplinks_failed: int = 0
    # §1.5 revokes: requests received, those refused with a requestError, and the results reported.
    revoke_requests: int = 0
    revoke_rejected: int = 0
    revoked: int = 0
    revoke_failed: int = 0
    # Media uploads and template submissions received, refused (requestError) and deleted, and
    # the audit results told to the CSP (or given up on after the retries).
    media_uploads: int = 0
    media_refused: int = 0
    media_deleted: int = 0
    templates_submitted: int = 0
    templates_refused: int = 0
    audit_notifications_sent: int = 0
    audit_notifications_failed: int = 0
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
        self.accounts: dict[str, AccountEntry] = {bot.chatbot_id: AccountEntry.of(bot) for bot in settings.chatbots}
        self.faults: Faults = settings.faults.updated({})
        self.rng = random.Random(settings.random_seed)  # noqa: S311 - fault dice, not crypto
        self._burst_index = 0
        self.generation = 0
        self.stats = Stats()
        self.handsets: dict[str, Handset] = {}
        self.messages: dict[tuple[str, str], MessageRecord] = {}
        self.by_id: dict[str, MessageRecord] = {}
        self.materials = MaterialStore(settings)
        self._seed_handsets()

    def _seed_handsets(self) -> None:
        for number, capability in self.settings.handsets.items():
            handset = self.handset(number)
            handset.capability = capability
            handset.pinned = True

    def reset(self, *, faults: bool = False, handsets: bool = False, media: bool = False) -> None:
        """Clear messages, inboxes and counters; keep chatbots.

        Faults, per-number handset settings and material survive unless asked for; `faults=True`
        restores the configured faults, `handsets=True` forgets runtime handset settings,
        `media=True` forgets uploads and templates and restores the configured audit policy.
        """
        self.generation += 1
        if faults:
            self.faults = self.settings.faults.updated({})
        if media:
            self.materials.clear()
        if handsets:
            self.handsets.clear()
            self._seed_handsets()
        self.stats = Stats()
        self.messages.clear()
        self.by_id.clear()
        for number in [n for n, h in self.handsets.items() if not h.pinned]:
            del self.handsets[number]
        for handset in self.handsets.values():
            handset.forget_messages()

    # -- accounts --

    def put_account(self, account: ChatbotAccount) -> None:
        self.accounts[account.chatbot_id] = AccountEntry.of(account)

    # -- faults --

    def take_fault(self) -> int | Literal["hang"] | None:
        """Decide the injected outcome of the next downlink, consuming one-shot counters."""
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
            self._count_fault("error_rate_503")
            return 503
        return None

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
                old_key = next(iter(self.messages))
                old = self.messages.pop(old_key)
                if self.by_id.get(old.message_id) is old:
                    del self.by_id[old.message_id]
            record = MessageRecord(chatbot_id, message_id)
            self.messages[key] = record
            self.by_id[message_id] = record
        return record

    def find_record(self, message_id: str, chatbot_id: str | None = None) -> MessageRecord | None:
        if chatbot_id is not None:
            return self.messages.get((chatbot_id, message_id))
        return self.by_id.get(message_id)
