"""Carrier callbacks: authenticate, parse, apply statuses idempotently, store uplinks, notify.

A carrier gets its 2xx only after what it told us is committed. Concurrent callbacks are committed
together (group commit): each request hands its parsed reports to one applier task and waits for
the transaction that carries them, so a burst of thousands of delivery reports a second costs a few
transactions rather than thousands. A failure in a group fails every request in it (the carrier
retries), and never commits half of one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.channels import WebhookReply, WebhookRequest
from msg5g.domain.errors import NotFound, WebhookRejected
from msg5g.domain.messages import (
    ATTEMPT_TO_MESSAGE_STATUS,
    AttemptState,
    FallbackPolicy,
    InboundMessage,
    MessageStatus,
    StatusReport,
    TrafficClass,
    WebhookParseResult,
)
from msg5g.kit import metrics
from msg5g.kit.clock import utcnow
from msg5g.kit.group_commit import GroupCommit
from msg5g.kit.ids import new_id
from msg5g.kit.phone import mask
from msg5g.pipeline.queue import TOPIC_SEND, TOPIC_UPLINK, TOPIC_UPLINK_FILE, NewJob
from msg5g.services.callbacks import CallbackOutbox
from msg5g.services.context import ServiceContext
from msg5g.services.directory import Directory, ResolvedChatbot
from msg5g.services.early_reports import EarlyReports
from msg5g.services.revoke import Revoker
from msg5g.services.routing import NOT_CAPABLE, Router
from msg5g.services.status import StatusChange, apply_status_changes
from msg5g.storage.repositories import AttemptIndex, InboundRepository, MessageRepository
from msg5g.storage.tables import DeliveryAttempt, InboundMessageRow

log = logging.getLogger(__name__)

_MESSAGE_TO_ATTEMPT = {status: state for state, status in ATTEMPT_TO_MESSAGE_STATUS.items()}
_MAX_GROUP = 500
# What applies a callback's audit results (materials, templates), in its own transaction:
# (session, tenant id, our chatbot id, the parsed callback).
AuditHandler = Callable[[AsyncSession, str, str, WebhookParseResult], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Pending:
    chatbot: ResolvedChatbot
    parsed: WebhookParseResult


class CarrierWebhooks:
    def __init__(self, ctx: ServiceContext, directory: Directory, callbacks: CallbackOutbox,
                 early_reports: EarlyReports, revoker: Revoker, router: Router) -> None:
        self._ctx = ctx
        self._directory = directory
        self._callbacks = callbacks
        self._early = early_reports
        self._revoker = revoker
        self._router = router
        self._group: GroupCommit[_Pending, None] = GroupCommit(self._apply_group, name="carrier-callbacks",
                                                               max_items=_MAX_GROUP)
        self.audit_handlers: list[AuditHandler] = []  # set by Services.build

    async def receive(
        self, channel_type: str, channel_id: str, *, method: str, subpath: str, headers: dict[str, str],
        query: dict[str, str], body: bytes,
    ) -> WebhookReply:
        """Raises WebhookRejected (refused, nothing changed) or NotFound (unknown channel/chatbot)."""
        request = WebhookRequest(method=method, subpath=subpath, headers={k.lower(): v for k, v in headers.items()},
                                 query=query, body=body)
        try:
            adapter = self._ctx.adapter(channel_type)
        except LookupError:
            raise NotFound("no such channel type", code="channel_not_found") from None
        carrier_chatbot_id = adapter.webhook_chatbot(request)
        chatbot = await self._directory.chatbot_by_carrier_id(channel_id, carrier_chatbot_id or "")
        if chatbot is None or chatbot.endpoint.type != channel_type:
            metrics.WEBHOOKS.labels(channel_type, "unknown_chatbot").inc()
            raise NotFound("no chatbot with that id on this channel", code="chatbot_not_found")
        try:
            adapter.authenticate_webhook(request, chatbot.account)
            parsed = adapter.parse_webhook(request)
        except WebhookRejected as exc:
            metrics.WEBHOOKS.labels(channel_type, "rejected").inc()
            log.warning("carrier callback refused", extra={"channel_id": channel_id, "reason": str(exc)})
            raise
        if parsed.media_audits or parsed.template_audits or parsed.chatbot_reports:
            # Audits are rare and touch other tables: a transaction of their own, outside the group.
            try:
                async with self._ctx.db.transaction() as session:
                    for handler in self.audit_handlers:
                        await handler(session, chatbot.tenant_id, chatbot.account.chatbot_id, parsed)
            except WebhookRejected as exc:
                metrics.WEBHOOKS.labels(channel_type, "deferred").inc()
                log.info("carrier audit deferred", extra={"channel_id": channel_id, "reason": str(exc)})
                raise
        metrics.WEBHOOKS.labels(channel_type, "accepted").inc()
        if parsed.statuses or parsed.inbound or parsed.revokes:
            await self._group(_Pending(chatbot=chatbot, parsed=parsed))
        return adapter.reply_to_webhook(request, chatbot.account)

    async def receive_parsed(self, channel_type: str, channel_id: str, carrier_chatbot_id: str,
                             parsed: WebhookParseResult) -> None:
        """What a persistent channel (SMPP) read off its own authenticated connection."""
        chatbot = await self._directory.chatbot_by_carrier_id(channel_id, carrier_chatbot_id)
        if chatbot is None or chatbot.endpoint.type != channel_type:
            metrics.WEBHOOKS.labels(channel_type, "unknown_chatbot").inc()
            log.warning("carrier report for an unknown chatbot",
                        extra={"channel_id": channel_id, "carrier_chatbot_id": carrier_chatbot_id})
            return
        metrics.WEBHOOKS.labels(channel_type, "accepted").inc()
        if parsed.statuses or parsed.inbound or parsed.revokes:
            await self._group(_Pending(chatbot=chatbot, parsed=parsed))

    async def close(self) -> None:
        await self._group.close()

    async def _apply_group(self, group: list[_Pending]) -> list[Exception | None]:
        by_tenant: dict[str, list[_Pending]] = {}
        for item in group:
            by_tenant.setdefault(item.chatbot.tenant_id, []).append(item)
        async with self._ctx.db.transaction(urgent=True) as session:
            for tenant_id, items in by_tenant.items():
                await self._apply_statuses(session, tenant_id, items)
                for item in items:
                    for inbound in item.parsed.inbound:
                        await self._store_inbound(session, tenant_id, item.chatbot, inbound)
        return [None] * len(group)

    async def _apply_statuses(self, session: AsyncSession, tenant_id: str, items: list[_Pending]) -> None:
        repo = MessageRepository(session, tenant_id)
        now = utcnow()
        changes: list[StatusChange] = []
        attempt_updates: dict[str, dict[str, Any]] = {}
        wanted: dict[str, set[str]] = {}
        for item in items:
            wanted.setdefault(item.chatbot.account.chatbot_id, set()).update(
                r.carrier_message_id for r in item.parsed.statuses)
            wanted[item.chatbot.account.chatbot_id].update(r.carrier_message_id for r in item.parsed.revokes)
        # One lookup per chatbot for the whole group, not one per callback.
        attempts = {chatbot_id: await repo.attempts_by_carrier_ids(chatbot_id, carrier_ids)
                    for chatbot_id, carrier_ids in wanted.items() if carrier_ids}
        early: dict[str, list[StatusReport]] = {}
        capabilities: dict[str, str] = {}
        not_capable: list[tuple[DeliveryAttempt, StatusReport]] = []
        for item in items:
            known = attempts.get(item.chatbot.account.chatbot_id, AttemptIndex())
            holds_early = self._ctx.adapter(item.chatbot.endpoint.type).carrier_assigns_message_id
            for report in item.parsed.statuses:
                attempt = known.for_report(report.carrier_message_id, report.recipient)
                if attempt is None and holds_early:
                    early.setdefault(item.chatbot.account.chatbot_id, []).append(report)
                    continue
                if attempt is None:
                    log.warning("status for an unknown message",
                                extra={"carrier_message_id": report.carrier_message_id})
                    continue
                if report.handset_capability and report.recipient:
                    capabilities[report.recipient] = report.handset_capability
                if report.status == MessageStatus.FAILED and report.handset_capability == "sms_only":
                    not_capable.append((attempt, report))
                    continue
                changes.append(StatusChange(attempt.message_id, report.status, report.occurred_at or now,
                                            report.reason, carrier_status=report.raw_status))
                state = _MESSAGE_TO_ATTEMPT.get(report.status)
                if state is not None and state != AttemptState.PENDING:
                    current = attempt_updates.get(attempt.id, {}).get("state", attempt.state)
                    if state.progress > AttemptState(str(current)).progress:
                        attempt_updates[attempt.id] = {"id": attempt.id, "state": state.value, "updated_at": now}
        if capabilities:
            await self._router.learn_capabilities(session, capabilities)
        fallen_back = await self._platform_fallbacks(session, tenant_id, not_capable) if not_capable else set()
        for attempt, report in not_capable:
            if attempt.message_id not in fallen_back:
                changes.append(StatusChange(attempt.message_id, report.status, report.occurred_at or now,
                                            report.reason, carrier_status=report.raw_status))
                attempt_updates[attempt.id] = {"id": attempt.id, "state": AttemptState.FAILED.value, "updated_at": now}
        await repo.update_attempts(list(attempt_updates.values()))
        for chatbot_id, reports in early.items():
            await self._early.hold(session, tenant_id, chatbot_id, reports)
        await apply_status_changes(session, tenant_id, changes, self._callbacks,
                                   channel_type=items[0].chatbot.endpoint.type)
        for item in items:
            if item.parsed.revokes:
                await self._revoker.apply_reports(session, tenant_id,
                                                  attempts.get(item.chatbot.account.chatbot_id, AttemptIndex()),
                                                  item.parsed.revokes, item.chatbot.endpoint.type)

    async def _platform_fallbacks(self, session: AsyncSession, tenant_id: str,
                                  not_capable: list[tuple[DeliveryAttempt, StatusReport]]) -> set[str]:
        """Messages whose handset cannot take a 5G message and whose policy is a fallback of the
        platform's own (SMS, H5): their attempt ends and they go back to the sender, which routes
        them over SMS. Returns the ids taken over."""
        repo = MessageRepository(session, tenant_id)
        messages = {m.id: m for m in await repo.many({a.message_id for a, _ in not_capable})}
        submissions = await repo.submissions({m.submission_id for m in messages.values()})
        now = utcnow()
        taken: dict[str, tuple[DeliveryAttempt, StatusReport]] = {}
        for attempt, report in not_capable:
            message = messages.get(attempt.message_id)
            if message is None or MessageStatus(message.status).is_final:
                continue
            policy = submissions[message.submission_id].fallback_policy
            if policy in {FallbackPolicy.SMS.value, FallbackPolicy.H5.value}:
                taken[message.id] = (attempt, report)
        if not taken:
            return set()
        await repo.update_attempts([
            {"id": attempt.id, "state": AttemptState.FAILED.value, "error_code": NOT_CAPABLE,
             "error_reason": f"the handset cannot take 5G messages ({report.reason or report.raw_status})",
             "updated_at": now}
            for attempt, report in taken.values()])
        by_lane: dict[int, list[str]] = {}
        for message_id in taken:
            by_lane.setdefault(TrafficClass(messages[message_id].traffic_class).rank, []).append(message_id)
        await self._ctx.queue.enqueue(session, [
            NewJob(topic=TOPIC_SEND, priority=lane, tenant_id=tenant_id,
                   payload={"tenant_id": tenant_id, "message_ids": ids}) for lane, ids in by_lane.items()])
        self._ctx.queue.notify(TOPIC_SEND)
        log.info("falling back to SMS", extra={"count": len(taken)})
        return set(taken)

    async def _store_inbound(
        self, session: AsyncSession, tenant_id: str, chatbot: ResolvedChatbot, inbound: InboundMessage
    ) -> None:
        repo = InboundRepository(session, tenant_id)
        if inbound.carrier_message_id and await repo.by_carrier_id(chatbot.account.chatbot_id,
                                                                   inbound.carrier_message_id):
            return  # a repeated notification
        row = InboundMessageRow(
            id=new_id(), tenant_id=tenant_id, chatbot_id=chatbot.account.chatbot_id, business_id=chatbot.business_id,
            sender=inbound.sender, carrier_message_id=inbound.carrier_message_id, kind=inbound.content.kind,
            content=inbound.content.model_dump(mode="json"), conversation_id=inbound.conversation_id,
            in_reply_to=inbound.in_reply_to, received_at=inbound.received_at or utcnow(),
        )
        await repo.add(row)
        metrics.UPLINKS.labels(chatbot.endpoint.type, row.kind).inc()
        log.info("uplink stored", extra={"inbound_id": row.id, "sender": mask(row.sender), "kind": row.kind})
        await self._callbacks.inbound_received(session, tenant_id, row)
        # Its conversation and the auto-reply rules take it from here (services/auto_reply.py).
        await self._ctx.queue.enqueue(session, [NewJob(
            topic=TOPIC_UPLINK, tenant_id=tenant_id, priority=TrafficClass.CUSTOMER_SERVICE.rank,
            payload={"tenant_id": tenant_id, "inbound_id": row.id, "chatbot_id": row.chatbot_id})])
        self._ctx.queue.notify(TOPIC_UPLINK)
        if row.kind == "file":  # the carrier keeps what customers send only for a while
            await self._ctx.queue.enqueue(session, [NewJob(topic=TOPIC_UPLINK_FILE, tenant_id=tenant_id,
                                                           payload={"tenant_id": tenant_id, "inbound_id": row.id})])

