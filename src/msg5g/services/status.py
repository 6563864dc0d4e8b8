"""Applying status changes: the one place a message's status moves.

Used by the sender (queued, sent, failed) and by carrier callbacks (delivered, displayed, failed).
A status never moves backwards and a repeated report changes nothing; every change that does
happen is written to the history and queued for the business callback in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.domain.messages import MessageStatus, advances
from msg5g.kit import metrics
from msg5g.services.callbacks import CallbackOutbox
from msg5g.storage.repositories import MessageRepository
from msg5g.storage.tables import Message


@dataclass(frozen=True, slots=True)
class StatusChange:
    message_id: str
    status: MessageStatus
    at: datetime
    reason: str | None = None
    carrier_status: str | None = None


class StatusSettler(Protocol):
    """Called in the status transaction with every change offered (`changes`), those that moved a
    status (`applied`) and each message's status before them."""

    async def __call__(self, session: AsyncSession, tenant_id: str, rows: dict[str, Message],
                       changes: Sequence[StatusChange], applied: Sequence[StatusChange],
                       before: dict[str, MessageStatus], channel_type: str) -> None: ...


_COUNTERS = {
    MessageStatus.SENT: metrics.MESSAGES_SENT,
    MessageStatus.DELIVERED: metrics.MESSAGES_DELIVERED,
    MessageStatus.FAILED: metrics.MESSAGES_FAILED,
}


async def apply_status_changes(
    session: AsyncSession,
    tenant_id: str,
    changes: Sequence[StatusChange],
    callbacks: CallbackOutbox,
    *,
    channel_type: str,
    known: dict[str, Message] | None = None,
) -> list[StatusChange]:
    """Apply what advances; return the changes that did. `known` may pass freshly read rows."""
    if not changes:
        return []
    repo = MessageRepository(session, tenant_id)
    rows = known if known is not None else {m.id: m for m in await repo.many({c.message_id for c in changes})}
    current = {message_id: MessageStatus(row.status) for message_id, row in rows.items()}
    before = dict(current)
    applied: list[StatusChange] = []
    for change in sorted(changes, key=lambda c: (c.at, c.status.progress)):
        status = current.get(change.message_id)
        if status is None or not advances(status, change.status):
            continue
        current[change.message_id] = change.status
        applied.append(change)
    # Settled even when nothing moved: an SMS fallback reaching the carrier changes no status.
    for settle in callbacks.settlers:
        await settle(session, tenant_id, rows, changes, applied, before, channel_type)
    if not applied:
        return []
    final = {c.message_id: c for c in applied}  # the last applied change per message
    by_status: dict[tuple[MessageStatus, str | None, datetime], list[str]] = {}
    for change in final.values():
        by_status.setdefault((change.status, change.reason, change.at), []).append(change.message_id)
    for (status, reason, at), ids in by_status.items():
        await repo.set_status(ids, status.value, reason, at)
    await repo.add_events([
        {"tenant_id": tenant_id, "message_id": c.message_id, "status": c.status.value, "reason": c.reason,
         "carrier_status": c.carrier_status, "occurred_at": c.at}
        for c in applied
    ])
    for change in applied:
        counter = _COUNTERS.get(change.status)
        if counter is not None:
            counter.labels(channel_type, rows[change.message_id].traffic_class).inc()
    await callbacks.status_changed(session, tenant_id, [(rows[c.message_id], c) for c in applied])
    return applied
