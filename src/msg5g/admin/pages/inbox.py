"""The customer-service inbox (客服工作台): the queue of conversations waiting for a person, with how long
each has waited; the agent's own conversations and every open one; an agent's status and limit; one
conversation with its whole history, where an agent takes it, replies (free text, a canned reply, or an
approved template), transfers it or closes it; a number's history across chatbots; canned replies.

Pages update as things happen: `/inbox/events` is a server-sent event stream of the tenant's changed
conversations, and static/inbox.js reloads the part of the page that shows them (without the script,
a reload shows the same). A user limited to some businesses sees only their conversations.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from starlette.responses import Response, StreamingResponse

from msg5g.admin.context import InTenantDep, Operator
from msg5g.admin.forms import form_text, new_form_key
from msg5g.admin.i18n import N_
from msg5g.admin.pages.materials import DoneQuery
from msg5g.domain.content import TextContent
from msg5g.domain.conversations import Mode
from msg5g.domain.errors import DomainError, NotFound
from msg5g.domain.roles import Permission
from msg5g.kit.clock import utcnow
from msg5g.kit.phone import InvalidPhoneNumber, normalise_mobile
from msg5g.services.inbox import AgentStatus

router = APIRouter()

ConversationId = Annotated[str, Path(min_length=1, max_length=64)]
ReplyId = Annotated[str, Path(min_length=1, max_length=64)]
ViewQuery = Annotated[str | None, Query(alias="view", max_length=20)]
NumberQuery = Annotated[str | None, Query(alias="number", max_length=32)]
EVENT_POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0
VIEWS = {"waiting": N_("Waiting"), "mine": N_("Mine"), "open": N_("All open")}
MODE_LABELS = {Mode.BOT: N_("With the rules"), Mode.WAITING: N_("Waiting for a person"),
               Mode.AGENT: N_("With an agent")}
STATUS_LABELS = {AgentStatus.ONLINE: N_("Online"), AgentStatus.AWAY: N_("Away")}
_NOTICES = {
    "taken": N_("The conversation is yours."),
    "sent": N_("Reply sent."),
    "transferred": N_("Conversation transferred."),
    "closed": N_("Conversation closed: it is back with the rules, and the customer got the satisfaction card."),
    "status": N_("Your status is saved."),
    "canned": N_("Canned replies saved."),
}


def _limited(op: Operator) -> list[str] | None:
    return sorted(op.user.business_ids) if op.user.business_ids is not None else None


def _error(op: Operator, exc: DomainError) -> Response:
    status = exc.http_status if 400 <= exc.http_status < 500 else 422
    title = op.ctx.gettext("Not found") if status == 404 else op.ctx.gettext("Not done")
    return op.ctx.render("error.html", status_code=status, active="inbox", title=title, detail=exc.message)


@router.get("/inbox", name="inbox")
async def inbox_page(op: InTenantDep, view: ViewQuery = None, done: DoneQuery = None) -> Response:
    shown = view if view in VIEWS else "waiting"
    inbox, limited = op.services.inbox, _limited(op)
    queue = await inbox.queue(op.tenant_id, limited)
    mode = None if shown == "waiting" else Mode.AGENT
    conversations = [] if shown == "waiting" else [
        c for c in await op.services.conversations.conversations(op.tenant_id, mode=mode, business_ids=limited)
        if shown == "open" or c.agent_id == op.user.user_id]
    notice = _NOTICES.get(done or "")
    return op.ctx.render(
        "inbox.html", active="inbox", view=shown, views=VIEWS, queue=queue, conversations=conversations,
        me=await inbox.agent(op.tenant_id, op.user.user_id), status_labels=STATUS_LABELS, mode_labels=MODE_LABELS,
        canned=await inbox.canned_replies(op.tenant_id), chatbot_names=dict(
            await op.services.provisioning.chatbots(op.tenant_id)),
        can_answer=op.user.can(Permission.SEND), can_manage=op.user.can(Permission.MANAGE_CONTENT),
        notice=op.ctx.gettext(notice) if notice else None)


@router.post("/inbox/agent", name="inbox_agent")
async def agent_status(op: InTenantDep) -> Response:
    form = await op.ctx.request.form()
    status = form_text(form, "status")
    try:
        max_open = int(form_text(form, "max_open") or "5")
        await op.services.inbox.set_agent(op.tenant_id, op.user.user_id,
                                          status=AgentStatus(status) if status in STATUS_LABELS else AgentStatus.AWAY,
                                          max_open=max_open, team=form_text(form, "team").strip() or None)
    except ValueError:
        return op.ctx.render("error.html", status_code=422, active="inbox", title=op.ctx.gettext("Not done"),
                             detail=op.ctx.gettext("The limit is a whole number from 1 to 100."))
    except DomainError as exc:
        return _error(op, exc)
    return op.ctx.redirect(op.ctx.url("inbox", query={"done": "status"}))


@router.get("/inbox/lookup", name="inbox_lookup")
async def lookup(op: InTenantDep, number: NumberQuery = None) -> Response:
    """One number's conversations across the tenant's chatbots."""
    conversations, error, e164 = [], None, None
    if number:
        try:
            e164 = normalise_mobile(number)
        except InvalidPhoneNumber:
            error = op.ctx.gettext("Not a valid mobile number.")
        else:
            conversations = await op.services.conversations.conversations(op.tenant_id, number=e164,
                                                                          business_ids=_limited(op))
    return op.ctx.render("inbox_lookup.html", active="inbox", number=number or "", conversations=conversations,
                         error=error, mode_labels=MODE_LABELS,
                         chatbot_names=dict(await op.services.provisioning.chatbots(op.tenant_id)))


@router.get("/inbox/events", name="inbox_events")
async def events(op: InTenantDep) -> Response:
    """Server-sent events: `changed` with the ids of the tenant's conversations that changed."""
    inbox, tenant_id, limited, request = op.services.inbox, op.tenant_id, _limited(op), op.ctx.request

    async def stream() -> AsyncIterator[bytes]:
        since = utcnow()
        quiet = 0.0
        yield b"retry: 2000\n\n"
        while not await request.is_disconnected():
            changed, since = await inbox.changed_since(tenant_id, since, limited)
            if changed:
                yield f"event: changed\ndata: {json.dumps({'ids': changed})}\n\n".encode()
                quiet = 0.0
            elif quiet >= HEARTBEAT_SECONDS:
                yield b": still here\n\n"  # keeps proxies from closing an idle stream
                quiet = 0.0
            with contextlib.suppress(TimeoutError):
                await asyncio.sleep(EVENT_POLL_SECONDS)
            quiet += EVENT_POLL_SECONDS

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.post("/inbox/canned", name="inbox_canned_add")
async def canned_add(op: InTenantDep) -> Response:
    form = await op.ctx.request.form()
    try:
        await op.services.inbox.add_canned_reply(op.tenant_id, form_text(form, "title").strip(),
                                                 form_text(form, "text").strip())
    except DomainError as exc:
        return _error(op, exc)
    return op.ctx.redirect(op.ctx.url("inbox", query={"done": "canned"}))


@router.post("/inbox/canned/{reply_id}/delete", name="inbox_canned_delete")
async def canned_delete(op: InTenantDep, reply_id: ReplyId) -> Response:
    try:
        await op.services.inbox.delete_canned_reply(op.tenant_id, reply_id)
    except DomainError as exc:
        return _error(op, exc)
    return op.ctx.redirect(op.ctx.url("inbox", query={"done": "canned"}))


_INLINE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp")


@router.get("/inbox/files/{inbound_id}", name="inbox_file")
async def uplink_file(op: InTenantDep, inbound_id: ReplyId) -> Response:
    """A file a customer sent, as the platform stored it. Only plain image types show inline; anything else is
    a download, so that a customer's HTML or SVG never runs in the admin's origin."""
    try:
        stored = await op.services.conversations.stored_file(op.tenant_id, inbound_id, business_ids=_limited(op))
    except NotFound:
        return op.ctx.render("error.html", status_code=404, active="inbox", title=op.ctx.gettext("Not found"),
                             detail=op.ctx.gettext("There is no such file."))
    inline = stored.content_type in _INLINE_TYPES
    name = quote(stored.name or inbound_id)
    return Response(stored.content, media_type=stored.content_type if inline else "application/octet-stream",
                    headers={"Content-Disposition": f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{name}",
                             "Cache-Control": "private, max-age=3600"})


@router.get("/inbox/{conversation_id}", name="inbox_conversation")
async def conversation_page(op: InTenantDep, conversation_id: ConversationId, done: DoneQuery = None) -> Response:
    try:
        conversation = await op.services.conversations.conversation(op.tenant_id, conversation_id,
                                                                    business_ids=_limited(op))
    except NotFound:
        return op.ctx.render("error.html", status_code=404, active="inbox", title=op.ctx.gettext("Not found"),
                             detail=op.ctx.gettext("There is no such conversation in this tenant."))
    inbox = op.services.inbox
    notice = _NOTICES.get(done or "")
    return op.ctx.render(
        "inbox_conversation.html", active="inbox", conversation=conversation, mode_labels=MODE_LABELS,
        agents=await inbox.agents(op.tenant_id), canned=await inbox.canned_replies(op.tenant_id),
        mine=conversation.agent_id == op.user.user_id, can_answer=op.user.can(Permission.SEND),
        may_see_numbers=op.user.can(Permission.SEE_NUMBERS), form_key=new_form_key(),
        chatbot_names=dict(await op.services.provisioning.chatbots(op.tenant_id)),
        notice=op.ctx.gettext(notice) if notice else None)


async def _act(op: Operator, conversation_id: str, done: str, action: str) -> Response:
    form = await op.ctx.request.form()
    inbox, limited, by = op.services.inbox, _limited(op), op.user.user_id
    try:
        if action == "take":
            await inbox.take(op.tenant_id, conversation_id, by, business_ids=limited)
        elif action == "transfer":
            await inbox.transfer(op.tenant_id, conversation_id, by=by, to_agent=form_text(form, "agent") or None,
                                 to_team=form_text(form, "team").strip() or None, business_ids=limited)
        elif action == "close":
            await inbox.close(op.tenant_id, conversation_id, by=by, business_ids=limited)
        else:
            text = form_text(form, "text").strip()
            canned = form_text(form, "canned")
            if not text and canned:
                text = next((c.text for c in await inbox.canned_replies(op.tenant_id) if c.id == canned), "")
            template = form_text(form, "template_id").strip() or None
            params = dict(line.split("=", 1) for line in form_text(form, "params").splitlines() if "=" in line)
            if not text and template is None:
                return op.ctx.render("error.html", status_code=422, active="inbox", title=op.ctx.gettext("Not done"),
                                     detail=op.ctx.gettext("Write a reply, or pick a canned reply or a template."))
            await inbox.reply(op.tenant_id, conversation_id, TextContent(text=text) if text and not template else None,
                              by=by, template_id=template, params={k.strip(): v.strip() for k, v in params.items()}
                              if template else None, client_message_id=form_text(form, "form_key") or None,
                              business_ids=limited)
    except (DomainError, ValueError) as exc:
        if isinstance(exc, DomainError):
            return _error(op, exc)
        return op.ctx.render("error.html", status_code=422, active="inbox", title=op.ctx.gettext("Not done"),
                             detail=str(exc))
    return op.ctx.redirect(op.ctx.url("inbox_conversation", conversation_id=conversation_id, query={"done": done}))


@router.post("/inbox/{conversation_id}/take", name="inbox_take")
async def take(op: InTenantDep, conversation_id: ConversationId) -> Response:
    return await _act(op, conversation_id, "taken", "take")


@router.post("/inbox/{conversation_id}/reply", name="inbox_reply")
async def reply(op: InTenantDep, conversation_id: ConversationId) -> Response:
    return await _act(op, conversation_id, "sent", "reply")


@router.post("/inbox/{conversation_id}/transfer", name="inbox_transfer")
async def transfer(op: InTenantDep, conversation_id: ConversationId) -> Response:
    return await _act(op, conversation_id, "transferred", "transfer")


@router.post("/inbox/{conversation_id}/close", name="inbox_close")
async def close(op: InTenantDep, conversation_id: ConversationId) -> Response:
    return await _act(op, conversation_id, "closed", "close")
