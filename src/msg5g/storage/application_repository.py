"""Queries of the carrier applications (services/applications.py): enterprise documents and record,
its registration with each carrier, chatbot applications. Every one is scoped to its tenant."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from msg5g.storage.repositories import _TenantScoped
from msg5g.storage.tables import CarrierCustomer, ChatbotApplication, Enterprise, EnterpriseDocument


class ApplicationRepository(_TenantScoped):
    async def add(self, row: EnterpriseDocument | CarrierCustomer | ChatbotApplication | Enterprise) -> None:
        await self._add(row)

    async def document(self, document_id: str) -> EnterpriseDocument | None:
        return await self._get(EnterpriseDocument, document_id)

    async def documents(self, document_ids: set[str]) -> dict[str, EnterpriseDocument]:
        statement = self._where_tenant(select(EnterpriseDocument), EnterpriseDocument).where(
            EnterpriseDocument.id.in_(document_ids))
        return {row.id: row for row in await self.session.scalars(statement)}

    async def all_documents(self) -> Sequence[EnterpriseDocument]:
        statement = self._where_tenant(select(EnterpriseDocument), EnterpriseDocument)
        return (await self.session.scalars(statement.order_by(EnterpriseDocument.created_at))).all()

    async def enterprise(self, *, for_update: bool = False) -> Enterprise | None:
        statement = self._where_tenant(select(Enterprise), Enterprise)
        if for_update:
            statement = statement.with_for_update()
        row: Enterprise | None = await self.session.scalar(statement)
        return row

    async def customer(self, customer_id: str) -> CarrierCustomer | None:
        return await self._get(CarrierCustomer, customer_id)

    async def customer_on(self, channel_id: str) -> CarrierCustomer | None:
        statement = self._where_tenant(select(CarrierCustomer), CarrierCustomer).where(
            CarrierCustomer.channel_id == channel_id)
        row: CarrierCustomer | None = await self.session.scalar(statement)
        return row

    async def customers(self) -> Sequence[CarrierCustomer]:
        statement = self._where_tenant(select(CarrierCustomer), CarrierCustomer)
        return (await self.session.scalars(statement.order_by(CarrierCustomer.created_at))).all()

    async def application(self, application_id: str) -> ChatbotApplication | None:
        return await self._get(ChatbotApplication, application_id)

    async def applications(self, business_id: str) -> Sequence[ChatbotApplication]:
        statement = self._where_tenant(select(ChatbotApplication), ChatbotApplication).where(
            ChatbotApplication.business_id == business_id)
        return (await self.session.scalars(statement.order_by(ChatbotApplication.created_at))).all()

    async def on_channel(self, channel_id: str) -> Sequence[ChatbotApplication]:
        statement = self._where_tenant(select(ChatbotApplication), ChatbotApplication).where(
            ChatbotApplication.channel_id == channel_id)
        return (await self.session.scalars(statement)).all()

    async def waiting_on(self, channel_id: str) -> Sequence[ChatbotApplication]:
        """Applications of this tenant on a channel that wait for the enterprise's approval there."""
        statement = self._where_tenant(select(ChatbotApplication), ChatbotApplication).where(
            ChatbotApplication.channel_id == channel_id, ChatbotApplication.state == "waiting")
        return (await self.session.scalars(statement)).all()
