"""The channel-adapter interface.

An adapter speaks one carrier dialect. It maps the unified model (`msg5g.domain.content`) to the
carrier's wire format on the way down and the carrier's notifications back into
`StatusReport` / `InboundMessage` on the way up. It raises the `ChannelError` subclasses from
`msg5g.domain.errors`, which is what the pipeline's retry policy keys on. Adapters hold no
per-tenant state of their own: every call names the channel endpoint and chatbot account it is for.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import aiohttp

from msg5g.channels.config import ConfigModel, NoConfig
from msg5g.domain.applications import CarrierAudit, ChatbotFiling, CustomerFiling, DeveloperCredentials
from msg5g.domain.chatbots import ChatbotInfo
from msg5g.domain.content import CarouselContent, Content, FileContent, RichCardContent
from msg5g.domain.errors import PermanentChannelError
from msg5g.domain.media import NO_MEDIA, MediaLimits, MediaUpload, MediaUploadResult
from msg5g.domain.messages import TrafficClass, WebhookParseResult


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a channel carries; a message is checked against them before it is accepted."""

    rich_cards: bool = True
    carousels: bool = True
    suggestions: bool = True
    files: bool = True
    max_recipients_per_request: int = 1
    sends_per_second: int | None = None
    # A channel that carries text only (SMS) sends a rich message's fallback text instead.
    sends_fallback_text: bool = False

    def refusal(self, content: Content, fallback_text: str | None) -> str | None:
        """Why this channel cannot carry the content, or None."""
        if self.sends_fallback_text and fallback_text:
            return None
        missing = []
        if isinstance(content, RichCardContent) and not self.rich_cards:
            missing.append("rich cards")
        if isinstance(content, CarouselContent) and not self.carousels:
            missing.append("carousels")
        if isinstance(content, FileContent) and not self.files:
            missing.append("files")
        has_suggestions = bool(content.suggestions) or (
            isinstance(content, RichCardContent) and bool(content.card.suggestions)) or (
            isinstance(content, CarouselContent) and any(c.suggestions for c in content.cards))
        if has_suggestions and not self.suggestions:
            missing.append("suggestions")
        if not missing:
            return None
        hint = " (give fallback_text to send it as text)" if self.sends_fallback_text else ""
        return f"this chatbot's channel does not carry {', '.join(missing)}{hint}"


@dataclass(frozen=True, slots=True)
class ChannelEndpoint:
    """A carrier endpoint plus the CSP's own credentials for it."""

    channel_id: str
    type: str
    base_url: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class ChatbotAccount:
    """One chatbot on one channel: its carrier id, URI and its own API credentials."""

    chatbot_id: str  # our id
    carrier_chatbot_id: str
    address: str  # e.g. sip:125200401111528@botplatform.rcs.chinamobile.com
    credentials: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    message_id: str  # our id; goes out as the carrier messageId so a resend is recognisable
    recipient: str  # E.164
    content: Content
    traffic_class: TrafficClass
    fallback_text: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    carrier_message_id: str
    accepted_at: datetime
    carrier_status: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """A carrier callback as the gateway received it, before any parsing."""

    method: str
    subpath: str  # the part of the URL path after /webhooks/{type}/{channel_id}/
    headers: Mapping[str, str]  # lower-cased names
    query: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """What the gateway answers a carrier callback with, once it is applied.

    Most carriers only want a 2xx; some handshakes (CT/CU `notifyPath`) want headers echoed back.
    """

    status: int = 204
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


# How a connection-oriented channel (SMPP) hands what arrives on its connection to the platform:
# (channel type, channel id, carrier chatbot id, parsed reports and uplinks). It returns once they
# are committed, so the adapter acknowledges to the carrier only what is safe.
InboundSink = Callable[[str, str, str, WebhookParseResult], Coroutine[Any, Any, None]]


class ChannelAdapter(abc.ABC):
    type: ClassVar[str]
    display_name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    chatbot_domain: ClassVar[str] = ""
    # The carrier whose subscribers this channel reaches (kit/carriers.py), or None for any
    # (an aggregator, SMS through an SMSC that routes to every network).
    carrier: ClassVar[str | None] = None
    # What a channel of this type and a chatbot on it are configured with (channels/config.py),
    # and the URL schemes its base URL may use.
    settings_model: ClassVar[ConfigModel] = NoConfig
    credentials_model: ClassVar[ConfigModel] = NoConfig
    url_schemes: ClassVar[tuple[str, ...]] = ("http", "https")
    # Whether the carrier answers a send with a message id of its own (which its reports then
    # use) rather than our id. Reports can then arrive before we know the id they name.
    carrier_assigns_message_id: ClassVar[bool] = False

    # The files the carrier hosts for a chatbot, per material kind; NO_MEDIA: the channel carries none.
    media_limits: ClassVar[MediaLimits] = NO_MEDIA
    # Whether the carrier audits templates itself (submit_template); otherwise the platform's own
    # checks approve a template for a chatbot on this channel (docs/protocol-choices.md).
    audits_templates: ClassVar[bool] = False
    # Whether the platform keeps the chatbot's public information at the carrier (submit_chatbot_info)
    # or an operator does in the carrier's own console (CMCC, aggregators: docs/protocol-choices.md).
    manages_chatbot_info: ClassVar[bool] = False
    # Whether the platform can apply for chatbots through the carrier's CSP management API (§3.4:
    # CT and CU), given the channel's CSP credentials (`applications_refusal`).
    manages_applications: ClassVar[bool] = False

    # A channel that keeps a connection to the carrier (SMPP) rather than taking HTTP callbacks:
    # the platform opens it at start so that uplinks arrive before anything is sent.
    persistent: ClassVar[bool] = False

    def __init__(self, http: aiohttp.ClientSession, *, timeout_seconds: float = 10.0,
                 inbound: InboundSink | None = None) -> None:
        self._http = http
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._inbound = inbound

    async def open(self, endpoint: ChannelEndpoint) -> None:  # noqa: B027 - optional hook
        """Connect a persistent channel (no-op for HTTP channels)."""

    def health(self, channel_id: str) -> dict[str, Any] | None:
        """What this process knows of the channel's connection, where it keeps one."""
        return None

    async def disconnect(self, channel_id: str) -> None:  # noqa: B027 - optional hook
        """Drop a persistent channel's connection (it was disabled)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections this adapter holds."""

    @classmethod
    def chatbot_address(cls, carrier_chatbot_id: str) -> str:
        """The chatbot's URI on this carrier (protocols.md §0: sip:{chatbotId}@{domain})."""
        return f"sip:{carrier_chatbot_id}@{cls.chatbot_domain}"

    @abc.abstractmethod
    async def send(self, endpoint: ChannelEndpoint, account: ChatbotAccount, message: OutboundMessage) -> SendResult:
        """Hand one message to the carrier. Raises ChannelError subclasses."""

    async def send_group(self, endpoint: ChannelEndpoint, account: ChatbotAccount, message: OutboundMessage,
                         recipients: list[str]) -> dict[str, SendResult]:
        """One request to many recipients of identical content (`capabilities.max_recipients_per_request`);
        `message.message_id` is the group's id. Returns each recipient's result; a ChannelError means
        the whole request failed. Adapters without group sends raise NotImplementedError."""
        raise NotImplementedError

    async def revoke(self, endpoint: ChannelEndpoint, account: ChatbotAccount, carrier_message_id: str,
                     recipient: str) -> None:
        """Ask the carrier to recall a message it has not delivered yet. The outcome arrives later,
        as a RevokeReport in a callback. Raises ChannelError subclasses."""
        raise PermanentChannelError(f"{self.display_name} cannot recall messages")

    async def upload_media(self, endpoint: ChannelEndpoint, account: ChatbotAccount,
                           upload: MediaUpload) -> MediaUploadResult:
        """Upload a material for one chatbot. Its audit result arrives later as a MediaAuditReport
        naming one of `audit_refs`. Raises ChannelError subclasses."""
        raise PermanentChannelError(f"{self.display_name} carries no media")

    async def delete_media(self, endpoint: ChannelEndpoint, account: ChatbotAccount, delete_ref: str) -> None:
        """Remove an uploaded file from the carrier (`MediaUploadResult.delete_ref`)."""
        raise PermanentChannelError(f"{self.display_name} carries no media")

    async def submit_template(self, endpoint: ChannelEndpoint, account: ChatbotAccount, name: str,
                              sample: OutboundMessage) -> str:
        """Submit a template (rendered with its samples) for the carrier's audit; returns the
        carrier's template id, which its TemplateAuditReport names. Only when `audits_templates`."""
        raise PermanentChannelError(f"{self.display_name} does not audit templates")

    async def submit_chatbot_info(self, endpoint: ChannelEndpoint, account: ChatbotAccount, info: ChatbotInfo) -> int:
        """Send the chatbot's information and menu for the carrier's audit; returns how many audit results
        (ChatbotInfoReport) will come back for it. Only when `manages_chatbot_info`."""
        raise PermanentChannelError(f"{self.display_name} chatbots are managed in the carrier's console")

    # ---- applying for chatbots (§3.4); only when `manages_applications` ---------------------------

    def applications_refusal(self, endpoint: ChannelEndpoint) -> str | None:
        """Why chatbots cannot be applied for on this channel (its CSP credentials missing), or None."""
        return f"{self.display_name} chatbots are applied for in the carrier's own console"

    async def register_customer(self, endpoint: ChannelEndpoint, filing: CustomerFiling) -> str:
        """Register the enterprise as the carrier's customer (or send a corrected record for an earlier
        filing); returns the carrier's customer number. Its audit is asked with `customer_audit`."""
        raise PermanentChannelError(self.applications_refusal(endpoint) or "not supported")

    async def customer_audit(self, endpoint: ChannelEndpoint, customer_ref: str) -> CarrierAudit:
        raise PermanentChannelError(self.applications_refusal(endpoint) or "not supported")

    async def apply_chatbot(self, endpoint: ChannelEndpoint, filing: ChatbotFiling) -> str:
        """Apply for a chatbot of an approved customer; returns the carrier's reference for it."""
        raise PermanentChannelError(self.applications_refusal(endpoint) or "not supported")

    async def chatbot_audit(self, endpoint: ChannelEndpoint, chatbot_ref: str) -> CarrierAudit:
        raise PermanentChannelError(self.applications_refusal(endpoint) or "not supported")

    async def bring_online(self, endpoint: ChannelEndpoint, chatbot_ref: str) -> None:
        raise PermanentChannelError(self.applications_refusal(endpoint) or "not supported")

    async def configure_developer(self, endpoint: ChannelEndpoint, chatbot_ref: str, callback_url: str,
                                  token: str) -> DeveloperCredentials:
        """Tell the carrier where the chatbot's callbacks go and the token that signs them; returns the
        chatbot's API credentials."""
        raise PermanentChannelError(self.applications_refusal(endpoint) or "not supported")

    def preview(self, account: ChatbotAccount, message: OutboundMessage) -> bytes:
        """The body this adapter would send for the message: what a template preview shows."""
        raise NotImplementedError

    async def query_capability(self, endpoint: ChannelEndpoint, account: ChatbotAccount, recipient: str) -> bool | None:
        """Whether the number takes chatbot messages, where the channel can tell (None: no such API).

        The Chinese carriers have no capability query (protocols.md §1.7); aggregators may.
        """
        return None

    @abc.abstractmethod
    def webhook_chatbot(self, request: WebhookRequest) -> str | None:
        """The carrier chatbot id a callback is addressed to, read before authenticating it."""

    @abc.abstractmethod
    def authenticate_webhook(self, request: WebhookRequest, account: ChatbotAccount) -> None:
        """Raise WebhookRejected unless the callback really comes from the carrier."""

    @abc.abstractmethod
    def parse_webhook(self, request: WebhookRequest) -> WebhookParseResult:
        """Turn a callback into normalised status reports and uplinks. Raises WebhookRejected."""

    def reply_to_webhook(self, request: WebhookRequest, account: ChatbotAccount) -> WebhookReply:
        """The answer to an authenticated, applied callback."""
        return WebhookReply()
