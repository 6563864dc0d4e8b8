"""A tenant's businesses (业务) as its admins manage them: each with its traffic class (which sets its
queue priority: notification above customer service above service above marketing), its callback URL
and the secret its callbacks are signed with (shown when made or rotated, never again).

Operators create businesses for a tenant through /v1/platform (services/provisioning.py); tenant admins
do it here, from the admin. Every change is written to the audit log.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from msg5g.domain.errors import NotFound
from msg5g.domain.messages import TrafficClass
from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.ids import new_id
from msg5g.services.audit import AuditLog
from msg5g.services.context import ServiceContext
from msg5g.services.directory import Directory
from msg5g.storage.repositories import BusinessRepository, ChatbotRepository
from msg5g.storage.tables import Business


class BusinessSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=200)
    traffic_class: TrafficClass
    callback_url: AnyHttpUrl | None = None


class BusinessView(BaseModel):
    id: str
    name: str
    traffic_class: TrafficClass
    callback_url: str | None
    chatbots: int
    created_at: datetime


def _summary(row: Business) -> dict[str, str | None]:
    return {"name": row.name, "traffic_class": row.traffic_class, "callback_url": row.callback_url}


class Businesses:
    def __init__(self, ctx: ServiceContext, directory: Directory, audit: AuditLog) -> None:
        self._ctx = ctx
        self._directory = directory
        self._audit = audit

    async def of_tenant(self, tenant_id: str) -> list[BusinessView]:
        async with self._ctx.db.reader() as session:
            rows = await BusinessRepository(session, tenant_id).all()
            chatbots = await ChatbotRepository(session, tenant_id).all()
        counts: dict[str, int] = {}
        for chatbot in chatbots:
            counts[chatbot.business_id] = counts.get(chatbot.business_id, 0) + 1
        return [BusinessView(id=r.id, name=r.name, traffic_class=TrafficClass(r.traffic_class),
                             callback_url=r.callback_url, chatbots=counts.get(r.id, 0),
                             created_at=as_utc(r.created_at)) for r in rows]

    async def create(self, tenant_id: str, spec: BusinessSpec) -> tuple[str, str]:
        """(business id, the callback signing secret, shown this once)."""
        secret = secrets.token_urlsafe(32)
        row = Business(id=new_id(), tenant_id=tenant_id, name=spec.name, traffic_class=spec.traffic_class.value,
                       callback_url=str(spec.callback_url) if spec.callback_url else None, callback_secret=secret,
                       created_at=utcnow())
        async with self._ctx.db.transaction() as session:
            await BusinessRepository(session, tenant_id).add(row)
            await self._audit.record(session, action="business.create", target_type="business", target_id=row.id,
                                     after=_summary(row), tenant_id=tenant_id)
        return row.id, secret

    async def update(self, tenant_id: str, business_id: str, spec: BusinessSpec) -> None:
        async with self._ctx.db.transaction() as session:
            row = await BusinessRepository(session, tenant_id).get(business_id)
            if row is None:
                raise NotFound("no such business", code="business_not_found")
            before = _summary(row)
            row.name, row.traffic_class = spec.name, spec.traffic_class.value
            row.callback_url = str(spec.callback_url) if spec.callback_url else None
            await self._audit.record(session, action="business.update", target_type="business", target_id=row.id,
                                     before=before, after=_summary(row), tenant_id=tenant_id)
        self._directory.forget()  # other processes see it within the directory's few seconds

    async def rotate_secret(self, tenant_id: str, business_id: str) -> str:
        """A new callback signing secret; callbacks are signed with it from now on."""
        secret = secrets.token_urlsafe(32)
        async with self._ctx.db.transaction() as session:
            row = await BusinessRepository(session, tenant_id).get(business_id)
            if row is None:
                raise NotFound("no such business", code="business_not_found")
            row.callback_secret = secret
            await self._audit.record(session, action="business.rotate_secret", target_type="business",
                                     target_id=row.id, tenant_id=tenant_id)
        self._directory.forget()
        return secret
