"""Cached lookups of channels and chatbot accounts, which every send and every callback needs.

They change rarely (an operator edits them) and are read thousands of times a second, so each
process keeps them for a short while instead of reading them per message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from msg5g.channels import ChannelEndpoint, ChatbotAccount
from msg5g.domain.chatbots import InfoState
from msg5g.domain.errors import NotFound
from msg5g.services.context import ServiceContext
from msg5g.storage.repositories import BusinessRepository, ChatbotRepository, PlatformRepository
from msg5g.storage.tables import Channel, Chatbot

_TTL_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class ResolvedChatbot:
    tenant_id: str
    business_id: str  # the business that receives its uplinks
    endpoint: ChannelEndpoint
    account: ChatbotAccount
    channel_tps: float | None = None  # the carrier's limits, kept by services/limits.py
    chatbot_tps: float | None = None
    # Why nothing may be sent through it now (not live at its carrier, credentials refused), or None.
    unsendable: str | None = None


@dataclass(frozen=True, slots=True)
class BusinessCallback:
    url: str | None
    secret: str
    traffic_class: str


def unsendable_reason(chatbot: Chatbot) -> str | None:
    """Why a chatbot account may not carry messages now; None for one managed outside the platform
    (no profile) or live at its carrier (a rejected update leaves the approved version live)."""
    if chatbot.credential_error:
        return f"the carrier refuses this chatbot's credentials: {chatbot.credential_error}"
    if chatbot.profile_id is None:
        return None
    if chatbot.info_state == InfoState.OFFLINE:
        return f"the carrier took this chatbot offline{': ' + chatbot.info_reason if chatbot.info_reason else ''}"
    if chatbot.info_state == InfoState.LIVE or chatbot.live_version is not None:
        return None
    return f"this chatbot is not live at its carrier yet ({chatbot.info_state})"


class Directory:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._chatbots: dict[tuple[str, str], tuple[float, ResolvedChatbot]] = {}
        self._owners: dict[tuple[str, str], tuple[float, tuple[str, str] | None]] = {}
        self._callbacks: dict[tuple[str, str], tuple[float, BusinessCallback]] = {}

    def endpoint(self, channel: Channel) -> ChannelEndpoint:
        """The channel as adapters see it: its settings with the secret ones opened."""
        secrets = self._ctx.secrets.open(channel.secrets_sealed) if channel.secrets_sealed else {}
        return ChannelEndpoint(channel_id=channel.id, type=channel.type, base_url=channel.base_url,
                               settings={**(channel.settings or {}), **secrets}, enabled=channel.enabled)

    def forget(self) -> None:
        self._chatbots.clear()
        self._owners.clear()
        self._callbacks.clear()

    async def chatbot(self, tenant_id: str, chatbot_id: str) -> ResolvedChatbot:
        key = (tenant_id, chatbot_id)
        cached = self._chatbots.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        async with self._ctx.db.reader() as session:
            chatbot = await ChatbotRepository(session, tenant_id).get(chatbot_id)
            channel = await PlatformRepository(session).channel(chatbot.channel_id) if chatbot else None
        if chatbot is None or channel is None:
            raise NotFound("no such chatbot", code="chatbot_not_found")
        resolved = ResolvedChatbot(
            tenant_id=tenant_id,
            business_id=chatbot.business_id,
            endpoint=self.endpoint(channel),
            account=ChatbotAccount(chatbot_id=chatbot.id, carrier_chatbot_id=chatbot.carrier_chatbot_id,
                                   address=chatbot.address,
                                   credentials={k: str(v) for k, v in
                                                self._ctx.secrets.open(chatbot.credentials_sealed).items()}),
            channel_tps=channel.tps_limit, chatbot_tps=chatbot.tps_limit, unsendable=unsendable_reason(chatbot),
        )
        self._chatbots[key] = (time.monotonic() + _TTL_SECONDS, resolved)
        return resolved

    async def chatbot_by_carrier_id(self, channel_id: str, carrier_chatbot_id: str) -> ResolvedChatbot | None:
        key = (channel_id, carrier_chatbot_id)
        cached = self._owners.get(key)
        if cached is None or cached[0] <= time.monotonic():
            async with self._ctx.db.reader() as session:
                owner = await PlatformRepository(session).chatbot_owner(channel_id, carrier_chatbot_id)
            cached = (time.monotonic() + _TTL_SECONDS, (owner.tenant_id, owner.chatbot_id) if owner else None)
            self._owners[key] = cached
        if cached[1] is None:
            return None
        return await self.chatbot(*cached[1])

    async def business_callback(self, tenant_id: str, business_id: str) -> BusinessCallback:
        key = (tenant_id, business_id)
        cached = self._callbacks.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        async with self._ctx.db.reader() as session:
            business = await BusinessRepository(session, tenant_id).get(business_id)
        if business is None:
            raise NotFound("no such business", code="business_not_found")
        callback = BusinessCallback(url=business.callback_url, secret=business.callback_secret,
                                    traffic_class=business.traffic_class)
        self._callbacks[key] = (time.monotonic() + _TTL_SECONDS, callback)
        return callback
