"""Contacts and conversations: every number a tenant talks to has a contact (attributes and tags, which
rules read and set and templates use), and every chatbot-and-number pair a conversation with its whole
history, down and up, its state, and who answers it (the rules, or a person)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiohttp
from pydantic import BaseModel

from msg5g.domain.conversations import ContactSpec, Mode
from msg5g.domain.errors import NotFound
from msg5g.kit.clock import as_utc, utcnow
from msg5g.pipeline.queue import Job, RetryLater, backoff_delay
from msg5g.services.audit import AuditLog
from msg5g.services.context import ServiceContext
from msg5g.storage.conversation_repository import ConversationRepository
from msg5g.storage.files import FileStore
from msg5g.storage.tables import Contact, Conversation

log = logging.getLogger(__name__)


class ContactView(BaseModel):
    number: str
    attributes: dict[str, Any]
    tags: list[str]
    opted_out_at: datetime | None = None  # unsubscribed from the tenant's marketing
    created_at: datetime
    updated_at: datetime


class HistoryItem(BaseModel):
    """One line of a conversation: a message down, an uplink, or a note (a rule ran, a reply failed...)."""

    direction: str  # down | up | note
    at: datetime
    id: str
    kind: str  # the content's kind, or the note's
    content: dict[str, Any] | None = None
    status: str | None = None  # a downlink's
    text: str | None = None  # a note's


class ConversationView(BaseModel):
    id: str
    business_id: str
    chatbot_id: str
    number: str
    state: str | None
    mode: Mode
    agent_id: str | None
    uplinks: int
    last_uplink_at: datetime | None
    created_at: datetime
    updated_at: datetime
    history: list[HistoryItem] | None = None


def contact_view(row: Contact) -> ContactView:
    return ContactView(number=row.number, attributes=dict(row.attributes or {}), tags=list(row.tags or []),
                       opted_out_at=as_utc(row.opted_out_at) if row.opted_out_at else None,
                       created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at))


def conversation_view(row: Conversation) -> ConversationView:
    return ConversationView(id=row.id, business_id=row.business_id, chatbot_id=row.chatbot_id, number=row.number,
                            state=row.state, mode=Mode(row.mode), agent_id=row.agent_id, uplinks=row.uplinks,
                            last_uplink_at=as_utc(row.last_uplink_at) if row.last_uplink_at else None,
                            created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at))


_FILE_TIMEOUT = aiohttp.ClientTimeout(total=30)


class StoredFile(BaseModel):
    content: bytes
    content_type: str
    name: str | None


class Conversations:
    def __init__(self, ctx: ServiceContext, audit: AuditLog, files: FileStore) -> None:
        self._ctx = ctx
        self._audit = audit
        self._files = files

    # ---- files customers send -------------------------------------------------------------------------

    async def fetch_file(self, job: Job) -> None:
        """Handler of TOPIC_UPLINK_FILE: a file a customer sent is fetched from the carrier, which keeps it only
        for a while, and stored with the uplink (its `stored` part says where)."""
        tenant_id, inbound_id = job.payload["tenant_id"], job.payload["inbound_id"]
        async with self._ctx.db.reader() as session:
            row = await ConversationRepository(session, tenant_id).inbound(inbound_id)
        if row is None or row.kind != "file" or (row.content or {}).get("stored"):
            return
        url = str(((row.content or {}).get("file") or {}).get("url") or "")
        limit = self._ctx.settings.material_max_bytes
        try:
            async with self._ctx.http.get(url, timeout=_FILE_TIMEOUT) as response:
                if response.status != 200:
                    raise RetryLater(backoff_delay(job.attempts, base=5.0), f"the carrier answered {response.status}")
                data = await response.content.read(limit + 1)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RetryLater(backoff_delay(job.attempts, base=5.0), f"fetching the file failed: {exc}") from None
        if len(data) > limit:
            log.warning("an uplink file is larger than the platform keeps", extra={"inbound_id": inbound_id})
            return
        key = f"uplinks/{tenant_id}/{inbound_id}"
        await self._files.put(key, data)
        async with self._ctx.db.transaction() as session:
            row = await ConversationRepository(session, tenant_id).inbound(inbound_id)
            if row is not None:
                row.content = {**(row.content or {}), "stored": {"key": key, "size": len(data),
                                                                 "sha256": hashlib.sha256(data).hexdigest()}}

    async def stored_file(self, tenant_id: str, inbound_id: str, *,
                          business_ids: Sequence[str] | None = None) -> StoredFile:
        async with self._ctx.db.reader() as session:
            row = await ConversationRepository(session, tenant_id).inbound(inbound_id)
        stored = (row.content or {}).get("stored") if row is not None else None
        if row is None or not stored or (business_ids is not None and row.business_id not in business_ids):
            raise NotFound("no such file", code="file_not_found")
        file = (row.content or {}).get("file") or {}
        return StoredFile(content=await self._files.get(str(stored["key"])),
                          content_type=str(file.get("content_type") or "application/octet-stream"),
                          name=file.get("name"))

    # ---- contacts ---------------------------------------------------------------------------------------

    async def contacts(self, tenant_id: str, *, tag: str | None = None, after: str | None = None,
                       limit: int = 100) -> list[ContactView]:
        async with self._ctx.db.reader() as session:
            return [contact_view(r) for r in await ConversationRepository(session, tenant_id).contacts(
                tag=tag, after=after, limit=limit)]

    async def opted_out(self, tenant_id: str, numbers: list[str]) -> set[str]:
        """Which of the numbers unsubscribed from the tenant's marketing (asked at every marketing accept)."""
        async with self._ctx.db.reader() as session:
            repository = ConversationRepository(session, tenant_id)
            found: set[str] = set()
            for start in range(0, len(numbers), 500):
                found |= await repository.opted_out(numbers[start:start + 500])
        return found

    async def contact(self, tenant_id: str, number: str) -> ContactView:
        async with self._ctx.db.reader() as session:
            row = await ConversationRepository(session, tenant_id).contact(number)
        if row is None:
            raise NotFound("no such contact", code="contact_not_found")
        return contact_view(row)

    async def put_contact(self, tenant_id: str, number: str, spec: ContactSpec) -> ContactView:
        async with self._ctx.db.transaction() as session:
            row = await ConversationRepository(session, tenant_id).ensure_contact(number)
            before = {"attributes": row.attributes, "tags": row.tags}
            if spec.attributes is not None:
                row.attributes = dict(spec.attributes)
            if spec.tags is not None:
                row.tags = sorted(set(spec.tags))
            row.updated_at = utcnow()
            await self._audit.record(session, action="contact.put", target_type="contact", target_id=row.id,
                                     before=before, after={"attributes": row.attributes, "tags": row.tags},
                                     tenant_id=tenant_id)
        return contact_view(row)

    async def delete_contact(self, tenant_id: str, number: str) -> None:
        async with self._ctx.db.transaction() as session:
            repository = ConversationRepository(session, tenant_id)
            row = await repository.contact(number, for_update=True)
            if row is None:
                raise NotFound("no such contact", code="contact_not_found")
            await repository.delete_contact(row)
            await self._audit.record(session, action="contact.delete", target_type="contact", target_id=row.id,
                                     tenant_id=tenant_id)

    # ---- conversations ----------------------------------------------------------------------------------

    async def conversations(self, tenant_id: str, *, chatbot_id: str | None = None, number: str | None = None,
                            mode: Mode | None = None, business_ids: Sequence[str] | None = None,
                            before: datetime | None = None, limit: int = 100) -> list[ConversationView]:
        async with self._ctx.db.reader() as session:
            rows = await ConversationRepository(session, tenant_id).conversations(
                chatbot_id=chatbot_id, number=number, mode=mode.value if mode else None, business_ids=business_ids,
                before=before, limit=limit)
        return [conversation_view(r) for r in rows]

    async def conversation(self, tenant_id: str, conversation_id: str, *,
                           business_ids: Sequence[str] | None = None) -> ConversationView:
        """The conversation with its history, oldest first (the newest 200 of each kind)."""
        async with self._ctx.db.reader() as session:
            repository = ConversationRepository(session, tenant_id)
            row = await repository.conversation(conversation_id)
            if row is None or (business_ids is not None and row.business_id not in business_ids):
                raise NotFound("no such conversation", code="conversation_not_found")
            downs = await repository.downlinks(row.chatbot_id, row.number)
            ups = await repository.uplinks(row.chatbot_id, row.number)
            notes = await repository.notes(row.id)
        history = [HistoryItem(direction="down", at=as_utc(m.created_at), id=m.id,
                               kind=str(content.get("kind", "text")) if template is None else "template",
                               content=content, status=m.status)
                   for m, content, template in downs]
        history += [HistoryItem(direction="up", at=as_utc(u.received_at), id=u.id, kind=u.kind, content=u.content)
                    for u in ups]
        history += [HistoryItem(direction="note", at=as_utc(n.at), id=n.id, kind=n.kind, text=n.text)
                    for n in notes]
        view = conversation_view(row)
        view.history = sorted(history, key=lambda item: (item.at, item.id))
        return view
