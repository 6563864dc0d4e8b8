"""The audit log (审计日志): who changed what, before and after, and who viewed recipients' numbers, newest
first, for tenant admins and auditors (`read_audit`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Query
from starlette.responses import Response

from msg5g.admin.context import InTenantDep

router = APIRouter()
PAGE_SIZE = 100

Filter = Annotated[str | None, Query(max_length=200)]


@router.get("/audit", name="audit")
async def audit_log(op: InTenantDep, actor: Filter = None, action: Filter = None, target: Filter = None,
                    before: Annotated[datetime | None, Query()] = None) -> Response:
    entries = await op.services.audit.browse(op.tenant_id, actor=actor or None, action=action or None,
                                             target_id=target or None, before=before, limit=PAGE_SIZE)
    shown = [(entry, _pretty(entry.before), _pretty(entry.after)) for entry in entries]
    older = entries[-1].at.isoformat() if len(entries) == PAGE_SIZE else None
    return op.ctx.render("audit.html", active="audit", entries=shown, actor=actor or "", action=action or "",
                         target=target or "", older=older)


def _pretty(document: object) -> str:
    if document is None:
        return ""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
