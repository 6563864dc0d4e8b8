"""Retention: after the tenant's retention period, what its messages said and whom they went to is purged;
what they were and what they cost stays, so reports and billing count them as before.

Purged: message content and template parameters (a placeholder text in their place), fallback text,
recipients' and senders' numbers (masked: `+86138****1234`), uplink content, the business callbacks'
payloads (which carry both) and the H5 pages' links. Kept: every row, status, history, timestamp,
traffic class, chatbot, business, template id and charge line.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.domain.errors import NotFound, ValidationFailed
from msg5g.kit.clock import utcnow
from msg5g.kit.phone import mask
from msg5g.services.audit import AuditLog
from msg5g.services.context import ServiceContext
from msg5g.storage.tables import CallbackDelivery, H5Link, InboundMessageRow, Message, Submission, Tenant

log = logging.getLogger(__name__)

PURGED_CONTENT = {"kind": "text", "text": "[已按保留期限清除 / purged]"}
_BATCH = 1000
MAX_RETENTION_DAYS = 3650


class Retention:
    def __init__(self, ctx: ServiceContext, audit: AuditLog) -> None:
        self._ctx = ctx
        self._audit = audit

    async def set_days(self, tenant_id: str, days: int | None) -> int | None:
        if days is not None and not 1 <= days <= MAX_RETENTION_DAYS:
            raise ValidationFailed(f"retention is 1 to {MAX_RETENTION_DAYS} days, or none", code="invalid_retention",
                                   field="days")
        async with self._ctx.db.transaction() as session:
            tenant = await session.get(Tenant, tenant_id)
            if tenant is None:
                raise NotFound("no such tenant", code="tenant_not_found", field="tenant_id")
            before = tenant.retention_days
            tenant.retention_days = days
            await self._audit.record(session, action="retention.set", target_type="tenant", target_id=tenant_id,
                                     before={"days": before}, after={"days": days}, tenant_id=tenant_id)
        return days

    async def purge_all(self, now: datetime | None = None) -> dict[str, int]:
        """Every tenant with a retention period: messages purged per tenant."""
        async with self._ctx.db.reader() as session:
            tenants = (await session.execute(select(Tenant.id, Tenant.retention_days).where(
                Tenant.retention_days.is_not(None)))).all()
        return {tenant_id: await self.purge(tenant_id, days, now) for tenant_id, days in tenants if days}

    async def purge(self, tenant_id: str, days: int, now: datetime | None = None) -> int:
        """Purge what is older than `days`; in batches, each its own transaction, so writers are not held."""
        cutoff = (now or utcnow()) - timedelta(days=days)
        purged = 0
        while True:
            async with self._ctx.db.transaction() as session:
                done = await self._purge_batch(session, tenant_id, cutoff)
            purged += done
            if done < _BATCH:
                break
        async with self._ctx.db.transaction() as session:
            await self._purge_rest(session, tenant_id, cutoff)
        if purged:
            log.info("retention purge", extra={"tenant_id": tenant_id, "messages": purged})
        return purged

    @staticmethod
    async def _purge_batch(session: AsyncSession, tenant_id: str, cutoff: datetime) -> int:
        rows = (await session.execute(
            select(Message.id, Message.recipient, Message.submission_id).where(
                Message.tenant_id == tenant_id, Message.created_at < cutoff, Message.recipient.not_like("%*%"))
            .limit(_BATCH))).all()
        for message_id, recipient, _ in rows:
            await session.execute(update(Message).where(Message.id == message_id).values(
                recipient=mask(recipient), params=None))
        submissions = {submission_id for _, _, submission_id in rows}
        if submissions:
            await session.execute(update(Submission).where(Submission.tenant_id == tenant_id,
                                                           Submission.id.in_(submissions))
                                  .values(content=PURGED_CONTENT, params=None, fallback_text=None))
            await session.execute(delete(H5Link).where(H5Link.tenant_id == tenant_id,
                                                       H5Link.message_id.in_([m for m, _, _ in rows])))
        return len(rows)

    @staticmethod
    async def _purge_rest(session: AsyncSession, tenant_id: str, cutoff: datetime) -> None:
        inbound = (await session.execute(select(InboundMessageRow.id, InboundMessageRow.sender).where(
            InboundMessageRow.tenant_id == tenant_id, InboundMessageRow.received_at < cutoff,
            InboundMessageRow.sender.not_like("%*%")))).all()
        for row_id, sender in inbound:
            await session.execute(update(InboundMessageRow).where(InboundMessageRow.id == row_id).values(
                sender=mask(sender), content={"kind": "text", "text": PURGED_CONTENT["text"]}))
        await session.execute(delete(CallbackDelivery).where(
            CallbackDelivery.tenant_id == tenant_id, CallbackDelivery.created_at < cutoff,
            CallbackDelivery.state != "pending"))
