"""A platform admin picks the tenant to work in (a tenant admin is always in their own) from the list of
tenants, or adds a tenant, with its first business, and works in it."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from msg5g.admin.context import AdminContext, NextQuery, SignedInDep
from msg5g.admin.forms import form_text
from msg5g.admin.pages.businesses import TRAFFIC_LABELS
from msg5g.domain.messages import TrafficClass

router = APIRouter()
NAME_MAX = 200


async def _picker(ctx: AdminContext, next_path: str, *, tenant_value: str = "", error: str | None = None,
                  new_error: str | None = None, new_name: str = "", status_code: int = 200) -> Response:
    tenants = await ctx.services.provisioning.tenants()
    return ctx.render("tenant.html", status_code=status_code, active="tenants", next=next_path,
                      tenant_value=tenant_value or ctx.tenant_id or "", error=error, tenants=tenants,
                      current=ctx.tenant_id, new_error=new_error, new_name=new_name, traffic_labels=TRAFFIC_LABELS)


@router.get("/tenant", name="choose_tenant")
async def tenant_form(ctx: SignedInDep, next_path: NextQuery = None) -> Response:
    if ctx.user is not None and not ctx.user.is_platform_admin:
        return ctx.redirect(ctx.safe_next(next_path))
    return await _picker(ctx, next_path or "")


@router.post("/tenants", name="tenant_create")
async def tenant_create(ctx: SignedInDep) -> Response:
    """A new tenant with its first business; the platform admin then works in it."""
    if ctx.user is None or not ctx.user.is_platform_admin:
        return ctx.render("error.html", status_code=403, active="", title=ctx.gettext("Not allowed"),
                          detail=ctx.gettext("Only a platform admin adds tenants."))
    form = await ctx.request.form()
    name, business = form_text(form, "name").strip(), form_text(form, "business_name").strip()
    traffic = form_text(form, "traffic_class")
    if not name or len(name) > NAME_MAX or len(business) > NAME_MAX or traffic not in TRAFFIC_LABELS:
        return await _picker(ctx, "", new_name=name, status_code=422,
                             new_error=ctx.gettext("A tenant needs a name of at most %(count)s characters.",
                                                   count=NAME_MAX))
    tenant_id = await ctx.services.provisioning.create_tenant(name)
    await ctx.services.provisioning.create_business(tenant_id, business or name, TrafficClass(traffic))
    ctx.session.choose_tenant(tenant_id)
    return ctx.redirect(ctx.url("businesses"))


@router.post("/tenant", name="choose_tenant_submit")
async def choose_tenant(ctx: SignedInDep) -> Response:
    form = await ctx.request.form()
    tenant_id, target = form_text(form, "tenant_id").strip(), form_text(form, "next")
    if ctx.user is not None and not ctx.user.is_platform_admin:
        return ctx.redirect(ctx.safe_next(target))
    if not tenant_id or len(tenant_id) > 64 or not await ctx.services.provisioning.tenant_exists(tenant_id):
        return await _picker(ctx, target, tenant_value=tenant_id, error=ctx.gettext("No tenant has this id."),
                             status_code=422)
    ctx.session.choose_tenant(tenant_id)
    return ctx.redirect(ctx.safe_next(target))
