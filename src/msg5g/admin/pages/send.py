"""Send: an operator sends a text or a simple rich card through one of the tenant's chatbots."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.responses import Response

from msg5g.admin.context import InTenantDep, Operator
from msg5g.admin.forms import KINDS, FieldError, SendForm, domain_error, new_form_key, validation_errors
from msg5g.domain.errors import DomainError
from msg5g.services.access import BusinessAccess
from msg5g.services.views import SendResponse

router = APIRouter()


@router.get("/send", name="send_form")
async def send_form(op: InTenantDep) -> Response:
    return await _page(op, SendForm(client_message_id=new_form_key()), errors=[], result=None)


@router.post("/send", name="send")
async def send(op: InTenantDep) -> Response:
    form = SendForm.parse(await op.ctx.request.form())
    _ = op.ctx.gettext
    businesses = dict(await op.services.provisioning.businesses(op.tenant_id))
    errors: list[FieldError] = []
    if form.business_id not in businesses:
        errors.append(FieldError(field="business_id", label=_("Business"), message=_("Choose a business.")))
    if form.kind not in KINDS:
        errors.append(FieldError(field="kind", label=_("Kind"), message=_("Choose a kind of message.")))
    request = None
    try:
        request = form.to_request()
    except ValidationError as exc:
        errors += validation_errors(exc, form, _)
    if errors or request is None:
        return await _page(op, form, errors=errors, result=None, status_code=422)
    access = BusinessAccess(tenant_id=op.tenant_id, business_id=form.business_id, api_key_id=f"admin:{op.user.user_id}")
    try:
        result = await op.services.send(access, request)
    except DomainError as exc:
        return await _page(op, form, errors=[domain_error(exc, _)], result=None, status_code=422)
    # A fresh key for the next message; the choices stay, the content goes.
    follow_up = SendForm(business_id=form.business_id, chatbot_id=form.chatbot_id, kind=form.kind,
                         client_message_id=new_form_key())
    return await _page(op, follow_up, errors=[], result=result)


async def _page(op: Operator, form: SendForm, *, errors: list[FieldError], result: SendResponse | None,
                status_code: int = 200) -> Response:
    provisioning = op.services.provisioning
    businesses = await provisioning.businesses(op.tenant_id)
    chatbots = await provisioning.chatbots(op.tenant_id)
    if not form.business_id and len(businesses) == 1:
        form.business_id = businesses[0][0]
    if not form.chatbot_id and len(chatbots) == 1:
        form.chatbot_id = chatbots[0][0]
    field_errors: dict[str, list[str]] = {}
    for error in errors:
        field_errors.setdefault(error.field, []).append(error.inline)
    return op.ctx.render("send.html", status_code=status_code, active="send", form=form, kinds=KINDS,
                         businesses=businesses, chatbots=chatbots, errors=errors, field_errors=field_errors,
                         result=result)
