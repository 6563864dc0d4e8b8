"""The audit log: every management change (who, what, before and after, when, from where) and every
view of recipients' numbers.

Services record what they change, with its state before and after, in the transaction that changes
it (`AuditLog.record`). The gateway's audit middleware (gateway/audit.py) writes one row for a
successful change request that recorded nothing itself, from the route and its answer, so no change
goes unlogged; and one for every page or API read that shows recipients' numbers. Who acted comes
from the request (`RequestAudit`, set by the middleware and filled in by the authentication
dependencies).
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.ids import new_id
from msg5g.services.context import ServiceContext
from msg5g.storage.tables import AuditEntry

_SECRET_KEYS = ("password", "secret", "key", "token", "credential", "signature", "totp")
_MAX_DOCUMENT = 8000  # characters of a before/after document kept
_VIEW_FLUSH_SECONDS = 0.5
_VIEW_BATCH = 500


@dataclass(slots=True)
class RequestAudit:
    """Who is acting in this request; a mutable holder so that what the dependencies learn reaches the
    middleware whatever task they ran in."""

    actor: str = "anonymous"
    tenant_id: str | None = None
    ip: str | None = None
    route: str | None = None
    recorded: int = 0


audit_var: ContextVar[RequestAudit | None] = ContextVar("msg5g_request_audit", default=None)


def identify(actor: str, tenant_id: str | None, route: str | None) -> None:
    """Called by authentication: the request's actor (and the route it reached) is now known."""
    holder = audit_var.get()
    if holder is not None:
        holder.actor, holder.tenant_id, holder.route = actor, tenant_id, route


def redacted(document: Any) -> Any:
    """A document with every secret-looking field's value replaced, bounded in size."""
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: "***" if any(s in str(k).lower() for s in _SECRET_KEYS) and not isinstance(v, bool)
                    and v is not None else walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node[:200]]
        return node
    cleaned = walk(document)
    text = orjson.dumps(cleaned, default=str).decode()
    return cleaned if len(text) <= _MAX_DOCUMENT else {"truncated": text[:_MAX_DOCUMENT]}


class AuditView(BaseModel):
    id: str
    tenant_id: str | None
    actor: str
    action: str
    route: str | None
    target_type: str | None
    target_id: str | None
    before: Any
    after: Any
    ip: str | None
    at: datetime


class AuditLog:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._views: list[AuditEntry] = []
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, session: AsyncSession, *, action: str, target_type: str | None = None,
                     target_id: str | None = None, before: Any = None, after: Any = None,
                     tenant_id: str | None = None) -> None:
        """A change, in the transaction that makes it."""
        holder = audit_var.get()
        session.add(AuditEntry(
            id=new_id(), tenant_id=tenant_id or (holder.tenant_id if holder else None),
            actor=holder.actor if holder else "system", action=action, route=holder.route if holder else None,
            target_type=target_type, target_id=target_id,
            before=redacted(before) if before is not None else None,
            after=redacted(after) if after is not None else None, ip=holder.ip if holder else None, at=utcnow()))
        if holder is not None:
            holder.recorded += 1

    async def record_alone(self, **fields: Any) -> None:
        async with self._ctx.db.transaction() as session:
            await self.record(session, **fields)

    def note_view(self, *, action: str, target_type: str | None, target_id: str | None, after: Any) -> None:
        """A view of recipients' numbers, written with the others of the same moment: callers poll
        message statuses many times a second, and a transaction per read would compete with the send
        path for SQLite's one writer. A crash loses at most the last `_VIEW_FLUSH_SECONDS` of views."""
        holder = audit_var.get()
        self._views.append(AuditEntry(
            id=new_id(), tenant_id=holder.tenant_id if holder else None,
            actor=holder.actor if holder else "system", action=action, route=holder.route if holder else None,
            target_type=target_type, target_id=target_id, before=None, after=redacted(after),
            ip=holder.ip if holder else None, at=utcnow()))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon(), name="audit-views")

    async def _flush_soon(self) -> None:
        await asyncio.sleep(_VIEW_FLUSH_SECONDS)
        await self.flush()

    async def flush(self) -> None:
        while self._views:
            batch, self._views = self._views[:_VIEW_BATCH], self._views[_VIEW_BATCH:]
            async with self._ctx.db.transaction() as session:
                session.add_all(batch)

    async def browse(self, tenant_id: str | None, *, actor: str | None = None, action: str | None = None,
                     target_id: str | None = None, before: datetime | None = None,
                     limit: int = 100) -> list[AuditView]:
        """Newest first. `tenant_id` None: the platform's own entries (channels, operator actions)."""
        statement = select(AuditEntry).where(
            AuditEntry.tenant_id == tenant_id if tenant_id is not None else AuditEntry.tenant_id.is_(None))
        if actor:
            statement = statement.where(AuditEntry.actor == actor)
        if action:
            statement = statement.where(AuditEntry.action.contains(action))
        if target_id:
            statement = statement.where(AuditEntry.target_id == target_id)
        if before is not None:
            statement = statement.where(AuditEntry.at < before)
        async with self._ctx.db.reader() as session:
            rows = (await session.scalars(statement.order_by(AuditEntry.at.desc()).limit(limit))).all()
        return [AuditView(id=r.id, tenant_id=r.tenant_id, actor=r.actor, action=r.action, route=r.route,
                          target_type=r.target_type, target_id=r.target_id, before=r.before, after=r.after,
                          ip=r.ip, at=as_utc(r.at)) for r in rows]
