"""In-memory state of the simulated SMSC: accounts, handsets, segments, reassembly, deliveries, counters."""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

from . import pdu
from .charsets import Concat, alphabet, decode
from .settings import Faults, Outcome, SmscAccount, SmscSettings

DeliveryKind = Literal["receipt", "mo"]
DeliveryState = Literal["queued", "sent", "acked", "failed", "dropped"]
UPLINK_HISTORY = 50

# Receipt stat: word and message_state TLV value per handset outcome (SMPP 3.4 Appendix B, §5.2.28).
OUTCOME_STATES: dict[Outcome, tuple[str, int]] = {
    "delivered": ("DELIVRD", pdu.STATE_DELIVERED),
    "undeliverable": ("UNDELIV", pdu.STATE_UNDELIVERABLE),
    "expired": ("EXPIRED", pdu.STATE_EXPIRED),
    "rejected": ("REJECTD", pdu.STATE_REJECTED),
}
# err: of a receipt when the handset sets no error_code.
DEFAULT_ERROR_CODES: dict[Outcome, int] = {"delivered": 0, "undeliverable": 1, "expired": 0, "rejected": 0}
STATE_NAMES = {
    pdu.STATE_ENROUTE: "ENROUTE",
    pdu.STATE_DELIVERED: "DELIVERED",
    pdu.STATE_EXPIRED: "EXPIRED",
    pdu.STATE_DELETED: "DELETED",
    pdu.STATE_UNDELIVERABLE: "UNDELIVERABLE",
    pdu.STATE_ACCEPTED: "ACCEPTED",
    pdu.STATE_UNKNOWN: "UNKNOWN",
    pdu.STATE_REJECTED: "REJECTED",
}


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def normalize_number(number: str) -> str:
    """Handsets are keyed by the address without a leading '+', as ESMEs send it either way."""
    return number[1:] if number.startswith("+") else number


@dataclass(slots=True, eq=False)
class Delivery:
    """One deliver_sm the SMSC owes an account: a receipt or one MO segment."""

    system_id: str
    kind: DeliveryKind
    # deliver_sm body; each (re)send gets a new header with a new sequence number.
    body: bytes
    generation: int
    state: DeliveryState = "queued"
    attempts: int = 0
    sent_at: float = 0.0  # event-loop time of the last send
    last_status: int | None = None
    acked_at: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "state": self.state,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "acked_at": iso(self.acked_at),
        }


@dataclass(slots=True, eq=False)
class SegmentRecord:
    """One accepted submit_sm: one segment, one message_id, at most one receipt."""

    message_id: str
    system_id: str
    source_addr: str
    source_ton: int
    source_npi: int
    dest_addr: str
    dest_ton: int
    dest_npi: int
    data_coding: int
    esm_class: int
    registered_delivery: int
    sm_length: int
    udh: bytes
    concat: Concat | None
    payload: bytes  # user data without UDH
    via_payload: bool
    submitted_at: float
    outcome: Outcome
    error_code: int
    done_at: float  # when the outcome is final (query_sm answers ENROUTE before)
    receipt: Delivery | None = None

    @property
    def text(self) -> str | None:
        return decode(self.data_coding, self.payload)

    def message_state(self, now: float) -> int:
        return OUTCOME_STATES[self.outcome][1] if now >= self.done_at else pdu.STATE_ENROUTE

    def as_json(self, now: float) -> dict[str, Any]:
        concat = self.concat
        return {
            "message_id": self.message_id,
            "system_id": self.system_id,
            "source_addr": self.source_addr,
            "source_ton": self.source_ton,
            "source_npi": self.source_npi,
            "dest_addr": self.dest_addr,
            "dest_ton": self.dest_ton,
            "dest_npi": self.dest_npi,
            "data_coding": self.data_coding,
            "alphabet": alphabet(self.data_coding),
            "esm_class": self.esm_class,
            "registered_delivery": self.registered_delivery,
            "sm_length": self.sm_length,
            "payload_length": len(self.payload),
            "udh": self.udh.hex(),
            "message_payload": self.via_payload,
            "concat": None
            if concat is None
            else {"scheme": concat.scheme, "ref": concat.ref, "total": concat.total, "seq": concat.seq},
            "text": self.text,
            "payload_hex": self.payload.hex() if alphabet(self.data_coding) == "binary" else None,
            "submitted_at": iso(self.submitted_at),
            "outcome": self.outcome,
            "message_state": STATE_NAMES[self.message_state(now)],
            "receipt": self.receipt.as_json() if self.receipt else None,
        }


@dataclass(slots=True, eq=False)
class InboxEntry:
    """A whole message as the handset shows it, reassembled from its segments."""

    segments: list[SegmentRecord]
    scheme: str | None
    received_at: float

    def as_json(self) -> dict[str, Any]:
        first = self.segments[0]
        codings = {s.data_coding for s in self.segments}
        if len(codings) == 1:
            # Decoding the joined payload keeps an ESC pair or a surrogate pair split at a cut whole.
            joined = b"".join(s.payload for s in self.segments)
            text = decode(first.data_coding, joined)
        else:
            joined = b""
            text = "".join(s.text or "" for s in self.segments)
        binary = alphabet(first.data_coding) == "binary" and len(codings) == 1
        return {
            "text": text,
            "payload_hex": joined.hex() if binary else None,
            "data_coding": first.data_coding,
            "alphabet": alphabet(first.data_coding),
            "segments": len(self.segments),
            "concat": self.scheme,
            "message_ids": [s.message_id for s in self.segments],
            "segment_data_codings": [s.data_coding for s in self.segments],
            "segment_lengths": [s.sm_length for s in self.segments],
            "source_addr": first.source_addr,
            "source_ton": first.source_ton,
            "source_npi": first.source_npi,
            "dest_addr": first.dest_addr,
            "system_id": first.system_id,
            "registered_delivery": first.registered_delivery,
            "received_at": iso(self.received_at),
        }


@dataclass(slots=True, eq=False)
class Assembly:
    """Segments of one concatenated message seen so far."""

    scheme: str
    total: int
    dest: str
    started_at: float  # monotonic
    parts: dict[int, SegmentRecord] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class Uplink:
    """An MO message the control API asked the SMSC to deliver."""

    uplink_id: str
    number: str
    to: str
    system_id: str
    text: str
    data_coding: int
    scheme: str | None
    deliveries: list[Delivery]
    created_at: float

    def as_json(self) -> dict[str, Any]:
        states = [d.state for d in self.deliveries]
        return {
            "uplink_id": self.uplink_id,
            "from": self.number,
            "to": self.to,
            "system_id": self.system_id,
            "text": self.text,
            "data_coding": self.data_coding,
            "segments": len(self.deliveries),
            "concat": self.scheme,
            "states": states,
            "acked": all(s == "acked" for s in states),
            "created_at": iso(self.created_at),
        }


@dataclass(slots=True)
class Handset:
    number: str
    outcome: Outcome
    error_code: int | None = None
    # Configured through settings or the control API: never evicted to bound memory.
    pinned: bool = False
    # Plain lists trimmed by hand: a benchmark touches hundreds of thousands of numbers.
    inbox: list[InboxEntry] = field(default_factory=list)
    uplinks: list[Uplink] = field(default_factory=list)


@dataclass(slots=True)
class Stats:
    connections: int = 0
    binds: int = 0
    binds_transmitter: int = 0
    binds_receiver: int = 0
    binds_transceiver: int = 0
    bind_failures: int = 0
    unbinds: int = 0
    enquire_links: int = 0
    generic_nacks: int = 0
    # Every submit_sm PDU received, whatever its answer.
    submits: int = 0
    submits_accepted: int = 0
    submits_rejected: int = 0
    # Accepted submit_sm, each one segment (a single-part message is one segment).
    segments: int = 0
    # Complete messages placed in inboxes (reassembled when concatenated).
    messages: int = 0
    duplicate_segments: int = 0
    reassembly_expired: int = 0
    reassembly_abandoned: int = 0
    queries: int = 0
    receipts_scheduled: int = 0
    receipts_sent: int = 0
    receipts_resent: int = 0
    receipts_acked: int = 0
    receipts_failed: int = 0
    mo_messages: int = 0
    mo_segments_sent: int = 0
    mo_segments_resent: int = 0
    mo_segments_acked: int = 0
    mo_segments_failed: int = 0
    deliver_timeouts: int = 0
    deliver_negative_responses: int = 0
    deliveries_dropped: int = 0
    unexpected_responses: int = 0
    rejected_by_status: dict[str, int] = field(default_factory=dict)
    bind_failures_by_status: dict[str, int] = field(default_factory=dict)
    faults_injected: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("rejected_by_status", "bind_failures_by_status", "faults_injected"):
            out[name] = dict(out[name])
        return out


def status_key(status: int) -> str:
    return f"0x{status:08X}"


class SmscState:
    """All mutable state. Single event loop, so no locks."""

    def __init__(self, settings: SmscSettings) -> None:
        self.settings = settings
        self.accounts: dict[str, SmscAccount] = {a.system_id: a for a in settings.accounts}
        self.faults: Faults = settings.faults.updated({})
        self.rng = random.Random(settings.random_seed)  # noqa: S311 - fault dice, not crypto
        self.generation = 0
        self.stats = Stats()
        self.handsets: dict[str, Handset] = {}
        self.messages: dict[str, SegmentRecord] = {}
        self.assemblies: dict[tuple[str, str, str, str, int], Assembly] = {}
        self.submits_per_second: dict[int, int] = {}
        self.accepted_per_second: dict[int, int] = {}
        # Random start: message ids stay unique across simulator restarts, which a platform that
        # keeps ids in its database relies on.
        self._next_id = int.from_bytes(os.urandom(5), "big") << 20
        self._next_ref = self.rng.randrange(0x10000)
        self._next_uplink = 0
        self._seed_handsets()

    def _seed_handsets(self) -> None:
        for number, outcome in self.settings.handsets.items():
            handset = self.handset(normalize_number(number))
            handset.outcome = outcome
            handset.pinned = True

    def reset(self, *, faults: bool = False, handsets: bool = False) -> None:
        """Clear messages, inboxes, reassembly and counters; keep accounts and bound sessions.

        Faults and per-number outcomes survive unless asked for; `faults=True` restores the
        configured faults, `handsets=True` forgets runtime handset settings.
        """
        self.generation += 1
        if faults:
            self.faults = self.settings.faults.updated({})
        if handsets:
            self.handsets.clear()
            self._seed_handsets()
        self.stats = Stats()
        self.messages.clear()
        self.assemblies.clear()
        self.submits_per_second.clear()
        self.accepted_per_second.clear()
        for number in [n for n, h in self.handsets.items() if not h.pinned]:
            del self.handsets[number]
        for handset in self.handsets.values():
            handset.inbox.clear()
            handset.uplinks.clear()

    # -- ids --

    def next_message_id(self) -> str:
        self._next_id += 1
        return f"{self._next_id:016x}"

    def next_reference(self) -> int:
        self._next_ref = (self._next_ref + 1) & 0xFFFF
        return self._next_ref

    def next_uplink_id(self) -> str:
        self._next_uplink += 1
        return f"mo-{self._next_uplink:08x}"

    # -- counters --

    def count_second(self, counts: dict[int, int], now: float) -> None:
        second = int(now)
        count = counts.get(second)
        if count is None:
            counts[second] = 1
            if len(counts) > self.settings.tps_history_seconds:
                del counts[next(iter(counts))]
        else:
            counts[second] = count + 1

    def count_fault(self, name: str) -> None:
        counts = self.stats.faults_injected
        counts[name] = counts.get(name, 0) + 1

    def count_rejection(self, status: int) -> None:
        self.stats.submits_rejected += 1
        counts = self.stats.rejected_by_status
        key = status_key(status)
        counts[key] = counts.get(key, 0) + 1

    def count_bind_failure(self, status: int) -> None:
        self.stats.bind_failures += 1
        counts = self.stats.bind_failures_by_status
        key = status_key(status)
        counts[key] = counts.get(key, 0) + 1

    # -- handsets --

    def handset(self, number: str) -> Handset:
        handset = self.handsets.get(number)
        if handset is None:
            if len(self.handsets) >= self.settings.max_handsets:
                self._evict_handset()
            handset = Handset(number, self.settings.default_outcome)
            self.handsets[number] = handset
        return handset

    def _evict_handset(self) -> None:
        for number, handset in self.handsets.items():
            if not handset.pinned:
                del self.handsets[number]
                return

    # -- accounts --

    def owner_of(self, service_number: str) -> SmscAccount | None:
        """The account whose longest service number prefixes `service_number`."""
        best: SmscAccount | None = None
        best_length = 0
        for account in self.accounts.values():
            length = account.owns(service_number)
            if length > best_length:
                best, best_length = account, length
        return best

    # -- segments and messages --

    def store(self, record: SegmentRecord) -> None:
        messages = self.messages
        if len(messages) >= self.settings.max_messages:
            del messages[next(iter(messages))]
        messages[record.message_id] = record

    def add_single(self, record: SegmentRecord, now: float) -> None:
        self._deliver_to_inbox(InboxEntry([record], None, now), record.dest_addr)

    def add_segment(self, record: SegmentRecord, concat: Concat, now: float) -> InboxEntry | None:
        """File one segment; returns the whole message when this segment completes it."""
        key = (record.system_id, record.source_addr, record.dest_addr, concat.scheme, concat.ref)
        assemblies = self.assemblies
        assembly = assemblies.get(key)
        if assembly is not None and assembly.total != concat.total:
            # Same reference, other total: the earlier message lost segments and the ESME has
            # reused its reference. Start over, as a handset would.
            self.stats.reassembly_abandoned += 1
            del assemblies[key]
            assembly = None
        if assembly is None:
            if len(assemblies) >= self.settings.max_pending_assemblies:
                del assemblies[next(iter(assemblies))]
                self.stats.reassembly_abandoned += 1
            assembly = Assembly(concat.scheme, concat.total, record.dest_addr, time.monotonic())
            assemblies[key] = assembly
        if concat.seq in assembly.parts:
            self.stats.duplicate_segments += 1
        assembly.parts[concat.seq] = record
        if len(assembly.parts) < assembly.total:
            return None
        del assemblies[key]
        entry = InboxEntry([assembly.parts[i] for i in range(1, assembly.total + 1)], concat.scheme, now)
        self._deliver_to_inbox(entry, record.dest_addr)
        return entry

    def _deliver_to_inbox(self, entry: InboxEntry, dest: str) -> None:
        self.stats.messages += 1
        inbox = self.handset(dest).inbox
        inbox.append(entry)
        if len(inbox) > self.settings.inbox_limit:
            del inbox[0]

    def expire_assemblies(self, now_monotonic: float) -> None:
        limit = now_monotonic - self.settings.reassembly_timeout_seconds
        expired = []
        for key, assembly in self.assemblies.items():
            if assembly.started_at > limit:
                break
            expired.append(key)
        for key in expired:
            del self.assemblies[key]
        self.stats.reassembly_expired += len(expired)

    def pending_for(self, number: str) -> list[dict[str, Any]]:
        return [
            {
                "concat": a.scheme,
                "total": a.total,
                "received": sorted(a.parts),
                "message_ids": [a.parts[i].message_id for i in sorted(a.parts)],
            }
            for a in self.assemblies.values()
            if a.dest == number
        ]
