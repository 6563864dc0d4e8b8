"""Creating tenants, businesses, channels and chatbots (the admin issues widen this)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.domain.errors import NotFound, ValidationFailed
from msg5g.domain.messages import TrafficClass
from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.ids import new_id
from msg5g.services.channel_admin import ChannelAdmin
from msg5g.services.context import ServiceContext
from msg5g.storage.repositories import BusinessRepository, ChatbotRepository, PlatformRepository
from msg5g.storage.tables import Business, CarrierChatbotIndex, Chatbot, Tenant

# What a new chatbot is given in the transaction that creates it (every existing material and
# template): (session, tenant id, chatbot id, channel id) -> how many items were queued.
ChatbotSeeder = Callable[[AsyncSession, str, str, str], Awaitable[int]]


class Provisioning:
    def __init__(self, ctx: ServiceContext, channels: ChannelAdmin, seeders: Sequence[ChatbotSeeder] = ()) -> None:
        self._ctx = ctx
        self._channels = channels
        self._seeders = list(seeders)

    async def create_tenant(self, name: str, *, tenant_id: str | None = None) -> str:
        tenant_id = tenant_id or new_id()
        async with self._ctx.db.transaction() as session:
            await PlatformRepository(session).add(Tenant(id=tenant_id, name=name, created_at=utcnow()))
        return tenant_id

    async def tenant_exists(self, tenant_id: str) -> bool:
        async with self._ctx.db.reader() as session:
            return await PlatformRepository(session).tenant(tenant_id) is not None

    async def create_business(
        self, tenant_id: str, name: str, traffic_class: TrafficClass, *, callback_url: str | None = None,
        callback_secret: str | None = None,
    ) -> tuple[str, str]:
        """Returns (business id, callback signing secret)."""
        business_id = new_id()
        secret = callback_secret or secrets.token_urlsafe(32)
        async with self._ctx.db.transaction() as session:
            await BusinessRepository(session, tenant_id).add(Business(
                id=business_id, tenant_id=tenant_id, name=name, traffic_class=traffic_class.value,
                callback_url=callback_url, callback_secret=secret, created_at=utcnow(),
            ))
        return business_id, secret

    async def create_channel(
        self, channel_type: str, name: str, base_url: str, *, channel_id: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> str:
        view = await self._channels.create(channel_type, name, base_url, settings, channel_id=channel_id)
        return view.id

    async def create_chatbot(
        self, tenant_id: str, *, channel_id: str, business_id: str, name: str, carrier_chatbot_id: str,
        credentials: dict[str, Any], address: str | None = None, tps_limit: float | None = None,
    ) -> str:
        """`address` defaults to the chatbot URI the channel's carrier gives that id."""
        chatbot_id = new_id()
        async with self._ctx.db.transaction() as session:
            platform = PlatformRepository(session)
            channel = await platform.channel(channel_id)
            if channel is None:
                raise NotFound("no such channel", code="channel_not_found", field="channel_id")
            address = address or self._ctx.registry.adapter_type(channel.type).chatbot_address(carrier_chatbot_id)
            sealed = self._channels.credentials(channel.type, credentials)
            if await platform.chatbot_owner(channel_id, carrier_chatbot_id) is not None:
                raise ValidationFailed("that carrier chatbot id is already registered on this channel",
                                       code="chatbot_exists", field="carrier_chatbot_id")
            if await BusinessRepository(session, tenant_id).get(business_id) is None:
                raise NotFound("no such business", code="business_not_found", field="business_id")
            await ChatbotRepository(session, tenant_id).add(Chatbot(
                id=chatbot_id, tenant_id=tenant_id, channel_id=channel_id, business_id=business_id, name=name,
                carrier_chatbot_id=carrier_chatbot_id, address=address, credentials_sealed=sealed, tps_limit=tps_limit,
                created_at=utcnow(),
            ))
            await platform.add(CarrierChatbotIndex(channel_id=channel_id, carrier_chatbot_id=carrier_chatbot_id,
                                                   tenant_id=tenant_id, chatbot_id=chatbot_id))
            for seed in self._seeders:
                await seed(session, tenant_id, chatbot_id, channel_id)
        return chatbot_id

    async def chatbots(self, tenant_id: str) -> list[tuple[str, str]]:
        async with self._ctx.db.reader() as session:
            return [(c.id, c.name) for c in await ChatbotRepository(session, tenant_id).all()]

    async def tenants(self) -> list[tuple[str, str, datetime]]:
        async with self._ctx.db.reader() as session:
            return [(t.id, t.name, as_utc(t.created_at)) for t in await PlatformRepository(session).tenants()]

    async def business_rows(self, tenant_id: str) -> list[tuple[str, str, str, str | None]]:
        """(id, name, traffic class, callback URL) of each of the tenant's businesses."""
        async with self._ctx.db.reader() as session:
            return [(b.id, b.name, b.traffic_class, b.callback_url)
                    for b in await BusinessRepository(session, tenant_id).all()]

    async def businesses(self, tenant_id: str) -> list[tuple[str, str]]:
        async with self._ctx.db.reader() as session:
            return [(b.id, b.name) for b in await BusinessRepository(session, tenant_id).all()]
