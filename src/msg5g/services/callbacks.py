"""Business callbacks: every status change and every uplink, signed, delivered with retries.

The event is written (with its queue entry) in the same transaction as the change it reports, so
no change is reported that did not happen and none that happened goes unreported. Delivery runs
later on the callback topic; a receiver that keeps failing gets the event retried with backoff and
then marked failed, visible in the API.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.kit import metrics
from msg5g.kit.clock import utcnow
from msg5g.kit.ids import new_id
from msg5g.pipeline.queue import TOPIC_CALLBACK, Job, NewJob, RetryLater, backoff_delay
from msg5g.services.context import ServiceContext
from msg5g.services.directory import Directory
from msg5g.services.signing import signed_headers
from msg5g.storage.repositories import CallbackRepository, MessageRepository
from msg5g.storage.tables import CallbackDelivery, InboundMessageRow, Message

if TYPE_CHECKING:
    from msg5g.services.status import StatusChange, StatusSettler

log = logging.getLogger(__name__)

EVENT_STATUS = "message.status"
EVENT_INBOUND = "message.inbound"


class CallbackOutbox:
    def __init__(self, ctx: ServiceContext, directory: Directory) -> None:
        self._ctx = ctx
        self._directory = directory
        self._submissions: dict[str, tuple[str | None, str | None]] = {}
        # What else happens in the transaction of every status change (services/status.py): the
        # capacity ledger's settlement. The outbox carries it because every status path holds one.
        self.settlers: list[StatusSettler] = []

    async def status_changed(
        self, session: AsyncSession, tenant_id: str, changes: Sequence[tuple[Message, StatusChange]]
    ) -> None:
        if not changes:
            return
        overrides = await self._submission_callbacks(session, tenant_id, {m.submission_id for m, _ in changes})
        rows = []
        for message, change in changes:
            url, client_message_id = overrides.get(message.submission_id, (None, None))
            if url is None:
                url = (await self._directory.business_callback(tenant_id, message.business_id)).url
            if not url:
                continue
            rows.append(self._row(tenant_id, message.business_id, url, EVENT_STATUS, {
                "message_id": message.id,
                "submission_id": message.submission_id,
                "client_message_id": client_message_id,
                "chatbot_id": message.chatbot_id,
                "recipient": message.recipient,
                "status": change.status.value,
                "reason": change.reason,
                "carrier_status": change.carrier_status,
                "occurred_at": change.at.isoformat(),
            }))
        await self._store(session, tenant_id, rows)

    async def _submission_callbacks(
        self, session: AsyncSession, tenant_id: str, submission_ids: set[str]
    ) -> dict[str, tuple[str | None, str | None]]:
        """(callback URL override, client_message_id) per submission; immutable, so cached."""
        missing = submission_ids - self._submissions.keys()
        if missing:
            found = await MessageRepository(session, tenant_id).submissions(missing)
            if len(self._submissions) > 50_000:
                self._submissions.clear()
            for submission_id, submission in found.items():
                self._submissions[submission_id] = (submission.callback_url, submission.client_message_id)
        return {s: self._submissions[s] for s in submission_ids if s in self._submissions}

    async def inbound_received(self, session: AsyncSession, tenant_id: str, inbound: InboundMessageRow) -> None:
        url = (await self._directory.business_callback(tenant_id, inbound.business_id)).url
        if not url:
            return
        await self._store(session, tenant_id, [self._row(tenant_id, inbound.business_id, url, EVENT_INBOUND, {
            "inbound_id": inbound.id,
            "chatbot_id": inbound.chatbot_id,
            "sender": inbound.sender,
            "content": inbound.content,
            "conversation_id": inbound.conversation_id,
            "in_reply_to": inbound.in_reply_to,
            "received_at": inbound.received_at.isoformat(),
        })])

    def _row(
        self, tenant_id: str, business_id: str, url: str, event_type: str, data: dict[str, Any]
    ) -> CallbackDelivery:
        event_id = new_id()
        now = utcnow()
        return CallbackDelivery(
            id=event_id, tenant_id=tenant_id, business_id=business_id, url=url, event_type=event_type,
            payload={"id": event_id, "type": event_type, "created_at": now.isoformat(), "data": data},
            state="pending", attempts=0, last_status=None, last_error=None, created_at=now, delivered_at=None,
        )

    async def _store(self, session: AsyncSession, tenant_id: str, rows: list[CallbackDelivery]) -> None:
        if not rows:
            return
        await CallbackRepository(session, tenant_id).add_many(rows)
        await self._ctx.queue.enqueue(session, [
            NewJob(topic=TOPIC_CALLBACK, tenant_id=tenant_id, payload={"tenant_id": tenant_id, "delivery_id": r.id})
            for r in rows
        ])
        self._ctx.queue.notify(TOPIC_CALLBACK)


class CallbackSender:
    """Handler of the callback topic."""

    def __init__(self, ctx: ServiceContext, directory: Directory) -> None:
        self._ctx = ctx
        self._directory = directory
        self._timeout = aiohttp.ClientTimeout(total=ctx.settings.callback_timeout_seconds)

    async def __call__(self, job: Job) -> None:
        tenant_id = job.payload["tenant_id"]
        async with self._ctx.db.reader() as session:
            delivery = await CallbackRepository(session, tenant_id).get(job.payload["delivery_id"])
        if delivery is None or delivery.state != "pending":
            return
        secret = (await self._directory.business_callback(tenant_id, delivery.business_id)).secret
        body = orjson.dumps(delivery.payload)
        headers = signed_headers(secret, body, delivery.id, delivery.event_type)
        status: int | None = None
        error: str | None = None
        try:
            async with self._ctx.http.post(delivery.url, data=body, headers=headers, timeout=self._timeout) as response:
                status = response.status
                await response.read()
        except TimeoutError:
            error = "timed out"
        except aiohttp.ClientError as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempts = delivery.attempts + 1
        delivered = status is not None and 200 <= status < 300
        if not delivered and error is None:
            error = f"HTTP {status}"
        exhausted = not delivered and attempts >= self._ctx.settings.callback_max_attempts
        state = "delivered" if delivered else "failed" if exhausted else "pending"
        async with self._ctx.db.transaction() as session:
            await CallbackRepository(session, tenant_id).record_attempt(
                delivery.id, state=state, attempts=attempts, last_status=status, last_error=error,
                delivered_at=utcnow() if delivered else None,
            )
        metrics.CALLBACKS.labels("delivered" if delivered else "failed" if exhausted else "retry").inc()
        if state == "pending":
            raise RetryLater(backoff_delay(attempts, base=1.0, cap=600.0), f"callback {error}")
        if exhausted:
            log.warning("callback gave up", extra={"delivery_id": delivery.id, "error": error})
