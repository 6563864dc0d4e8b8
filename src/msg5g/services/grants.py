"""Business mapping: a business sends only through the templates and chatbots it owns or is mapped to.

A business applies to use another business's template or chatbot in its tenant (`apply`, through the
API with its key); a tenant admin or auditor approves or rejects it in the admin (`decide`), and may
revoke it later. Every step is kept in the grant's history (who, what, when, why). The send path asks
`may_use`, cached for a few seconds per process (a revocation takes effect within `_CACHE_SECONDS`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.domain.errors import Conflict, NotFound, ValidationFailed
from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.ids import new_id
from msg5g.services.access import BusinessAccess
from msg5g.services.audit import AuditLog
from msg5g.services.context import ServiceContext
from msg5g.storage.repositories import BusinessRepository, ChatbotRepository, TemplateRepository
from msg5g.storage.tables import BusinessGrant

_CACHE_SECONDS = 5.0


class ResourceType(StrEnum):
    TEMPLATE = "template"
    CHATBOT = "chatbot"


class GrantState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class Mappable:
    resource_type: ResourceType
    resource_id: str
    name: str
    owner_business_id: str


class GrantStep(BaseModel):
    action: str
    by: str
    at: datetime
    reason: str | None = None


class GrantView(BaseModel):
    id: str
    business_id: str
    resource_type: ResourceType
    resource_id: str
    resource_name: str | None
    owner_business_id: str | None
    state: GrantState
    note: str | None
    requested_by: str
    decided_by: str | None
    reason: str | None
    history: list[GrantStep]
    created_at: datetime
    updated_at: datetime


def _summary(row: BusinessGrant) -> dict[str, str | None]:
    return {"business_id": row.business_id, "resource_type": row.resource_type, "resource_id": row.resource_id,
            "state": row.state, "decided_by": row.decided_by, "reason": row.reason}


def _step(row: BusinessGrant, action: str, by: str, reason: str | None = None) -> None:
    row.updated_at = utcnow()
    row.history = [*(row.history or []), {"action": action, "by": by, "at": row.updated_at.isoformat(),
                                          "reason": reason}]


class BusinessGrants:
    def __init__(self, ctx: ServiceContext, audit: AuditLog) -> None:
        self._ctx = ctx
        self._audit = audit
        self._cache: dict[tuple[str, str, str, str], tuple[float, bool]] = {}

    async def _resource(self, session: AsyncSession, tenant_id: str, resource_type: ResourceType,
                        resource_id: str) -> tuple[str, str]:
        """(owner business, name) of a template or chatbot of the tenant; NotFound otherwise."""
        if resource_type is ResourceType.TEMPLATE:
            template = await TemplateRepository(session, tenant_id).get(resource_id)
            if template is not None:
                return template.business_id, template.name
            raise NotFound("no such template", code="template_not_found", field="resource_id")
        chatbot = await ChatbotRepository(session, tenant_id).get(resource_id)
        if chatbot is None:
            raise NotFound("no such chatbot", code="chatbot_not_found", field="resource_id")
        return chatbot.business_id, chatbot.name

    async def apply(self, access: BusinessAccess, resource_type: ResourceType, resource_id: str, note: str | None,
                    requested_by: str) -> GrantView:
        return await self.apply_for(access.tenant_id, access.business_id, resource_type, resource_id, note,
                                    requested_by)

    async def apply_for(self, tenant_id: str, business_id: str, resource_type: ResourceType, resource_id: str,
                        note: str | None, requested_by: str) -> GrantView:
        """A business's application (made with its key, or by one of its operators in the admin)."""
        async with self._ctx.db.transaction() as session:
            if await BusinessRepository(session, tenant_id).get(business_id) is None:
                raise NotFound("no such business", code="business_not_found", field="business_id")
            owner, _ = await self._resource(session, tenant_id, resource_type, resource_id)
            if owner == business_id:
                raise ValidationFailed(f"the business owns this {resource_type.value}: it needs no mapping",
                                       code="already_owned", field="resource_id")
            for earlier in await self._of(session, tenant_id, business_id, resource_type, resource_id):
                if earlier.state in {GrantState.PENDING, GrantState.APPROVED}:
                    raise Conflict(f"there is already a {earlier.state} mapping ({earlier.id})",
                                   code="mapping_exists", field="resource_id")
            now = utcnow()
            row = BusinessGrant(id=new_id(), tenant_id=tenant_id, business_id=business_id,
                                resource_type=resource_type.value, resource_id=resource_id,
                                state=GrantState.PENDING.value, note=note, requested_by=requested_by,
                                decided_by=None, reason=None, history=[], created_at=now, updated_at=now)
            _step(row, "requested", requested_by, note)
            session.add(row)
            await self._audit.record(session, action="mapping.request", target_type="mapping", target_id=row.id,
                                     after=_summary(row), tenant_id=tenant_id)
        return await self._view(tenant_id, row)

    async def mappable(self, tenant_id: str) -> list[Mappable]:
        """What a business of the tenant may apply for: every live template and every chatbot, with its owner."""
        async with self._ctx.db.reader() as session:
            templates = await TemplateRepository(session, tenant_id).all_live()
            chatbots = await ChatbotRepository(session, tenant_id).all()
        return [*(Mappable(ResourceType.TEMPLATE, t.id, t.name, t.business_id) for t in templates),
                *(Mappable(ResourceType.CHATBOT, c.id, c.name, c.business_id) for c in chatbots)]

    @staticmethod
    async def _of(session: AsyncSession, tenant_id: str, business_id: str, resource_type: ResourceType,
                  resource_id: str) -> Sequence[BusinessGrant]:
        return (await session.scalars(select(BusinessGrant).where(
            BusinessGrant.tenant_id == tenant_id, BusinessGrant.business_id == business_id,
            BusinessGrant.resource_type == resource_type.value, BusinessGrant.resource_id == resource_id))).all()

    async def decide(self, tenant_id: str, grant_id: str, *, approve: bool, by: str,
                     reason: str | None = None) -> GrantView:
        """A tenant admin's or auditor's decision on a pending application."""
        async with self._ctx.db.transaction() as session:
            row = await self._row(session, tenant_id, grant_id)
            if row.state != GrantState.PENDING:
                raise Conflict(f"the mapping is {row.state}, not pending", code="mapping_decided")
            if row.requested_by == by:
                raise Conflict("the one who asked for a mapping cannot decide it", code="same_person")
            before = _summary(row)
            row.state = (GrantState.APPROVED if approve else GrantState.REJECTED).value
            row.decided_by, row.reason = by, reason
            _step(row, row.state, by, reason)
            await self._audit.record(session, action=f"mapping.{row.state}", target_type="mapping",
                                     target_id=row.id, before=before, after=_summary(row), tenant_id=tenant_id)
        self._forget(row)
        return await self._view(tenant_id, row)

    async def revoke(self, tenant_id: str, grant_id: str, *, by: str, reason: str | None = None) -> GrantView:
        async with self._ctx.db.transaction() as session:
            row = await self._row(session, tenant_id, grant_id)
            if row.state != GrantState.APPROVED:
                raise Conflict(f"the mapping is {row.state}, not approved", code="mapping_not_approved")
            before = _summary(row)
            row.state, row.decided_by, row.reason = GrantState.REVOKED.value, by, reason
            _step(row, "revoked", by, reason)
            await self._audit.record(session, action="mapping.revoked", target_type="mapping", target_id=row.id,
                                     before=before, after=_summary(row), tenant_id=tenant_id)
        self._forget(row)
        return await self._view(tenant_id, row)

    @staticmethod
    async def _row(session: AsyncSession, tenant_id: str, grant_id: str) -> BusinessGrant:
        row: BusinessGrant | None = await session.scalar(select(BusinessGrant).where(
            BusinessGrant.tenant_id == tenant_id, BusinessGrant.id == grant_id))
        if row is None:
            raise NotFound("no such mapping", code="mapping_not_found")
        return row

    def _forget(self, row: BusinessGrant) -> None:
        self._cache.pop((row.tenant_id, row.business_id, row.resource_type, row.resource_id), None)

    async def of_business(self, access: BusinessAccess) -> list[GrantView]:
        async with self._ctx.db.reader() as session:
            rows = (await session.scalars(select(BusinessGrant).where(
                BusinessGrant.tenant_id == access.tenant_id, BusinessGrant.business_id == access.business_id)
                .order_by(BusinessGrant.created_at))).all()
        return [await self._view(access.tenant_id, row) for row in rows]

    async def of_tenant(self, tenant_id: str, state: GrantState | None = None) -> list[GrantView]:
        async with self._ctx.db.reader() as session:
            statement = select(BusinessGrant).where(BusinessGrant.tenant_id == tenant_id)
            if state is not None:
                statement = statement.where(BusinessGrant.state == state.value)
            rows = (await session.scalars(statement.order_by(BusinessGrant.created_at.desc()))).all()
        return [await self._view(tenant_id, row) for row in rows]

    async def get(self, access: BusinessAccess, grant_id: str) -> GrantView:
        async with self._ctx.db.reader() as session:
            row = await self._row(session, access.tenant_id, grant_id)
        if row.business_id != access.business_id:
            raise NotFound("no such mapping", code="mapping_not_found")
        return await self._view(access.tenant_id, row)

    async def _view(self, tenant_id: str, row: BusinessGrant) -> GrantView:
        async with self._ctx.db.reader() as session:
            try:
                owner, name = await self._resource(session, tenant_id, ResourceType(row.resource_type),
                                                   row.resource_id)
            except NotFound:
                owner, name = None, None
        return GrantView(
            id=row.id, business_id=row.business_id, resource_type=ResourceType(row.resource_type),
            resource_id=row.resource_id, resource_name=name, owner_business_id=owner, state=GrantState(row.state),
            note=row.note, requested_by=row.requested_by, decided_by=row.decided_by, reason=row.reason,
            history=[GrantStep.model_validate(s) for s in row.history or []], created_at=as_utc(row.created_at),
            updated_at=as_utc(row.updated_at))

    # ---- the send path --------------------------------------------------------------------------------

    async def may_use(self, tenant_id: str, business_id: str, resource_type: ResourceType, resource_id: str,
                      owner_business_id: str) -> bool:
        """Whether the business may send through the resource: it owns it, or a mapping is approved."""
        if owner_business_id == business_id:
            return True
        key = (tenant_id, business_id, resource_type.value, resource_id)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with self._ctx.db.reader() as session:
            rows = await self._of(session, tenant_id, business_id, resource_type, resource_id)
        allowed = any(row.state == GrantState.APPROVED for row in rows)
        self._cache[key] = (time.monotonic() + _CACHE_SECONDS, allowed)
        return allowed
