"""API keys (API 密钥): a business's keys for the API, each with its scopes and the address ranges it may
be used from.

Per business, chosen as on the material pages (`?business=`, `business_id` in the forms). A key's
plaintext is on the answer to the request that made it (create, rotate) and nowhere else: the platform
keeps only its hash (`services.access.ApiKeys`). That answer is a page rather than a redirect, so the key
never travels in a URL; the admin's pages are `cache-control: no-store`, so no cache keeps it either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Path
from starlette.datastructures import FormData
from starlette.responses import Response

from msg5g.admin.context import InTenantDep, Operator
from msg5g.admin.forms import FieldError, form_text
from msg5g.admin.i18n import N_
from msg5g.admin.pages.materials import BusinessQuery, DoneQuery, Workspace, no_business, workspace
from msg5g.domain.errors import DomainError
from msg5g.domain.roles import ApiScope, Permission
from msg5g.services.access import KEY_PREFIX, ApiKeyView

router = APIRouter()

Gettext = Callable[..., str]
KeyId = Annotated[str, Path(min_length=1, max_length=64)]
NAME_MAX = 200  # the column's length

SCOPE_LABELS: dict[str, str] = {
    ApiScope.SEND: N_("Send and revoke messages"),
    ApiScope.READ_STATUS: N_("Read messages, statuses, uplinks and callbacks"),
    ApiScope.MANAGE_TEMPLATES: N_("Manage materials, templates, chatbots, profiles and mappings"),
    ApiScope.READ_REPORTS: N_("Read caps, usage, reports and alerts"),
    ApiScope.MANAGE_ALERTS: N_("Manage alert rules; acknowledge and resolve alerts"),
    ApiScope.MANAGE_CONTACTS: N_("Manage contacts: their attributes and tags"),
}

KEY_LABELS: dict[str, str] = {
    "business_id": N_("Business"),
    "name": N_("Name"),
    "scopes": N_("Scopes"),
    "allowed_ips": N_("Allowed address ranges"),
    "": N_("API key"),
}

_DOMAIN_MESSAGES = {
    "no_scopes": N_("Choose at least one scope."),
    "invalid_ip_range": N_("Enter IP addresses or ranges such as 203.0.113.0/24, one a line."),
    "api_key_revoked": N_("A revoked key is not rotated: create a new one."),
}

_NOTICES = {"revoked": N_("Key revoked. It stops working within seconds.")}
_LINES = re.compile(r"[\s,，;；]+")


def _status(exc: DomainError) -> int:
    return exc.http_status if 400 <= exc.http_status < 500 else 422


def domain_error(exc: DomainError, _: Gettext) -> FieldError:
    name = exc.field if exc.field in KEY_LABELS else ""
    known = _DOMAIN_MESSAGES.get(exc.code)
    message = f"{_(known)} {exc.message}" if known else exc.message
    return FieldError(field=name or "", label=_(KEY_LABELS[name or ""]), message=message, code=exc.code)


@dataclass(slots=True)
class KeyForm:
    name: str = ""
    scopes: list[str] = field(default_factory=lambda: [s.value for s in ApiScope])
    allowed_ips: str = ""

    @classmethod
    def parse(cls, form: FormData) -> KeyForm:
        return cls(name=form_text(form, "name").strip(),
                   scopes=[v for v in form.getlist("scopes") if isinstance(v, str)],
                   allowed_ips=form_text(form, "allowed_ips"))

    def ranges(self) -> list[str] | None:
        """One range a line (commas and spaces also part them); none: from anywhere."""
        found = [r for r in _LINES.split(self.allowed_ips) if r]
        return found or None

    def chosen_scopes(self) -> list[ApiScope]:
        return [s for s in ApiScope if s.value in self.scopes]


async def _page(op: Operator, space: Workspace, *, form: KeyForm | None = None, errors: list[FieldError] | None = None,
                notice: str | None = None, status_code: int = 200) -> Response:
    keys = await op.services.api_keys.keys(op.tenant_id, space.business_id) if space.business_id else []
    field_errors: dict[str, list[str]] = {}
    for error in errors or []:
        field_errors.setdefault(error.field, []).append(error.inline)
    return op.ctx.render("api_keys.html", status_code=status_code, active="api_keys", space=space,
                         keys=sorted(keys, key=lambda k: (k.revoked_at is not None, k.created_at)),
                         form=form or KeyForm(), scope_labels=SCOPE_LABELS, key_scheme=KEY_PREFIX,
                         can_manage=op.user.can(Permission.MANAGE_TENANT), errors=errors or [],
                         field_errors=field_errors, notice=notice)


def _issued(op: Operator, space: Workspace, view: ApiKeyView, plaintext: str, *, rotated: bool) -> Response:
    return op.ctx.render("api_key_issued.html", active="api_keys", space=space, key=view, plaintext=plaintext,
                         rotated=rotated, scope_labels=SCOPE_LABELS, key_scheme=KEY_PREFIX)


async def _find(op: Operator, key_id: str) -> ApiKeyView | None:
    """A key of one of the businesses the user works in: another's answers as an unknown one."""
    return next((k for k in await op.services.api_keys.keys(op.tenant_id)
                 if k.id == key_id and op.user.covers(k.business_id)), None)


def _no_key(op: Operator) -> Response:
    return op.ctx.render("error.html", status_code=404, active="api_keys", title=op.ctx.gettext("Not found"),
                         detail=op.ctx.gettext("There is no such API key in this tenant."))


@router.get("/api-keys", name="api_keys")
async def api_keys_page(op: InTenantDep, business: BusinessQuery = None, done: DoneQuery = None) -> Response:
    space = await workspace(op, business)
    if business and space.business_id is None:
        return no_business(op, "api_keys")
    notice = _NOTICES.get(done or "")
    return await _page(op, space, notice=op.ctx.gettext(notice) if notice else None)


@router.post("/api-keys", name="api_key_create")
async def api_key_create(op: InTenantDep) -> Response:
    posted = await op.ctx.request.form()
    _ = op.ctx.gettext
    space = await workspace(op, form_text(posted, "business_id") or None)
    form = KeyForm.parse(posted)
    errors: list[FieldError] = []
    if space.business_id is None:
        errors.append(FieldError(field="business_id", label=_("Business"), message=_("Choose a business.")))
    if not form.name or len(form.name) > NAME_MAX:
        errors.append(FieldError(field="name", label=_("Name"),
                                 message=_("Required, at most %(count)s characters.", count=NAME_MAX)))
    if errors or space.business_id is None:
        return await _page(op, space, form=form, errors=errors, status_code=422)
    try:
        key_id, plaintext = await op.services.api_keys.create(op.tenant_id, space.business_id, form.name,
                                                              scopes=form.chosen_scopes(),
                                                              allowed_ips=form.ranges())
    except DomainError as exc:
        return await _page(op, space, form=form, errors=[domain_error(exc, _)], status_code=_status(exc))
    view = await _find(op, key_id)
    assert view is not None  # just made, in a business the user works in
    return _issued(op, space, view, plaintext, rotated=False)


@router.post("/api-keys/{key_id}/rotate", name="api_key_rotate")
async def api_key_rotate(op: InTenantDep, key_id: KeyId) -> Response:
    _ = op.ctx.gettext
    old = await _find(op, key_id)
    if old is None:
        return _no_key(op)
    space = await workspace(op, old.business_id)
    try:
        view, plaintext = await op.services.api_keys.rotate(op.tenant_id, key_id)
    except DomainError as exc:
        return await _page(op, space, errors=[domain_error(exc, _)], status_code=_status(exc))
    return _issued(op, space, view, plaintext, rotated=True)


@router.post("/api-keys/{key_id}/revoke", name="api_key_revoke")
async def api_key_revoke(op: InTenantDep, key_id: KeyId) -> Response:
    old = await _find(op, key_id)
    if old is None:
        return _no_key(op)
    await op.services.api_keys.revoke(op.tenant_id, key_id)
    return op.ctx.redirect(op.ctx.url("api_keys", query={"business": old.business_id, "done": "revoked"}))
