"""Business mappings (业务映射): a business's applications to use another business's template or chatbot
of the tenant (made through /v1/mappings), decided here by a tenant admin or auditor, and revoked here.

The checker is never the maker: the service refuses a decision by whoever asked (`same_person`), and the
page says so. A user limited to some businesses sees and decides only the mappings that touch one of them
(the business that asks, or the one that owns the resource); any other answers as an unknown one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from msg5g.admin.context import InTenantDep, Operator
from msg5g.admin.forms import FieldError, form_text
from msg5g.admin.i18n import N_
from msg5g.admin.pages.materials import DoneQuery
from msg5g.domain.errors import DomainError
from msg5g.domain.roles import Permission
from msg5g.services.grants import GrantState, GrantView, ResourceType

router = APIRouter()

Gettext = Callable[..., str]
MappingId = Annotated[str, Path(min_length=1, max_length=64)]
StateQuery = Annotated[str | None, Query(alias="state", max_length=20)]
REASON_MAX = 1000
ALL = "all"

STATE_LABELS: dict[str, str] = {
    GrantState.PENDING: N_("Awaiting a decision"),
    GrantState.APPROVED: N_("Approved"),
    GrantState.REJECTED: N_("Rejected"),
    GrantState.REVOKED: N_("Access revoked"),  # not "Revoked", which the catalog has for a recalled message
}
# The badge colours of the template review states (admin.css `review-*`), which mean the same here.
STATE_TONES: dict[str, str] = {
    GrantState.PENDING: "in_review", GrantState.APPROVED: "approved", GrantState.REJECTED: "rejected",
    GrantState.REVOKED: "draft",
}
ACTION_LABELS: dict[str, str] = {
    "requested": N_("Requested"),
    GrantState.APPROVED: N_("Approved"),
    GrantState.REJECTED: N_("Rejected"),
    GrantState.REVOKED: N_("Access revoked"),
}
RESOURCE_LABELS: dict[str, str] = {ResourceType.TEMPLATE: N_("Template"), ResourceType.CHATBOT: N_("Chatbot")}

_DOMAIN_MESSAGES = {
    "same_person": N_("You asked for this mapping yourself: another person must approve or reject it."),
    "mapping_decided": N_("The mapping has been decided already. Reload the page."),
    "mapping_not_approved": N_("Only an approved mapping is revoked."),
    "already_owned": N_("The business owns it already: it needs no mapping."),
    "mapping_exists": N_("The business has asked for it already, or may use it."),
}

_NOTICES = {
    "approved": N_("Mapping approved: the business may now send through it."),
    "rejected": N_("Mapping rejected."),
    "revoked": N_("Mapping revoked: the business can no longer send through it (within seconds)."),
    "requested": N_("Mapping asked for: another person approves or rejects it here."),
}


def _status(exc: DomainError) -> int:
    return exc.http_status if 400 <= exc.http_status < 500 else 422


def domain_error(exc: DomainError, _: Gettext) -> FieldError:
    known = _DOMAIN_MESSAGES.get(exc.code)
    message = f"{_(known)} {exc.message}" if known else exc.message
    return FieldError(field="", label=_("Mapping"), message=message, code=exc.code)


def _filter(value: str | None) -> str:
    """The state shown: one of GrantState, or all; pending (what waits for a decision) by default."""
    return value if value in STATE_LABELS or value == ALL else GrantState.PENDING.value


def _touches(op: Operator, grant: GrantView) -> bool:
    return op.user.covers(grant.business_id) or (grant.owner_business_id is not None
                                                 and op.user.covers(grant.owner_business_id))


@dataclass(frozen=True, slots=True)
class Who:
    """How a page names the actor the service recorded: an admin by email, an API key by its name."""

    kind: str  # admin | api_key | other
    name: str


def _who(actor: str | None, key_names: dict[str, str]) -> Who | None:
    if actor is None:
        return None
    scheme, _sep, rest = actor.partition(":")
    if scheme == "admin":
        return Who("admin", rest)
    if scheme == "api-key":
        return Who("api_key", key_names.get(rest, rest))
    return Who("other", actor)


@dataclass(slots=True)
class RequestForm:
    business_id: str = ""
    resource: str = ""  # "<type>:<id>"
    note: str = ""


async def _page(op: Operator, state: str, *, errors: list[FieldError] | None = None, section: str = "",
                notice: str | None = None, status_code: int = 200, request: RequestForm | None = None) -> Response:
    wanted = None if state == ALL else GrantState(state)
    grants = [g for g in await op.services.grants.of_tenant(op.tenant_id, wanted) if _touches(op, g)]
    businesses = dict(await op.services.provisioning.businesses(op.tenant_id))
    own_businesses = [(i, n) for i, n in businesses.items() if op.user.covers(i)]
    mappable = await op.services.grants.mappable(op.tenant_id)
    key_names = {k.id: k.name for k in await op.services.api_keys.keys(op.tenant_id)}
    people = {actor: _who(actor, key_names)
              for g in grants for actor in (g.requested_by, g.decided_by, *(s.by for s in g.history)) if actor}
    return op.ctx.render(
        "mappings.html", status_code=status_code, active="mappings", grants=grants, state=state,
        states=[*STATE_LABELS, ALL], state_labels=STATE_LABELS, state_tones=STATE_TONES, action_labels=ACTION_LABELS,
        resource_labels=RESOURCE_LABELS, businesses=businesses, people=people,
        can_review=op.user.can(Permission.REVIEW), reason_max=REASON_MAX, section=section, errors=errors or [],
        notice=notice, can_request=op.user.can(Permission.MANAGE_CONTENT) and bool(own_businesses),
        own_businesses=own_businesses, mappable=mappable, request=request or RequestForm())


async def _find(op: Operator, mapping_id: str) -> GrantView | None:
    return next((g for g in await op.services.grants.of_tenant(op.tenant_id)
                 if g.id == mapping_id and _touches(op, g)), None)


def _no_mapping(op: Operator) -> Response:
    return op.ctx.render("error.html", status_code=404, active="mappings", title=op.ctx.gettext("Not found"),
                         detail=op.ctx.gettext("There is no such mapping in this tenant."))


def _reason_errors(reason: str, required: bool, _: Gettext) -> list[FieldError]:
    if required and not reason:
        return [FieldError(field="reason", label=_("Reason"), message=_("Say why: the business sees it."))]
    if len(reason) > REASON_MAX:
        return [FieldError(field="reason", label=_("Reason"),
                           message=_("At most %(count)s characters.", count=REASON_MAX))]
    return []


@router.get("/mappings", name="mappings")
async def mappings_page(op: InTenantDep, state: StateQuery = None, done: DoneQuery = None) -> Response:
    notice = _NOTICES.get(done or "")
    return await _page(op, _filter(state), notice=op.ctx.gettext(notice) if notice else None)


@router.post("/mappings/{mapping_id}/decide", name="mapping_decide")
async def mapping_decide(op: InTenantDep, mapping_id: MappingId) -> Response:
    posted = await op.ctx.request.form()
    _ = op.ctx.gettext
    grant = await _find(op, mapping_id)
    if grant is None:
        return _no_mapping(op)
    state = _filter(form_text(posted, "state") or None)
    decision, reason = form_text(posted, "decision"), form_text(posted, "reason").strip()
    errors = [] if decision in {"approve", "reject"} else [
        FieldError(field="decision", label=_("Mapping"), message=_("Choose to approve or to reject."))]
    errors += _reason_errors(reason, decision == "reject", _)
    if errors:
        return await _page(op, state, errors=errors, section=mapping_id, status_code=422)
    try:
        decided = await op.services.grants.decide(op.tenant_id, mapping_id, approve=decision == "approve",
                                                  by=op.user.actor, reason=reason or None)
    except DomainError as exc:
        return await _page(op, state, errors=[domain_error(exc, _)], section=mapping_id, status_code=_status(exc))
    # To the list of the mapping's new state, where its history shows the decision.
    return op.ctx.redirect(op.ctx.url("mappings", query={"state": decided.state.value, "done": decided.state.value}))


@router.post("/mappings/{mapping_id}/revoke", name="mapping_revoke")
async def mapping_revoke(op: InTenantDep, mapping_id: MappingId) -> Response:
    posted = await op.ctx.request.form()
    _ = op.ctx.gettext
    grant = await _find(op, mapping_id)
    if grant is None:
        return _no_mapping(op)
    state = _filter(form_text(posted, "state") or None)
    reason = form_text(posted, "reason").strip()
    errors = _reason_errors(reason, True, _)
    if errors:
        return await _page(op, state, errors=errors, section=mapping_id, status_code=422)
    try:
        await op.services.grants.revoke(op.tenant_id, mapping_id, by=op.user.actor, reason=reason)
    except DomainError as exc:
        return await _page(op, state, errors=[domain_error(exc, _)], section=mapping_id, status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("mappings", query={"state": GrantState.REVOKED.value, "done": "revoked"}))


@router.post("/mappings", name="mapping_request")
async def mapping_request(op: InTenantDep) -> Response:
    """An operator asks, for one of their businesses, to use another business's template or chatbot."""
    posted = await op.ctx.request.form()
    _ = op.ctx.gettext
    form = RequestForm(business_id=form_text(posted, "business_id"), resource=form_text(posted, "resource"),
                       note=form_text(posted, "note").strip())
    kind, _sep, resource_id = form.resource.partition(":")
    errors = []
    if not form.business_id or not op.user.covers(form.business_id):
        errors.append(FieldError(field="business_id", label=_("Business"), message=_("Choose one of your businesses.")))
    if kind not in {t.value for t in ResourceType} or not resource_id:
        errors.append(FieldError(field="resource", label=_("Resource"), message=_("Choose a template or chatbot.")))
    if len(form.note) > REASON_MAX:
        errors.append(FieldError(field="note", label=_("Note"),
                                 message=_("At most %(count)s characters.", count=REASON_MAX)))
    if errors:
        return await _page(op, GrantState.PENDING.value, errors=errors, section="request", status_code=422,
                           request=form)
    try:
        await op.services.grants.apply_for(op.tenant_id, form.business_id, ResourceType(kind), resource_id,
                                           form.note or None, op.user.actor)
    except DomainError as exc:
        return await _page(op, GrantState.PENDING.value, errors=[domain_error(exc, _)], section="request",
                           status_code=_status(exc), request=form)
    return op.ctx.redirect(op.ctx.url("mappings", query={"state": GrantState.PENDING.value, "done": "requested"}))
