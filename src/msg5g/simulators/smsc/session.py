"""One ESME connection: PDU framing, session state (§2.2) and dispatch to the simulator.

Framing reads command_length from the buffer and waits for that many octets; every PDU that is
complete in one read is handled before anything is written, and the answers go out in one write.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Literal, cast

from . import pdu
from .pdu import HEADER, HEADER_SIZE
from .state import Delivery

if TYPE_CHECKING:
    from .server import SmscSimulator

Mode = Literal["transmitter", "receiver", "transceiver"]
MODES: dict[int, Mode] = {
    pdu.BIND_TRANSMITTER: "transmitter",
    pdu.BIND_RECEIVER: "receiver",
    pdu.BIND_TRANSCEIVER: "transceiver",
}
_MAX_SEQUENCE = 0x7FFFFFFF


class SmppSession(asyncio.Protocol):
    def __init__(self, simulator: SmscSimulator) -> None:
        self.simulator = simulator
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self.connected_at = time.time()
        self.bound_at: float | None = None
        self.mode: Mode | None = None
        self.system_id: str | None = None
        self.can_submit = False
        self.can_receive = False
        # deliver_sm awaiting deliver_sm_resp, by our sequence number, oldest first.
        self.outstanding: dict[int, Delivery] = {}
        self.closed = False
        self._buffer = bytearray()
        self._sequence = 0
        # While a read is being handled, answers collect here and go out in one write.
        self._out: list[bytes] | None = None
        self._late: list[bytes] | None = None
        self._close_after_write = False
        self._drop = False

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.simulator.session_opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.simulator.session_closed(self)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        out: list[bytes] = []
        self._out = out
        self._late = []
        max_length = self.simulator.settings.max_pdu_length
        pos = 0
        end = len(buffer)
        try:
            while end - pos >= HEADER_SIZE:
                length = pdu.peek_length(buffer, pos)
                if length < HEADER_SIZE or length > max_length:
                    # The next PDU boundary is lost: answer as §4.3 asks, then give up the link.
                    sequence = HEADER.unpack_from(buffer, pos)[3]
                    out.append(pdu.generic_nack(pdu.ESME_RINVCMDLEN, sequence))
                    self.simulator.state.stats.generic_nacks += 1
                    self._close_after_write = True
                    pos = end
                    break
                if end - pos < length:
                    break
                _, command_id, status, sequence = HEADER.unpack_from(buffer, pos)
                body = bytes(buffer[pos + HEADER_SIZE : pos + length])
                pos += length
                self._dispatch(command_id, status, sequence, body)
                if self._drop or self._close_after_write:
                    pos = end
                    break
        finally:
            del buffer[:pos]
            self._out = None
            late, self._late = self._late, None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if out:
            transport.write(b"".join(out))
        if late:
            delay = self.simulator.state.faults.submit_latency_ms / 1000.0
            asyncio.get_running_loop().call_later(delay, self._write_late, b"".join(late))
        if self._drop:
            # A network drop, not a goodbye: no FIN-after-flush of anything still buffered.
            transport.abort()
        elif self._close_after_write:
            transport.close()

    # ------------------------------------------------------------------ dispatch

    def _dispatch(self, command_id: int, status: int, sequence: int, body: bytes) -> None:
        simulator = self.simulator
        if command_id == pdu.SUBMIT_SM:
            simulator.on_submit(self, sequence, body)
        elif command_id == pdu.DELIVER_SM_RESP:
            simulator.on_deliver_resp(self, sequence, status)
        elif command_id == pdu.ENQUIRE_LINK:
            # Answered in any state: ESMEs probe a fresh link before binding.
            simulator.state.stats.enquire_links += 1
            self.send(pdu.pack(pdu.ENQUIRE_LINK_RESP, pdu.ESME_ROK, sequence))
        elif command_id in MODES:
            simulator.on_bind(self, command_id, sequence, body)
        elif command_id == pdu.UNBIND:
            self._on_unbind(sequence)
        elif command_id == pdu.QUERY_SM:
            simulator.on_query(self, sequence, body)
        elif command_id == pdu.GENERIC_NACK:
            # The ESME could not read one of our PDUs; for a deliver_sm that is a failed attempt.
            if sequence in self.outstanding:
                simulator.on_deliver_resp(self, sequence, status or pdu.ESME_RSYSERR)
        elif command_id & pdu.RESPONSE_BIT:
            pass  # enquire_link_resp, unbind_resp: nothing to do
        else:
            # §2.10: unknown or unsupported command ids (cancel_sm, replace_sm, data_sm, ...).
            simulator.state.stats.generic_nacks += 1
            self.send(pdu.generic_nack(pdu.ESME_RINVCMDID, sequence))

    def _on_unbind(self, sequence: int) -> None:
        if self.mode is None:
            self.send(pdu.pack(pdu.UNBIND_RESP, pdu.ESME_RINVBNDSTS, sequence))
            return
        self.simulator.state.stats.unbinds += 1
        self.simulator.session_unbound(self)
        self.send(pdu.pack(pdu.UNBIND_RESP, pdu.ESME_ROK, sequence))
        # §2.2: after unbind_resp the link is over; closing flushes the answer first.
        self._close_after_write = True

    # ------------------------------------------------------------------ state

    def bind(self, mode: Mode, system_id: str) -> None:
        self.mode = mode
        self.system_id = system_id
        self.bound_at = time.time()
        self.can_submit = mode != "receiver"
        self.can_receive = mode != "transmitter"

    def unbind(self) -> None:
        self.mode = None
        self.can_submit = self.can_receive = False

    @property
    def usable(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    # ------------------------------------------------------------------ writing

    def send(self, data: bytes) -> None:
        out = self._out
        if out is not None:
            out.append(data)
            return
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def answer_submit(self, data: bytes) -> None:
        """A submit_sm_resp, held back by the submit_latency_ms fault when set."""
        if self.simulator.state.faults.submit_latency_ms > 0:
            late = self._late
            if late is not None:
                late.append(data)
                return
            delay = self.simulator.state.faults.submit_latency_ms / 1000.0
            asyncio.get_running_loop().call_later(delay, self._write_late, data)
            return
        self.send(data)

    def _write_late(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def drop(self) -> None:
        """Lose the connection at the end of this read (the drop_connection_next fault)."""
        self._drop = True
        if self._out is None and self.transport is not None:
            self.transport.abort()

    def send_delivery(self, delivery: Delivery, now: float) -> int:
        """Send one deliver_sm under a fresh sequence number; returns that number."""
        sequence = self._sequence = self._sequence + 1 if self._sequence < _MAX_SEQUENCE else 1
        delivery.state = "sent"
        delivery.attempts += 1
        delivery.sent_at = now
        self.outstanding[sequence] = delivery
        self.send(pdu.pack(pdu.DELIVER_SM, pdu.ESME_ROK, sequence, delivery.body))
        return sequence

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
