"""Channels: a platform admin lists, connects, edits, enables and disables carrier channels at runtime.

Channels belong to the platform, not to a tenant, so these pages need no chosen tenant; a tenant
admin is refused them (403) and is not shown the section in the navigation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from msg5g.admin.channel_forms import ChannelForm, service_error, unknown_type
from msg5g.admin.context import AdminContext, SignedInDep
from msg5g.admin.forms import FieldError, form_text
from msg5g.admin.i18n import N_
from msg5g.domain.errors import DomainError, NotFound
from msg5g.services.channel_admin import ChannelTypeView, ChannelView

router = APIRouter()

ChannelId = Annotated[str, Path(min_length=1, max_length=64)]
TypeQuery = Annotated[str | None, Query(alias="type", max_length=40)]
DoneQuery = Annotated[str | None, Query(max_length=20)]

# What a redirect after a successful POST says on the page it lands on (?done=...).
_NOTICES = {
    "created": N_("Channel created."),
    "saved": N_("Changes saved."),
    "enabled": N_("Channel enabled."),
    "disabled": N_("Channel disabled."),
}

# The states an SMPP session reports (channels/carriers/smpp.py); another state shows as it is.
HEALTH_LABELS = {
    "connecting": N_("Connecting"),
    "bound": N_("Bound"),
    "down": N_("Down"),
    "closed": N_("Closed"),
}


class PlatformAdminRequired(Exception):
    """A tenant admin asked for a platform-wide page."""


async def _platform_admin(ctx: SignedInDep) -> AdminContext:
    assert ctx.user is not None  # _signed_in saw to it
    if not ctx.user.is_platform_admin:
        raise PlatformAdminRequired
    return ctx


PlatformAdminDep = Annotated[AdminContext, Depends(_platform_admin)]


@dataclass(frozen=True, slots=True)
class Health:
    state: str
    label: str
    reason: str | None
    since: datetime | None


@dataclass(frozen=True, slots=True)
class ChannelRow:
    view: ChannelView
    type_name: str
    health: Health | None  # None: not a persistent channel, or not connected in this process


def _types(ctx: AdminContext) -> dict[str, ChannelTypeView]:
    return {view.type: view for view in ctx.services.channel_admin.types()}


def _health(ctx: AdminContext, health: dict[str, Any] | None) -> Health | None:
    if not health:
        return None
    state = str(health.get("state") or "")
    since = health.get("bound_since")
    return Health(state=state, label=ctx.gettext(HEALTH_LABELS.get(state, state)) if state else "",
                  reason=health.get("reason") or None,
                  since=datetime.fromtimestamp(since, UTC) if isinstance(since, int | float) else None)


def _row(ctx: AdminContext, view: ChannelView, types: dict[str, ChannelTypeView]) -> ChannelRow:
    known = types.get(view.type)
    return ChannelRow(view=view, type_name=known.display_name if known else view.type,
                      health=_health(ctx, view.health))


@router.get("/channels", name="channels")
async def channel_list(ctx: PlatformAdminDep) -> Response:
    types = _types(ctx)
    rows = [_row(ctx, view, types) for view in await ctx.services.channel_admin.all()]
    return ctx.render("channels.html", active="channels", rows=rows)


@router.get("/channels/new", name="channel_new")
async def channel_new(ctx: PlatformAdminDep, channel_type: TypeQuery = None) -> Response:
    types = _types(ctx)
    chosen = types.get(channel_type or "")
    errors = []
    if channel_type and chosen is None:
        errors.append(FieldError(field="type", label=ctx.gettext("Type"),
                                 message=ctx.gettext("Choose a channel type.")))
    form = ChannelForm.blank(chosen) if chosen else None
    return _page(ctx, types, chosen, form, errors=errors)


@router.post("/channels", name="channel_create")
async def channel_create(ctx: PlatformAdminDep) -> Response:
    posted = await ctx.request.form()
    _ = ctx.gettext
    types = _types(ctx)
    chosen = types.get(form_text(posted, "type"))
    if chosen is None:
        error = FieldError(field="type", label=_("Type"), message=_("Choose a channel type."))
        return _page(ctx, types, None, None, errors=[error], status_code=422)
    form, secrets = ChannelForm.parse(posted, chosen)
    settings, errors = form.settings_values(chosen, secrets, editing=False, _=_)
    errors = form.errors(_) + errors
    if errors:
        return _page(ctx, types, chosen, form, errors=errors, status_code=422)
    try:
        view = await ctx.services.channel_admin.create(chosen.type, form.name, form.base_url, settings,
                                                       enabled=form.enabled)
    except DomainError as exc:
        return _page(ctx, types, chosen, form, errors=[service_error(exc, chosen, _)], status_code=422)
    return ctx.redirect(ctx.url("channel", channel_id=view.id, query={"done": "created"}))


@router.get("/channels/{channel_id}", name="channel")
async def channel_edit(ctx: PlatformAdminDep, channel_id: ChannelId, done: DoneQuery = None) -> Response:
    try:
        view = await ctx.services.channel_admin.get(channel_id)
    except NotFound:
        return _not_found(ctx)
    types = _types(ctx)
    chosen = types.get(view.type) or unknown_type(view.type)
    form = ChannelForm.of(channel_type=view.type, name=view.name, base_url=view.base_url, enabled=view.enabled,
                          settings=view.settings)
    notice = _NOTICES.get(done or "")
    return _page(ctx, types, chosen, form, view=view, notice=ctx.gettext(notice) if notice else None)


@router.post("/channels/{channel_id}", name="channel_update")
async def channel_update(ctx: PlatformAdminDep, channel_id: ChannelId) -> Response:
    admin = ctx.services.channel_admin
    _ = ctx.gettext
    try:
        view = await admin.get(channel_id)
    except NotFound:
        return _not_found(ctx)
    types = _types(ctx)
    chosen = types.get(view.type) or unknown_type(view.type)
    form, secrets = ChannelForm.parse(await ctx.request.form(), chosen)
    form.enabled = view.enabled  # the Enable/Disable button changes that, not this form
    settings, errors = form.settings_values(chosen, secrets, editing=True, _=_)
    errors = form.errors(_) + errors
    if errors:
        return _page(ctx, types, chosen, form, view=view, errors=errors, status_code=422)
    try:
        await admin.update(channel_id, name=form.name, base_url=form.base_url, settings=settings)
    except NotFound:
        return _not_found(ctx)
    except DomainError as exc:
        return _page(ctx, types, chosen, form, view=view, errors=[service_error(exc, chosen, _)], status_code=422)
    return ctx.redirect(ctx.url("channel", channel_id=channel_id, query={"done": "saved"}))


@router.post("/channels/{channel_id}/enabled", name="channel_enabled")
async def channel_enabled(ctx: PlatformAdminDep, channel_id: ChannelId) -> Response:
    enabled = form_text(await ctx.request.form(), "enabled") == "true"
    try:
        await ctx.services.channel_admin.update(channel_id, enabled=enabled)
    except NotFound:
        return _not_found(ctx)
    return ctx.redirect(ctx.url("channel", channel_id=channel_id,
                                query={"done": "enabled" if enabled else "disabled"}))


def _not_found(ctx: AdminContext) -> Response:
    return ctx.render("error.html", status_code=404, active="channels", title=ctx.gettext("Not found"),
                      detail=ctx.gettext("There is no such channel."))


def _page(ctx: AdminContext, types: dict[str, ChannelTypeView], chosen: ChannelTypeView | None,
          form: ChannelForm | None, *, view: ChannelView | None = None, errors: list[FieldError] | None = None,
          notice: str | None = None, status_code: int = 200) -> Response:
    field_errors: dict[str, list[str]] = {}
    for error in errors or []:
        field_errors.setdefault(error.field, []).append(error.inline)
    inputs = form.inputs(chosen, view.secrets_set if view else None) if form and chosen else []
    return ctx.render(
        "channel.html", status_code=status_code, active="channels", types=list(types.values()), chosen=chosen,
        form=form, inputs=inputs, view=view, row=_row(ctx, view, types) if view else None, errors=errors or [],
        field_errors=field_errors, notice=notice,
    )
