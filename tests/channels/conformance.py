"""The channel conformance suite's harness and its tables, one per carrier.

Every adapter is driven through its public interface against its own simulator over loopback: the
same cases (auth, each content kind, the error matrix, each callback) run for every table, so
adding a carrier means adding an adapter module, a simulator dialect and a table here.

The carrier's callbacks land on `CarrierInbox`, a real HTTP server that hands each request to the
adapter exactly as the gateway does (chatbot, authenticate, parse, reply), so a handshake or a
signature the adapter gets wrong fails here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import aiohttp
from aiohttp import web

from msg5g.channels import (
    ChannelAdapter,
    ChannelEndpoint,
    ChatbotAccount,
    OutboundMessage,
    SendResult,
    WebhookRequest,
)
from msg5g.channels.carriers.aggregator import AggregatorChannel
from msg5g.channels.carriers.cmcc import ChinaMobileChannel
from msg5g.channels.carriers.ctcc import ChinaTelecomChannel
from msg5g.channels.carriers.cucc import ChinaUnicomChannel
from msg5g.channels.carriers.maap_json import ChatbotJsonChannel
from msg5g.channels.carriers.smpp import SmppChannel
from msg5g.domain.content import (
    Card,
    CardMedia,
    CarouselContent,
    Content,
    FileContent,
    MediaFile,
    ReplySuggestion,
    RichCardContent,
    TextContent,
)
from msg5g.domain.errors import WebhookRejected
from msg5g.domain.messages import InboundMessage, MessageStatus, StatusReport, TrafficClass, WebhookParseResult
from msg5g.kit.ids import new_id
from msg5g.simulators import aggregator as agg_sim
from msg5g.simulators import cmcc as cmcc_sim
from msg5g.simulators import maapjson as json_sim
from msg5g.simulators import smsc as smsc_sim
from tests.conftest import ServeFn, free_port

IMAGE = MediaFile(url="https://media.example.com/a.jpg", content_type="image/jpeg", size=120_000, name="a.jpg")
THUMB = MediaFile(url="https://media.example.com/a-thumb.jpg", content_type="image/jpeg", size=9_000)


def sample_content(kind: str) -> Content:
    card = Card(title="账单提醒", description="本月应还 1,024.00 元",
                media=CardMedia(file=IMAGE, thumbnail=THUMB),
                suggestions=[ReplySuggestion(text="立即还款", postback_data="pay")])
    match kind:
        case "text":
            return TextContent(text="您好，您的验证码是 123456")
        case "text_with_suggestions":
            return TextContent(text="需要帮助吗？", suggestions=[ReplySuggestion(text="是", postback_data="yes"),
                                                               ReplySuggestion(text="否", postback_data="no")])
        case "file":
            return FileContent(file=IMAGE, thumbnail=THUMB)
        case "rich_card":
            return RichCardContent(card=card)
        case "carousel":
            return CarouselContent(cards=[card, card.model_copy(update={"title": "第二张"})])
    raise ValueError(kind)


RICH_KINDS = ("text", "text_with_suggestions", "file", "rich_card", "carousel")


@dataclass
class Received:
    request: WebhookRequest
    parsed: WebhookParseResult | None
    error: str | None
    status: int


@dataclass
class CarrierInbox:
    """Our side of the carrier's callbacks, served by aiohttp, parsed by the adapter under test."""

    adapter: ChannelAdapter | None = None
    account: ChatbotAccount | None = None
    root: str = ""
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        assert self.adapter is not None
        assert self.account is not None
        body = await request.read()
        subpath = request.path.removeprefix("/inbox/")
        incoming = WebhookRequest(method=request.method, subpath=subpath,
                                  headers={k.lower(): v for k, v in request.headers.items()},
                                  query=dict(request.query), body=body)
        try:
            chatbot = self.adapter.webhook_chatbot(incoming)
            if chatbot != self.account.carrier_chatbot_id:
                raise WebhookRejected(f"callback addressed to {chatbot!r}", status=404)
            self.adapter.authenticate_webhook(incoming, self.account)
            parsed = self.adapter.parse_webhook(incoming)
            reply = self.adapter.reply_to_webhook(incoming, self.account)
        except WebhookRejected as exc:
            self.received.append(Received(incoming, None, str(exc), exc.status))
            self.arrived.set()
            return web.Response(status=exc.status, text=str(exc))
        self.record(incoming, parsed, reply.status)
        return web.Response(status=reply.status, headers=dict(reply.headers), body=reply.body)

    def record(self, request: WebhookRequest, parsed: WebhookParseResult, status: int = 200) -> None:
        self.received.append(Received(request, parsed, None, status))
        self.arrived.set()

    def statuses(self) -> list[StatusReport]:
        return [s for r in self.received if r.parsed for s in r.parsed.statuses]

    def inbound(self) -> list[InboundMessage]:
        return [m for r in self.received if r.parsed for m in r.parsed.inbound]

    def errors(self) -> list[str]:
        return [r.error for r in self.received if r.error]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"carrier callbacks did not arrive; got {self.received}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), min(remaining, 0.2))


@dataclass
class Harness:
    table: CarrierTable
    adapter: ChannelAdapter
    endpoint: ChannelEndpoint
    account: ChatbotAccount
    sim_url: str
    http: aiohttp.ClientSession
    inbox: CarrierInbox

    async def sim(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, f"{self.sim_url}{path}", json=body) as response:
            try:
                return response.status, await response.json(content_type=None)
            except ValueError:
                return response.status, await response.text()

    async def send(self, content: Content, recipient: str = "+8613900000001", *, message_id: str | None = None,
                   account: ChatbotAccount | None = None, endpoint: ChannelEndpoint | None = None,
                   fallback_text: str | None = None) -> SendResult:
        message = OutboundMessage(message_id=message_id or new_id(), recipient=recipient, content=content,
                                  traffic_class=TrafficClass.NOTIFICATION, fallback_text=fallback_text)
        return await self.adapter.send(endpoint or self.endpoint, account or self.account, message)

    async def statuses_for(self, carrier_id: str, until: MessageStatus, timeout: float = 10.0) -> list[MessageStatus]:
        def reached() -> bool:
            return any(s.carrier_message_id == carrier_id and s.status == until for s in self.inbox.statuses())

        await self.inbox.wait_for(reached, timeout)
        return [s.status for s in self.inbox.statuses() if s.carrier_message_id == carrier_id]


class CarrierTable:
    """One carrier's row set: how to start its simulator and provoke each case."""

    type: ClassVar[str]
    kinds: ClassVar[tuple[str, ...]] = RICH_KINDS
    final_status: ClassVar[MessageStatus] = MessageStatus.DISPLAYED
    transient_fault: ClassVar[dict[str, Any]] = {"burst_5xx": 1}
    transient_cleared: ClassVar[dict[str, Any] | None] = None  # faults that end the transient case
    rate_limit_fault: ClassVar[dict[str, Any]] = {"tps_limit": 1}
    uplink_kinds: ClassVar[tuple[str, ...]] = ("text", "postback")
    has_tokens: ClassVar[bool] = False  # the carrier issues access tokens that expire
    # Whether a resend with the same message id is recognised by the carrier. SMPP has no client
    # message id on submit_sm, so an SMSC cannot tell a resend from a new message.
    recognises_repeats: ClassVar[bool] = True

    async def start(self, serve: ServeFn, http: aiohttp.ClientSession, inbox: CarrierInbox,
                    inbox_url: str) -> Harness:
        raise NotImplementedError

    def bad_credentials(self, harness: Harness) -> tuple[ChannelEndpoint, ChatbotAccount]:
        """The endpoint and account of the harness with one secret wrong."""
        raise NotImplementedError

    async def limit_rate(self, harness: Harness) -> None:
        status, body = await harness.sim("PUT", "/_sim/faults", self.rate_limit_fault)
        assert status == 200, body

    async def close(self) -> None:
        """Stop what `start` started outside the `serve` fixture."""

    def uplink_body(self, harness: Harness, kind: str) -> dict[str, Any]:
        if kind == "text":
            return {"chatbot_id": harness.account.carrier_chatbot_id, "text": "查询余额"}
        return {"chatbot_id": harness.account.carrier_chatbot_id,
                "postback": {"display_text": "立即还款", "data": "pay-1"}}

    async def refuse_permanently(self, harness: Harness, number: str) -> ChatbotAccount | None:
        """Arrange that a send to `number` is refused for good; may return the account to send with."""
        raise NotImplementedError


class ChinaMobileTable(CarrierTable):
    type = "cmcc"
    BOT = "125200401111528"

    async def start(self, serve: ServeFn, http: aiohttp.ClientSession, inbox: CarrierInbox,
                    inbox_url: str) -> Harness:
        sim_url = await serve(cmcc_sim.create_app(cmcc_sim.SimulatorSettings(
            chatbots=[cmcc_sim.ChatbotAccount(self.BOT, "iap-528", "pw-528", inbox_url)],
            faults=cmcc_sim.Faults(delivered_delay_ms=5, displayed_delay_ms=5))), None)
        account = ChatbotAccount(chatbot_id="bot-cmcc", carrier_chatbot_id=self.BOT,
                                 address=ChinaMobileChannel.chatbot_address(self.BOT),
                                 credentials={"app_id": "iap-528", "password": "pw-528"})
        endpoint = ChannelEndpoint(channel_id="ch-cmcc", type=self.type, base_url=sim_url)
        return Harness(self, ChinaMobileChannel(http), endpoint, account, sim_url, http, inbox)

    def bad_credentials(self, harness: Harness) -> tuple[ChannelEndpoint, ChatbotAccount]:
        account = harness.account
        return harness.endpoint, ChatbotAccount(account.chatbot_id, account.carrier_chatbot_id, account.address,
                                                {**account.credentials, "password": "wrong"})

    async def refuse_permanently(self, harness: Harness, number: str) -> ChatbotAccount | None:
        status, body = await harness.sim("PUT", f"/_sim/handsets/{number}", {"ported_out": True})
        assert status == 200, body
        return None


class AggregatorTable(CarrierTable):
    type = "aggregator"
    BOT = "agg-bot-7"
    APPID, APPKEY = "60001", "agg-secret"

    async def start(self, serve: ServeFn, http: aiohttp.ClientSession, inbox: CarrierInbox,
                    inbox_url: str) -> Harness:
        # protocol-choices.md: each chatbot's appid pushes to a URL that names the chatbot.
        sim_url = await serve(agg_sim.create_app(agg_sim.SimulatorSettings(
            accounts=[agg_sim.Account(self.APPID, self.APPKEY, f"{inbox_url}/{self.BOT}")],
            chatbots={self.BOT: self.APPID},
            faults=agg_sim.Faults(delivered_delay_ms=5, displayed_delay_ms=5))), None)
        account = ChatbotAccount(chatbot_id="bot-agg", carrier_chatbot_id=self.BOT, address=self.BOT,
                                 credentials={"appid": self.APPID, "appkey": self.APPKEY})
        endpoint = ChannelEndpoint(channel_id="ch-agg", type=self.type, base_url=sim_url)
        return Harness(self, AggregatorChannel(http), endpoint, account, sim_url, http, inbox)

    def bad_credentials(self, harness: Harness) -> tuple[ChannelEndpoint, ChatbotAccount]:
        account = harness.account
        return harness.endpoint, ChatbotAccount(account.chatbot_id, account.carrier_chatbot_id, account.address,
                                                {**account.credentials, "appkey": "wrong"})

    async def refuse_permanently(self, harness: Harness, number: str) -> ChatbotAccount | None:
        # Nothing to arrange: 192 numbers belong to no carrier the aggregator resells (code 201).
        return None


class _ChatbotJsonTable(CarrierTable):
    """China Telecom and China Unicom: one simulator package, two dialects."""

    dialect: ClassVar[str]
    adapter_type: ClassVar[type[ChatbotJsonChannel]]
    BOT: ClassVar[str]
    has_tokens = True

    async def start(self, serve: ServeFn, http: aiohttp.ClientSession, inbox: CarrierInbox,
                    inbox_url: str) -> Harness:
        sim_url = await serve(json_sim.create_app(json_sim.SimulatorSettings(
            dialect=self.dialect,  # type: ignore[arg-type]
            chatbots=[json_sim.ChatbotAccount(self.BOT, "xSnu0001", "app-key-1", "tok16chars", inbox_url)],
            faults=json_sim.Faults(delivered_delay_ms=5, displayed_delay_ms=5))), None)
        account = ChatbotAccount(chatbot_id=f"bot-{self.dialect}", carrier_chatbot_id=self.BOT,
                                 address=self.adapter_type.chatbot_address(self.BOT),
                                 credentials={"app_id": "xSnu0001", "app_key": "app-key-1",
                                              "notify_token": "tok16chars"})
        endpoint = ChannelEndpoint(channel_id=f"ch-{self.dialect}", type=self.type, base_url=sim_url)
        return Harness(self, self.adapter_type(http), endpoint, account, sim_url, http, inbox)

    def bad_credentials(self, harness: Harness) -> tuple[ChannelEndpoint, ChatbotAccount]:
        account = harness.account
        return harness.endpoint, ChatbotAccount("bot-other", account.carrier_chatbot_id, account.address,
                                                {**account.credentials, "app_key": "wrong"})

    async def limit_rate(self, harness: Harness) -> None:
        status, body = await harness.sim("PUT", f"/_sim/chatbots/{self.BOT}?verify=false", {
            "app_id": "xSnu0001", "app_key": "app-key-1", "notify_token": "tok16chars",
            "notify_url": harness.inbox.root, "tps_limit": 1})
        assert status in {200, 201}, body

    async def refuse_permanently(self, harness: Harness, number: str) -> ChatbotAccount | None:
        status, body = await harness.sim("PUT", f"/_sim/handsets/{number}", {"ported_out": True})
        assert status == 200, body
        return None


class ChinaTelecomTable(_ChatbotJsonTable):
    type = "ctcc"
    dialect = "ctcc"
    adapter_type = ChinaTelecomChannel
    BOT = "106598858810000006"


class ChinaUnicomTable(_ChatbotJsonTable):
    type = "cucc"
    dialect = "cucc"
    adapter_type = ChinaUnicomChannel
    BOT = "12580012011402"


class SmppTable(CarrierTable):
    """SMS: reports arrive on the bind, so the harness's sink plays the inbox."""

    type = "smpp"
    kinds = ("text",)
    final_status = MessageStatus.DELIVERED
    transient_fault: ClassVar[dict[str, Any]] = {"error_rate": 1.0}
    transient_cleared: ClassVar[dict[str, Any] | None] = {"error_rate": 0.0}
    rate_limit_fault: ClassVar[dict[str, Any]] = {"throttle_tps": 1}
    uplink_kinds = ("text",)
    recognises_repeats = False
    SENDER = "1069001"

    async def start(self, serve: ServeFn, http: aiohttp.ClientSession, inbox: CarrierInbox,
                    inbox_url: str) -> Harness:
        simulator = smsc_sim.SmscSimulator(smsc_sim.SmscSettings(
            accounts=[smsc_sim.SmscAccount("esme1", "pw1", service_numbers=(self.SENDER,))],
            faults=smsc_sim.Faults(dlr_delay_ms=5)))
        port = await simulator.start("127.0.0.1", 0)
        self._simulators.append(simulator)
        control_url = await serve(smsc_sim.create_control_app(simulator), None)

        async def sink(channel_type: str, channel_id: str, chatbot: str, parsed: WebhookParseResult) -> None:
            inbox.record(WebhookRequest(method="SMPP", subpath=chatbot, headers={}, query={}, body=b""), parsed)

        adapter = SmppChannel(http, inbound=sink)
        endpoint = ChannelEndpoint(channel_id="ch-smpp", type=self.type, base_url=f"smpp://127.0.0.1:{port}",
                                   settings={"system_id": "esme1", "password": "pw1"})
        account = ChatbotAccount(chatbot_id="bot-sms", carrier_chatbot_id=self.SENDER, address=self.SENDER,
                                 credentials={})
        await adapter.open(endpoint)
        return Harness(self, adapter, endpoint, account, control_url, http, inbox)

    def __init__(self) -> None:
        self._simulators: list[smsc_sim.SmscSimulator] = []

    async def close(self) -> None:
        for simulator in self._simulators:
            await simulator.close()
        self._simulators.clear()

    def bad_credentials(self, harness: Harness) -> tuple[ChannelEndpoint, ChatbotAccount]:
        endpoint = ChannelEndpoint(channel_id="ch-smpp-bad", type=self.type, base_url=harness.endpoint.base_url,
                                   settings={"system_id": "esme1", "password": "wrong"})
        return endpoint, harness.account

    async def refuse_permanently(self, harness: Harness, number: str) -> ChatbotAccount | None:
        # The SMSC refuses a sender number the account does not own (ESME_RINVSRCADR).
        status, body = await harness.sim("PUT", "/_sim/accounts/esme1", {
            "password": "pw1", "service_numbers": [self.SENDER], "check_source": True})
        assert status in {200, 201}, body
        return ChatbotAccount("bot-sms-2", "1069999", "1069999", {})

    def uplink_body(self, harness: Harness, kind: str) -> dict[str, Any]:
        return {"to": self.SENDER, "text": "查询余额"}


TABLES: list[CarrierTable] = [ChinaMobileTable(), ChinaTelecomTable(), ChinaUnicomTable(), AggregatorTable(),
                              SmppTable()]
PERMANENT_NUMBERS = {"aggregator": "+8619200000001"}


async def start_inbox() -> tuple[CarrierInbox, str, Callable[[], Awaitable[None]]]:
    inbox = CarrierInbox()
    app = web.Application()
    app.router.add_route("*", "/inbox/{tail:.*}", inbox.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return inbox, f"http://127.0.0.1:{port}/inbox", runner.cleanup
