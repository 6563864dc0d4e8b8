"""Queries of contacts, conversations and auto-reply rules (services/conversations.py, services/auto_reply.py),
every one scoped to its tenant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from msg5g.kit.clock import utcnow
from msg5g.kit.ids import new_id
from msg5g.storage.database import upsert_insert
from msg5g.storage.repositories import _TenantScoped
from msg5g.storage.tables import (
    AgentState,
    AutoReplyRule,
    CannedReply,
    Contact,
    Conversation,
    ConversationNote,
    InboundMessageRow,
    Message,
    Submission,
    core_table,
)


class ConversationRepository(_TenantScoped):
    # ---- contacts ---------------------------------------------------------------------------------------

    async def contact(self, number: str, *, for_update: bool = False) -> Contact | None:
        statement = self._where_tenant(select(Contact), Contact).where(Contact.number == number)
        if for_update:
            statement = statement.with_for_update()
        row: Contact | None = await self.session.scalar(statement)
        return row

    async def ensure_contact(self, number: str) -> Contact:
        """The number's contact, made empty if it had none (two uplinks at once make one)."""
        now = utcnow()
        await self.session.execute(upsert_insert(self.session, core_table(Contact)).values(
            id=new_id(), tenant_id=self.tenant_id, number=number, attributes={}, tags=[], opted_out_at=None,
            created_at=now, updated_at=now).on_conflict_do_nothing(index_elements=["tenant_id", "number"]))
        row = await self.contact(number, for_update=True)
        assert row is not None
        return row

    async def contacts(self, *, tag: str | None = None, after: str | None = None, limit: int = 100,
                       ) -> Sequence[Contact]:
        statement = self._where_tenant(select(Contact), Contact)
        if after is not None:
            statement = statement.where(Contact.number > after)
        rows = (await self.session.scalars(statement.order_by(Contact.number).limit(limit if tag is None
                                                                                        else limit * 20))).all()
        if tag is not None:  # tags are a JSON list: filtered here, the same on SQLite and PostgreSQL
            rows = [r for r in rows if tag in (r.tags or [])][:limit]
        return rows

    async def opted_out(self, numbers: Sequence[str]) -> set[str]:
        statement = select(Contact.number).where(Contact.tenant_id == self.tenant_id, Contact.number.in_(numbers),
                                                 Contact.opted_out_at.is_not(None))
        return set(await self.session.scalars(statement))

    async def delete_contact(self, row: Contact) -> None:
        await self.session.delete(row)

    # ---- conversations ----------------------------------------------------------------------------------

    async def conversation(self, conversation_id: str, *, for_update: bool = False) -> Conversation | None:
        statement = self._where_tenant(select(Conversation), Conversation).where(Conversation.id == conversation_id)
        if for_update:
            statement = statement.with_for_update()
        row: Conversation | None = await self.session.scalar(statement)
        return row

    async def ensure_conversation(self, business_id: str, chatbot_id: str, number: str) -> Conversation:
        now = utcnow()
        await self.session.execute(upsert_insert(self.session, core_table(Conversation)).values(
            id=new_id(), tenant_id=self.tenant_id, business_id=business_id, chatbot_id=chatbot_id, number=number,
            state=None, mode="bot", agent_id=None, team=None, uplinks=0, last_inbound_id=None,
            last_uplink_at=None, handed_over_at=None, created_at=now, updated_at=now,
        ).on_conflict_do_nothing(index_elements=["chatbot_id", "number"]))
        statement = self._where_tenant(select(Conversation), Conversation).where(
            Conversation.chatbot_id == chatbot_id, Conversation.number == number).with_for_update()
        row: Conversation | None = await self.session.scalar(statement)
        assert row is not None
        return row

    async def conversations(self, *, chatbot_id: str | None = None, number: str | None = None,
                            mode: str | None = None, business_ids: Sequence[str] | None = None,
                            before: datetime | None = None, limit: int = 100) -> Sequence[Conversation]:
        statement = self._where_tenant(select(Conversation), Conversation)
        if chatbot_id is not None:
            statement = statement.where(Conversation.chatbot_id == chatbot_id)
        if number is not None:
            statement = statement.where(Conversation.number == number)
        if mode is not None:
            statement = statement.where(Conversation.mode == mode)
        if business_ids is not None:
            statement = statement.where(Conversation.business_id.in_(business_ids))
        if before is not None:
            statement = statement.where(Conversation.updated_at < before)
        statement = statement.order_by(Conversation.updated_at.desc(), Conversation.id.desc()).limit(limit)
        return (await self.session.scalars(statement)).all()

    async def note(self, conversation_id: str, kind: str, text: str, detail: dict[str, Any] | None = None) -> None:
        self.session.add(ConversationNote(id=new_id(), tenant_id=self.tenant_id, conversation_id=conversation_id,
                                          kind=kind, text=text, detail=detail, at=utcnow()))

    async def notes(self, conversation_id: str, limit: int = 500) -> Sequence[ConversationNote]:
        statement = self._where_tenant(select(ConversationNote), ConversationNote).where(
            ConversationNote.conversation_id == conversation_id).order_by(ConversationNote.at.desc()).limit(limit)
        return (await self.session.scalars(statement)).all()

    async def downlinks(self, chatbot_id: str, number: str, limit: int = 200,
                        ) -> list[tuple[Message, dict[str, Any], str | None]]:
        """(message, its submission's content, its template) of the newest downlinks to the number."""
        statement = select(Message, Submission.content, Submission.template_id).join(
            Submission, Submission.id == Message.submission_id,
        ).where(Message.tenant_id == self.tenant_id, Submission.tenant_id == self.tenant_id,
                Message.chatbot_id == chatbot_id, Message.recipient == number).order_by(Message.id.desc()).limit(limit)
        return [(m, c, t) for m, c, t in (await self.session.execute(statement)).all()]

    async def uplinks(self, chatbot_id: str, number: str, limit: int = 200) -> Sequence[InboundMessageRow]:
        statement = self._where_tenant(select(InboundMessageRow), InboundMessageRow).where(
            InboundMessageRow.chatbot_id == chatbot_id, InboundMessageRow.sender == number,
        ).order_by(InboundMessageRow.received_at.desc()).limit(limit)
        return (await self.session.scalars(statement)).all()

    async def inbound(self, inbound_id: str) -> InboundMessageRow | None:
        return await self._get(InboundMessageRow, inbound_id)

    async def waiting(self, business_ids: Sequence[str] | None = None, limit: int = 200) -> Sequence[Conversation]:
        """Conversations waiting for a person, the longest waiting first."""
        statement = self._where_tenant(select(Conversation), Conversation).where(Conversation.mode == "waiting")
        if business_ids is not None:
            statement = statement.where(Conversation.business_id.in_(business_ids))
        return (await self.session.scalars(statement.order_by(Conversation.handed_over_at, Conversation.id)
                                           .limit(limit))).all()

    async def open_per_agent(self) -> dict[str, int]:
        statement = select(Conversation.agent_id, func.count()).where(
            Conversation.tenant_id == self.tenant_id, Conversation.mode == "agent",
            Conversation.agent_id.is_not(None)).group_by(Conversation.agent_id)
        return {str(agent): count for agent, count in (await self.session.execute(statement)).all()}

    async def idle(self, before: datetime) -> Sequence[Conversation]:
        """Conversations people have and nobody has written in since `before`."""
        statement = self._where_tenant(select(Conversation), Conversation).where(
            Conversation.mode == "agent", Conversation.updated_at < before)
        return (await self.session.scalars(statement)).all()

    async def changed_since(self, since: datetime, limit: int = 200) -> Sequence[Conversation]:
        statement = self._where_tenant(select(Conversation), Conversation).where(Conversation.updated_at > since)
        return (await self.session.scalars(statement.order_by(Conversation.updated_at).limit(limit))).all()

    # ---- agents and canned replies --------------------------------------------------------------------

    async def agent(self, user_id: str, *, for_update: bool = False) -> AgentState | None:
        statement = self._where_tenant(select(AgentState), AgentState).where(AgentState.user_id == user_id)
        if for_update:
            statement = statement.with_for_update()
        row: AgentState | None = await self.session.scalar(statement)
        return row

    async def agents(self) -> Sequence[AgentState]:
        return (await self.session.scalars(self._where_tenant(select(AgentState), AgentState))).all()

    async def add_agent(self, row: AgentState) -> None:
        await self._add(row)

    async def canned_replies(self) -> Sequence[CannedReply]:
        statement = self._where_tenant(select(CannedReply), CannedReply).order_by(CannedReply.title)
        return (await self.session.scalars(statement)).all()

    async def canned_reply(self, reply_id: str) -> CannedReply | None:
        return await self._get(CannedReply, reply_id)

    async def add_canned_reply(self, row: CannedReply) -> None:
        await self._add(row)

    async def delete_canned_reply(self, row: CannedReply) -> None:
        await self.session.delete(row)

    # ---- rules ------------------------------------------------------------------------------------------

    async def rules(self, chatbot_id: str) -> Sequence[AutoReplyRule]:
        statement = self._where_tenant(select(AutoReplyRule), AutoReplyRule).where(
            AutoReplyRule.chatbot_id == chatbot_id).order_by(AutoReplyRule.priority, AutoReplyRule.id)
        return (await self.session.scalars(statement)).all()

    async def rule(self, rule_id: str) -> AutoReplyRule | None:
        return await self._get(AutoReplyRule, rule_id)

    async def add_rule(self, row: AutoReplyRule) -> None:
        await self._add(row)

    async def delete_rule(self, rule_id: str) -> None:
        await self.session.execute(self._where_delete(rule_id))

    def _where_delete(self, rule_id: str) -> Any:
        return delete(AutoReplyRule).where(AutoReplyRule.tenant_id == self.tenant_id, AutoReplyRule.id == rule_id)
