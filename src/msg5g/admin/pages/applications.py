"""Carrier applications (运营商入驻): the tenant's enterprise filed with China Telecom and China Unicom
through their CSP management API, and chatbots applied for there, step by step (services/applications.py).

The enterprise record, its documents and its registration with each carrier are the tenant's; chatbot
applications belong to one business, chosen as on the material and chatbot pages (`?business=`,
`business_id` in the forms). China Mobile and the aggregators have no such API: their chatbots are
entered by hand on the chatbot account page (pages/chatbots.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from msg5g.admin.context import InTenantDep, Operator
from msg5g.admin.forms import FieldError, form_text
from msg5g.admin.i18n import N_
from msg5g.admin.pages.materials import (
    BusinessQuery,
    DoneQuery,
    Workspace,
    admin_actor,
    find_owned,
    no_business,
    workspace,
)
from msg5g.content.inspect import FileTooLarge
from msg5g.domain.applications import (
    DOCUMENT_MAX_BYTES,
    DOCUMENT_TYPES,
    MAX_IP_WHITELIST,
    ApplicationState,
    ChatbotApplicationRequest,
    DocumentKind,
    EnterpriseRecord,
)
from msg5g.domain.errors import DomainError, NotFound
from msg5g.services.access import BusinessAccess
from msg5g.services.applications import ApplicationView, CustomerView, DocumentView, EnterpriseView
from msg5g.services.channel_admin import ChannelView

router = APIRouter()

Gettext = Callable[..., str]
ApplicationId = Annotated[str, Path(min_length=1, max_length=64)]
_CHUNK = 1024 * 1024

STATE_LABELS: dict[str, str] = {
    ApplicationState.WAITING: N_("Waiting for the enterprise's approval"),
    ApplicationState.SUBMITTING: N_("Submitting"),
    ApplicationState.AUDITING: N_("At the carrier's audit"),
    ApplicationState.APPROVED: N_("Approved"),
    ApplicationState.GOING_ONLINE: N_("Going online"),
    ApplicationState.CONFIGURING: N_("Fetching the developer credentials"),
    ApplicationState.LIVE: N_("Live"),
    ApplicationState.REJECTED: N_("Rejected"),
    ApplicationState.FAILED: N_("Failed"),
}
# The badge colours of the chatbot account states (admin.css `istate-*`), which mean the same here.
STATE_TONES: dict[str, str] = {
    **{state.value: "submitted" for state in ApplicationState},
    ApplicationState.APPROVED: "live", ApplicationState.LIVE: "live",
    ApplicationState.REJECTED: "rejected", ApplicationState.FAILED: "rejected",
}
# What may be done again: a rejected or failed registration is registered again, such an application retried.
AGAIN = frozenset({ApplicationState.REJECTED, ApplicationState.FAILED})

KIND_LABELS: dict[str, str] = {
    DocumentKind.LICENCE: N_("Business licence scan"),
    DocumentKind.LOGO: N_("Enterprise logo"),
    DocumentKind.ID_CARD_FRONT: N_("Identity card, front"),
    DocumentKind.ID_CARD_BACK: N_("Identity card, back"),
    DocumentKind.CONTRACT: N_("Contract"),
}
# The `accept` of each kind's file input, from the types the service takes.
KIND_ACCEPT: dict[str, str] = {kind.value: ",".join(sorted(types)) for kind, types in DOCUMENT_TYPES.items()}

# The enterprise form's inputs, named by their place in EnterpriseRecord ("operator.phone").
ENTERPRISE_LABELS: dict[str, str] = {
    "name": N_("Company name"),
    "industry": N_("Industry"),
    "introduction": N_("Introduction"),
    "work_phone": N_("Switchboard phone"),
    "licence_number": N_("Unified social credit code"),
    "address": N_("Address"),
    "province": N_("Province"),
    "city": N_("City"),
    "area": N_("District"),
    "operator.name": N_("Contact's name"),
    "operator.id_number": N_("Contact's identity card number"),
    "operator.phone": N_("Contact's mobile number"),
    "operator.email": N_("Contact's email"),
    "legal_person.name": N_("Legal representative's name"),
    "legal_person.id_number": N_("Legal representative's identity card number"),
    "contract.number": N_("Contract number"),
    "contract.name": N_("Contract name"),
    "contract.effective_date": N_("Effective date"),
    "contract.expiry_date": N_("Expiry date"),
    "contract.renewal_date": N_("Renewal date"),
    **{f"{kind.value}_document_id": KIND_LABELS[kind] for kind in DocumentKind},
    "": N_("Enterprise record"),
}
ENTERPRISE_FIELDS = tuple(name for name in ENTERPRISE_LABELS if name)
_OPTIONAL_ENTERPRISE = frozenset({"contract.renewal_date"})

APPLY_LABELS: dict[str, str] = {
    "business_id": N_("Business"),
    "channel_id": N_("Channel"),
    "profile_id": N_("Profile"),
    "chatbot_number": N_("Chatbot number"),
    "signature": N_("Signature"),
    "provider": N_("Service provider"),
    "ip_whitelist": N_("IP whitelist"),
    "": N_("Chatbot application"),
}

UPLOAD_LABELS: dict[str, str] = {"kind": N_("Type"), "file": N_("File"), "": N_("Document")}

# The services' refusals these pages can meet, in words for an operator; the code and the service's
# own message (English, with its particulars) are shown beside.
_DOMAIN_MESSAGES = {
    "document_not_found": N_("That document is not one of this tenant's: upload it again."),
    "wrong_document_kind": N_("That document is of another kind."),
    "enterprise_not_found": N_("Enter and save the enterprise record first."),
    "already_registered": N_("The enterprise is already registered or being registered with this carrier."),
    "applications_not_supported": N_("Chatbots cannot be applied for on this channel."),
    "channel_not_found": N_("Choose a channel."),
    "profile_not_found": N_("No such profile in this business."),
    "chatbot_exists": N_("This chatbot number is registered on this channel already."),
    "application_not_found": N_("No such chatbot application in this business."),
    "application_in_progress": N_("Only a rejected or failed application is applied for again."),
    "unsupported_media_type": N_("The platform does not take this type of file."),
    "file_too_large": N_("The file is too large."),
    "empty_file": N_("The file is empty or damaged."),
}

_NOTICES = {
    "uploaded": N_("Document uploaded. Choose it in the enterprise record and save the record."),
    "saved": N_("Enterprise record saved as a new version. Where a carrier rejected the enterprise, register it "
                "again to send the corrected record."),
    "registered": N_("The enterprise is being registered with the carrier."),
    "applied": N_("Chatbot applied for. The steps below follow the carrier's audit."),
    "retried": N_("The application goes to the carrier again."),
}

_IP_SEPARATORS = re.compile(r"[\s,，;；、]+")


def _status(exc: DomainError) -> int:
    return exc.http_status if 400 <= exc.http_status < 500 else 422


def _notice(op: Operator, done: str | None) -> str | None:
    notice = _NOTICES.get(done or "")
    return op.ctx.gettext(notice) if notice else None


def domain_error(exc: DomainError, labels: Mapping[str, str], _: Gettext) -> FieldError:
    """A service's refusal, beside the input it is about."""
    field = exc.field if exc.field in labels else ""
    known = _DOMAIN_MESSAGES.get(exc.code)
    message = f"{_(known)} {exc.message}" if known else exc.message
    return FieldError(field=field or "", label=_(labels[field or ""]), message=message, code=exc.code)


def _inline(errors: list[FieldError]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in errors:
        found.setdefault(error.field, []).append(error.inline)
    return found


def tenant_access(op: Operator, space: Workspace) -> BusinessAccess:
    """The caller of the tenant-wide services (documents, the record, registrations): they read only the
    tenant, so a tenant without a business yet may still enter its enterprise."""
    return space.access or BusinessAccess(tenant_id=op.tenant_id, business_id="", api_key_id=admin_actor(op))


# ---- what pydantic says, in words for an operator ----------------------------------------------------------


def _validation_message(error: Any, field: str, _: Gettext) -> str:
    kind, context = error["type"], error.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and context.get("min_length") == 1):
        return _("Required.")
    if kind == "string_too_short":
        return _("At least %(count)s characters.", count=context.get("min_length"))
    if kind == "string_too_long":
        return _("At most %(count)s characters.", count=context.get("max_length"))
    if kind == "too_long":
        return _("At most %(count)s entries.", count=context.get("max_length"))
    if field == "licence_number":
        return _("18 characters: digits and capital letters other than I, O, S, V and Z.")
    if field.endswith("id_number"):
        return _("18 characters: 17 digits, then a digit or X.")
    if field == "work_phone":
        return _("5 to 20 digits, spaces, + or -.")
    if field == "chatbot_number":
        return _("Digits only, 6 to 21 of them: the carrier's access number followed by your own digits.")
    if field == "operator.phone":
        return _("Not a valid mobile number.")
    if field == "operator.email":
        return _("Not a valid email address.")
    if field == "contract.expiry_date" and kind == "value_error":
        return _("The expiry date must be after the effective date.")
    if kind.startswith("date_"):
        return _("A date as YYYY-MM-DD.")
    if field == "ip_whitelist":
        return _("Not a valid IPv4 or IPv6 address.")
    return str(error.get("msg", kind)).removeprefix("Value error, ")


def _enterprise_field(loc: tuple[Any, ...]) -> str:
    if loc == ("contract",):  # the dates out of order (Contract._in_order)
        return "contract.expiry_date"
    name = ".".join(str(part) for part in loc[:2])
    return name if name in ENTERPRISE_LABELS else ""


# ---- the enterprise record form -----------------------------------------------------------------------------


@dataclass(slots=True)
class EnterpriseForm:
    values: dict[str, str]

    @classmethod
    def parse(cls, form: FormData) -> EnterpriseForm:
        return cls({name: form_text(form, name).strip() for name in ENTERPRISE_FIELDS})

    @classmethod
    def of(cls, view: EnterpriseView | None, documents: list[DocumentView]) -> EnterpriseForm:
        """The record as saved; each document the one in the record, unless one of its kind was uploaded
        since: an upload is made to go into the record, so the form offers the newest."""
        values: dict[str, str] = {}
        if view is not None:
            for key, value in view.record.model_dump(mode="json").items():
                if isinstance(value, dict):
                    values.update({f"{key}.{k}": "" if v is None else str(v) for k, v in value.items()})
                else:
                    values[key] = "" if value is None else str(value)
        for kind in DocumentKind:
            of_kind = [d for d in documents if d.kind is kind]
            newest = max(of_kind, key=lambda d: d.created_at, default=None)
            if newest is not None and (view is None or newest.created_at > view.updated_at):
                values[f"{kind.value}_document_id"] = newest.id
        return cls(values)

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def record(self, _: Gettext) -> tuple[EnterpriseRecord | None, list[FieldError]]:
        body: dict[str, Any] = {}
        for name in ENTERPRISE_FIELDS:
            value = self.get(name)
            if not value:
                continue  # left out, so that pydantic says "missing" (Required.) rather than "too short"
            head, _dot, tail = name.partition(".")
            if tail:
                body.setdefault(head, {})[tail] = value
            else:
                body[name] = value
        for group in ("operator", "legal_person", "contract"):
            body.setdefault(group, {})  # its own fields are then each named as missing
        try:
            return EnterpriseRecord.model_validate(body), []
        except ValidationError as exc:
            errors = []
            for error in exc.errors():
                field = _enterprise_field(tuple(error["loc"]))
                errors.append(FieldError(field=field, label=_(ENTERPRISE_LABELS[field]),
                                         message=_validation_message(error, field, _)))
            return None, errors


# ---- the chatbot application form ---------------------------------------------------------------------------


@dataclass(slots=True)
class ApplyForm:
    business_id: str = ""
    channel_id: str = ""
    profile_id: str = ""
    chatbot_number: str = ""
    signature: str = ""
    provider: str = ""
    ip_whitelist: str = ""

    @classmethod
    def parse(cls, form: FormData) -> ApplyForm:
        return cls(**{f.name: form_text(form, f.name).strip() for f in fields(cls)})

    def get(self, name: str) -> str:
        return str(getattr(self, name))

    def addresses(self) -> list[str]:
        return [a for a in _IP_SEPARATORS.split(self.ip_whitelist) if a]

    def request(self, _: Gettext) -> tuple[ChatbotApplicationRequest | None, list[FieldError]]:
        addresses = self.addresses()
        body = {"channel_id": self.channel_id, "profile_id": self.profile_id, "chatbot_number": self.chatbot_number,
                "signature": self.signature, "provider": self.provider or None, "ip_whitelist": addresses}
        try:
            return ChatbotApplicationRequest.model_validate(body), []
        except ValidationError as exc:
            errors, seen = [], set()
            for error in exc.errors():
                loc = tuple(error["loc"])
                field = str(loc[0]) if loc and str(loc[0]) in APPLY_LABELS else ""
                index = loc[1] if field == "ip_whitelist" and len(loc) > 1 and isinstance(loc[1], int) else None
                if (field, index) in seen:
                    continue  # an address is tried as IPv4 and as IPv6: one message for it
                seen.add((field, index))
                where = f"#{index + 1}: {addresses[index]}" if index is not None and index < len(addresses) else ""
                errors.append(FieldError(field=field, label=_(APPLY_LABELS[field]),
                                         message=_validation_message(error, field, _), where=where))
            return None, errors


# ---- what the page shows ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelChoice:
    id: str
    name: str
    type_name: str
    enabled: bool
    managed: bool  # its type's adapter applies for chatbots through the carrier's management API

    @property
    def label(self) -> str:
        return f"{self.name} · {self.type_name}"


async def channel_choices(op: Operator) -> dict[str, ChannelChoice]:
    """Every channel, marked with whether its carrier takes applications. ChannelTypeView does not say it;
    the adapter classes do, and the service decides by the same flag."""
    registry = op.services.ctx.registry
    names = {view.type: view.display_name for view in op.services.channel_admin.types()}
    managed = {name for name in registry.types if registry.adapter_type(name).manages_applications}
    channels: list[ChannelView] = await op.services.channel_admin.all()
    return {c.id: ChannelChoice(id=c.id, name=c.name, type_name=names.get(c.type, c.type), enabled=c.enabled,
                                managed=c.type in managed) for c in channels}


@dataclass(frozen=True, slots=True)
class RegistrationRow:
    view: CustomerView
    channel: ChannelChoice | None

    @property
    def again(self) -> bool:
        return self.view.state in AGAIN


@dataclass(frozen=True, slots=True)
class ApplicationRow:
    view: ApplicationView
    channel: ChannelChoice | None
    profile_name: str | None

    @property
    def again(self) -> bool:
        return self.view.state in AGAIN


async def _profile_names(op: Operator, access: BusinessAccess | None) -> dict[str, str]:
    if access is None:
        return {}
    return {p.id: p.profile.service_name for p in await op.services.chatbots.browse_profiles(access)}


def _application_row(view: ApplicationView, channels: dict[str, ChannelChoice],
                     names: dict[str, str]) -> ApplicationRow:
    return ApplicationRow(view=view, channel=channels.get(view.channel_id), profile_name=names.get(view.profile_id))


async def _enterprise(op: Operator, access: BusinessAccess) -> EnterpriseView | None:
    try:
        return await op.services.applications.enterprise(access)
    except NotFound:
        return None


async def _page(op: Operator, space: Workspace, *, enterprise_form: EnterpriseForm | None = None,
                apply_form: ApplyForm | None = None, section: str = "", errors: list[FieldError] | None = None,
                notice: str | None = None, status_code: int = 200) -> Response:
    """The whole page; `section` names the form whose `errors` are shown (one form is posted at a time)."""
    service = op.services.applications
    access = tenant_access(op, space)
    documents = await service.documents(access)
    enterprise = await _enterprise(op, access)
    channels = await channel_choices(op)
    registrations = [RegistrationRow(view=v, channel=channels.get(v.channel_id))
                     for v in await service.customers(access)]
    names = await _profile_names(op, space.access)
    applications = [_application_row(v, channels, names) for v in await service.applications(space.access)] \
        if space.access else []
    profiles = await op.services.chatbots.browse_profiles(space.access) if space.access else []
    registered = {r.view.channel_id for r in registrations}
    managed = [c for c in channels.values() if c.managed]
    by_kind = {kind.value: sorted((d for d in documents if d.kind is kind), key=lambda d: d.created_at, reverse=True)
               for kind in DocumentKind}
    in_record = set(enterprise.record.documents().values()) if enterprise else set()
    return op.ctx.render(
        "applications.html", status_code=status_code, active="applications", space=space, enterprise=enterprise,
        enterprise_form=enterprise_form or EnterpriseForm.of(enterprise, documents), by_kind=by_kind,
        in_record=in_record, kind_labels=KIND_LABELS, kind_accept=KIND_ACCEPT,
        max_document_mb=DOCUMENT_MAX_BYTES // (1024 * 1024),
        registrations=registrations, unregistered=[c for c in managed if c.id not in registered],
        applications=applications, managed=managed, profiles=profiles,
        apply_form=apply_form or ApplyForm(business_id=space.business_id or ""), max_ips=MAX_IP_WHITELIST,
        state_labels=STATE_LABELS, state_tones=STATE_TONES, section=section, errors=errors or [],
        field_errors=_inline(errors or []), notice=notice)


# ---- the page and its forms -------------------------------------------------------------------------------------


@router.get("/carrier-applications", name="applications")
async def applications_page(op: InTenantDep, business: BusinessQuery = None, done: DoneQuery = None) -> Response:
    space = await workspace(op, business)
    if business and space.business_id is None:
        return no_business(op, "applications")
    return await _page(op, space, notice=_notice(op, done))


@router.post("/carrier-applications/documents", name="application_document_upload")
async def document_upload(op: InTenantDep) -> Response:
    posted = await op.ctx.request.form()
    _ = op.ctx.gettext
    # Documents are the tenant's: the business only says which page to come back to.
    space = await workspace(op, form_text(posted, "business_id") or None)
    errors: list[FieldError] = []
    kind_value = form_text(posted, "kind")
    kind = DocumentKind(kind_value) if kind_value in KIND_LABELS else None
    if kind is None:
        errors.append(FieldError(field="kind", label=_("Type"), message=_("Choose a type of document.")))
    upload = posted.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors.append(FieldError(field="file", label=_("File"), message=_("Choose a file to upload.")))
    if errors or kind is None or not isinstance(upload, UploadFile):
        return await _page(op, space, section="documents", errors=errors, status_code=422)
    try:
        data = await _read(upload)
        await op.services.applications.upload_document(tenant_access(op, space), kind=kind,
                                                       file_name=upload.filename or kind.value, data=data)
    except DomainError as exc:
        return await _page(op, space, section="documents", errors=[domain_error(exc, UPLOAD_LABELS, _)],
                           status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("applications", query={"business": space.business_id, "done": "uploaded"}))


async def _read(upload: UploadFile) -> bytes:
    """The file, refused as soon as it passes the documents' limit rather than read whole first."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(_CHUNK):
        size += len(chunk)
        if size > DOCUMENT_MAX_BYTES:
            raise FileTooLarge(f"a document may be at most {DOCUMENT_MAX_BYTES} bytes", field="file")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/carrier-applications/enterprise", name="application_enterprise_save")
async def enterprise_save(op: InTenantDep) -> Response:
    posted = await op.ctx.request.form()
    _ = op.ctx.gettext
    space = await workspace(op, form_text(posted, "business_id") or None)
    form = EnterpriseForm.parse(posted)
    record, errors = form.record(_)
    if errors or record is None:
        return await _page(op, space, enterprise_form=form, section="enterprise", errors=errors, status_code=422)
    try:
        await op.services.applications.put_enterprise(tenant_access(op, space), record)
    except DomainError as exc:
        return await _page(op, space, enterprise_form=form, section="enterprise",
                           errors=[domain_error(exc, ENTERPRISE_LABELS, _)], status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("applications", query={"business": space.business_id, "done": "saved"}))


@router.post("/carrier-applications/registrations", name="application_register")
async def register(op: InTenantDep) -> Response:
    """Register the enterprise with a channel's carrier: the first time, or again after a rejection or failure."""
    posted = await op.ctx.request.form()
    _ = op.ctx.gettext
    space = await workspace(op, form_text(posted, "business_id") or None)
    channel_id = form_text(posted, "channel_id").strip()
    if not channel_id:
        error = FieldError(field="channel_id", label=_("Channel"), message=_("Choose a channel."))
        return await _page(op, space, section="registrations", errors=[error], status_code=422)
    try:
        await op.services.applications.register(tenant_access(op, space), channel_id)
    except DomainError as exc:
        return await _page(op, space, section="registrations", errors=[domain_error(exc, APPLY_LABELS, _)],
                           status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("applications", query={"business": space.business_id, "done": "registered"}))


@router.post("/carrier-applications/chatbots", name="application_apply")
async def apply(op: InTenantDep) -> Response:
    posted = await op.ctx.request.form()
    _ = op.ctx.gettext
    form = ApplyForm.parse(posted)
    space = await workspace(op, form.business_id or None)
    errors: list[FieldError] = []
    if space.access is None:
        errors.append(FieldError(field="business_id", label=_("Business"), message=_("Choose a business.")))
    request, problems = form.request(_)
    errors += problems
    if errors or request is None or space.access is None:
        return await _page(op, space, apply_form=form, section="apply", errors=errors, status_code=422)
    try:
        view = await op.services.applications.apply(space.access, request)
    except DomainError as exc:
        return await _page(op, space, apply_form=form, section="apply", errors=[domain_error(exc, APPLY_LABELS, _)],
                           status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("application", application_id=view.id,
                                      query={"business": view.business_id, "done": "applied"}))


@router.get("/carrier-applications/{application_id}", name="application")
async def application_detail(op: InTenantDep, application_id: ApplicationId, business: BusinessQuery = None,
                             done: DoneQuery = None) -> Response:
    found = await _find(op, application_id, business)
    if found is None:
        return _no_application(op)
    access, view = found
    return await _detail(op, access, view, notice=_notice(op, done))


@router.post("/carrier-applications/{application_id}/retry", name="application_retry")
async def application_retry(op: InTenantDep, application_id: ApplicationId) -> Response:
    posted = await op.ctx.request.form()
    _ = op.ctx.gettext
    found = await _find(op, application_id, form_text(posted, "business_id") or None)
    if found is None:
        return _no_application(op)
    access, view = found
    try:
        await op.services.applications.retry(access, application_id)
    except DomainError as exc:
        return await _detail(op, access, view, errors=[domain_error(exc, APPLY_LABELS, _)], status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("application", application_id=application_id,
                                      query={"business": access.business_id, "done": "retried"}))


async def _find(op: Operator, application_id: str, hint: str | None) -> tuple[BusinessAccess, ApplicationView] | None:
    return await find_owned(op, hint, lambda access: op.services.applications.application(access, application_id))


def _no_application(op: Operator) -> Response:
    return op.ctx.render("error.html", status_code=404, active="applications", title=op.ctx.gettext("Not found"),
                         detail=op.ctx.gettext("There is no such chatbot application in this tenant."))


async def _detail(op: Operator, access: BusinessAccess, view: ApplicationView, *,
                  errors: list[FieldError] | None = None, notice: str | None = None,
                  status_code: int = 200) -> Response:
    try:  # after a refused retry, the application as it is now
        view = await op.services.applications.application(access, view.id)
    except NotFound:
        return _no_application(op)
    channels = await channel_choices(op)
    row = _application_row(view, channels, await _profile_names(op, access))
    registration = next((r for r in await op.services.applications.customers(access)
                         if r.channel_id == view.channel_id), None)
    space = await workspace(op, access.business_id)
    return op.ctx.render("application.html", status_code=status_code, active="applications", row=row, view=view,
                         space=space, registration=registration, state_labels=STATE_LABELS, state_tones=STATE_TONES,
                         errors=errors or [], notice=notice)
