"""Materials (素材库): a business's media library, uploads (a form, or a file dropped on it), each
material's copy on every chatbot, and the previews the platform made.

Admin users belong to a tenant, not a business, so these pages (and the template pages) work in one
business of the tenant at a time, chosen with `?business=` (the only one when there is one) and
carried in the forms' `business_id`; the services see the user as `BusinessAccess` with the key id
`admin:<user id>`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import APIRouter, Path, Query
from starlette.datastructures import UploadFile
from starlette.responses import Response

from msg5g.admin.context import InTenantDep, Operator
from msg5g.admin.forms import FieldError, form_text
from msg5g.admin.i18n import N_
from msg5g.content.inspect import FileTooLarge
from msg5g.domain.errors import DomainError, NotFound
from msg5g.domain.media import MaterialKind, SyncState
from msg5g.services.access import BusinessAccess
from msg5g.services.materials import MaterialView

router = APIRouter()

T = TypeVar("T")
MaterialId = Annotated[str, Path(min_length=1, max_length=64)]
BusinessQuery = Annotated[str | None, Query(alias="business", max_length=64)]
DoneQuery = Annotated[str | None, Query(max_length=20)]
_CHUNK = 1024 * 1024
LIST_LIMIT = 200

SYNC_LABELS: dict[str, str] = {
    SyncState.UPLOADING: N_("Uploading"),
    SyncState.PENDING_AUDIT: N_("Awaiting audit"),
    SyncState.APPROVED: N_("Approved"),
    SyncState.REJECTED: N_("Rejected"),
    SyncState.EXPIRED: N_("Expired"),
    SyncState.UNSUPPORTED: N_("Unsupported"),
    SyncState.FAILED: N_("Failed"),
}

KIND_LABELS: dict[str, str] = {
    MaterialKind.IMAGE: N_("Image"),
    MaterialKind.AUDIO: N_("Audio"),
    MaterialKind.VIDEO: N_("Video"),
    MaterialKind.THUMBNAIL: N_("Thumbnail"),
}

# The upload errors of `services.materials.upload`, in words for an operator; the service's own
# message (English, with the figures) and code are shown beside.
_UPLOAD_PROBLEMS = {
    "unsupported_media_type": N_("The platform does not take this type of file."),
    "file_too_large": N_("The file is too large."),
    "corrupt_file": N_("The file is empty or damaged."),
}

_NOTICES = {
    "uploaded": N_("Material uploaded. It is now being taken to every chatbot."),
    "deleted": N_("Material deleted."),
}


# ---- the business a page works in ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workspace:
    """The tenant's businesses and the one this page works in (None: the tenant has none, or the
    request named one that is not the tenant's)."""

    businesses: list[tuple[str, str]]
    business_id: str | None
    access: BusinessAccess | None

    @property
    def business_name(self) -> str:
        return dict(self.businesses).get(self.business_id or "", self.business_id or "")


def admin_actor(op: Operator) -> str:
    """Who the services record as having done something: the admin user, not an API key."""
    return f"admin:{op.user.user_id}"


def business_access(op: Operator, business_id: str) -> BusinessAccess:
    return BusinessAccess(tenant_id=op.tenant_id, business_id=business_id, api_key_id=admin_actor(op))


async def workspace(op: Operator, wanted: str | None) -> Workspace:
    """The business named (if it is the tenant's), else the tenant's first one when none was named."""
    # A user limited to some businesses works in those only.
    businesses = [(b, name) for b, name in await op.services.provisioning.businesses(op.tenant_id)
                  if op.user.covers(b)]
    ids = [business_id for business_id, _ in businesses]
    default = ids[0] if ids else None
    chosen = (wanted if wanted in ids else None) if wanted else default
    return Workspace(businesses=businesses, business_id=chosen,
                     access=business_access(op, chosen) if chosen else None)


async def find_owned(op: Operator, hint: str | None, lookup: Callable[[BusinessAccess], Awaitable[T]]
                     ) -> tuple[BusinessAccess, T] | None:
    """Something of one of the tenant's businesses (a material, a template): tried under the business
    the link named first, then under the others, so a bare id still finds its page."""
    businesses = [business_id for business_id, _ in await op.services.provisioning.businesses(op.tenant_id)
                  if op.user.covers(business_id)]
    if hint in businesses:
        businesses.remove(hint)
        businesses.insert(0, hint)
    for business_id in businesses:
        access = business_access(op, business_id)
        try:
            return access, await lookup(access)
        except NotFound:
            continue
    return None


def no_business(op: Operator, active: str) -> Response:
    return op.ctx.render("error.html", status_code=404, active=active, title=op.ctx.gettext("Not found"),
                         detail=op.ctx.gettext("No such business in this tenant."))


# ---- pages ---------------------------------------------------------------------------------------


@router.get("/materials", name="materials")
async def material_list(op: InTenantDep, business: BusinessQuery = None, done: DoneQuery = None) -> Response:
    space = await workspace(op, business)
    if business and space.business_id is None:
        return no_business(op, "materials")
    notice = _NOTICES.get(done or "")
    return await _list_page(op, space, notice=op.ctx.gettext(notice) if notice else None)


@router.post("/materials", name="material_upload")
async def material_upload(op: InTenantDep) -> Response:
    posted = await op.ctx.request.form()
    _ = op.ctx.gettext
    space = await workspace(op, form_text(posted, "business_id") or None)
    name = form_text(posted, "name").strip()[:200] or None
    kind_value = form_text(posted, "kind")
    errors: list[FieldError] = []
    if space.access is None:
        errors.append(FieldError(field="business_id", label=_("Business"), message=_("Choose a business.")))
    kind = MaterialKind(kind_value) if kind_value in KIND_LABELS else None
    if kind_value and kind is None:
        errors.append(FieldError(field="kind", label=_("Type"), message=_("Choose a type of material.")))
    upload = posted.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors.append(FieldError(field="file", label=_("File"), message=_("Choose a file to upload.")))
    if errors or space.access is None or not isinstance(upload, UploadFile):
        return await _list_page(op, space, errors=errors, status_code=422)
    try:
        data = await _read(upload, op.ctx.site.settings.material_max_bytes)
        await op.services.materials.upload(space.access, data=data, file_name=upload.filename or "file", name=name,
                                           kind=kind)
    except DomainError as exc:
        return await _list_page(op, space, errors=[upload_error(exc, _)], status_code=exc.http_status)
    return op.ctx.redirect(op.ctx.url("materials", query={"business": space.business_id, "done": "uploaded"}))


@router.get("/materials/{material_id}", name="material")
async def material_detail(op: InTenantDep, material_id: MaterialId, business: BusinessQuery = None) -> Response:
    found = await find_owned(op, business, lambda access: op.services.materials.get(access, material_id))
    if found is None:
        return _not_found(op)
    access, material = found
    space = await workspace(op, access.business_id)
    chatbots = dict(await op.services.provisioning.chatbots(op.tenant_id))
    return op.ctx.render("materials_detail.html", active="materials", material=material, space=space,
                         chatbot_names=chatbots, sync_labels=SYNC_LABELS, kind_labels=KIND_LABELS,
                         preview_url=preview_url(op, material))


@router.post("/materials/{material_id}/delete", name="material_delete")
async def material_delete(op: InTenantDep, material_id: MaterialId) -> Response:
    posted = await op.ctx.request.form()
    found = await find_owned(op, form_text(posted, "business_id") or None,
                             lambda access: op.services.materials.get(access, material_id))
    if found is None:
        return _not_found(op)
    access, _material = found
    await op.services.materials.delete(access, material_id)
    return op.ctx.redirect(op.ctx.url("materials", query={"business": access.business_id, "done": "deleted"}))


@router.get("/materials/{material_id}/thumbnail", name="material_thumbnail")
async def material_thumbnail(op: InTenantDep, material_id: MaterialId, business: BusinessQuery = None) -> Response:
    """The platform's thumbnail (an image's, a video's poster frame), or a thumbnail material itself."""
    found = await find_owned(op, business, lambda access: op.services.materials.get(access, material_id))
    if found is None:
        return _not_found(op)
    access, material = found
    try:
        data, content_type = await op.services.materials.file(access, material_id, thumbnail=material.has_thumbnail)
    except NotFound:
        return _not_found(op)
    if not content_type.startswith("image/"):
        return _not_found(op)
    return _file_response(data, content_type)


@router.get("/materials/{material_id}/file", name="material_file")
async def material_file(op: InTenantDep, material_id: MaterialId, business: BusinessQuery = None) -> Response:
    found = await find_owned(op, business, lambda access: op.services.materials.file(access, material_id))
    if found is None:
        return _not_found(op)
    _access, (data, content_type) = found
    return _file_response(data, content_type)


# ---- helpers -------------------------------------------------------------------------------------


def preview_url(op: Operator, material: MaterialView) -> str | None:
    """Where an <img> shows the material, or None when it has no picture (audio)."""
    if material.has_thumbnail or material.kind in (MaterialKind.IMAGE, MaterialKind.THUMBNAIL):
        return op.ctx.url("material_thumbnail", material_id=material.id, query={"business": material.business_id})
    return None


def upload_error(exc: DomainError, _: Callable[..., str]) -> FieldError:
    known = _UPLOAD_PROBLEMS.get(exc.code)
    message = f"{_(known)} {exc.message}" if known else exc.message
    return FieldError(field="file", label=_("File"), message=message, code=exc.code)


async def _read(upload: UploadFile, limit: int) -> bytes:
    """The file, refused as soon as it passes the platform's limit."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise FileTooLarge(f"the file is larger than the platform's limit of {limit} bytes", field="file")
        chunks.append(chunk)
    return b"".join(chunks)


def _file_response(data: bytes, content_type: str) -> Response:
    # A material's bytes never change under its id: the browser may keep them (for this user only).
    return Response(content=data, media_type=content_type,
                    headers={"cache-control": "private, max-age=3600", "content-disposition": "inline"})


def _not_found(op: Operator) -> Response:
    return op.ctx.render("error.html", status_code=404, active="materials", title=op.ctx.gettext("Not found"),
                         detail=op.ctx.gettext("There is no such material in this tenant."))


async def _list_page(op: Operator, space: Workspace, *, errors: list[FieldError] | None = None,
                     notice: str | None = None, status_code: int = 200) -> Response:
    materials = (await op.services.materials.browse(space.access, limit=LIST_LIMIT)) if space.access else []
    chatbots = dict(await op.services.provisioning.chatbots(op.tenant_id))
    previews = {m.id: preview_url(op, m) for m in materials}
    field_errors: dict[str, list[str]] = {}
    for error in errors or []:
        field_errors.setdefault(error.field, []).append(error.inline)
    return op.ctx.render("materials.html", status_code=status_code, active="materials", space=space,
                         materials=materials, previews=previews, chatbot_names=chatbots, sync_labels=SYNC_LABELS,
                         kind_labels=KIND_LABELS, errors=errors or [], field_errors=field_errors, notice=notice)
