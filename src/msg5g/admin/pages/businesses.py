"""Businesses (业务): the tenant's businesses with their traffic class (the queue priority of what they
send), callback URL and chatbots; a tenant admin adds one, changes one, or rotates the secret its
callbacks are signed with (shown once). A user limited to some businesses sees only those."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from msg5g.admin.context import InTenantDep, Operator
from msg5g.admin.forms import FieldError, form_text, model_errors
from msg5g.admin.i18n import N_
from msg5g.admin.pages.materials import DoneQuery
from msg5g.domain.errors import NotFound
from msg5g.domain.messages import TrafficClass
from msg5g.domain.roles import Permission
from msg5g.services.businesses import BusinessSpec, BusinessView

router = APIRouter()

Gettext = Callable[..., str]
BusinessId = Annotated[str, Path(min_length=1, max_length=64)]

TRAFFIC_LABELS: dict[str, str] = {
    TrafficClass.NOTIFICATION: N_("Notification"),
    TrafficClass.CUSTOMER_SERVICE: N_("Customer service"),
    TrafficClass.SERVICE: N_("Service"),
    TrafficClass.MARKETING: N_("Marketing"),
}
LABELS: dict[str, str] = {
    "name": N_("Name"), "traffic_class": N_("Type"), "callback_url": N_("Callback URL"), "": N_("Business"),
}
_NOTICES = {"updated": N_("Business saved.")}


@dataclass(slots=True)
class BusinessForm:
    name: str = ""
    traffic_class: str = TrafficClass.NOTIFICATION.value
    callback_url: str = ""

    @classmethod
    def parse(cls, form: FormData) -> BusinessForm:
        return cls(**{f.name: form_text(form, f.name).strip() for f in fields(cls)})

    @classmethod
    def of(cls, view: BusinessView) -> BusinessForm:
        return cls(name=view.name, traffic_class=view.traffic_class.value, callback_url=view.callback_url or "")

    def spec(self, _: Gettext) -> tuple[BusinessSpec | None, list[FieldError]]:
        try:
            return BusinessSpec.model_validate({"name": self.name, "traffic_class": self.traffic_class,
                                                "callback_url": self.callback_url or None}), []
        except ValidationError as exc:
            return None, model_errors(exc, LABELS, _)


async def _page(op: Operator, *, form: BusinessForm | None = None, section: str = "",
                errors: list[FieldError] | None = None, notice: str | None = None, status_code: int = 200,
                edits: dict[str, BusinessForm] | None = None) -> Response:
    rows = [b for b in await op.services.businesses.of_tenant(op.tenant_id) if op.user.covers(b.id)]
    field_errors: dict[str, list[str]] = {}
    for error in errors or []:
        field_errors.setdefault(error.field, []).append(error.inline)
    forms = {b.id: BusinessForm.of(b) for b in rows} | (edits or {})
    return op.ctx.render("businesses.html", status_code=status_code, active="businesses", businesses=rows,
                         form=form or BusinessForm(), forms=forms, traffic_labels=TRAFFIC_LABELS, section=section,
                         errors=errors or [], field_errors=field_errors, notice=notice,
                         can_manage=op.user.can(Permission.MANAGE_TENANT),
                         can_add=op.user.can(Permission.MANAGE_TENANT) and op.user.business_ids is None)


def _no_business(op: Operator) -> Response:
    return op.ctx.render("error.html", status_code=404, active="businesses", title=op.ctx.gettext("Not found"),
                         detail=op.ctx.gettext("There is no such business in this tenant."))


@router.get("/businesses", name="businesses")
async def businesses_page(op: InTenantDep, done: DoneQuery = None) -> Response:
    notice = _NOTICES.get(done or "")
    return await _page(op, notice=op.ctx.gettext(notice) if notice else None)


@router.post("/businesses", name="business_add")
async def business_add(op: InTenantDep) -> Response:
    if op.user.business_ids is not None:  # a business of its own would be beyond the user's businesses
        return op.ctx.render("error.html", status_code=403, active="businesses",
                             title=op.ctx.gettext("Not allowed"),
                             detail=op.ctx.gettext("A user limited to some businesses does not add businesses."))
    form = BusinessForm.parse(await op.ctx.request.form())
    spec, errors = form.spec(op.ctx.gettext)
    if spec is None:
        return await _page(op, form=form, section="new", errors=errors, status_code=422)
    business_id, secret = await op.services.businesses.create(op.tenant_id, spec)
    return op.ctx.render("business_secret.html", active="businesses", name=spec.name, business_id=business_id,
                         secret=secret, rotated=False)


@router.post("/businesses/{business_id}", name="business_update")
async def business_update(op: InTenantDep, business_id: BusinessId) -> Response:
    if not op.user.covers(business_id):
        return _no_business(op)
    form = BusinessForm.parse(await op.ctx.request.form())
    spec, errors = form.spec(op.ctx.gettext)
    if spec is None:
        return await _page(op, section=business_id, errors=errors, status_code=422, edits={business_id: form})
    try:
        await op.services.businesses.update(op.tenant_id, business_id, spec)
    except NotFound:
        return _no_business(op)
    return op.ctx.redirect(op.ctx.url("businesses", query={"done": "updated"}))


@router.post("/businesses/{business_id}/rotate-secret", name="business_rotate_secret")
async def business_rotate(op: InTenantDep, business_id: BusinessId) -> Response:
    if not op.user.covers(business_id):
        return _no_business(op)
    try:
        secret = await op.services.businesses.rotate_secret(op.tenant_id, business_id)
    except NotFound:
        return _no_business(op)
    names = dict(await op.services.provisioning.businesses(op.tenant_id))
    return op.ctx.render("business_secret.html", active="businesses", name=names.get(business_id, business_id),
                         business_id=business_id, secret=secret, rotated=True)
