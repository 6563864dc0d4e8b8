"""The dashboard: the tenant's messages by status."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from msg5g.admin.context import InTenantDep
from msg5g.domain.messages import MessageStatus

router = APIRouter()

_KNOWN = {s.value for s in MessageStatus}


@router.get("/", name="dashboard")
async def dashboard(op: InTenantDep) -> Response:
    counts = await op.services.queries.status_counts(op.tenant_id)
    rows = [(status.value, counts.get(status.value, 0)) for status in MessageStatus]
    # A status the services know and this list does not still shows, rather than vanishing.
    rows += [(status, count) for status, count in sorted(counts.items()) if status not in _KNOWN]
    return op.ctx.render("dashboard.html", active="dashboard", rows=rows, total=sum(counts.values()))
