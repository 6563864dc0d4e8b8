"""Revoke (撤回): recall messages that have not reached the handset yet.

A message still waiting here is revoked on the spot. One the carrier has taken is recalled through
its adapter; the carrier's verdict arrives later as a RevokeReport (CMCC `Revoked`/`RevokeFailed`,
CT/CU `revokeOk`/`revokeFail`, the aggregator's `Invoke` event) and only a successful recall makes
the message `revoked`.

A send can be in flight while a waiting message is revoked: the revoke therefore always leaves a
check job behind, run once any carrier call in progress has finished; if that call did reach the
carrier after all, the check recalls it there, and if the recall fails the message gets back the
status its attempt really reached.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.domain.errors import ChannelError, PermanentChannelError
from msg5g.domain.messages import (
    ATTEMPT_TO_MESSAGE_STATUS,
    AttemptState,
    MessageStatus,
    RevokeReport,
)
from msg5g.kit.clock import utcnow
from msg5g.pipeline.queue import Job, NewJob, RetryLater, backoff_delay
from msg5g.services.callbacks import CallbackOutbox
from msg5g.services.context import ServiceContext
from msg5g.services.directory import Directory
from msg5g.services.status import StatusChange, apply_status_changes
from msg5g.storage.repositories import AttemptIndex, MessageRepository
from msg5g.storage.tables import Message

log = logging.getLogger(__name__)

TOPIC_REVOKE = "revoke"
REVOKED_HERE = "revoked before it was sent"
_AT_CARRIER = {AttemptState.SENT.value, AttemptState.DELIVERED.value, AttemptState.DISPLAYED.value}


@dataclass(frozen=True, slots=True)
class RevokeOutcome:
    message_id: str
    outcome: Literal["revoked", "requested"] | None  # done here | asked of the carrier
    error_code: str | None = None
    error_message: str | None = None


class Revoker:
    def __init__(self, ctx: ServiceContext, directory: Directory, callbacks: CallbackOutbox) -> None:
        self._ctx = ctx
        self._directory = directory
        self._callbacks = callbacks

    async def request(self, tenant_id: str, business_id: str, message_ids: Sequence[str]) -> list[RevokeOutcome]:
        now = utcnow()
        outcomes: list[RevokeOutcome] = []
        changes: list[StatusChange] = []
        jobs: list[NewJob] = []
        async with self._ctx.db.transaction(urgent=True) as session:
            repo = MessageRepository(session, tenant_id)
            messages = {m.id: m for m in await repo.many(message_ids) if m.business_id == business_id}
            latest = {a.message_id: a for a in await repo.attempts(list(messages))}
            updates: list[dict[str, Any]] = []
            for message_id in dict.fromkeys(message_ids):
                message = messages.get(message_id)
                if message is None:
                    outcomes.append(RevokeOutcome(message_id, None, "message_not_found", "no such message"))
                    continue
                status = MessageStatus(message.status)
                attempt = latest.get(message_id)
                if status.is_final:
                    outcomes.append(RevokeOutcome(message_id, None, "not_revocable", f"the message is {status.value}"))
                    continue
                if attempt is not None and attempt.revoke_requested_at is not None:
                    outcomes.append(RevokeOutcome(message_id, "requested"))  # asked already: same answer
                    continue
                if attempt is not None:
                    updates.append({"id": attempt.id, "revoke_requested_at": now, "updated_at": now})
                if attempt is None or attempt.state == AttemptState.PENDING.value:
                    changes.append(StatusChange(message_id, MessageStatus.REVOKED, now, REVOKED_HERE))
                    outcomes.append(RevokeOutcome(message_id, "revoked"))
                    # Checked once a send that may be in flight has had time to finish.
                    delay = self._ctx.settings.carrier_timeout_seconds + 5.0
                else:
                    outcomes.append(RevokeOutcome(message_id, "requested"))
                    delay = 0.0
                jobs.append(NewJob(topic=TOPIC_REVOKE, tenant_id=tenant_id, delay_seconds=delay,
                                   payload={"tenant_id": tenant_id, "message_id": message_id}))
            await repo.update_attempts(updates)
            await apply_status_changes(session, tenant_id, changes, self._callbacks, channel_type="-",
                                       known=messages)
            if jobs:
                await self._ctx.queue.enqueue(session, jobs)
        return outcomes

    async def __call__(self, job: Job) -> None:
        """The revoke job: recall at the carrier whatever reached it."""
        tenant_id: str = job.payload["tenant_id"]
        message_id: str = job.payload["message_id"]
        async with self._ctx.db.reader() as session:
            repo = MessageRepository(session, tenant_id)
            message = await repo.get(message_id)
            attempts = await repo.attempts([message_id])
        attempt = attempts[-1] if attempts else None
        if message is None or attempt is None or attempt.revoke_result is not None:
            return
        if attempt.state not in _AT_CARRIER or not attempt.carrier_message_id:
            if attempt.state == AttemptState.PENDING.value:
                await self._record(tenant_id, attempt.id, REVOKED_HERE)
            return
        chatbot = await self._directory.chatbot(tenant_id, attempt.chatbot_id)
        adapter = self._ctx.adapter(chatbot.endpoint.type)
        try:
            await adapter.revoke(chatbot.endpoint, chatbot.account, attempt.carrier_message_id, message.recipient)
        except PermanentChannelError as exc:
            await self._record(tenant_id, attempt.id, f"not recalled: {exc}", restore=message)
            return
        except ChannelError as exc:
            raise RetryLater(backoff_delay(job.attempts), str(exc)) from exc
        log.info("recall asked of the carrier", extra={"message_id": message_id})

    async def _record(self, tenant_id: str, attempt_id: str, result: str, *, restore: Message | None = None) -> None:
        async with self._ctx.db.transaction() as session:
            repo = MessageRepository(session, tenant_id)
            await repo.update_attempts([{"id": attempt_id, "revoke_result": result, "updated_at": utcnow()}])
            if restore is not None:
                await self._restore(session, tenant_id, [restore.id], result)

    async def _restore(self, session: AsyncSession, tenant_id: str, message_ids: list[str], reason: str) -> None:
        """A message revoked here whose send reached the carrier after all, and could not be
        recalled: it gets back the status its attempt really reached."""
        repo = MessageRepository(session, tenant_id)
        messages = {m.id: m for m in await repo.many(message_ids)}
        latest = {a.message_id: a for a in await repo.attempts(message_ids)}
        now = utcnow()
        for message_id, message in messages.items():
            attempt = latest.get(message_id)
            if message.status != MessageStatus.REVOKED.value or attempt is None:
                continue
            real = ATTEMPT_TO_MESSAGE_STATUS[AttemptState(attempt.state)]
            await repo.set_status([message_id], real.value, reason, now)
            await repo.add_events([{"tenant_id": tenant_id, "message_id": message_id, "status": real.value,
                                    "reason": reason, "carrier_status": None, "occurred_at": now}])

    async def apply_reports(self, session: AsyncSession, tenant_id: str, attempts: AttemptIndex,
                            reports: list[RevokeReport], channel_type: str) -> None:
        """The carrier's verdicts, inside the callback's transaction; `attempts` by carrier id."""
        now = utcnow()
        repo = MessageRepository(session, tenant_id)
        changes: list[StatusChange] = []
        updates: list[dict[str, Any]] = []
        failed: list[tuple[str, str]] = []
        for report in reports:
            attempt = attempts.for_report(report.carrier_message_id, report.recipient)
            if attempt is None:
                log.warning("revoke result for an unknown message", extra={"carrier_id": report.carrier_message_id})
                continue
            if report.succeeded:
                updates.append({"id": attempt.id, "state": AttemptState.REVOKED.value, "revoke_result": "revoked",
                                "updated_at": now})
                changes.append(StatusChange(attempt.message_id, MessageStatus.REVOKED, report.occurred_at or now,
                                            "recalled by the carrier"))
            else:
                reason = report.reason or "the carrier could not recall it"
                updates.append({"id": attempt.id, "revoke_result": reason, "updated_at": now})
                failed.append((attempt.message_id, reason))
        await repo.update_attempts(updates)
        await apply_status_changes(session, tenant_id, changes, self._callbacks, channel_type=channel_type)
        for message_id, reason in failed:
            await self._restore(session, tenant_id, [message_id], reason)
