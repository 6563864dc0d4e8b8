"""A hand-packed SMPP 3.4 ESME for the SMSC simulator tests.

An independent second reading of the specification: every PDU is built and read here with
`struct` and plain bytes, never with the simulator's codec, so a misreading on one side shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass, field

# SMPP 3.4 §5.1.2.1 command ids.
GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
QUERY_SM = 0x00000003
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
CANCEL_SM = 0x00000008
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
RESP = 0x80000000

BINDS = {"transmitter": BIND_TRANSMITTER, "receiver": BIND_RECEIVER, "transceiver": BIND_TRANSCEIVER}

# §5.1.3 command_status.
ROK = 0x00
RINVMSGLEN = 0x01
RINVCMDLEN = 0x02
RINVCMDID = 0x03
RINVBNDSTS = 0x04
RALYBND = 0x05
RSYSERR = 0x08
RINVSRCADR = 0x0A
RINVDSTADR = 0x0B
RBINDFAIL = 0x0D
RINVPASWD = 0x0E
RINVSYSID = 0x0F
RINVESMCLASS = 0x43
RTHROTTLED = 0x58
RX_T_APPN = 0x64
RX_P_APPN = 0x65
RQUERYFAIL = 0x67
RMISSINGOPTPARAM = 0xC3

# §5.3.2 TLV tags.
RECEIPTED_MESSAGE_ID = 0x001E
SAR_MSG_REF_NUM = 0x020C
SAR_TOTAL_SEGMENTS = 0x020E
SAR_SEGMENT_SEQNUM = 0x020F
SC_INTERFACE_VERSION = 0x0210
NETWORK_ERROR_CODE = 0x0423
MESSAGE_PAYLOAD = 0x0424
MESSAGE_STATE = 0x0427


def cstr(value: str) -> bytes:
    return value.encode("ascii") + b"\x00"


def pack(command_id: int, sequence: int, body: bytes = b"", status: int = 0) -> bytes:
    return struct.pack(">IIII", 16 + len(body), command_id, status, sequence) + body


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


def sar(ref: int, total: int, seq: int) -> bytes:
    return (
        tlv(SAR_MSG_REF_NUM, struct.pack(">H", ref))
        + tlv(SAR_TOTAL_SEGMENTS, bytes([total]))
        + tlv(SAR_SEGMENT_SEQNUM, bytes([seq]))
    )


def udh8(ref: int, total: int, seq: int) -> bytes:
    # UDHL 5, IEI 0x00 (concatenation, 8-bit reference), IEDL 3.
    return bytes([5, 0x00, 3, ref, total, seq])


def udh16(ref: int, total: int, seq: int) -> bytes:
    # UDHL 6, IEI 0x08 (concatenation, 16-bit reference), IEDL 4.
    return bytes([6, 0x08, 4, ref >> 8, ref & 0xFF, total, seq])


def bind_body(system_id: str, password: str, system_type: str = "", interface_version: int = 0x34) -> bytes:
    # system_id, password, system_type, interface_version, addr_ton, addr_npi, address_range.
    return cstr(system_id) + cstr(password) + cstr(system_type) + bytes([interface_version, 0, 0]) + cstr("")


def submit_body(
    *,
    source: str = "1069001",
    dest: str = "8613800000001",
    short_message: bytes = b"",
    data_coding: int = 0,
    esm_class: int = 0,
    registered_delivery: int = 0,
    source_ton: int = 0,
    source_npi: int = 1,
    dest_ton: int = 1,
    dest_npi: int = 1,
    tlvs: bytes = b"",
) -> bytes:
    # §4.4.1 in field order.
    return b"".join(
        [
            cstr(""),  # service_type
            bytes([source_ton, source_npi]),
            cstr(source),
            bytes([dest_ton, dest_npi]),
            cstr(dest),
            bytes([esm_class, 0, 0]),  # esm_class, protocol_id, priority_flag
            cstr(""),  # schedule_delivery_time
            cstr(""),  # validity_period
            bytes([registered_delivery, 0, data_coding, 0, len(short_message)]),
            short_message,
            tlvs,
        ]
    )


def read_tlvs(data: bytes) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while data:
        tag, length = struct.unpack(">HH", data[:4])
        out[tag] = data[4 : 4 + length]
        data = data[4 + length :]
    return out


@dataclass
class Pdu:
    command_id: int
    status: int
    sequence: int
    body: bytes


@dataclass
class Deliver:
    """A deliver_sm as read by this module (§4.6.1)."""

    sequence: int
    source_ton: int
    source_npi: int
    source_addr: str
    dest_ton: int
    dest_npi: int
    dest_addr: str
    esm_class: int
    data_coding: int
    short_message: bytes
    tlvs: dict[int, bytes]

    @property
    def text(self) -> str:
        return self.short_message.decode("ascii")


def parse_deliver(p: Pdu) -> Deliver:
    body = p.body
    service_type, body = body.split(b"\x00", 1)
    source_ton, source_npi = body[0], body[1]
    source, body = body[2:].split(b"\x00", 1)
    dest_ton, dest_npi = body[0], body[1]
    dest, body = body[2:].split(b"\x00", 1)
    esm_class = body[0]
    # protocol_id, priority_flag, then two empty C-strings (schedule, validity).
    assert body[3:5] == b"\x00\x00", "schedule_delivery_time and validity_period must be NULL"
    registered, replace, data_coding, default_id, sm_length = body[5:10]
    assert (registered, replace, default_id) == (0, 0, 0)
    short_message = body[10 : 10 + sm_length]
    assert len(short_message) == sm_length
    assert service_type == b""
    return Deliver(
        p.sequence,
        source_ton,
        source_npi,
        source.decode("ascii"),
        dest_ton,
        dest_npi,
        dest.decode("ascii"),
        esm_class,
        data_coding,
        short_message,
        read_tlvs(body[10 + sm_length :]),
    )


def message_id(p: Pdu) -> str:
    assert p.body.endswith(b"\x00"), p.body
    return p.body[:-1].decode("ascii")


@dataclass
class Esme:
    """One SMPP connection. `call` answers a request; deliver_sm met on the way wait in `pending`."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    sequence: int = 0
    pending: list[Pdu] = field(default_factory=list)

    @classmethod
    async def connect(cls, port: int) -> Esme:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send(self, command_id: int, body: bytes = b"", sequence: int | None = None, status: int = 0) -> int:
        seq = self.next_sequence() if sequence is None else sequence
        await self.send_raw(pack(command_id, seq, body, status))
        return seq

    async def read(self, timeout: float = 3.0) -> Pdu:
        head = await asyncio.wait_for(self.reader.readexactly(16), timeout)
        length, command_id, status, sequence = struct.unpack(">IIII", head)
        body = await asyncio.wait_for(self.reader.readexactly(length - 16), timeout) if length > 16 else b""
        return Pdu(command_id, status, sequence, body)

    async def call(self, command_id: int, body: bytes = b"", timeout: float = 3.0) -> Pdu:
        seq = await self.send(command_id, body)
        while True:
            p = await self.read(timeout)
            if p.sequence == seq and p.command_id & RESP:
                return p
            self.pending.append(p)

    async def bind(self, mode: str = "transceiver", system_id: str = "msg5g", password: str = "secret1") -> Pdu:
        return await self.call(BINDS[mode], bind_body(system_id, password))

    async def submit(self, **fields: object) -> Pdu:
        return await self.call(SUBMIT_SM, submit_body(**fields))  # type: ignore[arg-type]

    async def ack(self, d: Deliver, status: int = ROK) -> None:
        # deliver_sm_resp: message_id is unused and NULL (§4.6.2).
        await self.send(DELIVER_SM_RESP, b"\x00", sequence=d.sequence, status=status)

    async def delivers(self, count: int, timeout: float = 3.0, ack: bool = True) -> list[Deliver]:
        """The next `count` deliver_sm (acknowledged unless told not to)."""
        out: list[Deliver] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(out) < count:
            if self.pending:
                p = self.pending.pop(0)
            else:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} deliver_sm, got {len(out)}")
                p = await self.read(remaining)
            if p.command_id != DELIVER_SM:
                continue
            d = parse_deliver(p)
            if ack:
                await self.ack(d)
            out.append(d)
        return out

    async def nothing_for(self, seconds: float) -> None:
        """Assert no deliver_sm arrives within `seconds`."""
        assert not [p for p in self.pending if p.command_id == DELIVER_SM]
        try:
            p = await self.read(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected PDU 0x{p.command_id:08x}")

    async def closed_by_peer(self, timeout: float = 3.0) -> bytes:
        """Wait for the SMSC to close the link; returns whatever it sent before that."""
        received = b""
        try:
            while data := await asyncio.wait_for(self.reader.read(65536), timeout):
                received += data
        except ConnectionResetError:
            pass
        return received

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
