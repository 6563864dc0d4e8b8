"""Chatbots (机器人): a business's carrier accounts, the profiles (public information and menu) they
publish, the carrier's standing of each account, and a search of the chatbot directory.

Like the material and template pages these work in one business of the tenant at a time (`?business=`,
`business_id` in the forms) and call the services as `BusinessAccess` with the key id `admin:<user id>`.

An account's credentials are typed into a form drawn from its channel type's credentials model by the
channel form (`msg5g.admin.channel_forms`), the same way a channel's settings are; they go to the
service and are never shown again, not even the non-secret ones. Where the carrier keeps chatbots in
its own console (China Mobile, the aggregator) the account is `manual` and a platform admin records
what that console says; only a platform admin sees that form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from msg5g.admin.channel_forms import SETTING_PREFIX, ChannelForm, SettingInput
from msg5g.admin.context import InTenantDep, Operator
from msg5g.admin.forms import FieldError, form_text
from msg5g.admin.i18n import N_
from msg5g.admin.pages.channels import PlatformAdminRequired
from msg5g.admin.pages.materials import (
    BusinessQuery,
    DoneQuery,
    Workspace,
    business_access,
    find_owned,
    no_business,
    workspace,
)
from msg5g.domain.chatbots import CATEGORIES, MAX_DESCRIPTION, MAX_SERVICE_NAME, ChatbotProfile, InfoState
from msg5g.domain.errors import DomainError, NotFound
from msg5g.domain.media import MaterialKind
from msg5g.services.access import BusinessAccess
from msg5g.services.channel_admin import ChannelTypeView
from msg5g.services.chatbot_directory import MAX_QUERY_LENGTH, DirectoryHit
from msg5g.services.chatbots import ChatbotView, ProfileView

router = APIRouter()

Gettext = Callable[..., str]
ChatbotId = Annotated[str, Path(min_length=1, max_length=64)]
ProfileId = Annotated[str, Path(min_length=1, max_length=64)]
ChannelQuery = Annotated[str | None, Query(alias="channel", max_length=64)]
SearchQuery = Annotated[str, Query(alias="q", max_length=MAX_QUERY_LENGTH)]

CREDENTIAL_PREFIX = "credentials."  # form inputs: credentials.<channel type>.<field>
NAME_MAX_LENGTH = 200  # the API's limits (gateway ChatbotIn)
CARRIER_ID_MAX_LENGTH = 100
ADDRESS_MAX_LENGTH = 300
REASON_MAX_LENGTH = 1000
MAX_MENU_JSON = 20_000
SEARCH_LIMIT = 50
IMAGE_LIMIT = 200

STATE_LABELS: dict[str, str] = {
    InfoState.DRAFT: N_("Draft"),
    InfoState.SUBMITTED: N_("At the carrier's audit"),
    InfoState.LIVE: N_("Live"),
    InfoState.REJECTED: N_("Rejected"),
    InfoState.OFFLINE: N_("Offline"),
    InfoState.FAILING: N_("Credentials refused"),
    InfoState.MANUAL: N_("Kept in the carrier's console"),
}

# What an operator may record from a carrier's console (services.chatbots.record_state).
RECORDABLE = (InfoState.LIVE, InfoState.REJECTED, InfoState.OFFLINE)
# The states in which the console's result may be recorded: the platform submitted nothing itself.
RECORD_FROM = frozenset({InfoState.MANUAL, InfoState.LIVE, InfoState.REJECTED, InfoState.OFFLINE})

REASON_LABELS: dict[str, str] = {
    "exact_name": N_("Exact name"),
    "name_prefix": N_("Name starts with it"),
    "name_substring": N_("Name contains it"),
    "name_words": N_("Every word in the name"),
    "category": N_("Category"),
    "keyword": N_("Keyword"),
    "description": N_("Description"),
}

ACCOUNT_LABELS = {
    "business_id": N_("Business"),
    "channel_id": N_("Channel"),
    "name": N_("Name"),
    "carrier_chatbot_id": N_("Carrier chatbot id"),
    "address": N_("Chatbot URI"),
    "profile_id": N_("Profile"),
    "chatbot_id": N_("Chatbot account"),
    "state": N_("State"),
    "reason": N_("Reason"),
    "": N_("Chatbot account"),
}

PROFILE_LABELS = {
    "business_id": N_("Business"),
    "service_name": N_("Service name"),
    "description": N_("Description"),
    "category": N_("Category"),
    "logo_material_id": N_("Logo"),
    "banner_material_id": N_("Banner"),
    "service_phone": N_("Service phone"),
    "email": N_("Email"),
    "website": N_("Website"),
    "terms_url": N_("Terms of service URL"),
    "address": N_("Address"),
    "longitude": N_("Longitude"),
    "latitude": N_("Latitude"),
    "sms_number": N_("SMS number"),
    "theme_colour": N_("Theme colour"),
    "keywords": N_("Keywords"),
    "menu": N_("Menu (JSON)"),
    "": N_("Profile"),
}

# The services' refusals these pages can meet, in words for an operator; the code is shown beside.
_DOMAIN_MESSAGES = {
    "chatbot_exists": N_("This carrier chatbot id is registered on this channel already."),
    "channel_not_found": N_("Choose a channel."),
    "business_not_found": N_("No such business in this tenant."),
    "profile_not_found": N_("No such profile in this business."),
    "chatbot_not_found": N_("No such chatbot account in this business."),
    "chatbot_has_profile": N_("This account publishes another profile already."),
    "no_profile": N_("The account publishes no profile yet: publish one first."),
    "material_not_found": N_("That image is not one of this business's materials."),
    "not_an_image": N_("Choose an image material."),
}

_NOTICES = {
    "registered": N_("Chatbot account registered."),
    "rotated": N_("New credentials saved. They are not shown again."),
    "recorded": N_("The carrier console's result is recorded."),
    "created": N_("Profile created."),
    "saved": N_("Profile saved as a new version; it goes to every account's carrier again."),
    "attached": N_("The profile is now published on the account."),
}

_KEYWORD_SEPARATORS = re.compile(r"[,，、;；\n]+")
_OPTIONAL = ("logo_material_id", "banner_material_id", "service_phone", "email", "website", "terms_url", "address",
             "sms_number", "theme_colour")


def _status(exc: DomainError) -> int:
    return exc.http_status if 400 <= exc.http_status < 500 else 422


def _field_errors(errors: list[FieldError]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in errors:
        found.setdefault(error.field, []).append(error.inline)
    return found


def _notice(op: Operator, done: str | None) -> str | None:
    notice = _NOTICES.get(done or "")
    return op.ctx.gettext(notice) if notice else None


def domain_error(exc: DomainError, labels: dict[str, str], _: Gettext,
                 channel_type: ChannelTypeView | None = None) -> FieldError:
    """A service's refusal, beside the input it is about."""
    where = exc.field or ""
    if where.startswith(CREDENTIAL_PREFIX) and channel_type is not None:
        name = where.removeprefix(CREDENTIAL_PREFIX).split(".", 1)[0]
        titles = {spec["name"]: str(spec["title"]) for spec in channel_type.credentials_fields}
        if name in titles:
            # The adapter's model speaks English; its message is shown without the path it repeats.
            return FieldError(field=credential_name(channel_type.type, name), label=titles[name], code=exc.code,
                              message=exc.message.removeprefix(f"{where}: "))
    field = where if where in labels else ""
    known = _DOMAIN_MESSAGES.get(exc.code)
    message = f"{_(known)} {exc.message}" if known else exc.message
    return FieldError(field=field, label=_(labels[field]), message=message, code=exc.code)


# ---- credentials, drawn by the channel form ----------------------------------------------------------


def credential_name(channel_type: str, field: str) -> str:
    return f"{CREDENTIAL_PREFIX}{channel_type}.{field}"


def _as_settings(channel_type: ChannelTypeView) -> ChannelTypeView:
    """The type with its credentials fields where the channel form reads settings fields."""
    return replace(channel_type, settings_fields=channel_type.credentials_fields)


def credential_inputs(channel_type: ChannelTypeView, typed: ChannelForm | None = None) -> list[SettingInput]:
    """The credential inputs of a channel type: secrets as password inputs, always empty."""
    drawn = (typed or ChannelForm(type=channel_type.type)).inputs(_as_settings(channel_type))
    return [replace(i, name=credential_name(channel_type.type, i.name.removeprefix(SETTING_PREFIX))) for i in drawn]


def read_credentials(posted: FormData, channel_type: ChannelTypeView, _: Gettext
                     ) -> tuple[ChannelForm, dict[str, Any], list[FieldError]]:
    """The credentials typed for a channel type: (the form, for its non-secret values; the values to send;
    what is wrong with them by the field list's limits)."""
    prefix = f"{CREDENTIAL_PREFIX}{channel_type.type}."
    renamed = FormData([(SETTING_PREFIX + key.removeprefix(prefix), value) for key, value in posted.multi_items()
                        if key.startswith(prefix)])
    as_settings = _as_settings(channel_type)
    typed, secrets = ChannelForm.parse(renamed, as_settings)
    values, errors = typed.settings_values(as_settings, secrets, editing=False, _=_)
    for error in errors:
        error.field = credential_name(channel_type.type, error.field.removeprefix(SETTING_PREFIX))
    return typed, values, errors


# ---- the channels an account may be registered on ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelChoice:
    id: str
    name: str
    enabled: bool
    channel_type: ChannelTypeView


async def _channels(op: Operator) -> dict[str, ChannelChoice]:
    types = {view.type: view for view in op.services.channel_admin.types()}
    return {c.id: ChannelChoice(id=c.id, name=c.name, enabled=c.enabled, channel_type=types[c.type])
            for c in await op.services.channel_admin.all() if c.type in types}


def _type_names(op: Operator) -> dict[str, str]:
    return {view.type: view.display_name for view in op.services.channel_admin.types()}


# ---- an account as the pages show it ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountRow:
    view: ChatbotView
    type_name: str
    state: str  # the badge: an InfoState value, "failing" for refused credentials
    label: str
    reason: str | None  # the badge's tooltip
    profile_name: str | None

    @property
    def console_managed(self) -> bool:
        """Kept in the carrier's own console: the platform submitted nothing, an operator records it."""
        return self.view.info_state is InfoState.MANUAL

    @property
    def recordable(self) -> bool:
        return self.view.profile_id is not None and self.view.info_state in RECORD_FROM


def account_row(op: Operator, view: ChatbotView, type_names: dict[str, str],
                profile_names: dict[str, str]) -> AccountRow:
    _ = op.ctx.gettext
    reason: str | None
    if view.credential_error:
        state, reason = InfoState.FAILING.value, view.credential_error
    elif view.info_state is None:
        state, reason = InfoState.DRAFT.value, _("No profile is published on this account yet.")
    else:
        state, reason = view.info_state.value, view.info_reason
    return AccountRow(view=view, type_name=type_names.get(view.channel_type, view.channel_type), state=state,
                      label=_(STATE_LABELS.get(state, state)), reason=reason,
                      profile_name=profile_names.get(view.profile_id or "") if view.profile_id else None)


async def _profile_names(op: Operator, access: BusinessAccess) -> dict[str, str]:
    return {p.id: p.profile.service_name for p in await op.services.chatbots.browse_profiles(access)}


# ---- accounts --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class RegisterForm:
    business_id: str = ""
    channel_id: str = ""
    name: str = ""
    carrier_chatbot_id: str = ""
    address: str = ""
    profile_id: str = ""

    @classmethod
    def parse(cls, form: FormData) -> RegisterForm:
        return cls(**{f.name: form_text(form, f.name).strip() for f in fields(cls)})

    def errors(self, _: Gettext) -> list[FieldError]:
        found = []
        for name, value, limit, required in (("name", self.name, NAME_MAX_LENGTH, True),
                                             ("carrier_chatbot_id", self.carrier_chatbot_id, CARRIER_ID_MAX_LENGTH,
                                              True),
                                             ("address", self.address, ADDRESS_MAX_LENGTH, False)):
            label = _(ACCOUNT_LABELS[name])
            if required and not value:
                found.append(FieldError(field=name, label=label, message=_("Required.")))
            elif len(value) > limit:
                found.append(FieldError(field=name, label=label, message=_("At most %(count)s characters.",
                                                                           count=limit)))
        return found


@router.get("/chatbots", name="chatbots")
async def chatbot_list(op: InTenantDep, business: BusinessQuery = None, done: DoneQuery = None) -> Response:
    space = await workspace(op, business)
    if business and space.business_id is None:
        return no_business(op, "chatbots")
    rows: list[AccountRow] = []
    if space.access is not None:
        names, type_names = await _profile_names(op, space.access), _type_names(op)
        rows = [account_row(op, view, type_names, names) for view in await op.services.chatbots.browse(space.access)]
    return op.ctx.render("chatbots.html", active="chatbots", space=space, rows=rows, notice=_notice(op, done))


@router.get("/chatbots/new", name="chatbot_new")
async def chatbot_new(op: InTenantDep, business: BusinessQuery = None, channel: ChannelQuery = None) -> Response:
    space = await workspace(op, business)
    if business and space.business_id is None:
        return no_business(op, "chatbots")
    return await _register_page(op, space, RegisterForm(business_id=space.business_id or "", channel_id=channel or ""),
                                None, errors=[])


@router.post("/chatbots", name="chatbot_register")
async def chatbot_register(op: InTenantDep) -> Response:
    posted = await op.ctx.request.form()
    _ = op.ctx.gettext
    form = RegisterForm.parse(posted)
    space = await workspace(op, form.business_id or None)
    errors: list[FieldError] = []
    if space.access is None:
        errors.append(FieldError(field="business_id", label=_("Business"), message=_("Choose a business.")))
    chosen = (await _channels(op)).get(form.channel_id)
    if chosen is None:
        errors.append(FieldError(field="channel_id", label=_("Channel"), message=_("Choose a channel.")))
    errors += form.errors(_)
    typed: ChannelForm | None = None
    credentials: dict[str, Any] = {}
    if chosen is not None:
        typed, credentials, problems = read_credentials(posted, chosen.channel_type, _)
        errors += problems
    if errors or space.access is None or chosen is None:
        return await _register_page(op, space, form, typed, errors=errors, status_code=422)
    try:
        view = await op.services.chatbots.register(
            space.access, channel_id=chosen.id, name=form.name, carrier_chatbot_id=form.carrier_chatbot_id,
            credentials=credentials, address=form.address or None, profile_id=form.profile_id or None)
    except DomainError as exc:
        error = domain_error(exc, ACCOUNT_LABELS, _, chosen.channel_type)
        return await _register_page(op, space, form, typed, errors=[error], status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("chatbot", chatbot_id=view.id,
                                      query={"business": view.business_id, "done": "registered"}))


@router.get("/chatbots/{chatbot_id}", name="chatbot")
async def chatbot_detail(op: InTenantDep, chatbot_id: ChatbotId, business: BusinessQuery = None,
                         done: DoneQuery = None) -> Response:
    found = await _find_account(op, chatbot_id, business)
    if found is None:
        return _no_account(op)
    access, view = found
    return await _account_page(op, access, view, notice=_notice(op, done))


@router.post("/chatbots/{chatbot_id}/credentials", name="chatbot_rotate")
async def chatbot_rotate(op: InTenantDep, chatbot_id: ChatbotId) -> Response:
    posted = await op.ctx.request.form()
    _ = op.ctx.gettext
    found = await _find_account(op, chatbot_id, form_text(posted, "business_id") or None)
    if found is None:
        return _no_account(op)
    access, view = found
    channel_type = next((t for t in op.services.channel_admin.types() if t.type == view.channel_type), None)
    if channel_type is None:
        error = FieldError(field="", label=_("Channel"), message=_("This channel type is no longer installed."))
        return await _account_page(op, access, view, errors=[error], status_code=422)
    _typed, credentials, errors = read_credentials(posted, channel_type, _)
    if errors:
        return await _account_page(op, access, view, errors=errors, status_code=422)
    try:
        await op.services.chatbots.rotate_credentials(access, chatbot_id, credentials)
    except DomainError as exc:
        return await _account_page(op, access, view, errors=[domain_error(exc, ACCOUNT_LABELS, _, channel_type)],
                                   status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("chatbot", chatbot_id=chatbot_id,
                                      query={"business": access.business_id, "done": "rotated"}))


@router.post("/chatbots/{chatbot_id}/state", name="chatbot_record_state")
async def chatbot_record_state(op: InTenantDep, chatbot_id: ChatbotId) -> Response:
    """A platform admin records what the carrier's own console says of the account."""
    if not op.user.is_platform_admin:
        raise PlatformAdminRequired
    posted = await op.ctx.request.form()
    _ = op.ctx.gettext
    found = await _find_account(op, chatbot_id, form_text(posted, "business_id") or None)
    if found is None:
        return _no_account(op)
    access, view = found
    wanted, reason = form_text(posted, "state"), form_text(posted, "reason").strip()
    errors = []
    state = next((s for s in RECORDABLE if s.value == wanted), None)
    if state is None:
        errors.append(FieldError(field="state", label=_("State"), message=_("Choose live, rejected or offline.")))
    if len(reason) > REASON_MAX_LENGTH:
        errors.append(FieldError(field="reason", label=_("Reason"),
                                 message=_("At most %(count)s characters.", count=REASON_MAX_LENGTH)))
    if errors or state is None:
        return await _account_page(op, access, view, errors=errors, status_code=422)
    try:
        await op.services.chatbots.record_state(chatbot_id, state, reason or None)
    except DomainError as exc:
        return await _account_page(op, access, view, errors=[domain_error(exc, ACCOUNT_LABELS, _)],
                                   status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("chatbot", chatbot_id=chatbot_id,
                                      query={"business": access.business_id, "done": "recorded"}))


async def _find_account(op: Operator, chatbot_id: str, hint: str | None) -> tuple[BusinessAccess, ChatbotView] | None:
    return await find_owned(op, hint, lambda access: op.services.chatbots.get(access, chatbot_id))


def _no_account(op: Operator) -> Response:
    return op.ctx.render("error.html", status_code=404, active="chatbots", title=op.ctx.gettext("Not found"),
                         detail=op.ctx.gettext("There is no such chatbot account in this tenant."))


async def _register_page(op: Operator, space: Workspace, form: RegisterForm, typed: ChannelForm | None, *,
                         errors: list[FieldError], status_code: int = 200) -> Response:
    channels = list((await _channels(op)).values())
    # One fieldset per channel type: the page's script shows the chosen channel's and disables the others.
    types: dict[str, ChannelTypeView] = {c.channel_type.type: c.channel_type for c in channels}
    chosen = next((c for c in channels if c.id == form.channel_id), None)
    credential_sets = [(view, credential_inputs(view, typed if chosen and chosen.channel_type.type == view.type
                                                else None)) for view in types.values()]
    profiles = await op.services.chatbots.browse_profiles(space.access) if space.access else []
    return op.ctx.render("chatbot_new.html", status_code=status_code, active="chatbots", space=space, form=form,
                         channels=channels, credential_sets=credential_sets, profiles=profiles, errors=errors,
                         field_errors=_field_errors(errors))


async def _account_page(op: Operator, access: BusinessAccess, view: ChatbotView, *,
                        errors: list[FieldError] | None = None, notice: str | None = None,
                        status_code: int = 200) -> Response:
    try:  # after a refused step, the account as it is now
        view = await op.services.chatbots.get(access, view.id)
    except NotFound:
        return _no_account(op)
    names = await _profile_names(op, access)
    row = account_row(op, view, _type_names(op), names)
    channel_type = next((t for t in op.services.channel_admin.types() if t.type == view.channel_type), None)
    space = await workspace(op, access.business_id)
    return op.ctx.render(
        "chatbot.html", status_code=status_code, active="chatbots", row=row, view=view, space=space,
        inputs=credential_inputs(channel_type) if channel_type else [], errors=errors or [],
        field_errors=_field_errors(errors or []), notice=notice, recordable=RECORDABLE,
        state_labels=STATE_LABELS, can_record=op.user.is_platform_admin and row.recordable)


# ---- profiles ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ProfileForm:
    business_id: str = ""
    service_name: str = ""
    description: str = ""
    category: str = ""
    logo_material_id: str = ""
    banner_material_id: str = ""
    service_phone: str = ""
    email: str = ""
    website: str = ""
    terms_url: str = ""
    address: str = ""
    longitude: str = ""
    latitude: str = ""
    sms_number: str = ""
    theme_colour: str = ""
    keywords: str = ""
    menu: str = ""

    @classmethod
    def parse(cls, form: FormData) -> ProfileForm:
        return cls(**{f.name: form_text(form, f.name).strip() for f in fields(cls)})

    @classmethod
    def of(cls, view: ProfileView) -> ProfileForm:
        values = view.profile.model_dump(mode="json", exclude={"keywords", "menu"})
        form = cls(business_id=view.business_id,
                   **{k: "" if v is None else str(v) for k, v in values.items()})
        form.keywords = ", ".join(view.profile.keywords)
        if view.profile.menu is not None:
            form.menu = json.dumps(view.profile.menu.model_dump(mode="json", exclude_none=True), ensure_ascii=False,
                                   indent=2)
        return form

    def keyword_list(self) -> list[str]:
        return [k.strip() for k in _KEYWORD_SEPARATORS.split(self.keywords) if k.strip()]

    def profile(self, _: Gettext) -> tuple[ChatbotProfile | None, list[FieldError]]:
        """The profile the form stands for, or what is wrong with it, field by field."""
        errors: list[FieldError] = []
        values: dict[str, Any] = {name: getattr(self, name) or None for name in _OPTIONAL}
        values.update(service_name=self.service_name, description=self.description, category=self.category)
        for name in ("longitude", "latitude"):
            raw = getattr(self, name)
            try:
                values[name] = float(raw) if raw else None
            except ValueError:
                errors.append(FieldError(field=name, label=_(PROFILE_LABELS[name]), message=_("Enter a number.")))
        values["keywords"] = self.keyword_list()
        menu = self._menu(_, errors)
        if menu is not None:
            values["menu"] = menu
        try:
            profile = ChatbotProfile.model_validate(values)
        except ValidationError as exc:
            errors += [profile_error(error, menu, _) for error in _relevant(exc.errors(), menu)]
            return None, errors
        return (None, errors) if errors else (profile, [])

    def _menu(self, _: Gettext, errors: list[FieldError]) -> Any:
        if not self.menu:
            return None
        label = _(PROFILE_LABELS["menu"])
        if len(self.menu) > MAX_MENU_JSON:
            errors.append(FieldError(field="menu", label=label,
                                     message=_("At most %(count)s characters.", count=MAX_MENU_JSON)))
            return None
        try:
            return json.loads(self.menu)
        except json.JSONDecodeError as exc:
            errors.append(FieldError(field="menu", label=label, message=_(
                "Not valid JSON: %(problem)s (line %(line)s, column %(column)s).", problem=exc.msg, line=exc.lineno,
                column=exc.colno)))
            return None


def _relevant(errors: list[Any], menu: Any) -> list[Any]:
    """The errors of a menu entry's own kind only: an entry is tried as a suggestion and as a sub-menu
    (domain.chatbots.MenuEntry), and the failures of the kind it is not say nothing useful."""
    kept, seen = [], set()
    for error in errors:
        loc = tuple(error["loc"])
        if loc[:1] == ("menu",) and not _of_own_kind(loc[1:], menu):
            continue
        key = (_menu_path(loc[1:]) if loc[:1] == ("menu",) else str(loc), error["type"])
        if key in seen:
            continue
        seen.add(key)
        kept.append(error)
    return kept


def _of_own_kind(loc: tuple[Any, ...], data: Any) -> bool:
    """False for an error of the union member a menu entry is not (given the entry as it was typed)."""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            data = data[part] if isinstance(data, list) and 0 <= part < len(data) else None
            following = str(loc[index + 1]) if index + 1 < len(loc) else ""
            if isinstance(data, dict):
                submenu = data.get("kind") == "menu" or ("type" not in data and "entries" in data)
                if (following == "SubMenu" and not submenu) or (following.startswith("tagged-union[") and submenu):
                    return False
        elif isinstance(data, dict) and str(part) in data:
            data = data[str(part)]
        # else a union member's name or a suggestion's tag: the data stays where it is
    return True


def _menu_path(loc: tuple[Any, ...]) -> str:
    """`entries[1].text` for a location inside the menu, without the union members pydantic names."""
    path, after_union = "", False
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).startswith("tagged-union["):
            after_union = True
            continue
        elif after_union or str(part) == "SubMenu" or str(part).startswith("function-"):
            pass  # the suggestion's tag (reply, open_url...) or a union member
        else:
            path += f".{part}" if path else str(part)
        after_union = False
    return path


def profile_error(error: Any, menu: Any, _: Gettext) -> FieldError:
    loc = tuple(error.get("loc", ()))
    field = str(loc[0]) if loc and str(loc[0]) in PROFILE_LABELS else ""
    where = ""
    if field == "menu":
        where = _menu_path(loc[1:])
    elif field == "keywords" and len(loc) > 1 and isinstance(loc[1], int):
        where = f"#{loc[1] + 1}"
    return FieldError(field=field, label=_(PROFILE_LABELS[field]), message=_profile_message(error, field, _),
                      where=where)


def _profile_message(error: Any, field: str, _: Gettext) -> str:
    kind, context = error["type"], error.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and context.get("min_length") == 1):
        return _("Required.")
    if field == "category":
        return _("Choose a category from the list.")
    if kind == "string_too_long":
        return _("At most %(count)s characters.", count=context.get("max_length"))
    if kind == "too_long":
        return _("At most %(count)s entries.", count=context.get("max_length"))
    if kind == "too_short":
        return _("At least %(count)s entries.", count=context.get("min_length"))
    if kind.startswith("url_"):
        return _("Not a valid URL.")
    if field == "email":
        return _("Not a valid email address.")
    if field == "theme_colour":
        return _("A colour as #RRGGBB, such as #1463D8.")
    if field == "sms_number":
        return _("Digits only, 3 to 21 of them.")
    if field in {"longitude", "latitude"} and kind in {"greater_than_equal", "less_than_equal"}:
        limit = 180 if field == "longitude" else 90
        return _("Between %(low)s and %(high)s.", low=-limit, high=limit)
    if kind == "float_parsing":
        return _("Enter a number.")
    return str(error.get("msg", kind)).removeprefix("Value error, ")


@router.get("/chatbot-profiles", name="profiles")
async def profile_list(op: InTenantDep, business: BusinessQuery = None) -> Response:
    space = await workspace(op, business)
    if business and space.business_id is None:
        return no_business(op, "profiles")
    profiles = await op.services.chatbots.browse_profiles(space.access) if space.access else []
    type_names, names = _type_names(op), {p.id: p.profile.service_name for p in profiles}
    rows = {p.id: [account_row(op, a, type_names, names) for a in p.accounts] for p in profiles}
    return op.ctx.render("profiles.html", active="profiles", space=space, profiles=profiles, rows=rows)


@router.get("/chatbot-profiles/new", name="profile_new")
async def profile_new(op: InTenantDep, business: BusinessQuery = None) -> Response:
    space = await workspace(op, business)
    if business and space.business_id is None:
        return no_business(op, "profiles")
    return await _editor(op, space, ProfileForm(business_id=space.business_id or ""), view=None, errors=[])


@router.post("/chatbot-profiles", name="profile_create")
async def profile_create(op: InTenantDep) -> Response:
    form = ProfileForm.parse(await op.ctx.request.form())
    _ = op.ctx.gettext
    space = await workspace(op, form.business_id or None)
    errors: list[FieldError] = []
    if space.access is None:
        errors.append(FieldError(field="business_id", label=_("Business"), message=_("Choose a business.")))
    profile, problems = form.profile(_)
    errors += problems
    if errors or profile is None or space.access is None:
        return await _editor(op, space, form, view=None, errors=errors, status_code=422)
    try:
        view = await op.services.chatbots.create_profile(space.access, profile)
    except DomainError as exc:
        return await _editor(op, space, form, view=None, errors=[domain_error(exc, PROFILE_LABELS, _)],
                             status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("profile", profile_id=view.id,
                                      query={"business": view.business_id, "done": "created"}))


@router.get("/chatbot-profiles/{profile_id}", name="profile")
async def profile_detail(op: InTenantDep, profile_id: ProfileId, business: BusinessQuery = None,
                         done: DoneQuery = None) -> Response:
    found = await _find_profile(op, profile_id, business)
    if found is None:
        return _no_profile(op)
    access, view = found
    return await _profile_page(op, access, view, notice=_notice(op, done))


@router.get("/chatbot-profiles/{profile_id}/edit", name="profile_edit")
async def profile_edit(op: InTenantDep, profile_id: ProfileId, business: BusinessQuery = None) -> Response:
    found = await _find_profile(op, profile_id, business)
    if found is None:
        return _no_profile(op)
    access, view = found
    space = await workspace(op, access.business_id)
    return await _editor(op, space, ProfileForm.of(view), view=view, errors=[])


@router.post("/chatbot-profiles/{profile_id}/edit", name="profile_update")
async def profile_update(op: InTenantDep, profile_id: ProfileId) -> Response:
    form = ProfileForm.parse(await op.ctx.request.form())
    _ = op.ctx.gettext
    found = await _find_profile(op, profile_id, form.business_id or None)
    if found is None:
        return _no_profile(op)
    access, view = found
    form.business_id = view.business_id  # a profile stays in its business
    space = await workspace(op, access.business_id)
    profile, errors = form.profile(_)
    if errors or profile is None:
        return await _editor(op, space, form, view=view, errors=errors, status_code=422)
    try:
        await op.services.chatbots.update_profile(access, profile_id, profile)
    except DomainError as exc:
        return await _editor(op, space, form, view=view, errors=[domain_error(exc, PROFILE_LABELS, _)],
                             status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("profile", profile_id=profile_id,
                                      query={"business": access.business_id, "done": "saved"}))


@router.post("/chatbot-profiles/{profile_id}/accounts", name="profile_attach")
async def profile_attach(op: InTenantDep, profile_id: ProfileId) -> Response:
    """Publish the profile on one more of the business's accounts."""
    posted = await op.ctx.request.form()
    _ = op.ctx.gettext
    found = await _find_profile(op, profile_id, form_text(posted, "business_id") or None)
    if found is None:
        return _no_profile(op)
    access, view = found
    chatbot_id = form_text(posted, "chatbot_id").strip()
    if not chatbot_id:
        error = FieldError(field="chatbot_id", label=_("Chatbot account"), message=_("Choose an account."))
        return await _profile_page(op, access, view, errors=[error], status_code=422)
    try:
        await op.services.chatbots.attach(access, profile_id, chatbot_id)
    except DomainError as exc:
        return await _profile_page(op, access, view, errors=[domain_error(exc, ACCOUNT_LABELS, _)],
                                   status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("profile", profile_id=profile_id,
                                      query={"business": access.business_id, "done": "attached"}))


async def _find_profile(op: Operator, profile_id: str, hint: str | None) -> tuple[BusinessAccess, ProfileView] | None:
    return await find_owned(op, hint, lambda access: op.services.chatbots.get_profile(access, profile_id))


def _no_profile(op: Operator) -> Response:
    return op.ctx.render("error.html", status_code=404, active="profiles", title=op.ctx.gettext("Not found"),
                         detail=op.ctx.gettext("There is no such chatbot profile in this tenant."))


async def _editor(op: Operator, space: Workspace, form: ProfileForm, *, view: ProfileView | None,
                  errors: list[FieldError], status_code: int = 200) -> Response:
    if not form.business_id and space.business_id:
        form.business_id = space.business_id
    images = await op.services.materials.browse(space.access, kind=MaterialKind.IMAGE, limit=IMAGE_LIMIT) \
        if space.access else []
    return op.ctx.render("profile_editor.html", status_code=status_code, active="profiles", space=space, form=form,
                         view=view, images=images, categories=CATEGORIES, errors=errors,
                         field_errors=_field_errors(errors), max_description=MAX_DESCRIPTION,
                         max_service_name=MAX_SERVICE_NAME)


async def _profile_page(op: Operator, access: BusinessAccess, view: ProfileView, *,
                        errors: list[FieldError] | None = None, notice: str | None = None,
                        status_code: int = 200) -> Response:
    try:
        view = await op.services.chatbots.get_profile(access, view.id)
    except NotFound:
        return _no_profile(op)
    type_names = _type_names(op)
    names = {view.id: view.profile.service_name}
    accounts = [account_row(op, a, type_names, names) for a in view.accounts]
    # Accounts that publish no profile yet may take this one.
    free = [a for a in await op.services.chatbots.browse(access) if a.profile_id is None]
    images = {m.id: m.name for m in await op.services.materials.browse(access, kind=MaterialKind.IMAGE,
                                                                       limit=IMAGE_LIMIT)}
    menu_json = json.dumps(view.profile.menu.model_dump(mode="json", exclude_none=True), ensure_ascii=False,
                           indent=2) if view.profile.menu else None
    space = await workspace(op, access.business_id)
    return op.ctx.render("profile.html", status_code=status_code, active="profiles", view=view, space=space,
                         accounts=accounts, free=free, images=images, menu_json=menu_json, errors=errors or [],
                         field_errors=_field_errors(errors or []), notice=notice)


# ---- the directory, as the tenant sees it ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DirectoryRow:
    hit: DirectoryHit
    reason: str
    own_business: str | None  # the tenant's business the profile is in, for a link to it


@router.get("/directory", name="directory_search")
async def directory_search(op: InTenantDep, q: SearchQuery = "") -> Response:
    """The directory search: published chatbots and the tenant's own unpublished ones, ranked."""
    query = q.strip()
    rows: list[DirectoryRow] = []
    if query:
        hits = await op.services.chatbot_directory.search(query, viewer_tenant_id=op.tenant_id, limit=SEARCH_LIMIT)
        owners: dict[str, str] = {}
        for business_id, _name in await op.services.provisioning.businesses(op.tenant_id):
            profiles = await op.services.chatbots.browse_profiles(business_access(op, business_id))
            owners.update({p.id: business_id for p in profiles})
        rows = [DirectoryRow(hit=h, reason=op.ctx.gettext(REASON_LABELS.get(h.reason, h.reason)),
                             own_business=owners.get(h.profile_id)) for h in hits]
    return op.ctx.render("directory_search.html", active="directory", q=q, query=query, rows=rows)
