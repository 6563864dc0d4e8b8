"""SMS over SMPP 3.4, for fallback and for tenants that also send plain SMS.

The PDUs are `smpplib`'s; smpplib is a blocking client, so each channel's bind lives in a thread
of its own that reads the socket, while submits are written from the event loop through a
one-thread writer. A submit waits for its `submit_sm_resp`, matched by sequence number. What the
SMSC delivers (receipts and MO) is handed to the platform and acknowledged with `deliver_sm_resp`
only once it is committed, so a crash makes the SMSC deliver it again instead of losing it.

A channel is `smpp://host:port` with settings `system_id` and `password` (and optionally
`system_type`); each chatbot on it is an SMS sender number (its carrier chatbot id), which is also
the destination the SMSC uses for receipts and MO sent to us.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlparse

import aiohttp
import smpplib.client
import smpplib.consts as sc
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp
from pydantic import Field, SecretStr

from msg5g.channels.base import (
    Capabilities,
    ChannelAdapter,
    ChannelEndpoint,
    ChatbotAccount,
    InboundSink,
    OutboundMessage,
    SendResult,
    WebhookRequest,
)
from msg5g.channels.config import AdapterConfig, ConfigModel
from msg5g.domain.content import TextContent, UplinkText
from msg5g.domain.errors import (
    ChannelAuthError,
    PermanentChannelError,
    RateLimited,
    TransientChannelError,
    WebhookRejected,
)
from msg5g.domain.messages import InboundMessage, MessageStatus, StatusReport, WebhookParseResult
from msg5g.kit.clock import utcnow
from msg5g.kit.phone import InvalidPhoneNumber, normalise_mobile

log = logging.getLogger(__name__)

DEFAULT_PORT = 2775
SUBMIT_TIMEOUT_SECONDS = 10.0
RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
ESM_DELIVERY_RECEIPT = 0x04  # SMPP 3.4 §5.2.12: message type "SMSC delivery receipt"
ESM_UDHI = 0x40
UDH_CONCAT_8BIT, UDH_CONCAT_16BIT = 0x00, 0x08
SEGMENT_MEMORY = 200_000  # segment id -> first segment id, for receipts of long messages
CREDENTIAL_ERRORS = {sc.SMPP_ESME_RINVPASWD, sc.SMPP_ESME_RINVSYSID}
THROTTLE_ERRORS = {sc.SMPP_ESME_RTHROTTLED, sc.SMPP_ESME_RMSGQFUL}
TRANSIENT_ERRORS = {sc.SMPP_ESME_RSYSERR, sc.SMPP_ESME_RX_T_APPN}
# SMPP 3.4 §5.2.28 message_state, and the stat: words of the customary receipt text (Appendix B).
RECEIPT_STATES: dict[str, tuple[MessageStatus, bool]] = {  # -> (status, is a failure)
    "DELIVRD": (MessageStatus.DELIVERED, False),
    "ACCEPTD": (MessageStatus.SENT, False),
    "ENROUTE": (MessageStatus.SENT, False),
    "EXPIRED": (MessageStatus.FAILED, True),
    "DELETED": (MessageStatus.FAILED, True),
    "UNDELIV": (MessageStatus.FAILED, True),
    "REJECTD": (MessageStatus.FAILED, True),
    "UNKNOWN": (MessageStatus.FAILED, True),
}
MESSAGE_STATE_NAMES = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD",
                       7: "UNKNOWN", 8: "REJECTD"}
_RECEIPT_FIELD = re.compile(r"(id|stat|err):(\S+)", re.IGNORECASE)


def _describe(status: int) -> str:
    return f"0x{status:08X} {sc.DESCRIPTIONS.get(status, 'unknown error')}"


def decode_short_message(data: bytes, data_coding: int) -> str:
    """The text of a short message by its data_coding (SMPP 3.4 §5.2.19)."""
    coding = data_coding & 0x0F if data_coding & 0xF0 == 0 else data_coding
    if coding == sc.SMPP_ENCODING_ISO10646:
        return data.decode("utf-16-be", errors="replace")
    if coding == sc.SMPP_ENCODING_ISO88591:
        return data.decode("latin-1")
    if coding == sc.SMPP_ENCODING_DEFAULT:
        return _gsm_decode(data)
    return data.decode("utf-8", errors="replace")


def _gsm_decode(data: bytes) -> str:
    # smpplib ships the GSM 03.38 table for encoding only; its inverse is a lookup.
    table = smpplib.gsm.GSM_CHARACTER_TABLE
    out: list[str] = []
    escape = False
    for byte in data:
        if escape:
            index = byte + 0x80
            out.append(table[index] if index < len(table) and table[index] != "`" else "?")
            escape = False
        elif byte == 0x1B:
            escape = True
        else:
            out.append(table[byte] if byte < 0x80 else "?")
    return "".join(out)


def split_udh(payload: bytes) -> tuple[tuple[int, int, int] | None, bytes]:
    """((reference, total, sequence) or None, text bytes) of a short message with a UDH."""
    if not payload:
        return None, payload
    length = payload[0]
    header, body = payload[1:1 + length], payload[1 + length:]
    position = 0
    while position + 2 <= len(header):
        ie, ie_length = header[position], header[position + 1]
        value = header[position + 2:position + 2 + ie_length]
        if ie == UDH_CONCAT_8BIT and ie_length == 3:
            return (value[0], value[1], value[2]), body
        if ie == UDH_CONCAT_16BIT and ie_length == 4:
            return ((value[0] << 8) | value[1], value[2], value[3]), body
        position += 2 + ie_length
    return None, body


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return "" if value is None else str(value)


class _LockedSequence(smpplib.client.SimpleSequenceGenerator):  # type: ignore[misc]
    """Sequence numbers are drawn from the reader thread (enquire_link) and the event loop."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def next_sequence(self) -> int:
        with self._lock:
            return int(super().next_sequence())


class _Client(smpplib.client.Client):  # type: ignore[misc]
    """smpplib answers deliver_sm as soon as its handler returns; we answer after our commit."""

    on_deliver: Callable[[Any], None]

    def _message_received(self, pdu: Any) -> None:
        self.on_deliver(pdu)


@dataclass(slots=True)
class SessionState:
    state: str = "connecting"  # connecting | bound | down | closed
    reason: str | None = None
    bound_since: float | None = None
    submits: int = 0
    credentials_refused: bool = False


@dataclass(slots=True)
class _Reassembly:
    parts: dict[int, str] = field(default_factory=dict)
    total: int = 0
    started: float = field(default_factory=time.monotonic)


class SmppSession:
    """One transceiver bind for one channel: its reader thread, writer, and pending submits."""

    def __init__(self, endpoint: ChannelEndpoint, loop: asyncio.AbstractEventLoop, inbound: InboundSink | None,
                 channel_type: str, timeout_seconds: float) -> None:
        parsed = urlparse(endpoint.base_url)
        if parsed.scheme != "smpp" or not parsed.hostname:
            raise PermanentChannelError(f"an SMPP channel's URL is smpp://host:port, not {endpoint.base_url!r}")
        self.endpoint = endpoint
        self._host, self._port = parsed.hostname, parsed.port or DEFAULT_PORT
        self._loop = loop
        self._inbound = inbound
        self._channel_type = channel_type
        self._timeout = timeout_seconds
        self.status = SessionState()
        self._settled = asyncio.Event()  # set once the first bind attempt has succeeded or failed
        self._client: _Client | None = None
        self._pending: dict[int, asyncio.Future[str]] = {}
        self._pending_lock = threading.Lock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"smpp-write-{endpoint.channel_id}")
        self._segments: OrderedDict[str, str] = OrderedDict()
        self._reassembly: dict[tuple[str, int], _Reassembly] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"smpp-read-{endpoint.channel_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    async def close(self) -> None:
        self._stop.set()
        client = self._client
        if client is not None and self.status.state == "bound":
            with contextlib.suppress(Exception):
                await self._loop.run_in_executor(self._writer, self._send_unbind, client)
        await asyncio.to_thread(self._thread.join, 5.0)
        self._writer.shutdown(wait=False)
        self.status.state = "closed"
        self._fail_pending(TransientChannelError("the SMPP session closed"))

    @staticmethod
    def _send_unbind(client: _Client) -> None:
        client.send_pdu(smpplib.smpp.make_pdu("unbind", client=client))

    # ---- the reader thread -----------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._connect_and_bind()
                failures = 0
                while not self._stop.is_set():
                    assert self._client is not None
                    self._client.read_once(auto_send_enquire_link=True)
            except smpplib.exceptions.PDUError as exc:
                code = exc.args[1] if len(exc.args) > 1 else None
                self._set_down(f"bind refused by the SMSC: {_describe(code)}" if isinstance(code, int)
                               else f"SMPP error: {exc}", credentials_refused=code in CREDENTIAL_ERRORS)
            except (smpplib.exceptions.ConnectionError, OSError) as exc:
                self._set_down(f"SMSC connection lost: {exc or type(exc).__name__}")
            except Exception as exc:
                log.exception("SMPP session failed", extra={"channel_id": self.endpoint.channel_id})
                self._set_down(f"SMPP session failed: {exc}")
            finally:
                self._disconnect()
            if self._stop.is_set():
                break
            self._stop.wait(RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)])
            failures += 1

    def _connect_and_bind(self) -> None:
        client = _Client(self._host, self._port, timeout=5, sequence_generator=_LockedSequence(),
                         allow_unknown_opt_params=True)
        client.on_deliver = self._on_deliver
        client.set_message_sent_handler(self._on_submit_resp)
        client.set_error_pdu_handler(lambda pdu: None)  # errors reach _on_submit_resp with their status
        settings = self.endpoint.settings
        client.connect()
        self._client = client
        client.bind_transceiver(system_id=str(settings.get("system_id", "")),
                                password=str(settings.get("password", "")),
                                system_type=str(settings.get("system_type", "")))
        self.status = SessionState(state="bound", bound_since=time.time())
        self._loop.call_soon_threadsafe(self._settled.set)
        log.info("SMPP bound", extra={"channel_id": self.endpoint.channel_id})

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.disconnect()

    def _set_down(self, reason: str, *, credentials_refused: bool = False) -> None:
        if self._stop.is_set():
            return
        if self.status.state != "down" or self.status.reason != reason:
            log.warning("SMPP channel down", extra={"channel_id": self.endpoint.channel_id, "reason": reason})
        self.status = SessionState(state="down", reason=reason, credentials_refused=credentials_refused)
        self._loop.call_soon_threadsafe(self._settled.set)
        self._fail_pending(TransientChannelError(reason))

    def _fail_pending(self, error: Exception) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            self._loop.call_soon_threadsafe(_settle, future, None, error)

    def _on_submit_resp(self, pdu: Any) -> None:
        with self._pending_lock:
            future = self._pending.pop(pdu.sequence, None)
        if future is None:
            return
        status = int(pdu.status or 0)
        if status == sc.SMPP_ESME_ROK:
            self._loop.call_soon_threadsafe(_settle, future, _text(pdu.message_id), None)
            return
        error: Exception
        detail = f"SMSC refused the submit: {_describe(status)}"
        if status in THROTTLE_ERRORS:
            error = RateLimited(detail, carrier_code=f"0x{status:02X}", retry_after=1.0)
        elif status in TRANSIENT_ERRORS:
            error = TransientChannelError(detail, carrier_code=f"0x{status:02X}")
        elif status in CREDENTIAL_ERRORS:
            error = ChannelAuthError(detail, carrier_code=f"0x{status:02X}")
        else:
            error = PermanentChannelError(detail, carrier_code=f"0x{status:02X}")
        self._loop.call_soon_threadsafe(_settle, future, None, error)

    def _on_deliver(self, pdu: Any) -> None:
        client = self._client
        try:
            chatbot, parsed = self._read_deliver(pdu)
        except Exception as exc:
            log.warning("unreadable deliver_sm acknowledged", extra={"reason": str(exc)})
            self._answer_deliver(client, pdu.sequence, sc.SMPP_ESME_ROK)
            return
        if parsed is None or self._inbound is None:
            self._answer_deliver(client, pdu.sequence, sc.SMPP_ESME_ROK)
            return
        future: concurrent.futures.Future[None] = asyncio.run_coroutine_threadsafe(
            self._inbound(self._channel_type, self.endpoint.channel_id, chatbot, parsed), self._loop)

        def answer(done: concurrent.futures.Future[None]) -> None:
            failed = done.cancelled() or done.exception() is not None
            if failed:
                log.warning("SMPP delivery not committed; the SMSC will redeliver",
                            extra={"channel_id": self.endpoint.channel_id})
            self._answer_deliver(client, pdu.sequence, sc.SMPP_ESME_RX_T_APPN if failed else sc.SMPP_ESME_ROK)

        future.add_done_callback(answer)

    def _answer_deliver(self, client: _Client | None, sequence: int, status: int) -> None:
        if client is None:
            return

        def write() -> None:
            response = smpplib.smpp.make_pdu("deliver_sm_resp", client=client, status=status)
            response.sequence = sequence
            client.send_pdu(response)

        with contextlib.suppress(RuntimeError):  # the writer is shut down when closing
            self._writer.submit(write)

    def _read_deliver(self, pdu: Any) -> tuple[str, WebhookParseResult | None]:
        """(our sender number it is addressed to, what it says)."""
        chatbot = _text(pdu.destination_addr)
        handset = _text(pdu.source_addr)
        result = WebhookParseResult()
        esm_class = int(pdu.esm_class or 0)
        if esm_class & ESM_DELIVERY_RECEIPT:
            report = self._receipt(pdu, handset)
            if report is not None:
                result.statuses.append(report)
            return chatbot, result
        text = self._mo_text(pdu, handset, esm_class)
        if text is None:
            return chatbot, None  # a segment of a longer message: acknowledged, held until complete
        try:
            sender = normalise_mobile(handset if handset.startswith("+") else "+" + handset)
        except InvalidPhoneNumber:
            raise WebhookRejected(f"MO from an unreadable number {handset!r}") from None
        result.inbound.append(InboundMessage(carrier_message_id=None, sender=sender, chatbot_address=chatbot,
                                             content=UplinkText(text=text), received_at=utcnow()))
        return chatbot, result

    def _receipt(self, pdu: Any, handset: str) -> StatusReport | None:
        fields = {k.lower(): v for k, v in _RECEIPT_FIELD.findall(_text(pdu.short_message))}
        message_id = _text(getattr(pdu, "receipted_message_id", None)) or fields.get("id", "")
        state_value = getattr(pdu, "message_state", None)
        state = MESSAGE_STATE_NAMES.get(int(state_value)) if state_value else fields.get("stat", "").upper()
        if not message_id or state not in RECEIPT_STATES:
            log.warning("unreadable delivery receipt", extra={"state": state})
            return None
        status, failed = RECEIPT_STATES[state]
        # A long message was several submits; receipts for later segments speak for the message.
        primary = self._segments.get(message_id, message_id)
        recipient = None
        with contextlib.suppress(InvalidPhoneNumber):
            recipient = normalise_mobile(handset if handset.startswith("+") else "+" + handset)
        reason = f"{state} err:{fields.get('err', '')}".strip() if failed else None
        return StatusReport(carrier_message_id=primary, status=status, recipient=recipient, reason=reason,
                            raw_status=state)

    def _mo_text(self, pdu: Any, handset: str, esm_class: int) -> str | None:
        data_coding = int(pdu.data_coding or 0)
        payload = getattr(pdu, "message_payload", None) or pdu.short_message or b""
        concat: tuple[int, int, int] | None = None
        if esm_class & ESM_UDHI:
            concat, payload = split_udh(payload)
        elif getattr(pdu, "sar_msg_ref_num", None) is not None:
            concat = (int(pdu.sar_msg_ref_num), int(pdu.sar_total_segments), int(pdu.sar_segment_seqnum))
        text = decode_short_message(payload, data_coding)
        if concat is None or concat[1] <= 1:
            return text
        reference, total, sequence = concat
        key = (handset, reference)
        assembly = self._reassembly.setdefault(key, _Reassembly(total=total))
        assembly.parts[sequence] = text
        if len(assembly.parts) < assembly.total:
            self._forget_stale_reassemblies()
            return None
        del self._reassembly[key]
        return "".join(assembly.parts[i] for i in sorted(assembly.parts))

    def _forget_stale_reassemblies(self) -> None:
        horizon = time.monotonic() - 600
        for key in [k for k, v in self._reassembly.items() if v.started < horizon]:
            del self._reassembly[key]

    # ---- the event loop --------------------------------------------------------------------------

    async def submit(self, source: str, destination: str, text: str) -> str:
        """Submit one message (several PDUs when long); returns the first segment's message id."""
        if not self._settled.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), timeout=self._timeout)
        client = self._client
        if self.status.state != "bound" or client is None:
            reason = self.status.reason or "the SMPP session is not bound"
            if self.status.credentials_refused:
                raise ChannelAuthError(reason)
            raise TransientChannelError(reason)
        parts, encoding, esm_class = smpplib.gsm.make_parts(text)
        pdus = [smpplib.smpp.make_pdu(
            "submit_sm", client=client,
            source_addr_ton=sc.SMPP_TON_UNK, source_addr_npi=sc.SMPP_NPI_ISDN, source_addr=source,
            dest_addr_ton=sc.SMPP_TON_INTL, dest_addr_npi=sc.SMPP_NPI_ISDN, destination_addr=destination,
            short_message=part, data_coding=encoding, esm_class=esm_class, registered_delivery=1,
        ) for part in parts]
        futures = [self._loop.create_future() for _ in pdus]
        with self._pending_lock:
            for pdu, future in zip(pdus, futures, strict=True):
                self._pending[pdu.sequence] = future
        try:
            await self._loop.run_in_executor(self._writer, _send_all, client, pdus)
        except (smpplib.exceptions.ConnectionError, OSError) as exc:
            self._forget(pdus)
            raise TransientChannelError(f"SMSC connection lost while submitting: {exc}") from exc
        try:
            ids = await asyncio.wait_for(asyncio.gather(*futures), timeout=SUBMIT_TIMEOUT_SECONDS)
        except TimeoutError:
            self._forget(pdus)
            raise TransientChannelError("no submit_sm_resp from the SMSC in time") from None
        self.status.submits += 1
        primary: str = ids[0]
        for other in ids[1:]:
            self._segments[other] = primary
        while len(self._segments) > SEGMENT_MEMORY:
            self._segments.popitem(last=False)
        return primary

    def _forget(self, pdus: list[Any]) -> None:
        with self._pending_lock:
            for pdu in pdus:
                self._pending.pop(pdu.sequence, None)


def _send_all(client: _Client, pdus: list[Any]) -> None:
    for pdu in pdus:
        client.send_pdu(pdu)


def _settle(future: asyncio.Future[str], value: str | None, error: Exception | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value or "")


class SmppSettings(AdapterConfig):
    """The ESME account at the SMSC (SMPP 3.4 §4.1: system_id <= 15, password <= 8 characters)."""

    system_id: str = Field(min_length=1, max_length=15)
    password: SecretStr = Field(min_length=1, max_length=8)
    system_type: str = Field(default="", max_length=12)


class SmppChannel(ChannelAdapter):
    type: ClassVar[str] = "smpp"
    display_name: ClassVar[str] = "SMS (SMPP 3.4)"
    capabilities: ClassVar[Capabilities] = Capabilities(rich_cards=False, carousels=False, suggestions=False,
                                                        files=False, sends_fallback_text=True)
    carrier_assigns_message_id: ClassVar[bool] = True
    persistent: ClassVar[bool] = True
    settings_model: ClassVar[ConfigModel] = SmppSettings
    url_schemes: ClassVar[tuple[str, ...]] = ("smpp",)

    def __init__(self, http: aiohttp.ClientSession, *, timeout_seconds: float = 10.0,
                 inbound: InboundSink | None = None) -> None:
        super().__init__(http, timeout_seconds=timeout_seconds, inbound=inbound)
        self._sessions: dict[str, SmppSession] = {}

    @classmethod
    def chatbot_address(cls, carrier_chatbot_id: str) -> str:
        return carrier_chatbot_id  # an SMS sender number

    def _session(self, endpoint: ChannelEndpoint) -> SmppSession:
        session = self._sessions.get(endpoint.channel_id)
        if session is None or session.endpoint != endpoint:
            if session is not None:
                asyncio.get_running_loop().create_task(session.close())  # settings changed: rebind
            session = SmppSession(endpoint, asyncio.get_running_loop(), self._inbound, self.type,
                                  self._timeout.total or 10.0)
            self._sessions[endpoint.channel_id] = session
            session.start()
        return session

    def health(self, channel_id: str) -> dict[str, Any] | None:
        session = self._sessions.get(channel_id)
        if session is None:
            return None
        status = session.status
        return {"state": status.state, "reason": status.reason, "bound_since": status.bound_since,
                "submits": status.submits}

    async def open(self, endpoint: ChannelEndpoint) -> None:
        self._session(endpoint)

    async def disconnect(self, channel_id: str) -> None:
        session = self._sessions.pop(channel_id, None)
        if session is not None:
            await session.close()

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)

    async def send(self, endpoint: ChannelEndpoint, account: ChatbotAccount, message: OutboundMessage) -> SendResult:
        if isinstance(message.content, TextContent) and not message.content.suggestions:
            text = message.content.text
        elif message.fallback_text:
            text = message.fallback_text
        else:
            raise PermanentChannelError("SMS carries text only, and this message has no fallback text")
        destination = message.recipient.lstrip("+")
        message_id = await self._session(endpoint).submit(account.carrier_chatbot_id, destination, text)
        return SendResult(carrier_message_id=message_id, accepted_at=utcnow(), carrier_status="ESME_ROK")

    # SMPP reports arrive on the bind, not over HTTP: the webhook entry points refuse everything.

    def webhook_chatbot(self, request: WebhookRequest) -> str | None:
        return None

    def authenticate_webhook(self, request: WebhookRequest, account: ChatbotAccount) -> None:
        raise WebhookRejected("SMPP channels take no HTTP callbacks", status=404)

    def parse_webhook(self, request: WebhookRequest) -> WebhookParseResult:
        raise WebhookRejected("SMPP channels take no HTTP callbacks", status=404)
