"""SMPP 3.4 PDU codec for the SMSC side, written from the specification with `struct`.

Why hand-written: the simulator exists to check the platform's SMS channel, which is built on the
smpplib client library. If the simulator decoded the wire with that same library, one misreading of
the specification would pass on both sides unseen; it has to read the bytes independently. And no
maintained asyncio SMPP *server* library exists to build on (the asyncio SMPP packages are clients,
and the maintained servers are Twisted or Java). So this module holds exactly what an SMSC needs:
the header, the bind / submit_sm / query_sm bodies it reads, the responses and deliver_sm it writes,
and TLVs. Section numbers refer to the SMPP v3.4 specification (issue 1.2).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

# §3.2 header: command_length, command_id, command_status, sequence_number (all 4-octet integers).
HEADER = struct.Struct(">IIII")
HEADER_SIZE = HEADER.size
_LENGTH = struct.Struct(">I")
_TLV_HEAD = struct.Struct(">HH")
_U16 = struct.Struct(">H")

# §5.1.2.1 command ids; a response is its request's id with bit 31 set.
RESPONSE_BIT = 0x80000000
GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_RECEIVER_RESP = 0x80000001
BIND_TRANSMITTER = 0x00000002
BIND_TRANSMITTER_RESP = 0x80000002
QUERY_SM = 0x00000003
QUERY_SM_RESP = 0x80000003
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
REPLACE_SM = 0x00000007
CANCEL_SM = 0x00000008
BIND_TRANSCEIVER = 0x00000009
BIND_TRANSCEIVER_RESP = 0x80000009
OUTBIND = 0x0000000B
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
SUBMIT_MULTI = 0x00000021
ALERT_NOTIFICATION = 0x00000102
DATA_SM = 0x00000103

BIND_COMMANDS = frozenset({BIND_RECEIVER, BIND_TRANSMITTER, BIND_TRANSCEIVER})

# §5.1.3 command_status values used here.
ESME_ROK = 0x00
ESME_RINVMSGLEN = 0x01
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RINVREGDLVFLG = 0x07
ESME_RSYSERR = 0x08
ESME_RINVSRCADR = 0x0A
ESME_RINVDSTADR = 0x0B
ESME_RINVMSGID = 0x0C
ESME_RBINDFAIL = 0x0D
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F
ESME_RMSGQFUL = 0x14
ESME_RINVSERTYP = 0x15
ESME_RINVESMCLASS = 0x43
ESME_RINVSYSTYP = 0x53
ESME_RTHROTTLED = 0x58
ESME_RINVSCHED = 0x61
ESME_RINVEXPIRY = 0x62
ESME_RX_T_APPN = 0x64
ESME_RX_P_APPN = 0x65
ESME_RQUERYFAIL = 0x67
ESME_RINVOPTPARSTREAM = 0xC0
ESME_RINVPARLEN = 0xC2
ESME_RMISSINGOPTPARAM = 0xC3
ESME_RINVOPTPARAMVAL = 0xC4

# §5.3.2 TLV tags used here.
TAG_DEST_ADDR_SUBUNIT = 0x0005
TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_USER_MESSAGE_REFERENCE = 0x0204
TAG_SAR_MSG_REF_NUM = 0x020C
TAG_SAR_TOTAL_SEGMENTS = 0x020E
TAG_SAR_SEGMENT_SEQNUM = 0x020F
TAG_SC_INTERFACE_VERSION = 0x0210
TAG_NETWORK_ERROR_CODE = 0x0423
TAG_MESSAGE_PAYLOAD = 0x0424
TAG_MESSAGE_STATE = 0x0427

# §5.2.12 esm_class bits.
ESM_DELIVERY_RECEIPT = 0x04
ESM_UDHI = 0x40

# §5.2.28 message_state values.
STATE_ENROUTE = 1
STATE_DELIVERED = 2
STATE_EXPIRED = 3
STATE_DELETED = 4
STATE_UNDELIVERABLE = 5
STATE_ACCEPTED = 6
STATE_UNKNOWN = 7
STATE_REJECTED = 8

INTERFACE_VERSION = 0x34

# §4.1 / §4.4 C-Octet String maxima, counting the terminating NUL.
_SYSTEM_ID_MAX = 16
_PASSWORD_MAX = 9
_SYSTEM_TYPE_MAX = 13
_ADDRESS_RANGE_MAX = 41
_SERVICE_TYPE_MAX = 6
_ADDR_MAX = 21
_TIME_MAX = 17
_MESSAGE_ID_MAX = 65


class PduError(Exception):
    """A body that cannot be read; `status` is the command_status to answer with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def pack(command_id: int, status: int, sequence: int, body: bytes = b"") -> bytes:
    return HEADER.pack(HEADER_SIZE + len(body), command_id, status, sequence) + body


def peek_length(buffer: bytes | bytearray, offset: int) -> int:
    return int(_LENGTH.unpack_from(buffer, offset)[0])


def cstring(value: str) -> bytes:
    return value.encode("latin-1") + b"\0"


def _cstring(data: bytes, pos: int, limit: int, status: int, name: str) -> tuple[str, int]:
    """Read a C-Octet String of at most `limit` octets (NUL included) starting at `pos`."""
    end = data.find(b"\0", pos, pos + limit)
    if end < 0:
        if data.find(b"\0", pos) < 0:
            raise PduError(ESME_RINVCMDLEN, f"{name}: missing NUL terminator")
        raise PduError(status, f"{name}: longer than {limit - 1} octets")
    return data[pos:end].decode("latin-1"), end + 1


def parse_tlvs(data: bytes, pos: int) -> dict[int, bytes]:
    """§3.4 TLVs from `pos` to the end of the body; a later duplicate tag wins."""
    tlvs: dict[int, bytes] = {}
    end = len(data)
    while pos < end:
        if pos + 4 > end:
            raise PduError(ESME_RINVOPTPARSTREAM, "truncated TLV header")
        tag, length = _TLV_HEAD.unpack_from(data, pos)
        pos += 4
        if pos + length > end:
            raise PduError(ESME_RINVOPTPARSTREAM, f"TLV 0x{tag:04x} runs past the end of the PDU")
        tlvs[tag] = data[pos : pos + length]
        pos += length
    return tlvs


def tlv(tag: int, value: bytes) -> bytes:
    return _TLV_HEAD.pack(tag, len(value)) + value


def tlv_int(tlvs: dict[int, bytes], tag: int, size: int, name: str) -> int | None:
    """An integer TLV of exactly `size` octets, or None when absent."""
    raw = tlvs.get(tag)
    if raw is None:
        return None
    if len(raw) != size:
        raise PduError(ESME_RINVPARLEN, f"{name} must be {size} octet(s), got {len(raw)}")
    return int.from_bytes(raw, "big")


@dataclass(frozen=True, slots=True)
class BindRequest:
    """§4.1.1 / §4.1.3 / §4.1.5: the three binds share one body."""

    system_id: str
    password: str
    system_type: str
    interface_version: int
    addr_ton: int
    addr_npi: int
    address_range: str


def parse_bind(body: bytes) -> BindRequest:
    system_id, pos = _cstring(body, 0, _SYSTEM_ID_MAX, ESME_RINVSYSID, "system_id")
    password, pos = _cstring(body, pos, _PASSWORD_MAX, ESME_RINVPASWD, "password")
    system_type, pos = _cstring(body, pos, _SYSTEM_TYPE_MAX, ESME_RINVSYSTYP, "system_type")
    if pos + 3 > len(body):
        raise PduError(ESME_RINVCMDLEN, "bind body ends before interface_version/addr_ton/addr_npi")
    interface_version, addr_ton, addr_npi = body[pos], body[pos + 1], body[pos + 2]
    # Some ESMEs end the PDU without the (empty) address_range; read it as empty.
    address_range = ""
    if pos + 3 < len(body):
        address_range, _ = _cstring(body, pos + 3, _ADDRESS_RANGE_MAX, ESME_RINVCMDLEN, "address_range")
    return BindRequest(system_id, password, system_type, interface_version, addr_ton, addr_npi, address_range)


@dataclass(slots=True)
class SubmitSm:
    """§4.4.1 submit_sm body; `short_message` still carries any UDH."""

    service_type: str
    source_ton: int
    source_npi: int
    source_addr: str
    dest_ton: int
    dest_npi: int
    destination_addr: str
    esm_class: int
    protocol_id: int
    priority_flag: int
    schedule_delivery_time: str
    validity_period: str
    registered_delivery: int
    replace_if_present: int
    data_coding: int
    sm_default_msg_id: int
    short_message: bytes
    tlvs: dict[int, bytes]


def parse_submit_sm(body: bytes) -> SubmitSm:
    service_type, pos = _cstring(body, 0, _SERVICE_TYPE_MAX, ESME_RINVSERTYP, "service_type")
    if pos + 2 > len(body):
        raise PduError(ESME_RINVCMDLEN, "submit_sm ends before source_addr_ton")
    source_ton, source_npi = body[pos], body[pos + 1]
    source_addr, pos = _cstring(body, pos + 2, _ADDR_MAX, ESME_RINVSRCADR, "source_addr")
    if pos + 2 > len(body):
        raise PduError(ESME_RINVCMDLEN, "submit_sm ends before dest_addr_ton")
    dest_ton, dest_npi = body[pos], body[pos + 1]
    destination_addr, pos = _cstring(body, pos + 2, _ADDR_MAX, ESME_RINVDSTADR, "destination_addr")
    if pos + 3 > len(body):
        raise PduError(ESME_RINVCMDLEN, "submit_sm ends before esm_class")
    esm_class, protocol_id, priority_flag = body[pos], body[pos + 1], body[pos + 2]
    schedule, pos = _cstring(body, pos + 3, _TIME_MAX, ESME_RINVSCHED, "schedule_delivery_time")
    validity, pos = _cstring(body, pos, _TIME_MAX, ESME_RINVEXPIRY, "validity_period")
    if pos + 5 > len(body):
        raise PduError(ESME_RINVCMDLEN, "submit_sm ends before sm_length")
    registered_delivery, replace_if_present, data_coding, default_msg_id, sm_length = body[pos : pos + 5]
    pos += 5
    if pos + sm_length > len(body):
        raise PduError(ESME_RINVCMDLEN, f"sm_length {sm_length} runs past the end of the PDU")
    short_message = body[pos : pos + sm_length]
    pos += sm_length
    tlvs = parse_tlvs(body, pos) if pos < len(body) else {}
    return SubmitSm(
        service_type,
        source_ton,
        source_npi,
        source_addr,
        dest_ton,
        dest_npi,
        destination_addr,
        esm_class,
        protocol_id,
        priority_flag,
        schedule,
        validity,
        registered_delivery,
        replace_if_present,
        data_coding,
        default_msg_id,
        short_message,
        tlvs,
    )


@dataclass(frozen=True, slots=True)
class QuerySm:
    """§4.8.1 query_sm body."""

    message_id: str
    source_ton: int
    source_npi: int
    source_addr: str


def parse_query_sm(body: bytes) -> QuerySm:
    message_id, pos = _cstring(body, 0, _MESSAGE_ID_MAX, ESME_RINVMSGID, "message_id")
    if pos + 2 > len(body):
        raise PduError(ESME_RINVCMDLEN, "query_sm ends before source_addr_ton")
    source_addr, _ = _cstring(body, pos + 2, _ADDR_MAX, ESME_RINVSRCADR, "source_addr")
    return QuerySm(message_id, body[pos], body[pos + 1], source_addr)


def bind_resp(command_id: int, status: int, sequence: int, system_id: str) -> bytes:
    """§4.1.2: system_id plus sc_interface_version; no body at all when the bind failed."""
    if status != ESME_ROK:
        return pack(command_id | RESPONSE_BIT, status, sequence)
    body = cstring(system_id) + tlv(TAG_SC_INTERFACE_VERSION, bytes((INTERFACE_VERSION,)))
    return pack(command_id | RESPONSE_BIT, ESME_ROK, sequence, body)


def submit_sm_resp(status: int, sequence: int, message_id: str = "") -> bytes:
    """§4.4.2: "The submit_sm_resp PDU Body is not returned if the command_status field contains a
    non-zero value."""
    if status != ESME_ROK:
        return pack(SUBMIT_SM_RESP, status, sequence)
    return pack(SUBMIT_SM_RESP, ESME_ROK, sequence, cstring(message_id))


def query_sm_resp(status: int, sequence: int, message_id: str, final_date: str, state: int, error: int) -> bytes:
    """§4.8.2: message_id, final_date, message_state, error_code."""
    if status != ESME_ROK:
        return pack(QUERY_SM_RESP, status, sequence)
    body = cstring(message_id) + cstring(final_date) + bytes((state, error & 0xFF))
    return pack(QUERY_SM_RESP, ESME_ROK, sequence, body)


def generic_nack(status: int, sequence: int) -> bytes:
    return pack(GENERIC_NACK, status, sequence)


def deliver_sm_body(
    *,
    source_ton: int,
    source_npi: int,
    source_addr: str,
    dest_ton: int,
    dest_npi: int,
    destination_addr: str,
    esm_class: int,
    data_coding: int,
    short_message: bytes,
    tlvs: Iterable[bytes] = (),
    service_type: str = "",
    protocol_id: int = 0,
    priority_flag: int = 0,
) -> bytes:
    """§4.6.1 deliver_sm body (the header is added per send, since a resend takes a new sequence).

    schedule_delivery_time and validity_period must be NULL, and registered_delivery,
    replace_if_present_flag and sm_default_msg_id zero, in a deliver_sm.
    """
    if len(short_message) > 254:
        raise ValueError("short_message is at most 254 octets; use message_payload")
    return b"".join(
        (
            cstring(service_type),
            bytes((source_ton, source_npi)),
            cstring(source_addr),
            bytes((dest_ton, dest_npi)),
            cstring(destination_addr),
            bytes((esm_class, protocol_id, priority_flag)),
            b"\0\0",  # schedule_delivery_time, validity_period
            bytes((0, 0, data_coding, 0, len(short_message))),
            short_message,
            *tlvs,
        )
    )


def u16(value: int) -> bytes:
    return _U16.pack(value)
