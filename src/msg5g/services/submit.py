"""Accepting a send request.

"Accepted" means durable: the submission, one message row per recipient and the queue entries that
will send them commit in one transaction before the caller gets its 202 (a transactional outbox).
Nothing is sent inside the request.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.exc import IntegrityError

from msg5g.domain.content import MAX_FALLBACK_TEXT, Content, refuse_non_xml_characters
from msg5g.domain.errors import Conflict, NotFound, ValidationFailed
from msg5g.domain.messages import MessageStatus, TrafficClass
from msg5g.kit import metrics
from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.ids import new_id
from msg5g.kit.phone import normalise_mobile
from msg5g.pipeline.queue import TOPIC_SEND, NewJob
from msg5g.services.access import BusinessAccess
from msg5g.services.context import ServiceContext
from msg5g.services.views import AcceptedMessage, SendResponse
from msg5g.storage.repositories import BusinessRepository, ChatbotRepository, MessageRepository
from msg5g.storage.tables import Submission

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 1000

Recipient = Annotated[str, Field(min_length=3, max_length=64), AfterValidator(normalise_mobile)]


class SendRequest(BaseModel):
    """A downlink: one content to one or more recipients through one chatbot."""

    model_config = ConfigDict(extra="forbid")

    chatbot_id: str = Field(min_length=1, max_length=64)
    recipients: list[Recipient] = Field(
        min_length=1, max_length=MAX_RECIPIENTS,
        description="Mobile numbers; national (13812345678) or E.164 (+8613812345678). Default region CN.",
    )
    content: Content
    fallback_text: str | None = Field(
        default=None, min_length=1, max_length=MAX_FALLBACK_TEXT,
        description="Sent as SMS where the handset cannot take a 5G message.",
    )
    traffic_class: TrafficClass | None = Field(
        default=None, description="Defaults to the business's class; may be lowered, never raised."
    )
    client_message_id: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="Idempotency key: repeating a request with it creates nothing new.",
    )
    callback_url: AnyHttpUrl | None = Field(default=None, description="Overrides the business's callback URL.")
    expires_at: datetime | None = Field(default=None, description="Not delivered after this time.")
    ttl_seconds: int | None = Field(default=None, ge=1, le=30 * 86400)

    _fallback_is_sendable = field_validator("fallback_text", mode="after")(refuse_non_xml_characters)

    @model_validator(mode="after")
    def _one_expiry(self) -> SendRequest:
        if self.expires_at is not None and self.ttl_seconds is not None:
            raise ValueError("give expires_at or ttl_seconds, not both")
        return self

    def fingerprint(self) -> str:
        """What makes two requests "the same" for idempotency: everything but the key itself."""
        body = self.model_dump(mode="json", exclude={"client_message_id"})
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


async def submit(ctx: ServiceContext, access: BusinessAccess, request: SendRequest) -> SendResponse:
    fingerprint = request.fingerprint()
    try:
        response = await _submit_once(ctx, access, request, fingerprint)
    except IntegrityError:
        # Two requests with one client_message_id raced (PostgreSQL); the loser replays the winner.
        response = await _submit_once(ctx, access, request, fingerprint)
    if not response.replayed:
        ctx.queue.notify(TOPIC_SEND)
    return response


async def _submit_once(
    ctx: ServiceContext, access: BusinessAccess, request: SendRequest, fingerprint: str
) -> SendResponse:
    now = utcnow()
    async with ctx.db.transaction(urgent=True) as session:
        messages = MessageRepository(session, access.tenant_id)
        if request.client_message_id:
            earlier = await messages.submission_by_client_id(access.business_id, request.client_message_id)
            if earlier is not None:
                if earlier.request_hash != fingerprint:
                    raise Conflict(
                        "client_message_id was used before for a different request",
                        code="idempotency_conflict", field="client_message_id",
                    )
                by_recipient = {m.recipient: m for m in await messages.messages_of_submission(earlier.id)}
                # The same request has the same recipients: answer in the order it listed them.
                replayed = [by_recipient[r] for r in dict.fromkeys(request.recipients) if r in by_recipient]
                return SendResponse(
                    submission_id=earlier.id, client_message_id=earlier.client_message_id, replayed=True,
                    messages=[AcceptedMessage(id=m.id, recipient=m.recipient, status=MessageStatus(m.status))
                              for m in replayed],
                )
        business = await BusinessRepository(session, access.tenant_id).get(access.business_id)
        if business is None:
            raise NotFound("the API key's business no longer exists", code="business_not_found")
        chatbot = await ChatbotRepository(session, access.tenant_id).get(request.chatbot_id)
        if chatbot is None:
            raise NotFound("no such chatbot", code="chatbot_not_found", field="chatbot_id")
        traffic_class = _traffic_class(TrafficClass(business.traffic_class), request.traffic_class)
        expires_at = _expiry(request, now)

        submission_id = new_id()
        recipients = list(dict.fromkeys(request.recipients))  # one message per distinct recipient
        rows: list[dict[str, Any]] = [
            {
                "id": new_id(), "tenant_id": access.tenant_id, "submission_id": submission_id,
                "business_id": access.business_id, "chatbot_id": chatbot.id, "recipient": recipient,
                "traffic_class": traffic_class.value, "status": MessageStatus.ACCEPTED.value,
                "status_reason": None, "created_at": now, "updated_at": now,
            }
            for recipient in recipients
        ]
        await messages.add_submission(
            Submission(
                id=submission_id, tenant_id=access.tenant_id, business_id=access.business_id, chatbot_id=chatbot.id,
                content=request.content.model_dump(mode="json"), fallback_text=request.fallback_text,
                traffic_class=traffic_class.value, client_message_id=request.client_message_id,
                request_hash=fingerprint, callback_url=str(request.callback_url) if request.callback_url else None,
                expires_at=expires_at, created_at=now,
            ),
            rows,
        )
        batch = ctx.settings.send_batch_size
        await ctx.queue.enqueue(
            session,
            [
                NewJob(topic=TOPIC_SEND, priority=traffic_class.rank, tenant_id=access.tenant_id,
                       payload={"tenant_id": access.tenant_id, "message_ids": [r["id"] for r in rows[i:i + batch]]})
                for i in range(0, len(rows), batch)
            ],
        )
    metrics.MESSAGES_ACCEPTED.labels(traffic_class.value).inc(len(rows))
    log.info("messages accepted", extra={"submission_id": submission_id, "count": len(rows),
                                         "first_message_id": rows[0]["id"], "traffic_class": traffic_class.value})
    return SendResponse(
        submission_id=submission_id, client_message_id=request.client_message_id, replayed=False,
        messages=[AcceptedMessage(id=r["id"], recipient=r["recipient"], status=MessageStatus.ACCEPTED) for r in rows],
    )


def _traffic_class(business_class: TrafficClass, requested: TrafficClass | None) -> TrafficClass:
    if requested is None:
        return business_class
    if not business_class.allows(requested):
        raise ValidationFailed(
            f"this business sends {business_class.value} traffic and may not raise a message to {requested.value}",
            code="traffic_class_not_allowed", field="traffic_class",
        )
    return requested


def _expiry(request: SendRequest, now: datetime) -> datetime | None:
    if request.ttl_seconds is not None:
        return now + timedelta(seconds=request.ttl_seconds)
    if request.expires_at is None:
        return None
    expires_at = as_utc(request.expires_at)
    if expires_at <= now:
        raise ValidationFailed("expires_at is in the past", code="already_expired", field="expires_at")
    return expires_at
