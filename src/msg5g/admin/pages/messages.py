"""Messages: the recent list with filters and paging, and one message's history and attempts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from msg5g.admin.context import InTenantDep
from msg5g.domain.errors import NotFound
from msg5g.domain.messages import MessageStatus
from msg5g.domain.roles import Permission
from msg5g.kit.phone import InvalidPhoneNumber, normalise_mobile

router = APIRouter()

PAGE_SIZE = 50
_STATUSES = {s.value for s in MessageStatus}

Filter = Annotated[str | None, Query(max_length=64)]


@router.get("/messages", name="messages")
async def message_list(
    op: InTenantDep, status: Filter = None, recipient: Filter = None, chatbot: Filter = None, before: Filter = None,
) -> Response:
    services = op.services
    chosen_status = status if status in _STATUSES else None
    chatbots = await services.provisioning.chatbots(op.tenant_id)
    filters = {"status": chosen_status, "recipient": (recipient or "").strip() or None, "chatbot": chatbot or None}
    error = None
    e164 = None
    if filters["recipient"]:
        try:
            e164 = normalise_mobile(filters["recipient"])
        except InvalidPhoneNumber:
            error = op.ctx.gettext("Not a valid mobile number.")
    if error is None:
        page = await services.queries.messages(
            op.tenant_id, limit=PAGE_SIZE, before=before or None,
            status=MessageStatus(chosen_status) if chosen_status else None,
            recipient=e164, chatbot_id=filters["chatbot"],
        )
        rows, next_cursor = page.data, page.next_cursor
    else:
        rows, next_cursor = [], None
    return op.ctx.render(
        "messages.html", active="messages", rows=rows, filters=filters, error=error, statuses=list(MessageStatus),
        chatbots=chatbots, chatbot_names=dict(chatbots), next_cursor=next_cursor, paged=bool(before),
    )


@router.get("/messages/{message_id}", name="message")
async def message_detail(op: InTenantDep, message_id: Annotated[str, Path(min_length=1, max_length=64)],
                         reveal: Annotated[str | None, Query(max_length=1)] = None) -> Response:
    """Numbers are masked (PIPL); a role with `see_numbers` may reveal one, and the audit log keeps every
    view of this page."""
    try:
        message = await op.services.queries.message(op.tenant_id, message_id)
    except NotFound:
        return op.ctx.render("error.html", status_code=404, active="messages",
                             title=op.ctx.gettext("Not found"),
                             detail=op.ctx.gettext("There is no such message in this tenant."))
    chatbots = dict(await op.services.provisioning.chatbots(op.tenant_id))
    businesses = dict(await op.services.provisioning.businesses(op.tenant_id))
    may_reveal = op.user.can(Permission.SEE_NUMBERS)
    return op.ctx.render("message.html", active="messages", message=message, chatbot_names=chatbots,
                         business_names=businesses, may_reveal=may_reveal, revealed=may_reveal and reveal == "1")
