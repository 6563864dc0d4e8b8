"""A platform admin picks the tenant to work in (a tenant admin is always in their own)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from msg5g.admin.context import NextQuery, SignedInDep
from msg5g.admin.forms import form_text

router = APIRouter()


@router.get("/tenant", name="choose_tenant")
async def tenant_form(ctx: SignedInDep, next_path: NextQuery = None) -> Response:
    if ctx.user is not None and not ctx.user.is_platform_admin:
        return ctx.redirect(ctx.safe_next(next_path))
    return ctx.render("tenant.html", active="", next=next_path or "", tenant_value=ctx.tenant_id or "", error=None)


@router.post("/tenant", name="choose_tenant_submit")
async def choose_tenant(ctx: SignedInDep) -> Response:
    form = await ctx.request.form()
    tenant_id, target = form_text(form, "tenant_id").strip(), form_text(form, "next")
    if ctx.user is not None and not ctx.user.is_platform_admin:
        return ctx.redirect(ctx.safe_next(target))
    if not tenant_id or len(tenant_id) > 64 or not await ctx.services.provisioning.tenant_exists(tenant_id):
        return ctx.render("tenant.html", status_code=422, active="", next=target, tenant_value=tenant_id,
                          error=ctx.gettext("No tenant has this id."))
    ctx.session.choose_tenant(tenant_id)
    return ctx.redirect(ctx.safe_next(target))
