"""Reading messages, uplinks, callbacks and dead letters, always within one tenant."""

from __future__ import annotations

from collections.abc import Collection

from msg5g.domain.errors import NotFound
from msg5g.domain.messages import MessageStatus
from msg5g.kit.clock import as_utc
from msg5g.services.context import ServiceContext
from msg5g.services.views import (
    AttemptView,
    CallbackDeliveryView,
    DeadLetterView,
    InboundPage,
    InboundView,
    MessagePage,
    MessageSummary,
    MessageView,
    StatusChange,
)
from msg5g.storage.repositories import CallbackRepository, InboundRepository, MessageRepository


class Queries:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    async def message(self, tenant_id: str, message_id: str, *, business_id: str | None = None) -> MessageView:
        async with self._ctx.db.reader() as session:
            repo = MessageRepository(session, tenant_id)
            message = await repo.get(message_id)
            if message is None or (business_id is not None and message.business_id != business_id):
                raise NotFound("no such message", code="message_not_found", field="message_id")
            submission = await repo.submission(message.submission_id)
            events = await repo.events(message_id)
            attempts = await repo.attempts([message_id])
        history = [StatusChange(status=MessageStatus.ACCEPTED, at=as_utc(message.created_at))]
        history += [StatusChange(status=MessageStatus(e.status), at=as_utc(e.occurred_at), reason=e.reason,
                                 carrier_status=e.carrier_status) for e in events]
        return MessageView(
            id=message.id, submission_id=message.submission_id, business_id=message.business_id,
            chatbot_id=message.chatbot_id, recipient=message.recipient, traffic_class=message.traffic_class,
            status=message.status, status_reason=message.status_reason,
            client_message_id=submission.client_message_id if submission else None,
            created_at=as_utc(message.created_at), updated_at=as_utc(message.updated_at), history=history,
            attempts=[AttemptView(
                id=a.id, channel_id=a.channel_id, chatbot_id=a.chatbot_id, carrier_message_id=a.carrier_message_id,
                state=a.state, tries=a.tries, error_code=a.error_code, error_reason=a.error_reason,
                created_at=as_utc(a.created_at), sent_at=as_utc(a.sent_at) if a.sent_at else None,
                updated_at=as_utc(a.updated_at),
                revoke_requested_at=as_utc(a.revoke_requested_at) if a.revoke_requested_at else None,
                revoke_result=a.revoke_result,
            ) for a in attempts],
        )

    async def messages(
        self, tenant_id: str, *, limit: int = 50, before: str | None = None, status: MessageStatus | None = None,
        business_id: str | None = None, recipient: str | None = None, chatbot_id: str | None = None,
        business_ids: Collection[str] | None = None,
    ) -> MessagePage:
        async with self._ctx.db.reader() as session:
            rows = await MessageRepository(session, tenant_id).page(
                limit=limit + 1, before_id=before, status=status.value if status else None,
                business_id=business_id, recipient=recipient, chatbot_id=chatbot_id, business_ids=business_ids,
            )
        page = rows[:limit]
        return MessagePage(
            data=[MessageSummary(id=m.id, chatbot_id=m.chatbot_id, recipient=m.recipient,
                                 traffic_class=m.traffic_class, status=m.status, status_reason=m.status_reason,
                                 created_at=as_utc(m.created_at), updated_at=as_utc(m.updated_at)) for m in page],
            next_cursor=page[-1].id if len(rows) > limit and page else None,
        )

    async def status_counts(self, tenant_id: str) -> dict[str, int]:
        async with self._ctx.db.reader() as session:
            return await MessageRepository(session, tenant_id).count_by_status()

    async def inbound(self, tenant_id: str, *, limit: int = 50, business_id: str | None = None) -> InboundPage:
        async with self._ctx.db.reader() as session:
            rows = await InboundRepository(session, tenant_id).recent(limit=limit, business_id=business_id)
        return InboundPage(data=[InboundView(
            id=r.id, chatbot_id=r.chatbot_id, business_id=r.business_id, sender=r.sender, kind=r.kind,
            content=r.content, carrier_message_id=r.carrier_message_id, conversation_id=r.conversation_id,
            in_reply_to=r.in_reply_to, received_at=as_utc(r.received_at),
        ) for r in rows])

    async def callbacks(
        self, tenant_id: str, *, limit: int = 50, state: str | None = None
    ) -> list[CallbackDeliveryView]:
        async with self._ctx.db.reader() as session:
            rows = await CallbackRepository(session, tenant_id).recent(limit=limit, state=state)
        return [CallbackDeliveryView(
            id=r.id, event_type=r.event_type, url=r.url, state=r.state,
            attempts=r.attempts, last_status=r.last_status, last_error=r.last_error,
            created_at=as_utc(r.created_at), delivered_at=as_utc(r.delivered_at) if r.delivered_at else None,
        ) for r in rows]

    async def dead_letters(self, tenant_id: str, limit: int = 100) -> list[DeadLetterView]:
        return [DeadLetterView(id=e.id, topic=e.topic, payload=e.payload, attempts=e.attempts, last_error=e.last_error)
                for e in await self._ctx.queue.dead_letters(tenant_id, limit)]
