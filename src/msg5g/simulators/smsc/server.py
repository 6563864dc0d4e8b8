"""The simulated SMSC: binds, submit_sm acceptance, receipts, MO, and the deliver_sm queues.

Deliveries (receipts and MO segments) belong to an account, not a connection: they wait in the
account's queue until a receiver or transceiver of that account is bound, go out round-robin over
its bound sessions with at most `deliver_window` unacknowledged per session, and are sent again
(under a new sequence number) when no deliver_sm_resp comes within `deliver_timeout_ms`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal, cast

from . import pdu
from .charsets import Concat, UdhError, air_size_ok, choose_encoding, concat_udh, receipt_text, split_payload, split_udh
from .session import MODES, SmppSession
from .settings import SmscSettings
from .state import (
    DEFAULT_ERROR_CODES,
    OUTCOME_STATES,
    UPLINK_HISTORY,
    Delivery,
    SegmentRecord,
    SmscState,
    Uplink,
    normalize_number,
)

log = logging.getLogger(__name__)

Scheme = Literal["udh8", "udh16", "sar", "payload"]
SCHEMES: tuple[Scheme, ...] = ("udh8", "udh16", "sar", "payload")


class UplinkError(ValueError):
    """An MO request the SMSC cannot carry out; `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SmscSimulator:
    """An SMPP 3.4 SMSC on one TCP port, holding all state in memory.

    `start()` binds the listener and returns its port; `create_control_app(simulator)` serves the
    HTTP control API over the same state.
    """

    def __init__(self, settings: SmscSettings | None = None) -> None:
        self.settings = settings or SmscSettings()
        self.state = SmscState(self.settings)
        self.sessions: set[SmppSession] = set()
        self.receivers: dict[str, list[SmppSession]] = {}
        self.queues: dict[str, deque[Delivery]] = {}
        self.host: str | None = None
        self.port: int | None = None
        self._rr: dict[str, int] = {}
        # Token buckets per system_id for throttle_tps: [tokens, last refill (monotonic), rate].
        self._buckets: dict[str, list[float]] = {}
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._receipt_tz = timezone(timedelta(minutes=self.settings.receipt_utc_offset_minutes))

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen for ESMEs; port 0 picks a free one. Returns the bound port."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        loop = self._loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SmppSession(self), host, port, reuse_address=True, backlog=512)
        self.host = host
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._sweeper = loop.create_task(self._sweep_forever())
        return self.port

    async def close(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        # Let the transports run connection_lost before the loop goes away.
        await asyncio.sleep(0)

    # ------------------------------------------------------------------ sessions

    def session_opened(self, session: SmppSession) -> None:
        self.sessions.add(session)
        self.state.stats.connections += 1

    def session_closed(self, session: SmppSession) -> None:
        self.sessions.discard(session)
        self.session_unbound(session)

    def session_unbound(self, session: SmppSession) -> None:
        """Take a session out of delivery; its unacknowledged deliver_sm go back to the queue."""
        system_id = session.system_id
        was_receiver = session.can_receive
        session.unbind()
        if system_id is None:
            return
        if was_receiver:
            receivers = self.receivers.get(system_id)
            if receivers and session in receivers:
                receivers.remove(session)
        if session.outstanding:
            pending = list(session.outstanding.values())
            session.outstanding.clear()
            self._requeue_front(system_id, pending)
        self.pump(system_id)

    def on_bind(self, session: SmppSession, command_id: int, sequence: int, body: bytes) -> None:
        state = self.state
        mode = MODES[command_id]
        status = pdu.ESME_ROK
        system_id = ""
        if session.mode is not None:
            status = pdu.ESME_RALYBND
        else:
            try:
                request = pdu.parse_bind(body)
            except pdu.PduError as exc:
                status = exc.status
            else:
                system_id = request.system_id
                account = state.accounts.get(system_id)
                if state.faults.refuse_bind:
                    state.count_fault("refuse_bind")
                    status = pdu.ESME_RBINDFAIL
                elif account is None:
                    status = pdu.ESME_RINVSYSID
                elif not hmac.compare_digest(account.password.encode(), request.password.encode("latin-1")):
                    status = pdu.ESME_RINVPASWD
        session.send(pdu.bind_resp(command_id, status, sequence, self.settings.smsc_system_id))
        if status != pdu.ESME_ROK:
            state.count_bind_failure(status)
            return
        session.bind(mode, system_id)
        stats = state.stats
        stats.binds += 1
        if mode == "transmitter":
            stats.binds_transmitter += 1
        elif mode == "receiver":
            stats.binds_receiver += 1
        else:
            stats.binds_transceiver += 1
        if session.can_receive:
            self.receivers.setdefault(system_id, []).append(session)
            self.pump(system_id)

    def close_account_sessions(self, system_id: str) -> int:
        closing = [s for s in self.sessions if s.system_id == system_id]
        for session in closing:
            session.close()
        return len(closing)

    # ------------------------------------------------------------------ submit_sm (the hot path)

    def on_submit(self, session: SmppSession, sequence: int, body: bytes) -> None:
        state = self.state
        stats = state.stats
        faults = state.faults
        now = time.time()
        stats.submits += 1
        state.count_second(state.submits_per_second, now)
        if not session.can_submit:
            status = pdu.ESME_RINVBNDSTS
        elif faults.drop_connection_next > 0:
            faults.drop_connection_next -= 1
            state.count_fault("drop_connection")
            session.drop()
            return
        elif faults.throttle_tps > 0 and self._throttled(cast(str, session.system_id), faults.throttle_tps):
            state.count_fault("throttled")
            status = pdu.ESME_RTHROTTLED
        elif faults.error_rate > 0 and state.rng.random() < faults.error_rate:
            state.count_fault("error_rate")
            status = pdu.ESME_RSYSERR
        else:
            try:
                record = self._accept(cast(str, session.system_id), body, now)
            except pdu.PduError as exc:
                status = exc.status
            else:
                stats.submits_accepted += 1
                stats.segments += 1
                state.count_second(state.accepted_per_second, now)
                session.answer_submit(pdu.submit_sm_resp(pdu.ESME_ROK, sequence, record.message_id))
                return
        state.count_rejection(status)
        session.answer_submit(pdu.submit_sm_resp(status, sequence))

    def _accept(self, system_id: str, body: bytes, now: float) -> SegmentRecord:
        state = self.state
        sm = pdu.parse_submit_sm(body)
        account = state.accounts.get(system_id)
        if account is None:
            # The account was deleted while this session stayed bound.
            raise pdu.PduError(pdu.ESME_RBINDFAIL, "account no longer exists")
        if not sm.destination_addr:
            raise pdu.PduError(pdu.ESME_RINVDSTADR, "destination_addr is empty")
        if account.check_source and not account.owns(sm.source_addr):
            raise pdu.PduError(pdu.ESME_RINVSRCADR, f"source_addr {sm.source_addr!r} is not this account's")
        receipt_mode = sm.registered_delivery & 0x03
        if receipt_mode == 3:
            raise pdu.PduError(pdu.ESME_RINVREGDLVFLG, "registered_delivery SMSC-receipt bits 11 are reserved")
        tlvs = sm.tlvs
        payload = sm.short_message
        via_payload = False
        carried = tlvs.get(pdu.TAG_MESSAGE_PAYLOAD)
        if carried is not None:
            if payload:
                raise pdu.PduError(pdu.ESME_RINVMSGLEN, "short_message and message_payload are both set")
            payload, via_payload = carried, True
        udh = b""
        concat: Concat | None = None
        if sm.esm_class & pdu.ESM_UDHI:
            try:
                udh, concat, data = split_udh(payload)
            except UdhError as exc:
                raise pdu.PduError(pdu.ESME_RINVESMCLASS, f"UDHI set but {exc}") from None
        else:
            data = payload
        if not via_payload and not air_size_ok(sm.data_coding, len(udh), len(data)):
            raise pdu.PduError(pdu.ESME_RINVMSGLEN, "segment does not fit one SMS (140 octets / 160 septets)")
        if concat is None:
            concat = _sar(tlvs)
        if concat is not None and not (concat.total >= 1 and 1 <= concat.seq <= concat.total):
            status = pdu.ESME_RINVOPTPARAMVAL if concat.scheme == "sar" else pdu.ESME_RINVESMCLASS
            raise pdu.PduError(status, f"segment {concat.seq} of {concat.total} is out of range")
        dest = normalize_number(sm.destination_addr)
        handset = state.handset(dest)
        outcome = handset.outcome
        error_code = handset.error_code if handset.error_code is not None else DEFAULT_ERROR_CODES[outcome]
        delay = state.faults.dlr_delay_ms / 1000.0
        record = SegmentRecord(
            state.next_message_id(),
            system_id,
            sm.source_addr,
            sm.source_ton,
            sm.source_npi,
            dest,
            sm.dest_ton,
            sm.dest_npi,
            sm.data_coding,
            sm.esm_class,
            sm.registered_delivery,
            len(sm.short_message),
            udh,
            concat,
            data,
            via_payload,
            now,
            outcome,
            error_code,
            now + delay,
        )
        state.store(record)
        if concat is None:
            state.add_single(record, now)
        else:
            state.add_segment(record, concat, now)
        # §5.2.17: 01 = receipt on final outcome, 10 = receipt on failure only.
        if receipt_mode == 1 or (receipt_mode == 2 and outcome != "delivered"):
            state.stats.receipts_scheduled += 1
            loop = cast(asyncio.AbstractEventLoop, self._loop)
            if delay > 0:
                loop.call_later(delay, self._emit_receipt, record, state.generation)
            else:
                loop.call_soon(self._emit_receipt, record, state.generation)
        return record

    def _throttled(self, system_id: str, rate: float) -> bool:
        now = time.monotonic()
        bucket = self._buckets.get(system_id)
        capacity = max(rate, 1.0)
        if bucket is None or bucket[2] != rate:
            bucket = self._buckets[system_id] = [capacity, now, rate]
        tokens = min(capacity, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return True
        bucket[0] = tokens - 1.0
        return False

    # ------------------------------------------------------------------ query_sm

    def on_query(self, session: SmppSession, sequence: int, body: bytes) -> None:
        self.state.stats.queries += 1
        if not session.can_submit:
            session.send(pdu.query_sm_resp(pdu.ESME_RINVBNDSTS, sequence, "", "", 0, 0))
            return
        try:
            query = pdu.parse_query_sm(body)
        except pdu.PduError as exc:
            session.send(pdu.query_sm_resp(exc.status, sequence, "", "", 0, 0))
            return
        record = self.state.messages.get(query.message_id)
        if record is None or record.system_id != session.system_id:
            session.send(pdu.query_sm_resp(pdu.ESME_RQUERYFAIL, sequence, "", "", 0, 0))
            return
        now = time.time()
        message_state = record.message_state(now)
        final = self._smpp_time(record.done_at) if message_state != pdu.STATE_ENROUTE else ""
        error = record.error_code if message_state != pdu.STATE_ENROUTE else 0
        session.send(pdu.query_sm_resp(pdu.ESME_ROK, sequence, record.message_id, final, message_state, error))

    # ------------------------------------------------------------------ receipts

    def _emit_receipt(self, record: SegmentRecord, generation: int) -> None:
        if self._closed or generation != self.state.generation:
            return
        stat, message_state = OUTCOME_STATES[record.outcome]
        delivered = record.outcome == "delivered"
        # Appendix B: the customary receipt text; dates are the SMSC's local YYMMDDhhmm.
        text = (
            f"id:{record.message_id} sub:001 dlvrd:{'001' if delivered else '000'} "
            f"submit date:{self._receipt_date(record.submitted_at)} done date:{self._receipt_date(time.time())} "
            f"stat:{stat} err:{record.error_code:03d} text:{receipt_text(record.text)}"
        )
        tlvs = [
            pdu.tlv(pdu.TAG_RECEIPTED_MESSAGE_ID, pdu.cstring(record.message_id)),
            pdu.tlv(pdu.TAG_MESSAGE_STATE, bytes((message_state,))),
        ]
        if not delivered:
            # §5.3.2.31: network type 3 = GSM, then the two-octet error code.
            tlvs.append(pdu.tlv(pdu.TAG_NETWORK_ERROR_CODE, b"\x03" + pdu.u16(record.error_code)))
        body = pdu.deliver_sm_body(
            source_ton=record.dest_ton,
            source_npi=record.dest_npi,
            source_addr=record.dest_addr,
            dest_ton=record.source_ton,
            dest_npi=record.source_npi,
            destination_addr=record.source_addr,
            esm_class=pdu.ESM_DELIVERY_RECEIPT,
            data_coding=0,
            short_message=text.encode("ascii"),
            tlvs=tlvs,
        )
        delivery = Delivery(record.system_id, "receipt", body, generation)
        record.receipt = delivery
        self.enqueue(delivery)

    def _receipt_date(self, ts: float) -> str:
        return datetime.fromtimestamp(ts, self._receipt_tz).strftime("%y%m%d%H%M")

    def _smpp_time(self, ts: float) -> str:
        """§7.1.1 absolute time format YYMMDDhhmmsstnnp, in UTC ("00+")."""
        moment = datetime.fromtimestamp(ts, UTC)
        return moment.strftime("%y%m%d%H%M%S") + f"{moment.microsecond // 100_000}00+"

    # ------------------------------------------------------------------ deliver_sm queues

    def enqueue(self, delivery: Delivery) -> None:
        queue = self.queues.get(delivery.system_id)
        if queue is None:
            queue = self.queues[delivery.system_id] = deque()
        if len(queue) >= self.settings.max_queued_deliveries:
            dropped = queue.popleft()
            dropped.state = "dropped"
            self.state.stats.deliveries_dropped += 1
        delivery.state = "queued"
        queue.append(delivery)
        self.pump(delivery.system_id)

    def _requeue_front(self, system_id: str, deliveries: list[Delivery]) -> None:
        """Put deliveries back ahead of the queue, keeping their order (they were due first)."""
        queue = self.queues.get(system_id)
        if queue is None:
            queue = self.queues[system_id] = deque()
        generation = self.state.generation
        for delivery in reversed(deliveries):
            if delivery.generation == generation:
                delivery.state = "queued"
                queue.appendleft(delivery)

    def pump(self, system_id: str) -> None:
        """Send queued deliveries to bound receivers with room in their window, round-robin."""
        queue = self.queues.get(system_id)
        if not queue:
            return
        sessions = self.receivers.get(system_id)
        if not sessions:
            return
        window = self.settings.deliver_window
        loop = cast(asyncio.AbstractEventLoop, self._loop)
        now = loop.time()
        stats = self.state.stats
        count = len(sessions)
        index = self._rr.get(system_id, 0)
        idle = 0
        while queue and idle < count:
            session = sessions[index % count]
            index += 1
            if len(session.outstanding) >= window or not session.usable:
                idle += 1
                continue
            idle = 0
            delivery = queue.popleft()
            first = delivery.attempts == 0
            session.send_delivery(delivery, now)
            if delivery.kind == "receipt":
                if first:
                    stats.receipts_sent += 1
                else:
                    stats.receipts_resent += 1
            elif first:
                stats.mo_segments_sent += 1
            else:
                stats.mo_segments_resent += 1
        self._rr[system_id] = index % count

    def on_deliver_resp(self, session: SmppSession, sequence: int, status: int) -> None:
        delivery = session.outstanding.pop(sequence, None)
        stats = self.state.stats
        if delivery is None:
            stats.unexpected_responses += 1
            return
        delivery.last_status = status
        if status == pdu.ESME_ROK:
            delivery.state = "acked"
            delivery.acked_at = time.time()
            if delivery.kind == "receipt":
                stats.receipts_acked += 1
            else:
                stats.mo_segments_acked += 1
        else:
            stats.deliver_negative_responses += 1
            # ESME_RX_P_APPN is the ESME's "permanent: do not send again" (§5.1.3).
            if status == pdu.ESME_RX_P_APPN or delivery.attempts > self.settings.deliver_retries:
                self._fail(delivery)
            else:
                delivery.state = "queued"
                loop = cast(asyncio.AbstractEventLoop, self._loop)
                loop.call_later(self.settings.deliver_retry_delay_ms / 1000.0, self._retry, delivery)
        if session.system_id is not None:
            self.pump(session.system_id)

    def _retry(self, delivery: Delivery) -> None:
        if self._closed or delivery.generation != self.state.generation or delivery.state != "queued":
            return
        self._requeue_front(delivery.system_id, [delivery])
        self.pump(delivery.system_id)

    def _fail(self, delivery: Delivery) -> None:
        delivery.state = "failed"
        if delivery.kind == "receipt":
            self.state.stats.receipts_failed += 1
        else:
            self.state.stats.mo_segments_failed += 1

    async def _sweep_forever(self) -> None:
        while True:
            tick = min(0.25, max(0.01, self.settings.deliver_timeout_ms / 4000.0))
            await asyncio.sleep(tick)
            try:
                self.sweep()
            except Exception:  # a bug here must not stop retries for the rest of the run
                log.exception("sweep failed")

    def sweep(self) -> None:
        """Resend deliver_sm whose deliver_sm_resp is overdue; drop stale reassemblies."""
        loop = cast(asyncio.AbstractEventLoop, self._loop)
        deadline = loop.time() - self.settings.deliver_timeout_ms / 1000.0
        retries = self.settings.deliver_retries
        stats = self.state.stats
        for session in list(self.sessions):
            outstanding = session.outstanding
            if not outstanding:
                continue
            overdue: list[int] = []
            # Oldest first: a dict keeps the order the PDUs were sent in.
            for sequence, delivery in outstanding.items():
                if delivery.sent_at > deadline:
                    break
                overdue.append(sequence)
            if not overdue:
                continue
            again: list[Delivery] = []
            for sequence in overdue:
                delivery = outstanding.pop(sequence)
                stats.deliver_timeouts += 1
                if delivery.attempts > retries:
                    self._fail(delivery)
                else:
                    again.append(delivery)
            system_id = cast(str, session.system_id)
            self._requeue_front(system_id, again)
            self.pump(system_id)
        self.state.expire_assemblies(time.monotonic())

    def reset(self, *, faults: bool = False, handsets: bool = False) -> None:
        """POST /_sim/reset: clear the state and every queued or unacknowledged deliver_sm.

        Bound sessions stay bound; receipts already scheduled are not sent (generation check).
        """
        self.state.reset(faults=faults, handsets=handsets)
        self._buckets.clear()
        for queue in self.queues.values():
            for delivery in queue:
                delivery.state = "dropped"
            queue.clear()
        for session in self.sessions:
            for delivery in session.outstanding.values():
                delivery.state = "dropped"
            session.outstanding.clear()

    # ------------------------------------------------------------------ MO

    def send_uplink(self, number: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Deliver an MO message from handset `number` to the account owning `payload["to"]`."""
        state = self.state
        to = payload.get("to")
        text = payload.get("text")
        if not isinstance(to, str) or not to.isdigit() or len(to) > 20:
            raise UplinkError(400, "to must be the service number, 1..20 digits")
        if not isinstance(text, str):
            raise UplinkError(400, "text must be a string")
        scheme = payload.get("concat", "udh8")
        if scheme not in SCHEMES:
            raise UplinkError(400, f"concat must be one of {SCHEMES}")
        data_coding = payload.get("data_coding")
        if data_coding is not None and (isinstance(data_coding, bool) or data_coding not in (0, 3, 8)):
            raise UplinkError(400, "data_coding must be 0, 3 or 8 (or left out to choose)")
        addressing: dict[str, int] = {}
        for key, default in (("source_ton", 1), ("source_npi", 1), ("dest_ton", 0), ("dest_npi", 1)):
            value = payload.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
                raise UplinkError(400, f"{key} must be an integer 0..255")
            addressing[key] = value
        account = state.owner_of(to)
        if account is None:
            raise UplinkError(404, f"no account owns the service number {to}")
        try:
            coding, encoded = choose_encoding(text, data_coding)
        except (ValueError, UnicodeEncodeError) as exc:
            raise UplinkError(400, f"text cannot be sent with data_coding {data_coding}: {exc}") from None
        scheme = cast(Scheme, scheme)
        if scheme == "payload":
            parts = [encoded]
        else:
            # SAR segments are sized like UDH ones: the SMSC received them as such over the air.
            parts = split_payload(coding, encoded, 7 if scheme == "udh16" else 6)
            if len(parts) > 255:
                raise UplinkError(400, "text needs more than 255 segments")
        reference = state.next_reference()
        if scheme == "udh8":
            reference &= 0xFF
        total = len(parts)
        deliveries = []
        for seq, part in enumerate(parts, start=1):
            esm_class = 0
            short_message = part
            tlvs: list[bytes] = []
            if scheme == "payload":
                short_message = b""
                tlvs.append(pdu.tlv(pdu.TAG_MESSAGE_PAYLOAD, part))
            elif total > 1 and scheme in ("udh8", "udh16"):
                esm_class = pdu.ESM_UDHI
                short_message = concat_udh(scheme, reference, total, seq)
                short_message += part
            elif total > 1:
                tlvs += [
                    pdu.tlv(pdu.TAG_SAR_MSG_REF_NUM, pdu.u16(reference)),
                    pdu.tlv(pdu.TAG_SAR_TOTAL_SEGMENTS, bytes((total,))),
                    pdu.tlv(pdu.TAG_SAR_SEGMENT_SEQNUM, bytes((seq,))),
                ]
            body = pdu.deliver_sm_body(
                source_ton=addressing["source_ton"],
                source_npi=addressing["source_npi"],
                source_addr=number,
                dest_ton=addressing["dest_ton"],
                dest_npi=addressing["dest_npi"],
                destination_addr=to,
                esm_class=esm_class,
                data_coding=coding,
                short_message=short_message,
                tlvs=tlvs,
            )
            deliveries.append(Delivery(account.system_id, "mo", body, state.generation))
        concat_used = None if total == 1 and scheme != "payload" else scheme
        uplink = Uplink(
            state.next_uplink_id(), number, to, account.system_id, text, coding, concat_used, deliveries, time.time()
        )
        handset = state.handset(number)
        handset.uplinks.append(uplink)
        if len(handset.uplinks) > UPLINK_HISTORY:
            del handset.uplinks[0]
        state.stats.mo_messages += 1
        bound = bool(self.receivers.get(account.system_id))
        for delivery in deliveries:
            self.enqueue(delivery)
        result = uplink.as_json()
        result["receiver_bound"] = bound
        return result

    # ------------------------------------------------------------------ views

    def session_views(self, system_id: str | None = None) -> list[dict[str, Any]]:
        return [
            {
                "peer": s.peer,
                "mode": s.mode,
                "system_id": s.system_id,
                "bound_at": None
                if s.bound_at is None
                else datetime.fromtimestamp(s.bound_at, UTC).isoformat().replace("+00:00", "Z"),
                "outstanding_deliveries": len(s.outstanding),
            }
            for s in self.sessions
            if s.mode is not None and (system_id is None or s.system_id == system_id)
        ]


def _sar(tlvs: dict[int, bytes]) -> Concat | None:
    """§5.3.2.22-24: the three SAR TLVs come together or not at all."""
    ref = pdu.tlv_int(tlvs, pdu.TAG_SAR_MSG_REF_NUM, 2, "sar_msg_ref_num")
    total = pdu.tlv_int(tlvs, pdu.TAG_SAR_TOTAL_SEGMENTS, 1, "sar_total_segments")
    seq = pdu.tlv_int(tlvs, pdu.TAG_SAR_SEGMENT_SEQNUM, 1, "sar_segment_seqnum")
    if ref is None and total is None and seq is None:
        return None
    if ref is None or total is None or seq is None:
        raise pdu.PduError(pdu.ESME_RMISSINGOPTPARAM, "the three sar_* TLVs must come together")
    return Concat("sar", ref, total, seq)
