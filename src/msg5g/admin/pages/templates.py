"""Templates (模板): the list, the editor with a live phone preview, and a template's versions, their
internal review (by another admin of the tenant than the author) and their state on every chatbot.

The editor takes the definition as the API does: the layout and the parameters as JSON, in the
unified content model (`msg5g.domain.content`) and as `ParameterSpec`s. The live preview posts the
draft to `/templates/preview` as the author types; the answer is an HTML fragment, the phone, or the
compile error, that the editor's script puts in the preview pane.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import ValidationError
from starlette.datastructures import FormData
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
from msg5g.content.templates import Rendered, TemplateDefinition, compile_template
from msg5g.domain.content import CardMedia, CarouselContent, Content, FileContent, MediaFile, RichCardContent
from msg5g.domain.errors import DomainError, NotFound
from msg5g.services.access import BusinessAccess
from msg5g.services.templates import ChannelTemplateState, PreviewView, ReviewState, TemplateView, VersionView

router = APIRouter()

Gettext = Callable[..., str]
TemplateId = Annotated[str, Path(min_length=1, max_length=64)]
VersionNumber = Annotated[int, Path(ge=1, le=100000)]
VersionQuery = Annotated[int | None, Query(ge=1, le=100000)]
MAX_JSON = 100_000  # characters of the layout or the parameters

# The header the preview fragment carries, so the editor's script can tell it from a whole page (the
# login page after the session ended, an error page).
FRAGMENT_HEADER = "x-msg5g-fragment"

REVIEW_LABELS: dict[str, str] = {
    ReviewState.DRAFT: N_("Draft"),
    ReviewState.IN_REVIEW: N_("In review"),
    ReviewState.APPROVED: N_("Approved"),
    ReviewState.REJECTED: N_("Rejected"),
}

CHANNEL_LABELS: dict[str, str] = {
    ChannelTemplateState.WAITING_MATERIALS: N_("Waiting for materials"),
    ChannelTemplateState.SUBMITTED: N_("At the carrier's audit"),
    ChannelTemplateState.APPROVED: N_("Approved"),
    ChannelTemplateState.REJECTED: N_("Rejected"),
    ChannelTemplateState.SUPERSEDED: N_("Superseded"),
    ChannelTemplateState.DISABLED: N_("Disabled"),
    ChannelTemplateState.UNSUPPORTED: N_("Unsupported"),
    ChannelTemplateState.FAILED: N_("Failed"),
}

FIELD_LABELS = {
    "business_id": N_("Business"),
    "name": N_("Name"),
    "layout": N_("Layout (JSON)"),
    "fallback_text": N_("SMS fallback text"),
    "parameters": N_("Parameters (JSON)"),
    "note": N_("Review note"),
    "": N_("Template"),
}

# Domain error codes in words for an operator; the service's message and code are shown beside.
_DOMAIN_MESSAGES = {
    "template_invalid": N_("The template does not compile."),
    "template_unsafe": N_("The template uses something templates may not use."),
    "invalid_params": N_("The samples do not fit the parameters or the layout."),
    "sensitive_words": N_("The template contains words that may not be sent."),
    "material_not_found": N_("The template uses a material this business does not have."),
    "same_reviewer": N_("You wrote this version, so another admin of the tenant must review it."),
    "invalid_review_state": N_("The version is not in the state this step needs. Reload the page."),
    "version_in_review": N_("The latest version is in review: approve or reject it before editing."),
}

_NOTICES = {
    "created": N_("Template created as a draft. Submit it for review when it is ready."),
    "saved": N_("Changes saved."),
    "submitted": N_("Submitted for review. Another admin of the tenant approves or rejects it."),
    "approved": N_("Version approved. It is now being taken to every chatbot."),
    "rejected": N_("Version rejected."),
    "disabled": N_("Template disabled."),
}


# ---- the editor's form ---------------------------------------------------------------------------


@dataclass(slots=True)
class TemplateForm:
    business_id: str = ""
    name: str = ""
    layout: str = ""
    fallback_text: str = ""
    parameters: str = ""

    @classmethod
    def parse(cls, form: FormData) -> TemplateForm:
        return cls(**{f.name: form_text(form, f.name).strip() for f in fields(cls)})

    @classmethod
    def of(cls, view: TemplateView, definition: TemplateDefinition) -> TemplateForm:
        parameters = [p.model_dump(mode="json", exclude_defaults=True) for p in definition.parameters]
        return cls(business_id=view.business_id, name=view.name,
                   layout=json.dumps(definition.layout, ensure_ascii=False, indent=2),
                   fallback_text=definition.fallback_text or "",
                   parameters=json.dumps(parameters, ensure_ascii=False, indent=2) if parameters else "")

    def definition(self, _: Gettext) -> tuple[TemplateDefinition | None, list[FieldError]]:
        """The definition the form stands for, or what is wrong with it."""
        errors: list[FieldError] = []
        layout = self._json("layout", self.layout, _, errors, required=True)
        parameters = self._json("parameters", self.parameters, _, errors, required=False)
        if errors:
            return None, errors
        try:
            definition = TemplateDefinition.model_validate({
                "layout": layout, "fallback_text": self.fallback_text or None,
                "parameters": parameters if parameters is not None else []})
        except ValidationError as exc:
            return None, [_validation_error(error, _) for error in exc.errors()]
        return definition, []

    @staticmethod
    def _json(name: str, text: str, _: Gettext, errors: list[FieldError], *, required: bool) -> Any:
        label = _(FIELD_LABELS[name])
        if not text:
            if required:
                errors.append(FieldError(field=name, label=label, message=_("Required.")))
            return None
        if len(text) > MAX_JSON:
            errors.append(FieldError(field=name, label=label, message=_("At most %(count)s characters.",
                                                                        count=MAX_JSON)))
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            errors.append(FieldError(field=name, label=label, message=_(
                "Not valid JSON: %(problem)s (line %(line)s, column %(column)s).", problem=exc.msg, line=exc.lineno,
                column=exc.colno)))
            return None


def _validation_error(error: Any, _: Gettext) -> FieldError:
    loc = [str(part) for part in error.get("loc", ())]
    field = loc[0] if loc and loc[0] in FIELD_LABELS else "parameters"  # model-level: the parameter names
    where = ".".join(loc[1:])
    if field == "parameters" and len(loc) > 1 and loc[1].isdigit():
        where = f"#{int(loc[1]) + 1}" + (f" {'.'.join(loc[2:])}" if len(loc) > 2 else "")
    return FieldError(field=field, label=_(FIELD_LABELS[field]), message=str(error.get("msg", error.get("type"))),
                      where=where)


def domain_error(exc: DomainError, _: Gettext) -> FieldError:
    """A service's refusal, placed on the field it is about (`definition.layout.card.title` → layout)."""
    parts = (exc.field or "").split(".")
    if parts[0] == "definition" and len(parts) > 1:
        parts = parts[1:]
    head = {"params": "parameters", "content": "layout", "definition": "layout"}.get(parts[0], parts[0])
    field = head if head in FIELD_LABELS else ""
    known = _DOMAIN_MESSAGES.get(exc.code)
    message = f"{_(known)} {exc.message}" if known else exc.message
    return FieldError(field=field, label=_(FIELD_LABELS[field]), message=message, code=exc.code)


def _field_errors(errors: list[FieldError]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in errors:
        found.setdefault(error.field, []).append(error.inline)
    return found


# ---- the list --------------------------------------------------------------------------------------


@router.get("/templates", name="templates")
async def template_list(op: InTenantDep, business: BusinessQuery = None) -> Response:
    space = await workspace(op, business)
    if business and space.business_id is None:
        return no_business(op, "templates")
    templates = await op.services.templates.browse(space.access) if space.access else []
    chatbots = dict(await op.services.provisioning.chatbots(op.tenant_id))
    return op.ctx.render("templates.html", active="templates", space=space, templates=templates,
                         chatbot_names=chatbots, review_labels=REVIEW_LABELS, channel_labels=CHANNEL_LABELS)


# ---- the editor ------------------------------------------------------------------------------------


@router.get("/templates/new", name="template_new")
async def template_new(op: InTenantDep, business: BusinessQuery = None) -> Response:
    space = await workspace(op, business)
    if business and space.business_id is None:
        return no_business(op, "templates")
    form = TemplateForm(business_id=space.business_id or "")
    return await _editor(op, space, form, view=None, errors=[])


@router.post("/templates/preview", name="template_preview")
async def template_preview(op: InTenantDep) -> Response:
    """The draft in the editor drawn as a phone, or why it does not compile (an HTML fragment)."""
    form = TemplateForm.parse(await op.ctx.request.form())
    space = await workspace(op, form.business_id or None)
    preview = await draft_preview(op, space.access, form)
    response = op.ctx.render("template_preview.html", status_code=422 if preview.errors else 200, preview=preview)
    response.headers[FRAGMENT_HEADER] = "preview"
    return response


@router.post("/templates", name="template_create")
async def template_create(op: InTenantDep) -> Response:
    form = TemplateForm.parse(await op.ctx.request.form())
    _ = op.ctx.gettext
    space = await workspace(op, form.business_id or None)
    errors: list[FieldError] = []
    if space.access is None:
        errors.append(FieldError(field="business_id", label=_("Business"), message=_("Choose a business.")))
    if not form.name:
        errors.append(FieldError(field="name", label=_("Name"), message=_("Required.")))
    elif len(form.name) > 200:
        errors.append(FieldError(field="name", label=_("Name"), message=_("At most %(count)s characters.", count=200)))
    definition, problems = form.definition(_)
    errors += problems
    if errors or definition is None or space.access is None:
        return await _editor(op, space, form, view=None, errors=errors, status_code=422)
    try:
        view = await op.services.templates.create(space.access, form.name, definition, admin_actor(op))
    except DomainError as exc:
        return await _editor(op, space, form, view=None, errors=[domain_error(exc, _)],
                             status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("template", template_id=view.id,
                                      query={"business": view.business_id, "done": "created"}))


@router.get("/templates/{template_id}/edit", name="template_edit")
async def template_edit(op: InTenantDep, template_id: TemplateId, business: BusinessQuery = None) -> Response:
    found = await _find(op, template_id, business)
    if found is None:
        return _not_found(op)
    access, view = found
    latest = view.versions[-1]
    space = await workspace(op, access.business_id)
    return await _editor(op, space, TemplateForm.of(view, latest.definition), view=view, errors=[])


@router.post("/templates/{template_id}/edit", name="template_update")
async def template_update(op: InTenantDep, template_id: TemplateId) -> Response:
    form = TemplateForm.parse(await op.ctx.request.form())
    _ = op.ctx.gettext
    found = await _find(op, template_id, form.business_id or None)
    if found is None:
        return _not_found(op)
    access, view = found
    form.business_id, form.name = view.business_id, view.name  # neither changes here
    space = await workspace(op, access.business_id)
    definition, errors = form.definition(_)
    if errors or definition is None:
        return await _editor(op, space, form, view=view, errors=errors, status_code=422)
    try:
        await op.services.templates.edit(access, template_id, definition, admin_actor(op))
    except DomainError as exc:
        return await _editor(op, space, form, view=view, errors=[domain_error(exc, _)], status_code=_status(exc))
    return op.ctx.redirect(op.ctx.url("template", template_id=template_id,
                                      query={"business": view.business_id, "done": "saved"}))


# ---- one template ----------------------------------------------------------------------------------


@router.get("/templates/{template_id}", name="template")
async def template_detail(op: InTenantDep, template_id: TemplateId, business: BusinessQuery = None,
                          version: VersionQuery = None, done: DoneQuery = None) -> Response:
    found = await _find(op, template_id, business)
    if found is None:
        return _not_found(op)
    access, view = found
    notice = _NOTICES.get(done or "")
    return await _detail(op, access, view, version=version, notice=op.ctx.gettext(notice) if notice else None)


@router.post("/templates/{template_id}/versions/{version}/submit", name="template_submit")
async def template_submit(op: InTenantDep, template_id: TemplateId, version: VersionNumber) -> Response:
    posted = await op.ctx.request.form()
    found = await _find(op, template_id, form_text(posted, "business_id") or None)
    if found is None:
        return _not_found(op)
    access, view = found
    try:
        await op.services.templates.submit_for_review(access, template_id, version)
    except DomainError as exc:
        return await _detail(op, access, view, version=version, errors=[domain_error(exc, op.ctx.gettext)],
                             status_code=_status(exc))
    return _done(op, view, "submitted")


@router.post("/templates/{template_id}/versions/{version}/review", name="template_review")
async def template_review(op: InTenantDep, template_id: TemplateId, version: VersionNumber) -> Response:
    posted = await op.ctx.request.form()
    _ = op.ctx.gettext
    found = await _find(op, template_id, form_text(posted, "business_id") or None)
    if found is None:
        return _not_found(op)
    access, view = found
    decision, note = form_text(posted, "decision"), form_text(posted, "note").strip()
    errors = []
    if decision not in {"approve", "reject"}:
        errors.append(FieldError(field="", label=_("Template"), message=_("Choose to approve or to reject.")))
    if len(note) > 1000:
        errors.append(FieldError(field="note", label=_("Review note"),
                                 message=_("At most %(count)s characters.", count=1000)))
    if errors:
        return await _detail(op, access, view, version=version, errors=errors, status_code=422)
    try:
        await op.services.templates.review(access, template_id, version, approved=decision == "approve",
                                           note=note or None, reviewer=admin_actor(op))
    except DomainError as exc:
        return await _detail(op, access, view, version=version, errors=[domain_error(exc, _)],
                             status_code=_status(exc))
    return _done(op, view, "approved" if decision == "approve" else "rejected")


@router.post("/templates/{template_id}/disable", name="template_disable")
async def template_disable(op: InTenantDep, template_id: TemplateId) -> Response:
    posted = await op.ctx.request.form()
    found = await _find(op, template_id, form_text(posted, "business_id") or None)
    if found is None:
        return _not_found(op)
    access, view = found
    try:
        await op.services.templates.disable(access, template_id)
    except DomainError as exc:
        return await _detail(op, access, view, errors=[domain_error(exc, op.ctx.gettext)], status_code=_status(exc))
    return _done(op, view, "disabled")


# ---- the phone preview -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Picture:
    """What the phone shows for a media file: a material's thumbnail, or a placeholder with a note."""

    src: str | None
    note: str


@dataclass(frozen=True, slots=True)
class DraftPreview:
    rendered: Rendered | None
    errors: list[FieldError]
    pictures: dict[str, Picture]  # by material id; "" keys a file given by URL
    empty: bool = False

    def picture(self, media: MediaFile | None) -> Picture | None:
        if media is None:
            return None
        if media.material_id is None:
            return Picture(src=None, note=str(media.url or ""))
        return self.pictures.get(media.material_id, Picture(src=None, note=media.material_id))

    def card_picture(self, media: CardMedia | None) -> Picture | None:
        if media is None:
            return None
        return self.picture(media.thumbnail) if media.thumbnail is not None else self.picture(media.file)


async def draft_preview(op: Operator, access: BusinessAccess | None, form: TemplateForm) -> DraftPreview:
    """The draft rendered with its samples, as compile_template renders it for an audit."""
    _ = op.ctx.gettext
    if not form.layout:
        return DraftPreview(rendered=None, errors=[], pictures={}, empty=True)
    definition, errors = form.definition(_)
    if errors or definition is None:
        return DraftPreview(rendered=None, errors=errors, pictures={})
    try:
        rendered = compile_template(definition).sample
    except DomainError as exc:
        return DraftPreview(rendered=None, errors=[domain_error(exc, _)], pictures={})
    pictures: dict[str, Picture] = {}
    for material_id in sorted(_material_ids(rendered.content)):
        pictures[material_id] = await _picture(op, access, material_id)
    return DraftPreview(rendered=rendered, errors=[], pictures=pictures)


async def _picture(op: Operator, access: BusinessAccess | None, material_id: str) -> Picture:
    _ = op.ctx.gettext
    if access is None:
        return Picture(src=None, note=material_id)
    try:
        material = await op.services.materials.get(access, material_id)
    except NotFound:
        return Picture(src=None, note=_("No material %(id)s in this business.", id=material_id))
    src = None
    if material.has_thumbnail or material.kind.value in {"image", "thumbnail"}:
        src = op.ctx.url("material_thumbnail", material_id=material.id, query={"business": material.business_id})
    return Picture(src=src, note=material.name)


def _material_ids(content: Content) -> set[str]:
    files: list[MediaFile | None] = []
    if isinstance(content, FileContent):
        files += [content.file, content.thumbnail]
    elif isinstance(content, RichCardContent) and content.card.media is not None:
        files += [content.card.media.file, content.card.media.thumbnail]
    elif isinstance(content, CarouselContent):
        for card in content.cards:
            if card.media is not None:
                files += [card.media.file, card.media.thumbnail]
    return {f.material_id for f in files if f is not None and f.material_id is not None}


# ---- helpers -----------------------------------------------------------------------------------------


async def _find(op: Operator, template_id: str, hint: str | None) -> tuple[BusinessAccess, TemplateView] | None:
    return await find_owned(op, hint, lambda access: op.services.templates.get(access, template_id))


def _status(exc: DomainError) -> int:
    return exc.http_status if 400 <= exc.http_status < 500 else 422


def _done(op: Operator, view: TemplateView, what: str) -> Response:
    return op.ctx.redirect(op.ctx.url("template", template_id=view.id,
                                      query={"business": view.business_id, "done": what}))


def _not_found(op: Operator) -> Response:
    return op.ctx.render("error.html", status_code=404, active="templates", title=op.ctx.gettext("Not found"),
                         detail=op.ctx.gettext("There is no such template in this tenant."))


async def _editor(op: Operator, space: Workspace, form: TemplateForm, *, view: TemplateView | None,
                  errors: list[FieldError], status_code: int = 200) -> Response:
    if not form.business_id and space.business_id:
        form.business_id = space.business_id
    preview = await draft_preview(op, space.access, form)
    return op.ctx.render("template_editor.html", status_code=status_code, active="templates", space=space, form=form,
                         view=view, errors=errors, field_errors=_field_errors(errors), preview=preview,
                         fragment_header=FRAGMENT_HEADER)


async def _detail(op: Operator, access: BusinessAccess, view: TemplateView, *, version: int | None = None,
                  errors: list[FieldError] | None = None, notice: str | None = None,
                  status_code: int = 200) -> Response:
    # After a refused step the page shows the template as it is now, not as it was before the step.
    try:
        view = await op.services.templates.get(access, view.id)
    except NotFound:
        return _not_found(op)
    numbers = [v.version for v in view.versions]
    shown: VersionView = next((v for v in view.versions if v.version == version), view.versions[-1])
    payloads: list[PreviewView] = []
    payload_error = None
    try:
        payloads = await op.services.templates.preview(access, view.id, shown.version, None)
    except DomainError as exc:
        payload_error = domain_error(exc, op.ctx.gettext)
    space = await workspace(op, access.business_id)
    chatbots = dict(await op.services.provisioning.chatbots(op.tenant_id))
    latest = view.versions[-1]
    return op.ctx.render(
        "template_detail.html", status_code=status_code, active="templates", view=view, space=space,
        versions=list(reversed(view.versions)), latest=latest, shown=shown, numbers=numbers, payloads=payloads,
        payload_error=payload_error, chatbot_names=chatbots, review_labels=REVIEW_LABELS,
        channel_labels=CHANNEL_LABELS, errors=errors or [], notice=notice,
        definition_json=json.dumps(shown.definition.model_dump(mode="json", exclude_none=True), ensure_ascii=False,
                                   indent=2),
        can_edit=not view.disabled and latest.review_state != ReviewState.IN_REVIEW,
    )
