"""Fixtures for the carrier simulators: a real uvicorn server, a CSP receiver, hand-built wire data.

Everything here is an independent second reading of /work/shared/reference/protocols.md: the
XML and the Basic header are built by hand, never with the simulator's own wire helpers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.utils
import hashlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

import aiohttp
import pytest_asyncio
import uvicorn
from aiohttp import web
from lxml import etree
from yarl import URL

from msg5g.simulators.cmcc import ChatbotAccount, Faults, SimulatorSettings, create_app

NS_MSG = "urn:oma:xml:rest:netapi:messaging:1"
NS_COMMON = "urn:oma:xml:rest:netapi:common:1"
DOMAIN = "botplatform.rcs.chinamobile.com"

BOT_ID = "125200401111528"
BOT_APP_ID = "125200401111528"
BOT_PASSWORD = "pa55-word-528"
OTHER_BOT_ID = "125200401111999"
OTHER_APP_ID = "iap_other"
OTHER_PASSWORD = "other-secret"
USER = "+8613800000001"


def bot_uri(chatbot_id: str = BOT_ID) -> str:
    return f"sip:{chatbot_id}@{DOMAIN}"


def rfc1123(offset_seconds: float = 0.0) -> str:
    return email.utils.formatdate(time.time() + offset_seconds, usegmt=True)


def cmcc_basic(app_id: str, password: str, date: str) -> str:
    """§1.8 by hand: Basic base64(appId:hex(sha256(hex(sha256(password)) + Date)))."""
    token = hashlib.sha256(password.encode()).hexdigest()
    signed = hashlib.sha256((token + date).encode()).hexdigest()
    return "Basic " + base64.b64encode(f"{app_id}:{signed}".encode()).decode()


def check_basic(header: str | None, date: str | None, app_id: str, password: str) -> bool:
    if not header or not date:
        return False
    return header == cmcc_basic(app_id, password, date)


def outbound_xml(
    *,
    destinations: list[str] | None = None,
    sender: str | None = None,
    content_type: str = "text/plain",
    body: str = "Hello World",
    message_id: str | None = None,
    client_correlator: str | None = None,
    reports: list[str] | None = None,
    flattened: bool = False,
    cdata: bool = False,
    content_encoding: str | None = None,
    extra_im: str = "",
) -> bytes:
    """§1.1 outboundMessageRequest, nested (default) or flattened."""
    dests = destinations if destinations is not None else [f"tel:{USER}"]
    head = "".join(f"<destinationAddress>{d}</destinationAddress>" for d in dests)
    if dests:
        head = f"<address>{dests[0]}</address>" + head
    head += f"<senderAddress>{escape(sender or bot_uri())}</senderAddress>"
    if client_correlator:
        head += f"<clientCorrelator>{client_correlator}</clientCorrelator>"
    body_xml = f"<![CDATA[{body}]]>" if cdata else escape(body)
    im = ""
    if message_id:
        im += f"<messageId>{message_id}</messageId>"
    im += f"<contentType>{escape(content_type)}</contentType>"
    if content_encoding:
        im += f"<contentEncoding>{content_encoding}</contentEncoding>"
    im += (
        "<conversationID>conv-1</conversationID><contributionID>contrib-1</contributionID>"
        "<serviceCapability><capabilityId>ChatbotSA</capabilityId>"
        "<version>+g.gsma.rcs.botversion=&quot;#=1&quot;</version></serviceCapability>"
        f"<bodyText>{body_xml}</bodyText>"
    )
    im += "".join(f"<reportRequest>{r}</reportRequest>" for r in (reports or []))
    im += extra_im
    inner = im if flattened else f"<outboundIMMessage>{im}</outboundIMMessage>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<msg:outboundMessageRequest xmlns:msg="{NS_MSG}">{head}{inner}</msg:outboundMessageRequest>'
    ).encode()


def multipart(parts: list[tuple[str, str, str | None]], boundary: str = "next", length: str | None = None) -> str:
    """§1.1 multipart body; `length` overrides every Content-Length (e.g. a placeholder)."""
    out = []
    for content_type, payload, disposition in parts:
        lines = [f"--{boundary}", f"Content-Type: {content_type}"]
        if disposition:
            lines.append(f"Content-Disposition: {disposition}")
        lines.append(f"Content-Length: {length if length is not None else len(payload.encode())}")
        out.append("\r\n".join(lines) + "\r\n\r\n" + payload)
    return "\r\n".join(out) + f"\r\n--{boundary}--\r\n"


def xml_root(body: bytes) -> etree._Element:
    return etree.fromstring(body)


def child_text(element: etree._Element, path: str) -> str | None:
    found = element.find(path)
    return None if found is None else found.text


@dataclass
class Received:
    kind: str
    chatbot_id: str
    headers: dict[str, str]
    body: bytes
    auth_ok: bool

    @property
    def root(self) -> etree._Element:
        return etree.fromstring(self.body)

    def delivery(self) -> dict[str, str | None]:
        info = self.root.find("deliveryInfo")
        assert info is not None
        return {c.tag: c.text for c in info}

    def inbound(self) -> dict[str, str | None]:
        message = self.root.find("inboundMessage")
        assert message is not None
        return {c.tag: c.text for c in message if isinstance(c.tag, str)}


@dataclass
class CspReceiver:
    """A tiny CSP: records every notification and checks its Basic auth against the accounts."""

    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    # Statuses to answer with, consumed one per request; 204 when empty.
    plan: list[int] = field(default_factory=list)
    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)
    _event: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        chatbot_id = request.match_info["chatbot_id"]
        app_id, password = self.accounts.get(chatbot_id, ("", ""))
        headers = dict(request.headers)
        ok = check_basic(headers.get("Authorization"), headers.get("Date"), app_id, password)
        self.received.append(Received(request.match_info["kind"], chatbot_id, headers, await request.read(), ok))
        self._event.set()
        status = self.plan.pop(0) if self.plan else 204
        return web.Response(status=status)

    def of(self, kind: str) -> list[Received]:
        return [r for r in self.received if r.kind == kind]

    def deliveries(self) -> list[Received]:
        return self.of("DeliveryInfoNotification")

    def inbounds(self) -> list[Received]:
        return self.of("InboundMessageNotification")

    async def wait_for(self, kind: str, count: int, timeout: float = 3.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.of(kind)) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"expected {count} {kind}, got {len(self.of(kind))}")
            self._event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), remaining)
        return self.of(kind)


def _bound_socket() -> socket.socket:
    # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets of such a
    # listener, and without it every keep-alive response stalls 40 ms on delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest_asyncio.fixture
async def csp() -> AsyncIterator[CspReceiver]:
    receiver = CspReceiver(accounts={BOT_ID: (BOT_APP_ID, BOT_PASSWORD), OTHER_BOT_ID: (OTHER_APP_ID, OTHER_PASSWORD)})
    app = web.Application()
    app.router.add_post("/csp/{kind}/{chatbot_id}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = _bound_socket()
    site = web.SockSite(runner, sock)
    await site.start()
    receiver.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


class _PromptServer(uvicorn.Server):
    """uvicorn.Server whose main loop ends as soon as asked (the stock one polls every 100 ms)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stop_event = asyncio.Event()

    async def main_loop(self) -> None:
        await self.stop_event.wait()


@dataclass
class Sim:
    """A running simulator plus a client session to talk to it."""

    base_url: str
    session: aiohttp.ClientSession
    server: uvicorn.Server
    app: Any

    def downlink_url(self, chatbot: str = BOT_ID, *, encoded: bool = False, family: str = "v1") -> URL:
        uri = bot_uri(chatbot)
        shown = quote(uri, safe="") if encoded else uri
        return URL(f"{self.base_url}/messaging/{family}/outbound/{shown}/requests", encoded=True)

    async def send(
        self,
        xml: bytes,
        *,
        chatbot: str = BOT_ID,
        app_id: str = BOT_APP_ID,
        password: str = BOT_PASSWORD,
        date: str | None = None,
        content_type: str = "application/xml",
        auth: str | None = "auto",
        url: URL | None = None,
        timeout: float | None = None,
    ) -> tuple[int, bytes, dict[str, str]]:
        date = date or rfc1123()
        headers = {"Date": date, "Content-Type": content_type}
        if auth == "auto":
            headers["Authorization"] = cmcc_basic(app_id, password, date)
        elif auth is not None:
            headers["Authorization"] = auth
        client_timeout = aiohttp.ClientTimeout(total=timeout) if timeout else None
        async with self.session.post(
            url or self.downlink_url(chatbot), data=xml, headers=headers, timeout=client_timeout
        ) as response:
            return response.status, await response.read(), dict(response.headers)

    async def control(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.base_url + path, json=payload) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()


SimFactory = Callable[..., Awaitable[Sim]]


@pytest_asyncio.fixture
async def make_sim(csp: CspReceiver) -> AsyncIterator[SimFactory]:
    """Start simulators on free loopback ports; keyword arguments override SimulatorSettings."""
    started: list[tuple[_PromptServer, asyncio.Task[None], aiohttp.ClientSession]] = []

    async def start(**overrides: Any) -> Sim:
        faults = overrides.pop("faults", {})
        settings = SimulatorSettings(
            chatbots=[
                ChatbotAccount(BOT_ID, BOT_APP_ID, BOT_PASSWORD, csp.base_url + "/csp"),
                ChatbotAccount(OTHER_BOT_ID, OTHER_APP_ID, OTHER_PASSWORD, csp.base_url + "/csp"),
            ],
            faults=Faults(delivered_delay_ms=5, displayed_delay_ms=5).updated(faults),
            notify_backoff_ms=5,
            notify_workers=8,
            **overrides,
        )
        app = create_app(settings)
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, ws="none", lifespan="on", timeout_graceful_shutdown=1
        )
        server = _PromptServer(config)
        sock = _bound_socket()
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("simulator did not start")
            await asyncio.sleep(0.005)
        session = aiohttp.ClientSession()
        started.append((server, task, session))
        return Sim(f"http://127.0.0.1:{sock.getsockname()[1]}", session, server, app)

    try:
        yield start
    finally:
        for server, task, session in started:
            await session.close()
            server.should_exit = True
            server.stop_event.set()
            await task


@pytest_asyncio.fixture
async def sim(make_sim: SimFactory) -> Sim:
    return await make_sim()
