"""The customer-service inbox: conversations handed to people, the agents who answer them, one to one.

A conversation a rule handed over (or an agent took) waits in the tenant's queue, the longest waiting
first, until an online agent with room for it (fewer open conversations than their limit; of its team, if
it was sent to one) is handed it: when it is handed over, when an agent comes online or closes one, and
on every tick of the platform's inbox task. Agents may also take a conversation themselves, within their
limit, transfer it to another agent or back to a team's queue, and close it: it returns to the rules,
and the customer gets the satisfaction card, whose answer is kept on the conversation. A conversation
nobody wrote in for `inbox_idle_minutes` is closed the same way.

Agent replies go through the same pipeline, caps and billing as every send, in the customer-service
traffic class (or the business's own, when it may not use that one).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel

from msg5g.domain.content import Content, ReplySuggestion, TextContent
from msg5g.domain.conversations import Mode
from msg5g.domain.errors import Conflict, DomainError, NotFound, ValidationFailed
from msg5g.domain.messages import TrafficClass
from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.ids import new_id
from msg5g.services.access import BusinessAccess
from msg5g.services.audit import AuditLog
from msg5g.services.context import ServiceContext
from msg5g.services.directory import Directory
from msg5g.services.submit import SendRequest, Submitter
from msg5g.storage.conversation_repository import ConversationRepository
from msg5g.storage.tables import AgentState, CannedReply, Conversation

log = logging.getLogger(__name__)

SATISFACTION_PREFIX = "csat:"
SATISFACTION_SCORES = ((5, "非常满意"), (4, "满意"), (3, "一般"), (2, "不满意"), (1, "很不满意"))


class AgentStatus(StrEnum):
    ONLINE = "online"
    AWAY = "away"


class AgentView(BaseModel):
    user_id: str
    status: AgentStatus
    max_open: int
    team: str | None
    open: int


class QueueEntry(BaseModel):
    conversation_id: str
    number: str
    chatbot_id: str
    business_id: str
    team: str | None
    waiting_seconds: float


class CannedReplyView(BaseModel):
    id: str
    title: str
    text: str


def satisfaction_card(conversation_id: str) -> TextContent:
    return TextContent(text="本次服务已结束。请为我们的服务打分：", suggestions=[
        ReplySuggestion(text=label, postback_data=f"{SATISFACTION_PREFIX}{conversation_id}:{score}")
        for score, label in SATISFACTION_SCORES])


class Inbox:
    def __init__(self, ctx: ServiceContext, directory: Directory, submitter: Submitter, audit: AuditLog) -> None:
        self._ctx = ctx
        self._directory = directory
        self._submitter = submitter
        self._audit = audit

    # ---- agents -----------------------------------------------------------------------------------------

    async def agent(self, tenant_id: str, user_id: str) -> AgentView:
        async with self._ctx.db.reader() as session:
            repository = ConversationRepository(session, tenant_id)
            row = await repository.agent(user_id)
            open_counts = await repository.open_per_agent()
        if row is None:
            return AgentView(user_id=user_id, status=AgentStatus.AWAY, max_open=5, team=None,
                             open=open_counts.get(user_id, 0))
        return AgentView(user_id=user_id, status=AgentStatus(row.status), max_open=row.max_open, team=row.team,
                         open=open_counts.get(user_id, 0))

    async def agents(self, tenant_id: str) -> list[AgentView]:
        async with self._ctx.db.reader() as session:
            repository = ConversationRepository(session, tenant_id)
            rows = await repository.agents()
            open_counts = await repository.open_per_agent()
        return [AgentView(user_id=r.user_id, status=AgentStatus(r.status), max_open=r.max_open, team=r.team,
                          open=open_counts.get(r.user_id, 0)) for r in rows]

    async def set_agent(self, tenant_id: str, user_id: str, *, status: AgentStatus, max_open: int,
                        team: str | None) -> AgentView:
        if not 1 <= max_open <= 100:
            raise ValidationFailed("an agent takes 1 to 100 conversations at once", code="invalid_limit",
                                   field="max_open")
        async with self._ctx.db.transaction() as session:
            repository = ConversationRepository(session, tenant_id)
            row = await repository.agent(user_id, for_update=True)
            if row is None:
                row = AgentState(user_id=user_id, tenant_id=tenant_id, status=status.value, max_open=max_open,
                                 team=team or None, updated_at=utcnow())
                await repository.add_agent(row)
            else:
                row.status, row.max_open, row.team, row.updated_at = status.value, max_open, team or None, utcnow()
        await self.assign_waiting(tenant_id)
        return await self.agent(tenant_id, user_id)

    # ---- the queue --------------------------------------------------------------------------------------

    async def queue(self, tenant_id: str, business_ids: Sequence[str] | None = None) -> list[QueueEntry]:
        now = utcnow()
        async with self._ctx.db.reader() as session:
            rows = await ConversationRepository(session, tenant_id).waiting(business_ids)
        return [QueueEntry(conversation_id=r.id, number=r.number, chatbot_id=r.chatbot_id, business_id=r.business_id,
                           team=r.team, waiting_seconds=max(0.0, (now - as_utc(r.handed_over_at or r.updated_at))
                                                        .total_seconds()))
                for r in rows]

    async def assign_waiting(self, tenant_id: str) -> int:
        """Hand waiting conversations, the longest waiting first, to online agents with room (the least busy
        first); how many were handed."""
        handed = 0
        async with self._ctx.db.reader() as session:  # most ticks find nothing to do: no write for them
            repository = ConversationRepository(session, tenant_id)
            if not await repository.waiting(limit=1) or not any(
                    a.status == AgentStatus.ONLINE for a in await repository.agents()):
                return 0
        async with self._ctx.db.transaction() as session:
            repository = ConversationRepository(session, tenant_id)
            agents = [a for a in await repository.agents() if a.status == AgentStatus.ONLINE]
            open_counts = await repository.open_per_agent()
            for conversation in await repository.waiting():
                free = sorted((a for a in agents if open_counts.get(a.user_id, 0) < a.max_open
                               and (conversation.team is None or a.team == conversation.team)),
                              key=lambda a: (open_counts.get(a.user_id, 0), a.updated_at))
                if not free:
                    continue
                agent = free[0]
                row = await repository.conversation(conversation.id, for_update=True)
                if row is None or row.mode != Mode.WAITING:
                    continue
                waited = (utcnow() - as_utc(row.handed_over_at or row.updated_at)).total_seconds()
                row.mode, row.agent_id, row.updated_at = Mode.AGENT.value, agent.user_id, utcnow()
                open_counts[agent.user_id] = open_counts.get(agent.user_id, 0) + 1
                await repository.note(row.id, "assigned", f"handed to agent {agent.user_id} after {waited:.0f} s",
                                      {"agent_id": agent.user_id, "waited_seconds": round(waited, 1)})
                handed += 1
        return handed

    # ---- an agent's actions -------------------------------------------------------------------------

    async def _row(self, repository: ConversationRepository, conversation_id: str,
                   business_ids: Sequence[str] | None) -> Conversation:
        row = await repository.conversation(conversation_id, for_update=True)
        if row is None or (business_ids is not None and row.business_id not in business_ids):
            raise NotFound("no such conversation", code="conversation_not_found")
        return row

    async def take(self, tenant_id: str, conversation_id: str, agent_id: str, *,
                   business_ids: Sequence[str] | None = None) -> None:
        """The agent takes the conversation (waiting, with the rules, or another agent's), within their limit."""
        async with self._ctx.db.transaction() as session:
            repository = ConversationRepository(session, tenant_id)
            row = await self._row(repository, conversation_id, business_ids)
            if row.mode == Mode.AGENT and row.agent_id == agent_id:
                return
            state = await repository.agent(agent_id)
            limit = state.max_open if state is not None else 5
            if (await repository.open_per_agent()).get(agent_id, 0) >= limit:
                raise Conflict(f"the agent has {limit} conversations open already, their limit",
                               code="agent_limit_reached")
            before = row.agent_id
            row.mode, row.agent_id, row.team, row.updated_at = Mode.AGENT.value, agent_id, None, utcnow()
            if row.handed_over_at is None:
                row.handed_over_at = utcnow()
            await repository.note(row.id, "taken", f"taken by agent {agent_id}" +
                                  (f" from agent {before}" if before and before != agent_id else ""))

    async def transfer(self, tenant_id: str, conversation_id: str, *, by: str, to_agent: str | None = None,
                       to_team: str | None = None, business_ids: Sequence[str] | None = None) -> None:
        """To another agent (within their limit), or back to the queue for a team's agents."""
        if (to_agent is None) == (to_team is None):
            raise ValidationFailed("transfer to an agent or to a team", code="transfer_target", field="to")
        async with self._ctx.db.transaction() as session:
            repository = ConversationRepository(session, tenant_id)
            row = await self._row(repository, conversation_id, business_ids)
            if to_agent is not None:
                target = await repository.agent(to_agent)
                if target is None:
                    raise NotFound("no such agent", code="agent_not_found", field="to")
                if (await repository.open_per_agent()).get(to_agent, 0) >= target.max_open:
                    raise Conflict(f"the agent has {target.max_open} conversations open already, their limit",
                                   code="agent_limit_reached")
                row.mode, row.agent_id, row.team = Mode.AGENT.value, to_agent, None
                await repository.note(row.id, "transferred", f"transferred by {by} to agent {to_agent}")
            else:
                row.mode, row.agent_id, row.team, row.handed_over_at = Mode.WAITING.value, None, to_team, utcnow()
                await repository.note(row.id, "transferred", f"transferred by {by} to team {to_team}")
            row.updated_at = utcnow()
        await self.assign_waiting(tenant_id)

    async def reply(self, tenant_id: str, conversation_id: str, content: Content | None, *, by: str,
                    template_id: str | None = None, params: dict[str, str] | None = None,
                    client_message_id: str | None = None, business_ids: Sequence[str] | None = None) -> str:
        """An agent's reply; returns its message id."""
        async with self._ctx.db.transaction() as session:
            repository = ConversationRepository(session, tenant_id)
            row = await self._row(repository, conversation_id, business_ids)
            business_id, chatbot_id, number = row.business_id, row.chatbot_id, row.number
            row.updated_at = utcnow()  # an agent's reply keeps the conversation from going idle
        business = await self._directory.business_callback(tenant_id, business_id)
        own = TrafficClass(business.traffic_class)
        traffic = TrafficClass.CUSTOMER_SERVICE if own.allows(TrafficClass.CUSTOMER_SERVICE) else own
        response = await self._submitter.submit(
            BusinessAccess(tenant_id=tenant_id, business_id=business_id, api_key_id=f"agent:{by}"),
            SendRequest(chatbot_id=chatbot_id, recipients=[number], content=content, template=template_id,
                        params=params, traffic_class=traffic, client_message_id=client_message_id))
        if response.refused:
            raise Conflict(f"the reply was refused: {response.refused[0].message}", code=response.refused[0].code)
        return response.messages[0].id

    async def close(self, tenant_id: str, conversation_id: str, *, by: str, reason: str = "closed",
                    business_ids: Sequence[str] | None = None) -> None:
        """Back to the rules; the customer gets the satisfaction card."""
        async with self._ctx.db.transaction() as session:
            repository = ConversationRepository(session, tenant_id)
            row = await self._row(repository, conversation_id, business_ids)
            if row.mode == Mode.BOT:
                return
            row.mode, row.agent_id, row.team, row.state, row.updated_at = Mode.BOT.value, None, None, None, utcnow()
            await repository.note(row.id, "closed", f"{reason} by {by}")
            business_id, chatbot_id, number = row.business_id, row.chatbot_id, row.number
        try:
            business = await self._directory.business_callback(tenant_id, business_id)
            own = TrafficClass(business.traffic_class)
            await self._submitter.submit(
                BusinessAccess(tenant_id=tenant_id, business_id=business_id, api_key_id="inbox"),
                SendRequest(chatbot_id=chatbot_id, recipients=[number], content=satisfaction_card(conversation_id),
                            traffic_class=TrafficClass.CUSTOMER_SERVICE if own.allows(
                                TrafficClass.CUSTOMER_SERVICE) else own,
                            client_message_id=f"satisfaction:{conversation_id}:{new_id()}"))
        except DomainError as exc:
            log.warning("satisfaction card not sent", extra={"conversation_id": conversation_id, "code": exc.code})
        await self.assign_waiting(tenant_id)

    async def close_idle(self, tenant_id: str, idle: timedelta) -> int:
        async with self._ctx.db.reader() as session:
            rows = await ConversationRepository(session, tenant_id).idle(utcnow() - idle)
        for row in rows:
            await self.close(tenant_id, row.id, by="the platform", reason=f"idle for {idle.total_seconds() / 60:g} min")
        return len(rows)

    # ---- canned replies ---------------------------------------------------------------------------------

    async def canned_replies(self, tenant_id: str) -> list[CannedReplyView]:
        async with self._ctx.db.reader() as session:
            return [CannedReplyView(id=r.id, title=r.title, text=r.text)
                    for r in await ConversationRepository(session, tenant_id).canned_replies()]

    async def add_canned_reply(self, tenant_id: str, title: str, text: str) -> CannedReplyView:
        if not 1 <= len(title) <= 100 or not 1 <= len(text) <= 3000:
            raise ValidationFailed("a canned reply has a title (1-100 characters) and a text (1-3000)",
                                   code="invalid_canned_reply", field="text")
        row = CannedReply(id=new_id(), tenant_id=tenant_id, title=title, text=text, created_at=utcnow())
        async with self._ctx.db.transaction() as session:
            await ConversationRepository(session, tenant_id).add_canned_reply(row)
            await self._audit.record(session, action="canned_reply.create", target_type="canned_reply",
                                     target_id=row.id, after={"title": title}, tenant_id=tenant_id)
        return CannedReplyView(id=row.id, title=row.title, text=row.text)

    async def delete_canned_reply(self, tenant_id: str, reply_id: str) -> None:
        async with self._ctx.db.transaction() as session:
            repository = ConversationRepository(session, tenant_id)
            row = await repository.canned_reply(reply_id)
            if row is None:
                raise NotFound("no such canned reply", code="canned_reply_not_found")
            await repository.delete_canned_reply(row)
            await self._audit.record(session, action="canned_reply.delete", target_type="canned_reply",
                                     target_id=row.id, before={"title": row.title}, tenant_id=tenant_id)

    # ---- what changed (the inbox page's live updates) ------------------------------------------------

    async def changed_since(self, tenant_id: str, since: datetime,
                            business_ids: Sequence[str] | None = None) -> tuple[list[str], datetime]:
        """Ids of the tenant's conversations changed after `since`, and the time to ask from next."""
        async with self._ctx.db.reader() as session:
            rows = await ConversationRepository(session, tenant_id).changed_since(since)
        changed = [r.id for r in rows if business_ids is None or r.business_id in business_ids]
        return changed, max([as_utc(r.updated_at) for r in rows], default=since)
