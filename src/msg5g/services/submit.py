"""Accepting a send request.

"Accepted" means durable: the submission, one message row per recipient and the queue entries that
will send them commit in one transaction before the caller gets its 202 (a transactional outbox).
Nothing is sent inside the request.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.content.sensitive import WordMatcher
from msg5g.domain.capacity import QuotaExceeded
from msg5g.domain.content import MAX_FALLBACK_TEXT, Content, refuse_non_xml_characters
from msg5g.domain.errors import Conflict, NotFound, ValidationFailed
from msg5g.domain.messages import FallbackPolicy, MessageStatus, TrafficClass
from msg5g.kit import metrics
from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.group_commit import GroupCommit
from msg5g.kit.ids import new_id
from msg5g.kit.phone import normalise_mobile
from msg5g.pipeline.queue import TOPIC_SEND, NewJob
from msg5g.services.access import BusinessAccess
from msg5g.services.capacity import Capacity, Reservation, ReservationRequest
from msg5g.services.context import ServiceContext
from msg5g.services.directory import Directory
from msg5g.services.grants import BusinessGrants, ResourceType
from msg5g.services.materials import MaterialLibrary, MaterialNotReady, referenced_materials
from msg5g.services.routing import Router
from msg5g.services.templates import TemplateCatalog
from msg5g.services.views import AcceptedMessage, RefusedRecipient, SendResponse
from msg5g.services.words import SensitiveWords
from msg5g.storage.repositories import MessageRepository

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
    content: Content | None = Field(default=None, description="The message; or give `template`.")
    template: str | None = Field(default=None, min_length=1, max_length=64,
                                 description="A template id: the message is the template's version approved on "
                                             "the chatbot it goes through, rendered with `params`.")
    params: dict[str, Any] | None = Field(default=None, description="Template parameters for every recipient.")
    recipient_params: dict[str, dict[str, Any]] | None = Field(
        default=None, max_length=MAX_RECIPIENTS,
        description="Template parameters of single recipients, by number, merged over `params`.")
    fallback_text: str | None = Field(
        default=None, min_length=1, max_length=MAX_FALLBACK_TEXT,
        description="Sent as SMS where the handset cannot take a 5G message.",
    )
    fallback: FallbackPolicy | None = Field(
        default=None,
        description="When the handset cannot take a 5G message: `carrier` (the carrier sends fallback_text as "
                    "SMS), `sms` (the platform does, over the chatbot's `sms` route), `h5` (the platform sends "
                    "an SMS with a link to a page showing the message) or `none`. Default: `carrier` with "
                    "fallback_text, else `none`.",
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
    def _content_or_template(self) -> SendRequest:
        if (self.content is None) == (self.template is None):
            raise ValueError("give content or template, not both")
        if self.template is None and (self.params is not None or self.recipient_params is not None):
            raise ValueError("params and recipient_params go with a template")
        if self.template is not None and self.fallback_text is not None:
            raise ValueError("a template brings its own fallback text")
        if self.recipient_params:
            numbers = set(self.recipients)
            for raw in self.recipient_params:
                try:
                    number = normalise_mobile(raw)
                except ValueError:
                    raise ValueError(f"recipient_params names {raw!r}, not a mobile number") from None
                if number not in numbers:
                    raise ValueError(f"recipient_params names {raw!r}, which is not among the recipients")
        return self

    @property
    def numbers(self) -> list[str]:
        return self.recipients

    def params_of(self) -> dict[str, dict[str, Any]]:
        """Each recipient's own parameters, by E.164 number."""
        return {normalise_mobile(raw): params for raw, params in (self.recipient_params or {}).items()}

    @model_validator(mode="after")
    def _one_expiry(self) -> SendRequest:
        if self.expires_at is not None and self.ttl_seconds is not None:
            raise ValueError("give expires_at or ttl_seconds, not both")
        if self.fallback in {FallbackPolicy.CARRIER, FallbackPolicy.SMS} and not self.fallback_text and \
                self.template is None:  # a template brings its fallback text
            raise ValueError(f"fallback {self.fallback.value!r} needs fallback_text")
        return self

    def fallback_policy(self, fallback_text: str | None) -> FallbackPolicy:
        """The policy asked for, else `carrier` when there is fallback text (given, or the template's)."""
        if self.fallback is not None:
            return self.fallback
        return FallbackPolicy.CARRIER if fallback_text else FallbackPolicy.NONE

    def fingerprint(self) -> str:
        """What makes two requests "the same" for idempotency: everything but the key itself."""
        body = self.model_dump(mode="json", exclude={"client_message_id"})
        return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass
class _Pending:
    access: BusinessAccess
    request: SendRequest
    fingerprint: str
    submission: dict[str, Any]
    messages: list[dict[str, Any]]
    jobs: list[NewJob]
    reservation: Reservation | None = None
    refused: list[RefusedRecipient] = field(default_factory=list)

    def keep(self, count: int, refusal: str, batch: int) -> None:
        """Only the first `count` messages fit the caps: the rest are refused, and the jobs rebuilt."""
        self.refused = [*(r for r in self.refused if r.code != QuotaExceeded.code),
                        *(RefusedRecipient(recipient=r["recipient"], code=QuotaExceeded.code, message=refusal)
                          for r in self.messages[count:])]
        self.messages = self.messages[:count]
        self.jobs = _send_jobs(self.access.tenant_id, self.messages, TrafficClass(self.submission["traffic_class"]),
                               batch)

    @property
    def idempotency_key(self) -> tuple[str, str, str] | None:
        key = self.request.client_message_id
        return (self.access.tenant_id, self.access.business_id, key) if key else None

    def accepted(self) -> SendResponse:
        return SendResponse(
            submission_id=self.submission["id"], client_message_id=self.request.client_message_id, replayed=False,
            messages=[AcceptedMessage(id=r["id"], recipient=r["recipient"], status=MessageStatus.ACCEPTED)
                      for r in self.messages],
            refused=self.refused,
        )


class RecipientOptedOut(Conflict):
    code = "recipient_opted_out"


OptedOut = Callable[[str, list[str]], Awaitable[set[str]]]


class Submitter:
    """Accepts send requests; concurrent ones are committed together (group commit).

    Each request is validated and resolved on its own (chatbot, business, traffic class, expiry),
    then waits for the one transaction that writes it with the others that arrived meanwhile: on
    SQLite a transaction costs milliseconds of thread hand-offs whatever it holds, so one per request
    would cap single-recipient sends near 150 a second. A replay or a conflict answers only its own
    request; a database error fails the group and every request in it gets it (nothing half-written).
    """

    def __init__(self, ctx: ServiceContext, directory: Directory, materials: MaterialLibrary,
                 templates: TemplateCatalog, words: SensitiveWords, router: Router, capacity: Capacity,
                 grants: BusinessGrants) -> None:
        self._ctx = ctx
        self._grants = grants
        self._capacity = capacity
        self._directory = directory
        self._materials = materials
        self._templates = templates
        self._words = words
        self._router = router
        # Which of a tenant's numbers unsubscribed from its marketing (services/conversations.py sets it).
        self.opted_out: OptedOut | None = None
        # Large requests commit on their own (the weight is their recipient count), so that
        # preparing the next one on the event loop overlaps with writing this one.
        self._group: GroupCommit[_Pending, SendResponse] = GroupCommit(
            self._commit_batch, name="accepts", max_items=200, max_weight=500)

    async def submit(self, access: BusinessAccess, request: SendRequest) -> SendResponse:
        item = await self._prepare(access, request)
        response = await self._group(item, weight=len(item.messages))
        if not response.replayed:
            self._ctx.queue.notify(TOPIC_SEND)
            metrics.MESSAGES_ACCEPTED.labels(item.submission["traffic_class"]).inc(len(item.messages))
            log.info("messages accepted", extra={
                "submission_id": response.submission_id, "count": len(item.messages),
                "first_message_id": item.messages[0]["id"], "traffic_class": item.submission["traffic_class"]})
        return response

    async def close(self) -> None:
        await self._group.close()

    async def _prepare(self, access: BusinessAccess, request: SendRequest) -> _Pending:
        now = utcnow()
        business = await self._directory.business_callback(access.tenant_id, access.business_id)
        try:
            chatbot = await self._directory.chatbot(access.tenant_id, request.chatbot_id)
        except NotFound:
            raise NotFound("no such chatbot", code="chatbot_not_found", field="chatbot_id") from None
        # Another business's chatbot is as unknown as a missing one, unless the business is mapped to it.
        if not await self._grants.may_use(access.tenant_id, access.business_id, ResourceType.CHATBOT,
                                          chatbot.account.chatbot_id, chatbot.business_id):
            raise NotFound("no such chatbot", code="chatbot_not_found", field="chatbot_id")
        if not chatbot.endpoint.enabled:
            raise Conflict("the chatbot's channel is disabled", code="channel_disabled", field="chatbot_id")
        if chatbot.unsendable and await self._router.reachable_chatbots(
                access.tenant_id, chatbot.account.chatbot_id) == [chatbot.account.chatbot_id]:
            raise Conflict(chatbot.unsendable, code="chatbot_not_live", field="chatbot_id")
        numbers = request.numbers
        shared_params = None
        if request.template is not None:
            content, fallback_text, shared_params, own_params = await self._templated(
                access, request, chatbot.account.chatbot_id)
        else:
            assert request.content is not None
            own_params = {}
            content, fallback_text = await self._checked_content(access, request.content, request.fallback_text,
                                                                 chatbot.account.chatbot_id)
        refusal = self._ctx.registry.adapter_type(chatbot.endpoint.type).capabilities.refusal(content, fallback_text)
        if refusal:
            raise ValidationFailed(refusal, code="content_not_supported", field="content")
        traffic_class = _traffic_class(TrafficClass(business.traffic_class), request.traffic_class)
        expires_at = _expiry(request, now)
        submission_id = new_id()
        policy = request.fallback_policy(fallback_text)
        reservation = await self._capacity.plan(access.tenant_id, access.business_id, request.template,
                                                chatbot.account.chatbot_id, content, policy)
        reserved_cost = reservation.primary + reservation.fallback if reservation else None
        reserved_count = 1 if reservation else None
        rows: list[dict[str, Any]] = [
            {
                "id": new_id(), "tenant_id": access.tenant_id, "submission_id": submission_id,
                "business_id": access.business_id, "chatbot_id": chatbot.account.chatbot_id, "recipient": recipient,
                "traffic_class": traffic_class.value, "status": MessageStatus.ACCEPTED.value,
                "status_reason": None, "created_at": now, "updated_at": now, "params": own_params.get(recipient),
                "reserved_cost": reserved_cost, "reserved_count": reserved_count,
            }
            for recipient in dict.fromkeys(numbers)  # one message per distinct recipient
        ]
        fingerprint = request.fingerprint()
        submission = {
            "id": submission_id, "tenant_id": access.tenant_id, "business_id": access.business_id,
            "chatbot_id": chatbot.account.chatbot_id, "content": content.model_dump(mode="json"),
            "fallback_text": fallback_text, "fallback_policy": policy.value,
            "template_id": request.template, "params": shared_params,
            "traffic_class": traffic_class.value,
            "client_message_id": request.client_message_id, "request_hash": fingerprint,
            "callback_url": str(request.callback_url) if request.callback_url else None,
            "expires_at": expires_at, "created_at": now,
            "reservation": reservation.as_json() if reservation else None,
        }
        refused: list[RefusedRecipient] = []
        if traffic_class is TrafficClass.MARKETING and self.opted_out is not None:
            # Marketing never reaches a number that unsubscribed; notifications and service still do.
            out = await self.opted_out(access.tenant_id, [r["recipient"] for r in rows])
            if out:
                refused = [RefusedRecipient(recipient=number, code=RecipientOptedOut.code,
                                            message="the recipient unsubscribed from this tenant's marketing")
                           for number in sorted(out)]
                rows = [r for r in rows if r["recipient"] not in out]
                if not rows:
                    raise RecipientOptedOut("every recipient unsubscribed from this tenant's marketing",
                                            field="recipients")
        jobs = _send_jobs(access.tenant_id, rows, traffic_class, self._ctx.settings.send_batch_size)
        return _Pending(access=access, request=request, fingerprint=fingerprint, submission=submission,
                        messages=rows, jobs=jobs, reservation=reservation, refused=refused)

    async def _checked_content(self, access: BusinessAccess, content: Content, fallback_text: str | None,
                               chatbot_id: str) -> tuple[Content, str | None]:
        """Sensitive words in the text (masked where the list says so) and materials the business
        owns and has approved on a chatbot the message can go through."""
        matcher = await self._words.matcher(access.tenant_id)
        if matcher.size:
            content, fallback_text = _masked_content(matcher, content, fallback_text)
        wanted = referenced_materials(content)
        if wanted:
            await self._materials.check_owned(access.tenant_id, access.business_id, wanted)
            for via in await self._router.reachable_chatbots(access.tenant_id, chatbot_id):
                if await self._materials.ready_on(access.tenant_id, via, wanted):
                    break
            else:
                raise MaterialNotReady("the content's materials are not approved on this chatbot (or its routes) "
                                       "yet; GET /v1/materials/{id} shows their state per chatbot", field="content")
        return content, fallback_text

    async def _templated(self, access: BusinessAccess, request: SendRequest, chatbot_id: str
                         ) -> tuple[Content, str | None, dict[str, Any], dict[str, dict[str, Any]]]:
        """Every recipient's parameters checked against the template's newest approved version
        (rendered, so a value that makes an invalid message is refused now), sensitive words in
        them blocked or masked. Returns (the sample rendering to route by, its fallback text, the
        shared and the per-recipient parameters as stored)."""
        assert request.template is not None
        reachable = await self._router.reachable_chatbots(access.tenant_id, chatbot_id)
        approved = await self._templates.for_send(access, request.template, reachable)
        matcher = await self._words.matcher(access.tenant_id)
        shared = _masked_params(matcher, request.params or {}, "params")
        own = {number: _masked_params(matcher, params, "recipient_params")
               for number, params in request.params_of().items()}
        for number in dict.fromkeys(request.numbers):
            try:
                approved.compiled.render({**shared, **own.get(number, {})})
            except ValidationFailed as exc:
                exc.message = f"recipient {number}: {exc.message}"
                raise
        # The submission keeps the rendering with the template's samples, not any recipient's
        # values: it is what routing checks a channel against, and it belongs to no one.
        sample = approved.compiled.sample
        return sample.content, sample.fallback_text, shared, own

    async def _commit_batch(self, group: list[_Pending]) -> list[SendResponse | Exception]:
        try:
            return await self._commit(group)
        except IntegrityError:
            # Another process wrote one of these client_message_ids meanwhile (PostgreSQL): go
            # one by one, so the loser replays the winner and the others are unaffected.
            answers: list[SendResponse | Exception] = []
            for item in group:
                try:
                    answers.extend(await self._commit([item]))
                except Exception as exc:
                    answers.append(exc)
            return answers

    async def _commit(self, group: list[_Pending]) -> list[SendResponse | Exception]:
        answers: dict[int, SendResponse | Exception] = {}
        async with self._ctx.db.transaction(urgent=True) as session:
            fresh: list[_Pending] = []
            first_in_group: dict[tuple[str, str, str], _Pending] = {}
            for index, item in enumerate(group):
                key = item.idempotency_key
                if key is None:
                    fresh.append(item)
                    continue
                if key in first_in_group:
                    answers[index] = _replay_or_conflict(first_in_group[key], item)
                    continue
                earlier = await _earlier(session, item)
                if earlier is None:
                    first_in_group[key] = item
                    fresh.append(item)
                else:
                    answers[index] = earlier
            fresh = await self._reserve(session, group, fresh, answers)
            by_tenant: dict[str, list[_Pending]] = {}
            for item in fresh:
                by_tenant.setdefault(item.access.tenant_id, []).append(item)
            for tenant_id, items in by_tenant.items():
                await MessageRepository(session, tenant_id).add_submissions(
                    [i.submission for i in items], [row for i in items for row in i.messages])
            await self._ctx.queue.enqueue(session, [job for i in fresh for job in i.jobs])
        return [answers.get(index) or item.accepted() for index, item in enumerate(group)]

    async def _reserve(self, session: AsyncSession, group: list[_Pending], fresh: list[_Pending],
                       answers: dict[int, SendResponse | Exception]) -> list[_Pending]:
        """Capacity for the new requests that need it, in arrival order: a request no message of which
        fits is refused (429), one that fits in part keeps its first recipients and lists the rest."""
        capped: dict[str, list[tuple[_Pending, ReservationRequest]]] = {}
        for item in fresh:
            if item.reservation is not None:
                capped.setdefault(item.access.tenant_id, []).append(
                    (item, ReservationRequest(item.reservation, len(item.messages))))
        if not capped:
            return fresh
        refused: set[int] = set()
        for tenant_id, pairs in capped.items():
            await self._capacity.reserve(session, tenant_id, [r for _, r in pairs])
            for item, request in pairs:
                if request.accepted == request.count:
                    continue
                assert request.refused_by is not None
                refusal = f"over {request.refused_by.label()}"
                if request.accepted == 0:
                    answers[group.index(item)] = QuotaExceeded(refusal, field="recipients")
                    refused.add(id(item))
                else:
                    item.keep(request.accepted, refusal, self._ctx.settings.send_batch_size)
        return [item for item in fresh if id(item) not in refused]


def _send_jobs(tenant_id: str, rows: list[dict[str, Any]], traffic_class: TrafficClass, batch: int) -> list[NewJob]:
    return [
        NewJob(topic=TOPIC_SEND, priority=traffic_class.rank, tenant_id=tenant_id,
               payload={"tenant_id": tenant_id, "message_ids": [r["id"] for r in rows[i:i + batch]]})
        for i in range(0, len(rows), batch)
    ]


def _replay_or_conflict(first: _Pending, again: _Pending) -> SendResponse | Exception:
    if first.fingerprint != again.fingerprint:
        return _conflict()
    response = first.accepted()
    return response.model_copy(update={"replayed": True})


def _conflict() -> Conflict:
    return Conflict("client_message_id was used before for a different request",
                    code="idempotency_conflict", field="client_message_id")


async def _earlier(session: AsyncSession, item: _Pending) -> SendResponse | Exception | None:
    """The answer to a repeated client_message_id, or None when it is new."""
    messages = MessageRepository(session, item.access.tenant_id)
    earlier = await messages.submission_by_client_id(item.access.business_id, item.request.client_message_id or "")
    if earlier is None:
        return None
    if earlier.request_hash != item.fingerprint:
        return _conflict()
    by_recipient = {m.recipient: m for m in await messages.messages_of_submission(earlier.id)}
    # The same request has the same recipients: answer in the order it listed them.
    replayed = [by_recipient[r] for r in dict.fromkeys(item.request.numbers) if r in by_recipient]
    return SendResponse(
        submission_id=earlier.id, client_message_id=earlier.client_message_id, replayed=True,
        messages=[AcceptedMessage(id=m.id, recipient=m.recipient, status=MessageStatus(m.status)) for m in replayed],
    )


def _masked_params(matcher: WordMatcher, params: dict[str, Any], where: str) -> dict[str, Any]:
    if not matcher.size:
        return params
    masked: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, str):
            value = matcher.check(value, where=f"parameter {name}", field=where)
        elif isinstance(value, list):
            value = [matcher.check(v, where=f"parameter {name}", field=where) if isinstance(v, str) else v
                     for v in value]
        masked[name] = value
    return masked


def _masked_content(matcher: WordMatcher, content: Content, fallback_text: str | None) -> tuple[Content, str | None]:
    """Text, titles, descriptions and button labels checked; masks applied in place of the words."""
    document = content.model_dump(mode="json")
    changed = False

    def walk(node: Any, key: str | None = None) -> Any:
        nonlocal changed
        if isinstance(node, dict):
            return {k: walk(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, key) for v in node]
        if isinstance(node, str) and key in _TEXT_FIELDS:
            checked = matcher.check(node, where="the content", field="content")
            changed = changed or checked != node
            return checked
        return node

    masked = walk(document)
    if fallback_text is not None:
        fallback_text = matcher.check(fallback_text, where="fallback_text", field="fallback_text")
    if changed:
        content = _content_adapter.validate_python(masked)
    return content, fallback_text


_TEXT_FIELDS = {"text", "title", "description", "postback_data"}
_content_adapter: TypeAdapter[Content] = TypeAdapter(Content)


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
