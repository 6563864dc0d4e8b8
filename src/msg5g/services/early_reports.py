"""Delivery reports that arrive before the send answer that names their carrier message id.

A carrier that picks its own message id (China Unicom) says it in its answer to the send, and may
report on the message before that answer is committed here. Such a report is held in
`early_status_reports` (it is never dropped), and applied as soon as an attempt carries its id:
by the sender right after it records the answer, or by a reconcile job a little later, which
covers the interleavings where the two transactions miss each other (READ COMMITTED on PostgreSQL).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.domain.messages import ATTEMPT_TO_MESSAGE_STATUS, AttemptState, MessageStatus, StatusReport
from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.ids import new_id
from msg5g.pipeline.queue import Job, NewJob
from msg5g.services.callbacks import CallbackOutbox
from msg5g.services.context import ServiceContext
from msg5g.services.directory import Directory
from msg5g.services.status import StatusChange, apply_status_changes
from msg5g.storage.repositories import AttemptIndex, MessageRepository

log = logging.getLogger(__name__)

TOPIC_EARLY_REPORTS = "early-reports"
RECONCILE_DELAYS = (2.0, 10.0, 60.0, 300.0, 1800.0)  # then the report is left to pruning
KEEP_UNCLAIMED = timedelta(days=2)
_MESSAGE_TO_ATTEMPT = {status: state for state, status in ATTEMPT_TO_MESSAGE_STATUS.items()}


def attempt_state_after(current: str, statuses: Iterable[MessageStatus]) -> AttemptState | None:
    """The furthest attempt state these statuses reach beyond `current`, if any."""
    best = AttemptState(current)
    for status in statuses:
        state = _MESSAGE_TO_ATTEMPT.get(status)
        if state is not None and state.progress > best.progress:
            best = state
    return None if best == AttemptState(current) else best


class EarlyReports:
    def __init__(self, ctx: ServiceContext, directory: Directory, callbacks: CallbackOutbox) -> None:
        self._ctx = ctx
        self._directory = directory
        self._callbacks = callbacks

    async def hold(self, session: AsyncSession, tenant_id: str, chatbot_id: str,
                   reports: list[StatusReport]) -> None:
        now = utcnow()
        repo = MessageRepository(session, tenant_id)
        await repo.add_early_reports([
            {"id": new_id(), "chatbot_id": chatbot_id, "carrier_message_id": r.carrier_message_id,
             "recipient": r.recipient, "status": r.status.value, "reason": r.reason, "carrier_status": r.raw_status,
             "occurred_at": r.occurred_at or now, "received_at": now}
            for r in reports
        ])
        await repo.prune_early_reports(now - KEEP_UNCLAIMED)
        await self._schedule(session, tenant_id, chatbot_id, {r.carrier_message_id for r in reports}, 0)

    async def _schedule(self, session: AsyncSession, tenant_id: str, chatbot_id: str, carrier_ids: set[str],
                        round_: int) -> None:
        await self._ctx.queue.enqueue(session, [NewJob(
            topic=TOPIC_EARLY_REPORTS, tenant_id=tenant_id, delay_seconds=RECONCILE_DELAYS[round_],
            payload={"tenant_id": tenant_id, "chatbot_id": chatbot_id, "carrier_ids": sorted(carrier_ids),
                     "round": round_},
        )])

    async def claim(self, session: AsyncSession, tenant_id: str, chatbot_id: str, attempts: AttemptIndex,
                    current_states: Mapping[str, str] | None = None) -> tuple[list[StatusChange], list[dict[str, Any]]]:
        """Take the held reports for these attempts (by carrier id, and by recipient within a group):
        the status changes they make and the attempt updates that follow. `current_states`
        overrides attempt states the caller has just changed in this transaction."""
        reports = await MessageRepository(session, tenant_id).take_early_reports(chatbot_id, attempts)
        changes: list[StatusChange] = []
        statuses: dict[str, list[MessageStatus]] = {}
        for report in reports:
            attempt = attempts.for_report(report.carrier_message_id, report.recipient)
            if attempt is None:
                continue
            status = MessageStatus(report.status)
            changes.append(StatusChange(attempt.message_id, status, as_utc(report.occurred_at), report.reason,
                                        carrier_status=report.carrier_status))
            statuses.setdefault(attempt.id, []).append(status)
        updates: list[dict[str, Any]] = []
        now = utcnow()
        by_id = {a.id: a for a in attempts.attempts()}
        for attempt_id, seen in statuses.items():
            current = (current_states or {}).get(attempt_id, by_id[attempt_id].state)
            state = attempt_state_after(current, seen)
            if state is not None:
                updates.append({"id": attempt_id, "state": state.value, "updated_at": now})
        return changes, updates

    async def __call__(self, job: Job) -> bool:
        """The reconcile job: apply what has found its attempt, look again later for the rest."""
        tenant_id: str = job.payload["tenant_id"]
        chatbot_id: str = job.payload["chatbot_id"]
        carrier_ids: list[str] = job.payload["carrier_ids"]
        round_: int = job.payload["round"]
        channel_type = (await self._directory.chatbot(tenant_id, chatbot_id)).endpoint.type
        async with self._ctx.db.transaction() as session:
            repo = MessageRepository(session, tenant_id)
            attempts = await repo.attempts_by_carrier_ids(chatbot_id, carrier_ids)
            changes, updates = await self.claim(session, tenant_id, chatbot_id, attempts)
            await repo.update_attempts(updates)
            if changes:
                await apply_status_changes(session, tenant_id, changes, self._callbacks, channel_type=channel_type)
                log.info("early delivery reports applied", extra={"count": len(changes)})
            missing = set(carrier_ids) - set(attempts)
            if missing and round_ + 1 < len(RECONCILE_DELAYS):
                await self._schedule(session, tenant_id, chatbot_id, missing, round_ + 1)
            await self._ctx.queue.ack_in(session, [job])
        return True
