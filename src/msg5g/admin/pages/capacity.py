"""Capacity (容量): the tenant's caps with this period's ledger, and its price plan.

Tenant users read them; caps and prices are set by the platform's operators (as /v1/platform does), so
the forms are a platform admin's working in the tenant (`manage_platform` in admin/permissions.POSTS).
Money is integer fen throughout, as the services keep it. A user limited to some businesses sees the
tenant's caps and those of their businesses, not other businesses' caps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from msg5g.admin.context import InTenantDep, Operator
from msg5g.admin.forms import FieldError, form_text, model_errors, whole_number
from msg5g.admin.i18n import N_
from msg5g.admin.pages.materials import DoneQuery
from msg5g.domain.capacity import ANY_CHANNEL, CapMetric, CapPeriod, CapScope, CapSpec, ContentKind, PriceSpec
from msg5g.domain.errors import DomainError, NotFound
from msg5g.domain.roles import Permission
from msg5g.services.capacity import CapView

router = APIRouter()

Gettext = Callable[..., str]
CapId = Annotated[str, Path(min_length=1, max_length=64)]
BLANK_PRICE_ROWS = 3  # empty lines under the plan's own, to add prices without a script

SCOPE_LABELS: dict[str, str] = {
    CapScope.TENANT: N_("The whole tenant"),
    CapScope.BUSINESS: N_("One business"),
    CapScope.TEMPLATE: N_("One template"),
}
METRIC_LABELS: dict[str, str] = {CapMetric.COUNT: N_("Messages"), CapMetric.COST: N_("Cost (fen)")}
PERIOD_LABELS: dict[str, str] = {
    CapPeriod.DAY: N_("A day"),
    CapPeriod.MONTH: N_("A month"),
    CapPeriod.WINDOW: N_("A window of dates"),
}
KIND_LABELS: dict[str, str] = {
    ContentKind.TEXT: N_("Text"),
    ContentKind.RICH_CARD: N_("Rich card"),
    ContentKind.CAROUSEL: N_("Carousel"),
    ContentKind.FILE: N_("File"),
    ContentKind.SMS: N_("SMS"),
}

CAP_LABELS: dict[str, str] = {
    "name": N_("Name"),
    "scope": N_("Applies to"),
    "scope_id": N_("Business or template"),
    "business_id": N_("Business"),
    "template_id": N_("Template id"),
    "metric": N_("Counts"),
    "period": N_("Period"),
    "limit": N_("Limit"),
    "window_start": N_("First day"),
    "window_end": N_("Last day"),
    "": N_("Cap"),
}

PRICE_LABELS: dict[str, str] = {
    "content_kind": N_("Kind of message"),
    "channel_type": N_("Channel type"),
    "price_fen": N_("Price (fen)"),
    "": N_("Price plan"),
}

_DOMAIN_MESSAGES = {
    "business_not_found": N_("No such business in this tenant."),
    "template_not_found": N_("No such template in this tenant."),
    "duplicate_price": N_("Two lines price the same kind of message on the same channel type."),
}

_NOTICES = {
    "added": N_("Cap added. It limits sends from now on."),
    "deleted": N_("Cap deleted."),
    "priced": N_("Price plan saved."),
}


def _status(exc: DomainError) -> int:
    return exc.http_status if 400 <= exc.http_status < 500 else 422


def domain_error(exc: DomainError, _: Gettext) -> FieldError:
    name = exc.field if exc.field in CAP_LABELS else ""
    known = _DOMAIN_MESSAGES.get(exc.code)
    message = f"{_(known)} {exc.message}" if known else exc.message
    return FieldError(field=name or "", label=_(CAP_LABELS[name or ""]), message=message, code=exc.code)


# ---- the forms ------------------------------------------------------------------------------------


@dataclass(slots=True)
class CapForm:
    name: str = ""
    scope: str = CapScope.TENANT.value
    business_id: str = ""
    template_id: str = ""
    metric: str = CapMetric.COUNT.value
    period: str = CapPeriod.DAY.value
    limit: str = ""
    window_start: str = ""
    window_end: str = ""

    @classmethod
    def parse(cls, form: FormData) -> CapForm:
        return cls(**{f.name: form_text(form, f.name).strip() for f in fields(cls)})

    def get(self, name: str) -> str:
        return str(getattr(self, name))

    def spec(self, _: Gettext) -> tuple[CapSpec | None, list[FieldError]]:
        scope_ids = {CapScope.BUSINESS.value: self.business_id, CapScope.TEMPLATE.value: self.template_id}
        scope_id = scope_ids.get(self.scope)
        body: dict[str, Any] = {"scope": self.scope, "scope_id": scope_id or None, "metric": self.metric,
                                "period": self.period, "name": self.name or None}
        if self.limit:  # left out when empty, so that pydantic says "missing" (Required.)
            body["limit"] = whole_number(self.limit)
        if self.period == CapPeriod.WINDOW.value:  # dates of another period are left out, not refused
            body.update(window_start=self.window_start or None, window_end=self.window_end or None)
        try:
            return CapSpec.model_validate(body), []
        except ValidationError as exc:
            errors = model_errors(exc, CAP_LABELS, _)
            for error in errors:  # which input the scope id came from
                if error.field == "scope_id":
                    error.field = "business_id" if self.scope == CapScope.BUSINESS.value else "template_id"
            return None, errors


@dataclass(slots=True)
class PriceRow:
    content_kind: str = ContentKind.TEXT.value
    channel_type: str = ANY_CHANNEL
    price_fen: str = ""


@dataclass(slots=True)
class PriceForm:
    rows: list[PriceRow] = field(default_factory=list)

    @classmethod
    def parse(cls, form: FormData) -> PriceForm:
        def values(name: str) -> list[str]:
            return [v.strip() if isinstance(v, str) else "" for v in form.getlist(name)]

        kinds, channels, prices = values("content_kind"), values("channel_type"), values("price_fen")
        rows = [PriceRow(content_kind=k, channel_type=c or ANY_CHANNEL, price_fen=p)
                for k, c, p in zip(kinds, channels, prices, strict=False)]
        return cls(rows)

    @classmethod
    def of(cls, lines: list[PriceSpec]) -> PriceForm:
        return cls([PriceRow(content_kind=line.content_kind.value, channel_type=line.channel_type,
                             price_fen=str(line.price_fen)) for line in lines])

    def lines(self, _: Gettext) -> tuple[list[PriceSpec], list[FieldError]]:
        """The plan: a row without a price is left out (that is how a line is removed)."""
        lines, errors = [], []
        for number, row in enumerate(self.rows, start=1):
            if not row.price_fen:
                continue
            try:
                lines.append(PriceSpec.model_validate({"content_kind": row.content_kind,
                                                       "channel_type": row.channel_type,
                                                       "price_fen": whole_number(row.price_fen)}))
            except ValidationError as exc:
                errors += model_errors(exc, PRICE_LABELS, _, where=f"#{number}")
        return lines, errors

    def with_blanks(self) -> list[PriceRow]:
        return [*self.rows, *(PriceRow() for _ in range(BLANK_PRICE_ROWS))]



# ---- the page ---------------------------------------------------------------------------------------


def _visible(op: Operator, cap: CapView) -> bool:
    return cap.scope is not CapScope.BUSINESS or cap.scope_id is None or op.user.covers(cap.scope_id)


async def _page(op: Operator, *, cap_form: CapForm | None = None, price_form: PriceForm | None = None,
                section: str = "", errors: list[FieldError] | None = None, notice: str | None = None,
                status_code: int = 200) -> Response:
    """The whole page; `section` names the form whose `errors` are shown ("cap", "prices" or a cap id)."""
    capacity = op.services.capacity
    caps = [c for c in await capacity.caps(op.tenant_id) if _visible(op, c)]
    prices = await capacity.prices(op.tenant_id)
    businesses = await op.services.provisioning.businesses(op.tenant_id)
    channel_types = [(view.type, view.display_name) for view in op.services.channel_admin.types()]
    field_errors: dict[str, list[str]] = {}
    for error in errors or []:
        field_errors.setdefault(error.field, []).append(error.inline)
    return op.ctx.render(
        "capacity.html", status_code=status_code, active="capacity", caps=caps, prices=prices,
        businesses=businesses, business_names=dict(businesses), channel_types=channel_types,
        channel_names=dict(channel_types), any_channel=ANY_CHANNEL, cap_form=cap_form or CapForm(),
        price_rows=(price_form or PriceForm.of(prices)).with_blanks(), scope_labels=SCOPE_LABELS,
        metric_labels=METRIC_LABELS, period_labels=PERIOD_LABELS, kind_labels=KIND_LABELS,
        can_manage=op.user.can(Permission.MANAGE_PLATFORM), section=section, errors=errors or [],
        field_errors=field_errors, notice=notice)


@router.get("/capacity", name="capacity")
async def capacity_page(op: InTenantDep, done: DoneQuery = None) -> Response:
    notice = _NOTICES.get(done or "")
    return await _page(op, notice=op.ctx.gettext(notice) if notice else None)


@router.post("/capacity/caps", name="capacity_cap_add")
async def cap_add(op: InTenantDep) -> Response:
    _ = op.ctx.gettext
    form = CapForm.parse(await op.ctx.request.form())
    spec, errors = form.spec(_)
    if errors or spec is None:
        return await _page(op, cap_form=form, section="cap", errors=errors, status_code=422)
    try:
        await op.services.capacity.add_cap(op.tenant_id, spec)
    except DomainError as exc:
        error = domain_error(exc, _)
        if exc.field == "scope_id":
            error.field = "business_id" if spec.scope is CapScope.BUSINESS else "template_id"
        return await _page(op, cap_form=form, section="cap", errors=[error], status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("capacity", query={"done": "added"}))


@router.post("/capacity/caps/{cap_id}/delete", name="capacity_cap_delete")
async def cap_delete(op: InTenantDep, cap_id: CapId) -> Response:
    try:
        await op.services.capacity.delete_cap(op.tenant_id, cap_id)
    except NotFound:
        return op.ctx.render("error.html", status_code=404, active="capacity", title=op.ctx.gettext("Not found"),
                             detail=op.ctx.gettext("There is no such cap in this tenant."))
    return op.ctx.redirect(op.ctx.url("capacity", query={"done": "deleted"}))


@router.post("/capacity/prices", name="capacity_prices")
async def prices_save(op: InTenantDep) -> Response:
    _ = op.ctx.gettext
    form = PriceForm.parse(await op.ctx.request.form())
    lines, errors = form.lines(_)
    if errors:
        return await _page(op, price_form=form, section="prices", errors=errors, status_code=422)
    try:
        await op.services.capacity.set_prices(op.tenant_id, lines)
    except DomainError as exc:
        error = FieldError(field="", label=_("Price plan"), message=domain_error(exc, _).message, code=exc.code)
        return await _page(op, price_form=form, section="prices", errors=[error], status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("capacity", query={"done": "priced"}))
