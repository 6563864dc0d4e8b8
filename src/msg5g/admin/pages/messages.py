"""Messages: the recent list with filters and paging, its export as CSV, and one message's history and
attempts. A user limited to some businesses sees only their messages; numbers are masked unless the
user's role may see them and asks to (every export is written to the audit log, with what it held)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from msg5g.admin.context import InTenantDep, Operator
from msg5g.domain.errors import NotFound
from msg5g.domain.messages import MessageStatus
from msg5g.domain.roles import Permission
from msg5g.kit.phone import InvalidPhoneNumber, mask, normalise_mobile
from msg5g.services.views import MessageSummary

router = APIRouter()

PAGE_SIZE = 50
EXPORT_LIMIT = 10_000  # rows in one export; narrow the filters for more
_STATUSES = {s.value for s in MessageStatus}

Filter = Annotated[str | None, Query(max_length=64)]


@dataclass(frozen=True, slots=True)
class _Filters:
    shown: dict[str, str | None]  # as the form shows them (and the pager and export links carry them)
    status: MessageStatus | None
    recipient: str | None  # E.164
    chatbot_id: str | None
    business_id: str | None
    error: str | None


async def _filters(op: Operator, status: str | None, recipient: str | None, chatbot: str | None,
                   business: str | None) -> _Filters:
    chosen_status = status if status in _STATUSES else None
    chosen_business = business if business and op.user.covers(business) else None
    shown = {"status": chosen_status, "recipient": (recipient or "").strip() or None, "chatbot": chatbot or None,
             "business": chosen_business}
    e164, error = None, None
    if shown["recipient"]:
        try:
            e164 = normalise_mobile(shown["recipient"] or "")
        except InvalidPhoneNumber:
            error = op.ctx.gettext("Not a valid mobile number.")
    return _Filters(shown=shown, status=MessageStatus(chosen_status) if chosen_status else None, recipient=e164,
                    chatbot_id=shown["chatbot"], business_id=chosen_business, error=error)


async def _page(op: Operator, chosen: _Filters, before: str | None, limit: int) -> tuple[list[MessageSummary],
                                                                                       str | None]:
    if chosen.error is not None:
        return [], None
    page = await op.services.queries.messages(
        op.tenant_id, limit=limit, before=before or None, status=chosen.status, recipient=chosen.recipient,
        chatbot_id=chosen.chatbot_id, business_id=chosen.business_id, business_ids=op.user.business_ids)
    return page.data, page.next_cursor


@router.get("/messages", name="messages")
async def message_list(
    op: InTenantDep, status: Filter = None, recipient: Filter = None, chatbot: Filter = None,
    business: Filter = None, before: Filter = None,
) -> Response:
    chosen = await _filters(op, status, recipient, chatbot, business)
    rows, next_cursor = await _page(op, chosen, before, PAGE_SIZE)
    chatbots = await op.services.provisioning.chatbots(op.tenant_id)
    businesses = [(i, n) for i, n in await op.services.provisioning.businesses(op.tenant_id) if op.user.covers(i)]
    return op.ctx.render(
        "messages.html", active="messages", rows=rows, filters=chosen.shown, error=chosen.error,
        statuses=list(MessageStatus), chatbots=chatbots, chatbot_names=dict(chatbots), businesses=businesses,
        next_cursor=next_cursor, paged=bool(before), may_reveal=op.user.can(Permission.SEE_NUMBERS),
        export_limit=EXPORT_LIMIT,
    )


@router.get("/messages/export", name="messages_export")
async def message_export(
    op: InTenantDep, status: Filter = None, recipient: Filter = None, chatbot: Filter = None,
    business: Filter = None, reveal: Annotated[str | None, Query(max_length=1)] = None,
) -> Response:
    """The messages the filters match, newest first, as CSV (UTF-8 with a BOM, which spreadsheet programs
    need to read Chinese). Numbers are masked unless the role may see them and `reveal=1` asks."""
    chosen = await _filters(op, status, recipient, chatbot, business)
    unmasked = reveal == "1" and op.user.can(Permission.SEE_NUMBERS)
    rows: list[MessageSummary] = []
    before: str | None = None
    while len(rows) < EXPORT_LIMIT:
        batch, before = await _page(op, chosen, before, min(500, EXPORT_LIMIT - len(rows)))
        rows.extend(batch)
        if before is None:
            break
    chatbots = dict(await op.services.provisioning.chatbots(op.tenant_id))
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(["created_at", "message_id", "chatbot", "recipient", "traffic_class", "status", "status_reason"])
    for m in rows:
        writer.writerow([m.created_at.isoformat(), m.id, chatbots.get(m.chatbot_id, m.chatbot_id),
                         m.recipient if unmasked else mask(m.recipient), m.traffic_class.value, m.status.value,
                         m.status_reason or ""])
    await op.services.audit.record_alone(
        action="messages.export", target_type="message", tenant_id=op.tenant_id,
        after={"rows": len(rows), "numbers": "unmasked" if unmasked else "masked",
               "filters": {k: v for k, v in chosen.shown.items() if v}})
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="messages.csv"'})


@router.get("/messages/{message_id}", name="message")
async def message_detail(op: InTenantDep, message_id: Annotated[str, Path(min_length=1, max_length=64)],
                         reveal: Annotated[str | None, Query(max_length=1)] = None) -> Response:
    """Numbers are masked (PIPL); a role with `see_numbers` may reveal one, and the audit log keeps every
    view of this page."""
    try:
        message = await op.services.queries.message(op.tenant_id, message_id)
        if not op.user.covers(message.business_id):
            raise NotFound("another business's message")
    except NotFound:
        return op.ctx.render("error.html", status_code=404, active="messages",
                             title=op.ctx.gettext("Not found"),
                             detail=op.ctx.gettext("There is no such message in this tenant."))
    chatbots = dict(await op.services.provisioning.chatbots(op.tenant_id))
    businesses = dict(await op.services.provisioning.businesses(op.tenant_id))
    may_reveal = op.user.can(Permission.SEE_NUMBERS)
    return op.ctx.render("message.html", active="messages", message=message, chatbot_names=chatbots,
                         business_names=businesses, may_reveal=may_reveal, revealed=may_reveal and reveal == "1")
