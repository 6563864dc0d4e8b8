"""Raw-socket tests of the SMPP 3.4 SMSC simulator and its control API.

PDUs are packed by hand in `smpp_wire` (struct only), so the simulator's codec is checked against
an independent reading of the specification; one test drives it with smpplib as a real client.
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
import signal
import socket
import struct
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import uvicorn

from msg5g.simulators.smsc import ConfigError, Faults, SmscAccount, SmscSettings, SmscSimulator, create_control_app
from msg5g.simulators.smsc import __main__ as cli

from . import smpp_wire as w
from .conftest import _bound_socket, _PromptServer

ESME_ID = "msg5g"
ESME_PASSWORD = "secret1"
SERVICE = "1069001"
OTHER_ID = "other"
OTHER_PASSWORD = "pw2"
OTHER_SERVICE = "1069009"
USER = "8613800000001"

RECEIPT = re.compile(
    r"^id:(?P<id>[0-9a-f]+) sub:001 dlvrd:(?P<dlvrd>\d{3}) submit date:(?P<submit>\d{10}) "
    r"done date:(?P<done>\d{10}) stat:(?P<stat>[A-Z]{7}) err:(?P<err>\d{3}) text:(?P<text>.*)$"
)
CHINESE = "您好！这是一条来自五克消息平台的长短信，用于检验超长中文内容按照UCS2编码分段发送与重组是否正确。"


def ucs2(text: str) -> bytes:
    return text.encode("utf-16-be")


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@dataclass
class Smsc:
    simulator: SmscSimulator
    port: int
    base_url: str
    session: aiohttp.ClientSession
    esmes: list[w.Esme] = field(default_factory=list)

    async def control(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.base_url + path, json=payload) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def connect(self) -> w.Esme:
        esme = await w.Esme.connect(self.port)
        self.esmes.append(esme)
        return esme

    async def esme(self, mode: str = "transceiver", system_id: str = ESME_ID, password: str = ESME_PASSWORD) -> w.Esme:
        esme = await self.connect()
        resp = await esme.bind(mode, system_id, password)
        assert resp.status == w.ROK, hex(resp.status)
        return esme

    async def inbox(self, number: str = USER) -> list[dict[str, Any]]:
        status, body = await self.control("GET", f"/_sim/handsets/{number}/inbox")
        assert status == 200
        return list(body)

    async def stats(self) -> dict[str, Any]:
        status, body = await self.control("GET", "/_sim/stats")
        assert status == 200
        return dict(body)

    async def wait_stat(self, name: str, value: int, timeout: float = 3.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            stats = await self.stats()
            if stats[name] >= value or time.monotonic() > deadline:
                assert stats[name] == value, (name, stats[name], value)
                return stats
            await asyncio.sleep(0.02)


SmscFactory = Callable[..., Awaitable[Smsc]]


@pytest_asyncio.fixture
async def make_smsc() -> AsyncIterator[SmscFactory]:
    """Start simulators (SMPP and control API) on free loopback ports; keywords override settings."""
    started: list[tuple[Smsc, _PromptServer, asyncio.Task[None]]] = []

    async def start(**overrides: Any) -> Smsc:
        faults = overrides.pop("faults", {})
        overrides.setdefault("deliver_timeout_ms", 300.0)
        overrides.setdefault("deliver_retry_delay_ms", 20.0)
        settings = SmscSettings(
            accounts=[
                SmscAccount(ESME_ID, ESME_PASSWORD, (SERVICE,)),
                SmscAccount(OTHER_ID, OTHER_PASSWORD, (OTHER_SERVICE,)),
            ],
            faults=Faults(dlr_delay_ms=5).updated(faults),
            **overrides,
        )
        simulator = SmscSimulator(settings)
        port = await simulator.start("127.0.0.1", 0)
        config = uvicorn.Config(
            create_control_app(simulator), log_level="warning", access_log=False, ws="none", lifespan="off"
        )
        server = _PromptServer(config)
        sock = _bound_socket()
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("control API did not start")
            await asyncio.sleep(0.005)
        smsc = Smsc(simulator, port, f"http://127.0.0.1:{sock.getsockname()[1]}", aiohttp.ClientSession())
        started.append((smsc, server, task))
        return smsc

    try:
        yield start
    finally:
        for smsc, server, task in started:
            for esme in smsc.esmes:
                await esme.close()
            await smsc.session.close()
            server.should_exit = True
            server.stop_event.set()
            await task
            await smsc.simulator.close()


@pytest_asyncio.fixture
async def smsc(make_smsc: SmscFactory) -> Smsc:
    return await make_smsc()


# ---------------------------------------------------------------------- sessions


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("mode", "resp_id"),
    [("transmitter", 0x80000002), ("receiver", 0x80000001), ("transceiver", 0x80000009)],
)
async def test_bind_modes_answer_with_smsc_system_id(smsc: Smsc, mode: str, resp_id: int) -> None:
    esme = await smsc.connect()
    resp = await esme.bind(mode)
    assert (resp.command_id, resp.status) == (resp_id, w.ROK)
    system_id, rest = resp.body.split(b"\x00", 1)
    assert system_id == b"MSG5GSMSC"
    assert w.read_tlvs(rest) == {w.SC_INTERFACE_VERSION: b"\x34"}
    stats = await smsc.stats()
    assert stats["binds"] == 1
    assert stats[f"binds_{mode}"] == 1
    status, accounts = await smsc.control("GET", "/_sim/accounts")
    assert status == 200
    mine = next(a for a in accounts if a["system_id"] == ESME_ID)
    assert [s["mode"] for s in mine["sessions"]] == [mode]
    assert "password" not in mine


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [(ESME_ID, "wrong", w.RINVPASWD), ("nobody", ESME_PASSWORD, w.RINVSYSID), (ESME_ID, "", w.RINVPASWD)],
)
async def test_bind_refused_with_the_specific_status(smsc: Smsc, system_id: str, password: str, status: int) -> None:
    esme = await smsc.connect()
    resp = await esme.bind("transceiver", system_id, password)
    assert resp.command_id == 0x80000009
    assert resp.status == status
    assert resp.body == b""  # no body on a failed bind
    # Still in the open state: a correct bind on the same connection works.
    assert (await esme.bind("transceiver")).status == w.ROK
    stats = await smsc.stats()
    assert stats["bind_failures"] == 1
    assert stats["bind_failures_by_status"] == {f"0x{status:08X}": 1}


@pytest.mark.asyncio
async def test_refuse_bind_fault_and_already_bound(smsc: Smsc) -> None:
    assert (await smsc.control("PUT", "/_sim/faults", {"refuse_bind": True}))[0] == 200
    esme = await smsc.connect()
    assert (await esme.bind("transmitter")).status == w.RBINDFAIL
    await smsc.control("PUT", "/_sim/faults", {"refuse_bind": False})
    assert (await esme.bind("transmitter")).status == w.ROK
    assert (await esme.bind("receiver")).status == w.RALYBND


@pytest.mark.asyncio
async def test_commands_before_bind_and_on_the_wrong_bind(smsc: Smsc) -> None:
    esme = await smsc.connect()
    resp = await esme.submit(short_message=b"too early")
    assert (resp.command_id, resp.status, resp.body) == (0x80000004, w.RINVBNDSTS, b"")
    unbind = await esme.call(w.UNBIND)
    assert (unbind.command_id, unbind.status) == (w.UNBIND_RESP, w.RINVBNDSTS)
    receiver = await smsc.esme("receiver")
    resp = await receiver.submit(short_message=b"receivers cannot submit")
    assert resp.status == w.RINVBNDSTS
    assert (await smsc.stats())["submits_rejected"] == 2


@pytest.mark.asyncio
async def test_enquire_link_in_any_state_keeps_the_sequence(smsc: Smsc) -> None:
    esme = await smsc.connect()
    seq = await esme.send(w.ENQUIRE_LINK, sequence=0x7FFFFFF0)
    resp = await esme.read()
    assert (resp.command_id, resp.status, resp.sequence, resp.body) == (w.ENQUIRE_LINK_RESP, 0, seq, b"")
    await esme.bind()
    resp = await esme.call(w.ENQUIRE_LINK)
    assert (resp.command_id, resp.status) == (w.ENQUIRE_LINK_RESP, w.ROK)


@pytest.mark.asyncio
async def test_unknown_and_unsupported_commands_get_generic_nack(smsc: Smsc) -> None:
    esme = await smsc.esme()
    seq = await esme.send(0x00000999)
    nack = await esme.read()
    assert (nack.command_id, nack.status, nack.sequence) == (w.GENERIC_NACK, w.RINVCMDID, seq)
    seq = await esme.send(w.CANCEL_SM, w.cstr("") + w.cstr("1") + b"\x00\x00" + w.cstr("x") + b"\x00\x00" + w.cstr(""))
    nack = await esme.read()
    assert (nack.command_id, nack.status, nack.sequence) == (w.GENERIC_NACK, w.RINVCMDID, seq)
    # The session is still fine afterwards.
    assert (await esme.call(w.ENQUIRE_LINK)).status == w.ROK


@pytest.mark.asyncio
@pytest.mark.parametrize("length", [8, 15, 10_000_000])
async def test_bad_command_length_is_nacked_then_closed(smsc: Smsc, length: int) -> None:
    esme = await smsc.esme()
    await esme.send_raw(struct.pack(">IIII", length, w.SUBMIT_SM, 0, 77))
    data = await esme.closed_by_peer()
    assert data == struct.pack(">IIII", 16, w.GENERIC_NACK, w.RINVCMDLEN, 77)


@pytest.mark.asyncio
async def test_pdu_split_across_reads_and_many_in_one_read(smsc: Smsc) -> None:
    esme = await smsc.esme()
    frame = w.pack(w.SUBMIT_SM, 500, w.submit_body(short_message=b"split"))
    for i in range(len(frame)):
        await esme.send_raw(frame[i : i + 1])
    first = await esme.read()
    assert (first.sequence, first.status) == (500, w.ROK)
    batch = b"".join(w.pack(w.SUBMIT_SM, 600 + i, w.submit_body(short_message=b"batch")) for i in range(20))
    await esme.send_raw(batch + w.pack(w.ENQUIRE_LINK, 700))
    answers = [await esme.read() for _ in range(21)]
    assert sorted(p.sequence for p in answers) == [*range(600, 620), 700]
    assert len({w.message_id(p) for p in answers if p.command_id == 0x80000004}) == 20


@pytest.mark.asyncio
async def test_unbind_answers_then_closes(smsc: Smsc) -> None:
    esme = await smsc.esme()
    seq = await esme.send(w.UNBIND)
    data = await esme.closed_by_peer()
    assert data == struct.pack(">IIII", 16, w.UNBIND_RESP, w.ROK, seq)
    await smsc.wait_stat("sessions_bound", 0)
    assert (await smsc.stats())["unbinds"] == 1


# ---------------------------------------------------------------------- submit_sm


@pytest.mark.asyncio
async def test_gsm7_single_message_decoded_with_extension_table(smsc: Smsc) -> None:
    esme = await smsc.esme("transmitter")
    # "Hi @£$ Δ_ ñ§è {x}[€]^|" in GSM 03.38, unpacked, extension characters behind ESC (0x1B).
    septets = b"Hi \x00\x01\x02 \x10\x11 \x7d\x5f\x04 \x1b\x28x\x1b\x29\x1b\x3c\x1b\x65\x1b\x3e\x1b\x14\x1b\x40"
    resp = await esme.submit(short_message=septets, data_coding=0, source="1069001", dest=USER)
    assert resp.status == w.ROK
    message_id = w.message_id(resp)
    assert re.fullmatch(r"[0-9a-f]{1,64}", message_id)
    [entry] = await smsc.inbox()
    assert entry["text"] == "Hi @£$ Δ_ ñ§è {x}[€]^|"
    assert entry["data_coding"] == 0
    assert entry["segments"] == 1
    assert entry["concat"] is None
    assert entry["source_addr"] == SERVICE
    assert (entry["source_ton"], entry["source_npi"]) == (0, 1)
    assert entry["message_ids"] == [message_id]
    status, record = await smsc.control("GET", f"/_sim/messages/{message_id}")
    assert status == 200
    assert record["sm_length"] == len(septets)
    assert (record["dest_addr"], record["dest_ton"], record["dest_npi"]) == (USER, 1, 1)


@pytest.mark.asyncio
async def test_ucs2_latin1_and_binary_singles(smsc: Smsc) -> None:
    esme = await smsc.esme("transmitter")
    assert (await esme.submit(short_message=ucs2("你好，世界 😀"), data_coding=8)).status == w.ROK
    assert (await esme.submit(short_message="Grüße, café".encode("latin-1"), data_coding=3)).status == w.ROK
    assert (await esme.submit(short_message=b"\x00\xff\x10", data_coding=4)).status == w.ROK
    ucs, latin, binary = await smsc.inbox()
    assert (ucs["text"], ucs["data_coding"], ucs["alphabet"]) == ("你好，世界 😀", 8, "ucs2")
    assert (latin["text"], latin["data_coding"]) == ("Grüße, café", 3)
    assert (binary["text"], binary["payload_hex"], binary["alphabet"]) == (None, "00ff10", "binary")


@pytest.mark.asyncio
@pytest.mark.parametrize(("udh", "size"), [(w.udh8, 134), (w.udh16, 132)])
async def test_long_chinese_message_in_udh_segments_is_reassembled(
    smsc: Smsc, udh: Callable[[int, int, int], bytes], size: int
) -> None:
    esme = await smsc.esme("transmitter")
    parts = chunks(ucs2(CHINESE * 2), size)
    assert len(parts) >= 2
    ids = []
    # Out of order on purpose: a handset reassembles by sequence number, not arrival.
    order = list(range(len(parts)))[::-1]
    for index in order:
        short_message = udh(0xA7, len(parts), index + 1) + parts[index]
        # Full segments: 6 + 134 or 7 + 132 octets (UCS-2 cuts on an even octet).
        assert len(short_message) in (139, 140) or index == len(parts) - 1
        resp = await esme.submit(short_message=short_message, data_coding=8, esm_class=0x40)
        assert resp.status == w.ROK
        ids.append(w.message_id(resp))
        if index != order[-1]:
            assert await smsc.inbox() == []
    assert len(set(ids)) == len(parts)
    [entry] = await smsc.inbox()
    assert entry["text"] == CHINESE * 2
    assert entry["segments"] == len(parts)
    assert entry["concat"] == ("udh8" if size == 134 else "udh16")
    assert entry["message_ids"] == ids[::-1]
    assert entry["segment_data_codings"] == [8] * len(parts)
    assert entry["segment_lengths"] == [len(udh(0, 0, 0)) + len(p) for p in parts]
    stats = await smsc.stats()
    assert (stats["segments"], stats["messages"]) == (len(parts), 1)
    _, record = await smsc.control("GET", f"/_sim/messages/{ids[0]}")
    assert record["concat"] == {
        "scheme": entry["concat"],
        "ref": 0xA7,
        "total": len(parts),
        "seq": len(parts),
    }


@pytest.mark.asyncio
async def test_surrogate_pair_split_across_segments_survives(smsc: Smsc) -> None:
    esme = await smsc.esme("transmitter")
    text = "a" * 66 + "😀" + "b" * 10  # the emoji's two UTF-16 units straddle the 134-octet cut
    parts = chunks(ucs2(text), 134)
    for seq, part in enumerate(parts, start=1):
        resp = await esme.submit(short_message=w.udh8(9, len(parts), seq) + part, data_coding=8, esm_class=0x40)
        assert resp.status == w.ROK
    [entry] = await smsc.inbox()
    assert entry["text"] == text


@pytest.mark.asyncio
async def test_sar_tlv_segments_are_reassembled(smsc: Smsc) -> None:
    esme = await smsc.esme("transmitter")
    text = "SAR segmented message " * 12
    septets = text.encode("ascii")  # ASCII letters and spaces are the same in GSM 03.38
    parts = chunks(septets, 153)
    for seq, part in enumerate(parts, start=1):
        resp = await esme.submit(short_message=part, tlvs=w.sar(0x1234, len(parts), seq))
        assert resp.status == w.ROK
    [entry] = await smsc.inbox()
    assert (entry["text"], entry["segments"], entry["concat"]) == (text, len(parts), "sar")


@pytest.mark.asyncio
async def test_sar_tlvs_must_come_together(smsc: Smsc) -> None:
    esme = await smsc.esme("transmitter")
    partial = w.tlv(w.SAR_MSG_REF_NUM, b"\x00\x01") + w.tlv(w.SAR_TOTAL_SEGMENTS, b"\x02")
    assert (await esme.submit(short_message=b"x", tlvs=partial)).status == w.RMISSINGOPTPARAM
    assert (await esme.submit(short_message=b"x", tlvs=w.sar(1, 2, 3))).status == 0xC4  # RINVOPTPARAMVAL


@pytest.mark.asyncio
async def test_message_payload_carries_a_long_message_in_one_submit(smsc: Smsc) -> None:
    esme = await smsc.esme("transmitter")
    text = CHINESE * 4
    resp = await esme.submit(data_coding=8, tlvs=w.tlv(w.MESSAGE_PAYLOAD, ucs2(text)))
    assert resp.status == w.ROK
    [entry] = await smsc.inbox()
    assert (entry["text"], entry["segments"], entry["segment_lengths"]) == (text, 1, [0])
    _, record = await smsc.control("GET", f"/_sim/messages/{w.message_id(resp)}")
    assert record["message_payload"] is True
    assert record["payload_length"] == len(ucs2(text))
    both = await esme.submit(short_message=b"x", tlvs=w.tlv(w.MESSAGE_PAYLOAD, b"y"))
    assert both.status == w.RINVMSGLEN


@pytest.mark.asyncio
async def test_segment_size_limits(smsc: Smsc) -> None:
    esme = await smsc.esme("transmitter")
    assert (await esme.submit(short_message=b"\x00a" * 70, data_coding=8)).status == w.ROK
    assert (await esme.submit(short_message=b"\x00a" * 70 + b"\x00", data_coding=4)).status == w.RINVMSGLEN
    over = w.udh8(1, 2, 1) + b"\x00a" * 67 + b"\x00"  # 141 octets
    assert (await esme.submit(short_message=over, data_coding=8, esm_class=0x40)).status == w.RINVMSGLEN
    # GSM 03.38 travels unpacked: 160 septets fit one SMS, 161 do not; with a 6-octet UDH, 153.
    assert (await esme.submit(short_message=b"a" * 160)).status == w.ROK
    assert (await esme.submit(short_message=b"a" * 161)).status == w.RINVMSGLEN
    ok = w.udh8(2, 2, 1) + b"a" * 153
    assert (await esme.submit(short_message=ok, esm_class=0x40)).status == w.ROK
    too_long = w.udh8(3, 2, 1) + b"a" * 154
    assert (await esme.submit(short_message=too_long, esm_class=0x40)).status == w.RINVMSGLEN
    stats = await smsc.stats()
    assert stats["rejected_by_status"] == {"0x00000001": 4}


@pytest.mark.asyncio
async def test_malformed_submits_are_rejected(smsc: Smsc) -> None:
    esme = await smsc.esme("transmitter")
    assert (await esme.submit(dest="", short_message=b"x")).status == w.RINVDSTADR
    assert (await esme.submit(source="1" * 21, short_message=b"x")).status == w.RINVSRCADR
    bad_udh = bytes([9, 0, 3, 1, 2, 1])  # UDHL runs past the end
    assert (await esme.submit(short_message=bad_udh, esm_class=0x40)).status == w.RINVESMCLASS
    body = w.submit_body(short_message=b"abc")
    truncated = await esme.call(w.SUBMIT_SM, body[:-2])
    assert truncated.status == w.RINVCMDLEN
    bad_tlv = await esme.call(w.SUBMIT_SM, body + b"\x04\x24\x00")
    assert bad_tlv.status == 0xC0  # RINVOPTPARSTREAM


@pytest.mark.asyncio
async def test_check_source_restricts_source_addresses(smsc: Smsc) -> None:
    status, _ = await smsc.control(
        "PUT", "/_sim/accounts/strict", {"password": "pw", "service_numbers": ["10690"], "check_source": True}
    )
    assert status == 201
    esme = await smsc.esme("transmitter", "strict", "pw")
    assert (await esme.submit(source="1069055", short_message=b"ok")).status == w.ROK
    assert (await esme.submit(source="95588", short_message=b"no")).status == w.RINVSRCADR


@pytest.mark.asyncio
async def test_query_sm_reports_the_final_state(smsc: Smsc) -> None:
    esme = await smsc.esme("transmitter")
    message_id = w.message_id(await esme.submit(short_message=b"query me"))
    await asyncio.sleep(0.05)  # past dlr_delay_ms
    body = w.cstr(message_id) + bytes([0, 1]) + w.cstr(SERVICE)
    resp = await esme.call(w.QUERY_SM, body)
    assert resp.status == w.ROK
    got_id, final_date, rest = resp.body.split(b"\x00", 2)
    assert got_id.decode() == message_id
    assert re.fullmatch(rb"\d{12}\d00\+", final_date)
    assert rest == bytes([2, 0])  # DELIVERED, error 0
    missing = await esme.call(w.QUERY_SM, w.cstr("ffff") + bytes([0, 1]) + w.cstr(SERVICE))
    assert missing.status == w.RQUERYFAIL


# ---------------------------------------------------------------------- receipts


@pytest.mark.asyncio
async def test_one_receipt_per_segment_with_format_and_tlvs(smsc: Smsc) -> None:
    esme = await smsc.esme("transceiver")
    parts = chunks(ucs2(CHINESE * 2), 134)
    ids = []
    for seq, part in enumerate(parts, start=1):
        resp = await esme.submit(
            short_message=w.udh8(3, len(parts), seq) + part,
            data_coding=8,
            esm_class=0x40,
            registered_delivery=1,
            source="1069001",
            source_ton=0,
            source_npi=1,
            dest=USER,
            dest_ton=1,
            dest_npi=1,
        )
        ids.append(w.message_id(resp))
    # Each receipt quotes its own segment; Chinese is not ASCII and shows as '?' (receipts stay ASCII).
    quoted = {
        i: "".join(c if c.isascii() else "?" for c in p.decode("utf-16-be")[:20])
        for i, p in zip(ids, parts, strict=True)
    }
    assert quoted[ids[0]] == "?" * 20
    receipts = await esme.delivers(len(parts))
    assert sorted(r.tlvs[w.RECEIPTED_MESSAGE_ID] for r in receipts) == sorted(i.encode() + b"\x00" for i in ids)
    for receipt in receipts:
        assert receipt.esm_class == 0x04
        assert receipt.data_coding == 0
        # Addresses swap: the receipt comes from the handset to our service number.
        assert (receipt.source_addr, receipt.source_ton, receipt.source_npi) == (USER, 1, 1)
        assert (receipt.dest_addr, receipt.dest_ton, receipt.dest_npi) == (SERVICE, 0, 1)
        match = RECEIPT.match(receipt.text)
        assert match, receipt.text
        assert match["id"] == receipt.tlvs[w.RECEIPTED_MESSAGE_ID][:-1].decode()
        assert (match["stat"], match["err"], match["dlvrd"]) == ("DELIVRD", "000", "001")
        assert match["text"] == quoted[match["id"]]
        assert receipt.tlvs[w.MESSAGE_STATE] == b"\x02"
        assert w.NETWORK_ERROR_CODE not in receipt.tlvs
    stats = await smsc.wait_stat("receipts_acked", len(parts))
    assert stats["receipts_sent"] == len(parts)
    _, record = await smsc.control("GET", f"/_sim/messages/{ids[0]}")
    assert record["receipt"]["state"] == "acked"
    assert record["message_state"] == "DELIVERED"


@pytest.mark.asyncio
async def test_receipt_text_holds_the_first_20_characters(smsc: Smsc) -> None:
    esme = await smsc.esme()
    await esme.submit(short_message=b"Your code is 123456, valid 5 minutes", registered_delivery=1)
    [receipt] = await esme.delivers(1)
    match = RECEIPT.match(receipt.text)
    assert match
    assert match["text"] == "Your code is 123456,"
    now = time.gmtime()
    assert match["done"][:6] == time.strftime("%y%m%d", now)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("outcome", "stat", "state", "err"),
    [("undeliverable", "UNDELIV", 5, 1), ("expired", "EXPIRED", 3, 0), ("rejected", "REJECTD", 8, 0)],
)
async def test_handset_outcomes_shape_the_receipt(smsc: Smsc, outcome: str, stat: str, state: int, err: int) -> None:
    status, handset = await smsc.control("PUT", f"/_sim/handsets/{USER}", {"outcome": outcome})
    assert (status, handset["outcome"]) == (200, outcome)
    esme = await smsc.esme()
    await esme.submit(short_message=b"hello", registered_delivery=1)
    [receipt] = await esme.delivers(1)
    match = RECEIPT.match(receipt.text)
    assert match
    assert (match["stat"], int(match["err"]), match["dlvrd"]) == (stat, err, "000")
    assert receipt.tlvs[w.MESSAGE_STATE] == bytes([state])
    assert receipt.tlvs[w.NETWORK_ERROR_CODE] == bytes([3]) + struct.pack(">H", err)


@pytest.mark.asyncio
async def test_error_code_and_plus_prefixed_numbers(smsc: Smsc) -> None:
    await smsc.control("PUT", "/_sim/handsets/+8613800000002", {"outcome": "undeliverable", "error_code": 34})
    esme = await smsc.esme()
    await esme.submit(dest="+8613800000002", short_message=b"x", registered_delivery=1)
    [receipt] = await esme.delivers(1)
    assert " stat:UNDELIV err:034 " in receipt.text
    assert len(await smsc.inbox("8613800000002")) == 1


@pytest.mark.asyncio
async def test_failure_only_receipts_and_no_receipts(smsc: Smsc) -> None:
    await smsc.control("PUT", "/_sim/handsets/8613800000003", {"outcome": "undeliverable"})
    esme = await smsc.esme()
    await esme.submit(dest=USER, short_message=b"delivered, mode 2", registered_delivery=2)
    await esme.submit(dest=USER, short_message=b"no receipt asked", registered_delivery=0)
    await esme.submit(dest="8613800000003", short_message=b"failed, mode 2", registered_delivery=2)
    [receipt] = await esme.delivers(1)
    assert "stat:UNDELIV" in receipt.text
    await esme.nothing_for(0.1)


@pytest.mark.asyncio
async def test_unacknowledged_receipt_is_sent_again_with_a_new_sequence(smsc: Smsc) -> None:
    esme = await smsc.esme()
    await esme.submit(short_message=b"retry me", registered_delivery=1)
    [first] = await esme.delivers(1, ack=False)
    [second] = await esme.delivers(1, timeout=2.0, ack=False)  # after deliver_timeout_ms (300 ms)
    assert second.short_message == first.short_message
    assert second.sequence != first.sequence
    await esme.ack(second)
    stats = await smsc.wait_stat("receipts_acked", 1)
    assert (stats["receipts_sent"], stats["receipts_resent"], stats["deliver_timeouts"]) == (1, 1, 1)
    # A late answer to the first copy is not an error, just unexpected.
    await esme.ack(first)
    await smsc.wait_stat("unexpected_responses", 1)


@pytest.mark.asyncio
async def test_negative_deliver_sm_resp_retries_then_gives_up(make_smsc: SmscFactory) -> None:
    smsc = await make_smsc(deliver_retries=2)
    esme = await smsc.esme()
    await esme.submit(short_message=b"x", registered_delivery=1)
    for _ in range(3):
        [receipt] = await esme.delivers(1, ack=False)
        await esme.ack(receipt, status=w.RX_T_APPN)
    await esme.nothing_for(0.15)
    stats = await smsc.wait_stat("receipts_failed", 1)
    assert stats["deliver_negative_responses"] == 3
    # A permanent refusal is not retried at all.
    await esme.submit(short_message=b"y", registered_delivery=1)
    [receipt] = await esme.delivers(1, ack=False)
    await esme.ack(receipt, status=w.RX_P_APPN)
    await smsc.wait_stat("receipts_failed", 2)
    await esme.nothing_for(0.1)


@pytest.mark.asyncio
async def test_receipts_wait_for_a_receiver_and_follow_the_account(smsc: Smsc) -> None:
    transmitter = await smsc.esme("transmitter")
    resp = await transmitter.submit(short_message=b"stored", registered_delivery=1)
    await smsc.wait_stat("queued_deliveries", 1)
    other = await smsc.esme("receiver", OTHER_ID, OTHER_PASSWORD)
    receiver = await smsc.esme("receiver")
    [receipt] = await receiver.delivers(1)
    assert receipt.tlvs[w.RECEIPTED_MESSAGE_ID] == w.message_id(resp).encode() + b"\x00"
    await other.nothing_for(0.1)


@pytest.mark.asyncio
async def test_receipts_of_a_dropped_receiver_go_to_the_next_bind(smsc: Smsc) -> None:
    first = await smsc.esme("receiver")
    transmitter = await smsc.esme("transmitter")
    await transmitter.submit(short_message=b"x", registered_delivery=1)
    [unacked] = await first.delivers(1, ack=False)
    await first.close()
    second = await smsc.esme("receiver")
    [again] = await second.delivers(1)
    assert again.short_message == unacked.short_message
    await smsc.wait_stat("receipts_acked", 1)


@pytest.mark.asyncio
async def test_deliver_window_bounds_unacknowledged_deliver_sm(make_smsc: SmscFactory) -> None:
    smsc = await make_smsc(deliver_window=3, deliver_timeout_ms=5000.0)
    esme = await smsc.esme()
    for i in range(8):
        await esme.submit(short_message=f"m{i}".encode(), registered_delivery=1)
    held = await esme.delivers(3, ack=False)
    await esme.nothing_for(0.1)
    assert (await smsc.stats())["queued_deliveries"] == 5
    for receipt in held:
        await esme.ack(receipt)
    rest = await esme.delivers(5)
    assert len({r.tlvs[w.RECEIPTED_MESSAGE_ID] for r in held + rest}) == 8


# ---------------------------------------------------------------------- MO


@pytest.mark.asyncio
async def test_mo_gsm7_to_the_owner_of_the_service_number(smsc: Smsc) -> None:
    receiver = await smsc.esme("receiver")
    other = await smsc.esme("receiver", OTHER_ID, OTHER_PASSWORD)
    status, result = await smsc.control(
        "POST", f"/_sim/handsets/+{USER}/uplink", {"to": SERVICE + "88", "text": "TD {stop} €5"}
    )
    assert status == 200, result
    assert (result["system_id"], result["segments"], result["receiver_bound"]) == (ESME_ID, 1, True)
    [mo] = await receiver.delivers(1)
    assert (mo.esm_class, mo.data_coding) == (0, 0)
    assert (mo.source_addr, mo.source_ton, mo.source_npi) == (USER, 1, 1)
    assert mo.dest_addr == SERVICE + "88"
    assert mo.short_message == b"TD \x1b\x28stop\x1b\x29 \x1b\x655"
    assert mo.tlvs == {}
    await other.nothing_for(0.1)
    await smsc.wait_stat("mo_segments_acked", 1)
    _, handset = await smsc.control("GET", f"/_sim/handsets/{USER}")
    assert handset["uplinks"][0]["acked"] is True


@pytest.mark.asyncio
async def test_long_ucs2_mo_is_segmented_with_udh(smsc: Smsc) -> None:
    receiver = await smsc.esme("transceiver")
    text = CHINESE * 3
    status, result = await smsc.control("POST", f"/_sim/handsets/{USER}/uplink", {"to": SERVICE, "text": text})
    assert status == 200
    count = result["segments"]
    assert count == -(-len(ucs2(text)) // 134)
    parts = await receiver.delivers(count)
    refs = set()
    for seq, part in enumerate(parts, start=1):
        assert (part.esm_class, part.data_coding) == (0x40, 8)
        udhl, iei, iedl, ref, total, number = part.short_message[:6]
        assert (udhl, iei, iedl, total, number) == (5, 0x00, 3, count, seq)
        assert len(part.short_message) <= 140
        refs.add(ref)
    assert len(refs) == 1
    assert b"".join(p.short_message[6:] for p in parts).decode("utf-16-be") == text


@pytest.mark.asyncio
@pytest.mark.parametrize("concat", ["udh16", "sar", "payload"])
async def test_mo_concatenation_schemes(smsc: Smsc, concat: str) -> None:
    receiver = await smsc.esme("receiver")
    text = "Long MO reply that needs more than one segment to travel. " * 4
    status, result = await smsc.control(
        "POST", f"/_sim/handsets/{USER}/uplink", {"to": SERVICE, "text": text, "concat": concat}
    )
    assert status == 200, result
    parts = await receiver.delivers(result["segments"])
    if concat == "payload":
        [only] = parts
        assert only.short_message == b""
        assert only.tlvs[w.MESSAGE_PAYLOAD].decode("ascii") == text
    elif concat == "udh16":
        assert all(p.esm_class == 0x40 and p.short_message[:2] == b"\x06\x08" for p in parts)
        assert all(len(p.short_message) - 7 <= 152 for p in parts)
        assert b"".join(p.short_message[7:] for p in parts).decode("ascii") == text
    else:
        assert [p.tlvs[w.SAR_SEGMENT_SEQNUM] for p in parts] == [bytes([i]) for i in range(1, len(parts) + 1)]
        assert {p.tlvs[w.SAR_TOTAL_SEGMENTS] for p in parts} == {bytes([len(parts)])}
        assert len({p.tlvs[w.SAR_MSG_REF_NUM] for p in parts}) == 1
        assert all(p.esm_class == 0 for p in parts)
        assert b"".join(p.short_message for p in parts).decode("ascii") == text


@pytest.mark.asyncio
async def test_mo_waits_for_a_receiver_and_bad_requests(smsc: Smsc) -> None:
    status, result = await smsc.control("POST", f"/_sim/handsets/{USER}/uplink", {"to": OTHER_SERVICE, "text": "hi"})
    assert (status, result["receiver_bound"], result["system_id"]) == (200, False, OTHER_ID)
    assert (await smsc.control("POST", f"/_sim/handsets/{USER}/uplink", {"to": "95588", "text": "x"}))[0] == 404
    assert (await smsc.control("POST", f"/_sim/handsets/{USER}/uplink", {"to": SERVICE}))[0] == 400
    bad = {"to": SERVICE, "text": "中文", "data_coding": 0}
    assert (await smsc.control("POST", f"/_sim/handsets/{USER}/uplink", bad))[0] == 400
    assert (await smsc.control("POST", f"/_sim/handsets/{USER}/uplink", [1]))[0] == 400
    receiver = await smsc.esme("transceiver", OTHER_ID, OTHER_PASSWORD)
    [mo] = await receiver.delivers(1)
    assert mo.short_message == b"hi"


# ---------------------------------------------------------------------- faults


@pytest.mark.asyncio
async def test_throttle_tps_answers_throttled_over_the_rate(smsc: Smsc) -> None:
    await smsc.control("PUT", "/_sim/faults", {"throttle_tps": 5})
    esme = await smsc.esme("transmitter")
    frames = b"".join(w.pack(w.SUBMIT_SM, 100 + i, w.submit_body(short_message=b"burst")) for i in range(30))
    await esme.send_raw(frames)
    answers = [await esme.read() for _ in range(30)]
    accepted = [p for p in answers if p.status == w.ROK]
    throttled = [p for p in answers if p.status == w.RTHROTTLED]
    assert 5 <= len(accepted) <= 6
    assert len(accepted) + len(throttled) == 30
    assert all(p.body == b"" for p in throttled)
    await asyncio.sleep(0.25)  # about one token back at 5/s
    assert (await esme.submit(short_message=b"later")).status == w.ROK
    assert (await smsc.stats())["faults_injected"]["throttled"] == len(throttled)


@pytest.mark.asyncio
async def test_error_rate_and_submit_latency(smsc: Smsc) -> None:
    esme = await smsc.esme("transmitter")
    await smsc.control("PUT", "/_sim/faults", {"error_rate": 1.0})
    assert (await esme.submit(short_message=b"x")).status == w.RSYSERR
    await smsc.control("PUT", "/_sim/faults", {"error_rate": 0, "submit_latency_ms": 150})
    started = time.monotonic()
    frames = b"".join(w.pack(w.SUBMIT_SM, 10 + i, w.submit_body(short_message=b"slow")) for i in range(10))
    await esme.send_raw(frames)
    answers = [await esme.read() for _ in range(10)]
    elapsed = time.monotonic() - started
    assert all(p.status == w.ROK for p in answers)
    # Delays overlap (windowing): ten slow answers take about one delay, not ten.
    assert 0.14 <= elapsed < 1.0
    # The message was accepted at once; only the answer waited.
    assert len(await smsc.inbox()) == 10


@pytest.mark.asyncio
async def test_drop_connection_next_closes_without_an_answer(smsc: Smsc) -> None:
    await smsc.control("PUT", "/_sim/faults", {"drop_connection_next": 1})
    esme = await smsc.esme("transmitter")
    await esme.send(w.SUBMIT_SM, w.submit_body(short_message=b"lost"))
    assert await esme.closed_by_peer() == b""
    again = await smsc.esme("transmitter")
    assert (await again.submit(short_message=b"fine")).status == w.ROK
    _, faults = await smsc.control("GET", "/_sim/faults")
    assert faults["drop_connection_next"] == 0
    assert len(await smsc.inbox()) == 1


@pytest.mark.asyncio
async def test_dlr_delay_fault(smsc: Smsc) -> None:
    await smsc.control("PUT", "/_sim/faults", {"dlr_delay_ms": 300})
    esme = await smsc.esme()
    started = time.monotonic()
    await esme.submit(short_message=b"x", registered_delivery=1)
    await esme.delivers(1)
    assert time.monotonic() - started >= 0.29


@pytest.mark.asyncio
async def test_fault_validation(smsc: Smsc) -> None:
    for bad in ({"error_rate": 2}, {"refuse_bind": 1}, {"nope": 1}, {"drop_connection_next": -1}):
        status, body = await smsc.control("PUT", "/_sim/faults", bad)
        assert status == 400, bad
        assert "error" in body
    status, faults = await smsc.control("GET", "/_sim/faults")
    assert faults == Faults(dlr_delay_ms=5).as_dict()


# ---------------------------------------------------------------------- throughput


@pytest.mark.asyncio
async def test_a_window_of_thousands_of_submits_is_answered_and_receipted(smsc: Smsc) -> None:
    # Behaviour under a deep window only: how fast is measured by `make bench`, not asserted here.
    count = 6000
    receiver = await smsc.esme("receiver")
    transmitter = await smsc.esme("transmitter")
    acked = 0

    async def ack_receipts() -> None:
        # Acks every receipt until cancelled: on a loaded machine the SMSC may resend one whose ack it
        # waited too long for, so the receipts seen can exceed `count` before every one is acked.
        nonlocal acked
        buffer = b""
        while True:
            chunk = await receiver.reader.read(65536)
            if not chunk:
                return
            buffer += chunk
            out = []
            while len(buffer) >= 16:
                length, command_id, _, seq = struct.unpack_from(">IIII", buffer)
                if len(buffer) < length:
                    break
                buffer = buffer[length:]
                if command_id == w.DELIVER_SM:
                    out.append(w.pack(w.DELIVER_SM_RESP, seq, b"\x00"))
                    acked += 1
            receiver.writer.write(b"".join(out))

    acker = asyncio.create_task(ack_receipts())
    frames = [
        w.pack(w.SUBMIT_SM, i + 1, w.submit_body(dest=f"86139{i:08d}", short_message=b"load", registered_delivery=1))
        for i in range(count)
    ]
    # Many outstanding submits: the whole run is one window.
    transmitter.writer.write(b"".join(frames))
    ok = 0
    buffer = b""
    while ok < count:
        buffer += await asyncio.wait_for(transmitter.reader.read(1 << 16), 10)
        while len(buffer) >= 16:
            length, command_id, status, _ = struct.unpack_from(">IIII", buffer)
            if len(buffer) < length:
                break
            assert (command_id, status) == (0x80000004, w.ROK)
            buffer = buffer[length:]
            ok += 1
    # A loaded machine (the suite runs in two processes) acks slowly: a generous wait, no timing asserted.
    try:
        stats = await smsc.wait_stat("receipts_acked", count, timeout=90.0)
    finally:
        acker.cancel()
    assert acked >= count
    assert stats["submits_accepted"] == count
    assert sum(stats["accepted_per_second"].values()) == count


# ---------------------------------------------------------------------- control API


@pytest.mark.asyncio
async def test_control_api_accounts_handsets_messages(smsc: Smsc) -> None:
    status, body = await smsc.control("GET", "/_sim/healthz")
    assert (status, body["status"], body["smpp_port"]) == (200, "ok", smsc.port)
    status, account = await smsc.control(
        "PUT", "/_sim/accounts/newbie", {"password": "pw", "service_numbers": ["1065"]}
    )
    assert (status, account["service_numbers"]) == (201, ["1065"])
    status, _ = await smsc.control("PUT", "/_sim/accounts/newbie", {"password": "pw2"})
    assert status == 200
    esme = await smsc.esme("transceiver", "newbie", "pw2")
    assert (await smsc.control("PUT", "/_sim/accounts/toolong", {"password": "123456789"}))[0] == 400
    assert (await smsc.control("PUT", "/_sim/accounts/x", {"service_numbers": ["1"]}))[0] == 400
    assert (await smsc.control("DELETE", "/_sim/accounts/newbie"))[0] == 204
    await esme.closed_by_peer()
    assert (await smsc.control("DELETE", "/_sim/accounts/newbie"))[0] == 404
    assert (await smsc.control("PUT", f"/_sim/handsets/{USER}", {"outcome": "lost"}))[0] == 400
    assert (await smsc.control("PUT", f"/_sim/handsets/{USER}", {"error_code": 1000}))[0] == 400
    assert (await smsc.control("PUT", f"/_sim/handsets/{USER}", {"colour": "red"}))[0] == 400
    assert (await smsc.control("GET", "/_sim/messages/nope"))[0] == 404
    status, handset = await smsc.control("GET", "/_sim/handsets/8613999999999")
    assert (status, handset["outcome"], handset["inbox_count"]) == (200, "delivered", 0)


@pytest.mark.asyncio
async def test_pending_segments_visible_and_reset(smsc: Smsc) -> None:
    esme = await smsc.esme("transmitter")
    resp = await esme.submit(short_message=w.udh8(5, 3, 2) + ucs2("半条"), data_coding=8, esm_class=0x40)
    _, handset = await smsc.control("GET", f"/_sim/handsets/{USER}")
    assert handset["pending"] == [{"concat": "udh8", "total": 3, "received": [2], "message_ids": [w.message_id(resp)]}]
    await smsc.control("PUT", f"/_sim/handsets/{USER}", {"outcome": "expired"})
    await smsc.control("PUT", "/_sim/faults", {"throttle_tps": 100})
    status, _ = await smsc.control("POST", "/_sim/reset")
    assert status == 200
    stats = await smsc.stats()
    assert (stats["submits"], stats["pending_assemblies"], stats["sessions_bound"]) == (0, 0, 1)
    _, handset = await smsc.control("GET", f"/_sim/handsets/{USER}")
    assert handset["outcome"] == "expired"  # kept unless asked
    assert (await smsc.control("GET", "/_sim/faults"))[1]["throttle_tps"] == 100
    await smsc.control("POST", "/_sim/reset", {"faults": True, "handsets": True})
    assert (await smsc.control("GET", f"/_sim/handsets/{USER}"))[1]["outcome"] == "delivered"
    assert (await smsc.control("GET", "/_sim/faults"))[1]["throttle_tps"] == 0
    # The bound session survived both resets.
    assert (await esme.submit(short_message=b"after reset")).status == w.ROK


@pytest.mark.asyncio
async def test_reassembly_restarts_when_a_reference_is_reused_with_another_total(smsc: Smsc) -> None:
    esme = await smsc.esme("transmitter")
    await esme.submit(short_message=w.udh8(7, 3, 1) + b"\x00a", data_coding=8, esm_class=0x40)
    await esme.submit(short_message=w.udh8(7, 2, 1) + b"\x00b", data_coding=8, esm_class=0x40)
    await esme.submit(short_message=w.udh8(7, 2, 2) + b"\x00c", data_coding=8, esm_class=0x40)
    [entry] = await smsc.inbox()
    assert entry["text"] == "bc"
    assert (await smsc.stats())["reassembly_abandoned"] == 1


# ---------------------------------------------------------------------- settings and CLI


def test_simulator_imports_no_client_library_and_nothing_else_from_msg5g() -> None:
    package = Path(__file__).parents[2] / "src" / "msg5g" / "simulators" / "smsc"
    imported: set[str] = set()
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module)
    assert not {name for name in imported if name.split(".")[0] in {"smpplib", "msg5g"}}
    third_party = {name.split(".")[0] for name in imported} - set(sys.stdlib_module_names)
    assert third_party <= {"starlette", "uvicorn", "uvloop", "orjson"}


def test_settings_and_flags() -> None:
    account = SmscAccount.from_flag("esme:pw:1069001,1069002")
    assert account.service_numbers == ("1069001", "1069002")
    assert account.owns("10690021234") == 7
    for bad in ("justid", "a:b:c:d", "x" * 16 + ":pw", "id:123456789", "id:pw:12ab"):
        with pytest.raises(ConfigError):
            SmscAccount.from_flag(bad)
    with pytest.raises(ConfigError):
        SmscSettings(default_outcome="lost")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        SmscSettings.from_mapping({"unknown": 1})
    with pytest.raises(ConfigError):
        SmscSettings(accounts=[SmscAccount("a", "b"), SmscAccount("a", "c")])


def test_cli_builds_settings_from_flags_and_file(tmp_path: Path) -> None:
    config = tmp_path / "smsc.json"
    config.write_text(
        json.dumps(
            {
                "accounts": [{"system_id": "fromfile", "password": "pw", "service_numbers": ["1066"]}],
                "handsets": {"8613800000009": "rejected"},
                "faults": {"throttle_tps": 50},
            }
        )
    )
    args = cli._parser().parse_args(
        ["--config", str(config), "--account", "flag:pw:1069", "--dlr-delay-ms", "10", "--seed", "3"]
    )
    settings = cli.build_settings(args)
    assert [a.system_id for a in settings.accounts] == ["fromfile", "flag"]
    assert (settings.faults.throttle_tps, settings.faults.dlr_delay_ms, settings.random_seed) == (50, 10, 3)
    assert settings.handsets == {"8613800000009": "rejected"}
    assert cli.main(["--account", "bad"]) == 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.asyncio
async def test_cli_runs_both_listeners_and_stops_on_sigint() -> None:
    smpp_port, http_port = _free_port(), _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "msg5g.simulators.smsc",
        "--smpp-port",
        str(smpp_port),
        "--http-port",
        str(http_port),
        "--account",
        "cli:pw:1069",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 15)
        assert f"SMPP on 127.0.0.1:{smpp_port}" in line.decode()
        esme = await w.Esme.connect(smpp_port)
        assert (await esme.bind("transmitter", "cli", "pw")).status == w.ROK
        assert (await esme.submit(short_message=b"via cli")).status == w.ROK
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{http_port}/_sim/stats") as response:
                        stats = await response.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            assert stats["submits_accepted"] == 1
        await esme.close()
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# ---------------------------------------------------------------------- a real client


@pytest.mark.asyncio
async def test_smpplib_client_sends_long_chinese_and_reads_receipts(smsc: Smsc) -> None:
    reason = "smpplib is not installed (the SMS channel adds it as a dependency)"
    smpp_client = pytest.importorskip("smpplib.client", reason=reason)
    smpp_gsm = pytest.importorskip("smpplib.gsm", reason=reason)

    text = CHINESE * 2

    def run() -> tuple[list[Any], list[Any]]:
        client = smpp_client.Client("127.0.0.1", smsc.port, allow_unknown_opt_params=True)
        sent: list[Any] = []
        received: list[Any] = []
        client.set_message_sent_handler(lambda pdu, **_: sent.append(pdu))
        client.set_message_received_handler(lambda pdu, **_: received.append(pdu))
        client.connect()
        try:
            client.bind_transceiver(system_id=ESME_ID, password=ESME_PASSWORD)
            parts, coding, esm_class = smpp_gsm.make_parts(text)
            for part in parts:
                client.send_message(
                    source_addr_ton=0,
                    source_addr_npi=1,
                    source_addr=SERVICE,
                    dest_addr_ton=1,
                    dest_addr_npi=1,
                    destination_addr=USER,
                    short_message=part,
                    data_coding=coding,
                    esm_class=esm_class,
                    registered_delivery=True,
                )
            while len(sent) < len(parts) or len(received) < len(parts):
                client.read_once()
            client.unbind()
        finally:
            client.disconnect()
        return sent, received

    sent, received = await asyncio.to_thread(run)
    ids = sorted(p.message_id.decode() for p in sent)
    assert sorted(p.receipted_message_id.decode() for p in received) == ids
    assert all(b"stat:DELIVRD" in p.short_message for p in received)
    [entry] = await smsc.inbox()
    assert entry["text"] == text
    assert entry["segments"] == len(ids)
    assert sorted(entry["message_ids"]) == ids
    await smsc.wait_stat("receipts_acked", len(ids))
