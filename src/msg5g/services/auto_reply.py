"""Auto-reply: the rules a business sets on its chatbot's uplinks, run on each uplink (domain/rules.py says
how rules are chosen), and their actions: replies (inline content or a template, filled in from the
uplink, the contact and the conversation), changes of the conversation's state and the contact's tags and
attributes, a call to the business's webhook whose answer is the reply (its `fallback` when it is slow or
fails), and a handover to people.

Every uplink is a job on pipeline.queue.TOPIC_UPLINK, written with it (services/carrier_webhooks.py). The handler
counts it on its conversation, runs the rules unless people have the conversation, then writes what the
actions changed and notes of what happened (a reply that could not be filled in is a note on the
conversation, not a silence), and submits the replies through the same pipeline, caps and billing as any
send, in the customer-service traffic class where the business may use it. A retried job repeats nothing:
its uplink is counted once, and each reply carries a `client_message_id` made from the uplink.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from msg5g.content.templates import check_inline, render_inline, render_text
from msg5g.domain.content import Content, TextContent
from msg5g.domain.conversations import Mode
from msg5g.domain.errors import DomainError, NotFound
from msg5g.domain.messages import TrafficClass
from msg5g.domain.rules import (
    HandoverAction,
    Match,
    ReplyAction,
    Rule,
    RuleSpec,
    SetAction,
    Uplink,
    WebhookAction,
    select,
)
from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.ids import new_id
from msg5g.pipeline.queue import Job
from msg5g.services.access import BusinessAccess
from msg5g.services.audit import AuditLog
from msg5g.services.context import ServiceContext
from msg5g.services.directory import Directory
from msg5g.services.inbox import SATISFACTION_PREFIX
from msg5g.services.signing import signed_headers
from msg5g.services.submit import SendRequest, Submitter
from msg5g.storage.conversation_repository import ConversationRepository
from msg5g.storage.repositories import ChatbotRepository
from msg5g.storage.tables import AutoReplyRule

log = logging.getLogger(__name__)

_CACHE_SECONDS = 5.0  # a rule change reaches other processes within this
# What Chinese carriers' users send to unsubscribe from marketing, and to come back (compared trimmed,
# case-folded, as the whole message).
OPT_OUT_WORDS = frozenset({"退订", "td", "t", "stop", "unsubscribe", "取消订阅"})
OPT_IN_WORDS = frozenset({"订阅", "start", "unstop", "重新订阅"})
OPTED_OUT_REPLY = "您已退订本企业的营销消息，将不再收到推广信息。回复「订阅」可重新订阅。"
OPTED_IN_REPLY = "您已重新订阅本企业的营销消息。回复「退订」可随时退订。"


class RuleView(BaseModel):
    id: str
    chatbot_id: str
    spec: RuleSpec
    created_at: datetime
    updated_at: datetime


class WebhookAnswer(BaseModel):
    """What a webhook action's URL answers."""

    model_config = ConfigDict(extra="ignore")
    replies: list[Content] = Field(default_factory=list, max_length=5)
    state: str | None = Field(default=None, max_length=100)
    add_tags: list[str] = Field(default_factory=list, max_length=20)
    remove_tags: list[str] = Field(default_factory=list, max_length=20)
    attributes: dict[str, str | int | float | bool | None] = Field(default_factory=dict, max_length=50)


class PlannedReply(BaseModel):
    rule_id: str
    content: Content | None = None
    template_id: str | None = None
    params: dict[str, str] | None = None


class Outcome(BaseModel):
    """What an uplink made happen (or, for a test, would make happen)."""

    rules: list[str] = Field(description="The ids of the rules that ran, in order.")
    replies: list[PlannedReply]
    state: str | None = Field(description="The conversation's state afterwards.")
    tags: list[str]
    attributes: dict[str, Any]
    handed_over: bool
    webhook_calls: list[str] = Field(default_factory=list, description="URLs called (a test calls none).")
    problems: list[str] = Field(default_factory=list, description="Replies that could not be made, and why.")


class SampleUplink(BaseModel):
    """An uplink to test rules against ("what would happen")."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(default=None, max_length=2048)
    postback: str | None = Field(default=None, max_length=2048)
    number: str = Field(default="+8613800138000", min_length=3, max_length=20)
    first_message: bool = False
    state: str | None = Field(default=None, max_length=100)
    tags: list[str] = Field(default_factory=list, max_length=100)
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=100)
    at: datetime | None = Field(default=None, description="When it arrives; default now.")


@dataclass(slots=True)
class _Facts:
    """The conversation as the actions change it, in memory until written."""

    state: str | None
    tags: set[str]
    attributes: dict[str, Any]
    handed_over: bool = False
    replies: list[PlannedReply] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    webhook_calls: list[str] = field(default_factory=list)


def _variables(uplink: Uplink, match: Match, facts: _Facts) -> dict[str, Any]:
    return {"text": uplink.text or "", "postback": uplink.postback or "", "number": uplink.number,
            "groups": list(match.groups), "named": dict(match.named), "contact": dict(facts.attributes),
            "tags": sorted(facts.tags), "state": facts.state or ""}


def _calls_webhook(rules: list[Rule], matches: list[Match]) -> bool:
    by_id = {r.id: r for r in rules}
    return any(isinstance(a, WebhookAction) for m in matches for a in by_id[m.rule_id].spec.actions)


def _rule_view(row: AutoReplyRule) -> RuleView:
    return RuleView(id=row.id, chatbot_id=row.chatbot_id, spec=RuleSpec.model_validate(row.spec),
                    created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at))


def _check(spec: RuleSpec) -> None:
    for index, action in enumerate(spec.actions):
        replies = [action] if isinstance(action, ReplyAction) else \
            list(action.fallback) if isinstance(action, WebhookAction) else []
        for reply in replies:
            if reply.content is not None:
                check_inline(reply.content.model_dump(mode="json"), where=f"actions.{index}.content")
            for name, source in reply.params.items():
                check_inline(source, where=f"actions.{index}.params.{name}")


class AutoReply:
    def __init__(self, ctx: ServiceContext, directory: Directory, submitter: Submitter, audit: AuditLog) -> None:
        self._ctx = ctx
        self._directory = directory
        self._submitter = submitter
        self._audit = audit
        self._rules: dict[tuple[str, str], tuple[float, list[Rule]]] = {}
        # Called with the tenant id when a rule hands a conversation to people (the inbox hands it on).
        self.on_handover: list[Callable[[str], Awaitable[Any]]] = []

    # ---- rules ------------------------------------------------------------------------------------------

    async def _own_chatbot(self, session: Any, access: BusinessAccess, chatbot_id: str) -> None:
        chatbot = await ChatbotRepository(session, access.tenant_id).get(chatbot_id)
        if chatbot is None or chatbot.business_id != access.business_id:
            # Rules are the business's that receives the chatbot's uplinks; any other answers as unknown.
            raise NotFound("no such chatbot", code="chatbot_not_found")

    async def rules(self, access: BusinessAccess, chatbot_id: str) -> list[RuleView]:
        async with self._ctx.db.reader() as session:
            await self._own_chatbot(session, access, chatbot_id)
            return [_rule_view(r) for r in await ConversationRepository(session, access.tenant_id).rules(chatbot_id)]

    async def add_rule(self, access: BusinessAccess, chatbot_id: str, spec: RuleSpec) -> RuleView:
        _check(spec)
        now = utcnow()
        async with self._ctx.db.transaction() as session:
            await self._own_chatbot(session, access, chatbot_id)
            row = AutoReplyRule(id=new_id(), tenant_id=access.tenant_id, business_id=access.business_id,
                                chatbot_id=chatbot_id, name=spec.name, priority=spec.priority,
                                spec=spec.model_dump(mode="json"), created_at=now, updated_at=now)
            await ConversationRepository(session, access.tenant_id).add_rule(row)
            await self._audit.record(session, action="auto_reply_rule.create", target_type="auto_reply_rule",
                                     target_id=row.id, after=row.spec, tenant_id=access.tenant_id)
        self._rules.pop((access.tenant_id, chatbot_id), None)
        return _rule_view(row)

    async def _rule_row(self, session: Any, access: BusinessAccess, chatbot_id: str, rule_id: str) -> AutoReplyRule:
        await self._own_chatbot(session, access, chatbot_id)
        row = await ConversationRepository(session, access.tenant_id).rule(rule_id)
        if row is None or row.chatbot_id != chatbot_id:
            raise NotFound("no such rule", code="rule_not_found")
        return row

    async def rule(self, access: BusinessAccess, chatbot_id: str, rule_id: str) -> RuleView:
        async with self._ctx.db.reader() as session:
            return _rule_view(await self._rule_row(session, access, chatbot_id, rule_id))

    async def replace_rule(self, access: BusinessAccess, chatbot_id: str, rule_id: str, spec: RuleSpec) -> RuleView:
        _check(spec)
        async with self._ctx.db.transaction() as session:
            row = await self._rule_row(session, access, chatbot_id, rule_id)
            before = row.spec
            row.name, row.priority, row.spec, row.updated_at = spec.name, spec.priority, spec.model_dump(
                mode="json"), utcnow()
            await self._audit.record(session, action="auto_reply_rule.update", target_type="auto_reply_rule",
                                     target_id=row.id, before=before, after=row.spec, tenant_id=access.tenant_id)
        self._rules.pop((access.tenant_id, chatbot_id), None)
        return _rule_view(row)

    async def delete_rule(self, access: BusinessAccess, chatbot_id: str, rule_id: str) -> None:
        async with self._ctx.db.transaction() as session:
            row = await self._rule_row(session, access, chatbot_id, rule_id)
            await ConversationRepository(session, access.tenant_id).delete_rule(row.id)
            await self._audit.record(session, action="auto_reply_rule.delete", target_type="auto_reply_rule",
                                     target_id=row.id, before=row.spec, tenant_id=access.tenant_id)
        self._rules.pop((access.tenant_id, chatbot_id), None)

    async def _cached_rules(self, tenant_id: str, chatbot_id: str) -> list[Rule]:
        key = (tenant_id, chatbot_id)
        cached = self._rules.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with self._ctx.db.reader() as session:
            rows = await ConversationRepository(session, tenant_id).rules(chatbot_id)
        rules = [Rule(r.id, RuleSpec.model_validate(r.spec)) for r in rows]
        self._rules[key] = (time.monotonic() + _CACHE_SECONDS, rules)
        return rules

    # ---- what would happen ------------------------------------------------------------------------------

    async def test(self, access: BusinessAccess, chatbot_id: str, sample: SampleUplink) -> Outcome:
        """Run the chatbot's rules on a sample uplink without sending, writing or calling anything."""
        async with self._ctx.db.reader() as session:
            await self._own_chatbot(session, access, chatbot_id)
            rows = await ConversationRepository(session, access.tenant_id).rules(chatbot_id)
        rules = [Rule(r.id, RuleSpec.model_validate(r.spec)) for r in rows]
        uplink = Uplink(kind="suggestion_response" if sample.postback else "text", text=sample.text,
                        postback=sample.postback, number=sample.number, at=sample.at or utcnow(),
                        first_message=sample.first_message, state=sample.state, tags=frozenset(sample.tags),
                        attributes=dict(sample.attributes))
        facts = _Facts(state=sample.state, tags=set(sample.tags), attributes=dict(sample.attributes))
        matches = select(rules, uplink)
        await self._act(rules, matches, uplink, facts, webhook=None)
        return self._outcome(matches, facts)

    @staticmethod
    def _outcome(matches: list[Match], facts: _Facts) -> Outcome:
        return Outcome(rules=[m.rule_id for m in matches], replies=facts.replies, state=facts.state,
                       tags=sorted(facts.tags), attributes=facts.attributes, handed_over=facts.handed_over,
                       webhook_calls=facts.webhook_calls, problems=facts.problems)

    # ---- the actions ------------------------------------------------------------------------------------

    async def _act(self, rules: list[Rule], matches: list[Match], uplink: Uplink, facts: _Facts,
                   webhook: _WebhookCall | None) -> None:
        by_id = {r.id: r for r in rules}
        for match in matches:
            for action in by_id[match.rule_id].spec.actions:
                if isinstance(action, ReplyAction):
                    self._reply(action, uplink, match, facts)
                elif isinstance(action, SetAction):
                    self._set(action, uplink, match, facts)
                elif isinstance(action, HandoverAction):
                    facts.handed_over = True
                elif webhook is None:  # a test: say what would be called
                    facts.webhook_calls.append(str(action.url) if action.url else "(the business's callback URL)")
                else:
                    await webhook.call(action, match, facts)

    def _reply(self, action: ReplyAction, uplink: Uplink, match: Match, facts: _Facts) -> None:
        variables = _variables(uplink, match, facts)
        try:
            if action.content is not None:
                content = render_inline(action.content.model_dump(mode="json"), variables)
                facts.replies.append(PlannedReply(rule_id=match.rule_id, content=content))
            else:
                params = {name: render_text(source, variables) for name, source in action.params.items()}
                facts.replies.append(PlannedReply(rule_id=match.rule_id, template_id=action.template_id,
                                                  params=params))
        except DomainError as exc:
            facts.problems.append(f"rule {match.rule_id}: the reply was not sent: {exc.message}")

    @staticmethod
    def _set(action: SetAction, uplink: Uplink, match: Match, facts: _Facts) -> None:
        if action.state is not None:
            facts.state = action.state or None
        facts.tags |= set(action.add_tags)
        facts.tags -= set(action.remove_tags)
        variables = _variables(uplink, match, facts)
        for name, source in action.attributes.items():
            try:
                facts.attributes[name] = render_text(source, variables)
            except DomainError as exc:
                facts.problems.append(f"rule {match.rule_id}: attribute {name} not set: {exc.message}")

    # ---- on each uplink ---------------------------------------------------------------------------------

    async def run(self, job: Job) -> None:
        """Handler of TOPIC_UPLINK. Rules without a webhook run inside the transaction that counts the uplink
        (one write per uplink); a webhook is called outside any transaction, its outcome written after."""
        tenant_id, inbound_id = job.payload["tenant_id"], job.payload["inbound_id"]
        known_chatbot = job.payload.get("chatbot_id")
        rules = await self._cached_rules(tenant_id, known_chatbot) if known_chatbot else None
        rated: str | None = None
        facts: _Facts | None = None
        matches: list[Match] = []
        needs_webhook = False
        async with self._ctx.db.transaction() as session:
            repository = ConversationRepository(session, tenant_id)
            inbound = await repository.inbound(inbound_id)
            if inbound is None:
                return
            contact = await repository.ensure_contact(inbound.sender)
            conversation = await repository.ensure_conversation(inbound.business_id, inbound.chatbot_id,
                                                                inbound.sender)
            if conversation.last_inbound_id != inbound.id:
                conversation.uplinks += 1
                conversation.last_inbound_id = inbound.id
                conversation.last_uplink_at = inbound.received_at
                conversation.updated_at = utcnow()
            conversation_id, business_id = conversation.id, conversation.business_id
            chatbot_id = conversation.chatbot_id
            content = inbound.content or {}
            postback = content.get("postback_data")
            word = str(content.get("text") or "").strip().casefold() if inbound.kind == "text" else ""
            if word in OPT_OUT_WORDS or word in OPT_IN_WORDS:
                # Before any rule, whoever has the conversation: the law asks that an unsubscribe always works.
                leaving = word in OPT_OUT_WORDS
                contact.opted_out_at = utcnow() if leaving else None
                contact.updated_at = utcnow()
                await repository.note(conversation_id, "opt_out" if leaving else "opt_in",
                                      "unsubscribed from marketing" if leaving else "subscribed to marketing again")
                facts = _Facts(state=conversation.state, tags=set(contact.tags or []),
                               attributes=dict(contact.attributes or {}), replies=[PlannedReply(
                                   rule_id="opt-out", content=TextContent(
                                       text=OPTED_OUT_REPLY if leaving else OPTED_IN_REPLY))])
            elif isinstance(postback, str) and postback.startswith(f"{SATISFACTION_PREFIX}{conversation_id}:"):
                rated = postback.rsplit(":", 1)[-1]
                if rated.isdigit() and 1 <= int(rated) <= 5:
                    await repository.note(conversation_id, "satisfaction",
                                          f"the customer rated the service {rated} of 5", {"score": int(rated)})
            elif conversation.mode == Mode.BOT and rules is not None:
                uplink = self._uplink(inbound.kind, content, inbound.sender, inbound.received_at, conversation,
                                      contact)
                matches = select(rules, uplink)
                needs_webhook = _calls_webhook(rules, matches)
                if matches and not needs_webhook:
                    facts = _Facts(state=conversation.state, tags=set(contact.tags or []),
                                   attributes=dict(contact.attributes or {}))
                    await self._act(rules, matches, uplink, facts, webhook=None)
                    await self._apply(repository, conversation, contact, matches, facts)
            mode, first_count = conversation.mode, conversation.uplinks
            state, tags, attributes = conversation.state, set(contact.tags or []), dict(contact.attributes or {})
        if rated is not None:
            if rated.isdigit() and 1 <= int(rated) <= 5:
                thanks = _Facts(state=None, tags=set(), attributes={}, replies=[PlannedReply(
                    rule_id="satisfaction", content=TextContent(text="感谢您的评价！"))])
                await self._send(tenant_id, business_id, chatbot_id, inbound.sender, inbound_id, conversation_id,
                                 thanks)
            return
        if facts is None:
            if mode != Mode.BOT:
                return  # people have it: the inbox shows the uplink
            if rules is None:  # a job written before jobs named their chatbot
                rules = await self._cached_rules(tenant_id, chatbot_id)
                needs_webhook = True  # not looked at yet: the path that looks
            if not needs_webhook:
                return  # looked at in the transaction: nothing matched
            uplink = Uplink(kind=inbound.kind, text=content.get("text"), postback=content.get("postback_data"),
                            number=inbound.sender, at=as_utc(inbound.received_at), first_message=first_count == 1,
                            state=state, tags=frozenset(tags), attributes=attributes)
            matches = select(rules, uplink)
            if not matches:
                return
            facts = _Facts(state=state, tags=set(tags), attributes=dict(attributes))
            webhook = _WebhookCall(self, tenant_id, business_id, inbound_id, uplink, content, conversation_id)
            await self._act(rules, matches, uplink, facts, webhook)
            await self._write(tenant_id, conversation_id, inbound.sender, matches, facts)
        await self._send(tenant_id, business_id, chatbot_id, inbound.sender, inbound_id, conversation_id, facts)
        if facts.handed_over:
            for hook in self.on_handover:
                await hook(tenant_id)

    @staticmethod
    def _uplink(kind: str, content: dict[str, Any], number: str, received_at: datetime, conversation: Any,
                contact: Any) -> Uplink:
        return Uplink(kind=kind, text=content.get("text"), postback=content.get("postback_data"), number=number,
                      at=as_utc(received_at), first_message=conversation.uplinks == 1, state=conversation.state,
                      tags=frozenset(contact.tags or []), attributes=dict(contact.attributes or {}))

    async def _write(self, tenant_id: str, conversation_id: str, number: str, matches: list[Match],
                     facts: _Facts) -> None:
        async with self._ctx.db.transaction() as session:
            repository = ConversationRepository(session, tenant_id)
            conversation = await repository.conversation(conversation_id, for_update=True)
            if conversation is None:
                return
            await self._apply(repository, conversation, await repository.ensure_contact(number), matches, facts)

    @staticmethod
    async def _apply(repository: ConversationRepository, conversation: Any, contact: Any, matches: list[Match],
                     facts: _Facts) -> None:
        """What the actions changed, and notes of what ran and what failed, in the caller's transaction."""
        conversation.state = facts.state
        if facts.handed_over and conversation.mode == Mode.BOT:
            conversation.mode, conversation.handed_over_at = Mode.WAITING.value, utcnow()
            await repository.note(conversation.id, "handover", "handed over to people by a rule")
        conversation.updated_at = utcnow()
        if sorted(contact.tags or []) != sorted(facts.tags) or (contact.attributes or {}) != facts.attributes:
            contact.tags, contact.attributes, contact.updated_at = sorted(facts.tags), facts.attributes, utcnow()
        await repository.note(conversation.id, "rules", f"rules ran: {', '.join(m.rule_id for m in matches)}",
                              {"rules": [m.rule_id for m in matches], "replies": len(facts.replies)})
        for problem in facts.problems:
            await repository.note(conversation.id, "reply_failed", problem)
        if facts.problems:
            log.warning("auto-reply problems", extra={"conversation_id": conversation.id, "count": len(facts.problems)})

    async def _send(self, tenant_id: str, business_id: str, chatbot_id: str, number: str, inbound_id: str,
                    conversation_id: str, facts: _Facts) -> None:
        if not facts.replies:
            return
        business = await self._directory.business_callback(tenant_id, business_id)
        own = TrafficClass(business.traffic_class)
        traffic = TrafficClass.CUSTOMER_SERVICE if own.allows(TrafficClass.CUSTOMER_SERVICE) else own
        access = BusinessAccess(tenant_id=tenant_id, business_id=business_id, api_key_id="auto-reply")
        refused = []
        for index, reply in enumerate(facts.replies):
            request = SendRequest(chatbot_id=chatbot_id, recipients=[number], content=reply.content,
                                  template=reply.template_id, params=reply.params, traffic_class=traffic,
                                  client_message_id=f"auto-reply:{inbound_id}:{index}")
            try:
                await self._submitter.submit(access, request)
            except DomainError as exc:
                refused.append(f"rule {reply.rule_id}: the reply was refused: {exc.code}: {exc.message}")
        if refused:
            async with self._ctx.db.transaction() as session:
                repository = ConversationRepository(session, tenant_id)
                for problem in refused:
                    await repository.note(conversation_id, "reply_failed", problem)


class _WebhookCall:
    """A webhook action of one uplink: the business is asked, and its answer (or the fallback) applied."""

    def __init__(self, service: AutoReply, tenant_id: str, business_id: str, inbound_id: str, uplink: Uplink,
                 content: dict[str, Any], conversation_id: str) -> None:
        self._service = service
        self._tenant_id, self._business_id, self._inbound_id = tenant_id, business_id, inbound_id
        self._uplink, self._content, self._conversation_id = uplink, content, conversation_id

    async def call(self, action: WebhookAction, match: Match, facts: _Facts) -> None:
        service = self._service
        business = await service._directory.business_callback(self._tenant_id, self._business_id)
        url = str(action.url) if action.url else business.url
        answer: WebhookAnswer | None = None
        error = "the business has no callback URL" if not url else None
        if url:
            facts.webhook_calls.append(url)
            body = orjson.dumps({
                "type": "auto_reply.request", "rule_id": match.rule_id, "conversation_id": self._conversation_id,
                "uplink": {"id": self._inbound_id, "from": self._uplink.number, "content": self._content,
                           "received_at": self._uplink.at.isoformat()},
                "contact": {"attributes": facts.attributes, "tags": sorted(facts.tags)},
                "state": facts.state, "groups": list(match.groups)})
            headers = signed_headers(business.secret, body, f"{self._inbound_id}:{match.rule_id}",
                                     "auto_reply.request")
            try:
                async with service._ctx.http.post(url, data=body, headers=headers,
                                                  timeout=aiohttp.ClientTimeout(total=action.timeout_seconds)) as r:
                    raw = await r.read()
                    if not 200 <= r.status < 300:
                        error = f"HTTP {r.status}"
                    else:
                        answer = WebhookAnswer.model_validate_json(raw or b"{}")
            except TimeoutError:
                error = f"no answer within {action.timeout_seconds:g} s"
            except aiohttp.ClientError as exc:
                error = f"{type(exc).__name__}: {exc}"
            except ValidationError as exc:
                error = f"the answer is not replies in the unified model: {exc.errors()[0]['msg']}"
        if answer is None:
            facts.problems.append(f"rule {match.rule_id}: the webhook failed ({error}); its fallback was sent")
            for reply in action.fallback:
                service._reply(reply, self._uplink, match, facts)
            return
        facts.replies.extend(PlannedReply(rule_id=match.rule_id, content=c) for c in answer.replies)
        if answer.state is not None:
            facts.state = answer.state or None
        facts.tags = (facts.tags | set(answer.add_tags)) - set(answer.remove_tags)
        facts.attributes.update(answer.attributes)
