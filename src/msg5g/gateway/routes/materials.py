"""/v1/materials: the business's media library and each file's state on every chatbot."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Response, UploadFile, status

from msg5g.content.inspect import FileTooLarge
from msg5g.domain.errors import ValidationFailed
from msg5g.domain.media import MaterialKind
from msg5g.gateway.deps import AccessDep, ServicesDep
from msg5g.gateway.errors import ErrorResponse
from msg5g.services.materials import MaterialView, SyncProgress

router = APIRouter(prefix="/v1", tags=["materials"])

_errors: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
    404: {"model": ErrorResponse, "description": "Unknown or foreign material"},
    413: {"model": ErrorResponse, "description": "`file_too_large`: over the platform's limit"},
    415: {"model": ErrorResponse, "description": "`unsupported_media_type`: the content is not a type taken"},
    422: {"model": ErrorResponse, "description": "`corrupt_file` or another validation failure"},
}
MaterialId = Annotated[str, Path(min_length=1, max_length=64)]
# Read in chunks so that an oversize upload is refused at the limit, not after it is all in memory.
_CHUNK = 1024 * 1024


@router.post("/materials", status_code=status.HTTP_201_CREATED, response_model=MaterialView, responses=_errors,
             summary="Upload a material (image, audio, video or thumbnail)")
async def upload_material(
    access: AccessDep, services: ServicesDep,
    file: Annotated[UploadFile, File(description="The file; its type is read from its content, not its name.")],
    name: Annotated[str | None, Form(max_length=200)] = None,
    kind: Annotated[MaterialKind | None, Form(description="Defaults to what the content is; `thumbnail` must "
                                                          "be asked for.")] = None,
) -> MaterialView:
    """The file is checked (type by content, decodes, each carrier's limits), stored, and uploaded to every
    chatbot of the tenant; `syncs` shows its state on each (uploading → pending_audit → approved)."""
    limit = services.ctx.settings.material_max_bytes
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return await services.materials.upload(access, data=b"".join(chunks), file_name=file.filename or "file",
                                           name=name, kind=kind)


def _too_large(limit: int) -> ValidationFailed:
    return FileTooLarge(f"the file is larger than the platform's limit of {limit} bytes", field="file")


@router.get("/materials", response_model=list[MaterialView], responses=_errors, summary="The business's materials")
async def list_materials(access: AccessDep, services: ServicesDep,
                         kind: MaterialKind | None = None,
                         limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[MaterialView]:
    return await services.materials.browse(access, kind=kind, limit=limit)


@router.get("/materials/{material_id}", response_model=MaterialView, responses=_errors,
            summary="A material and its state on each chatbot")
async def get_material(material_id: MaterialId, access: AccessDep, services: ServicesDep) -> MaterialView:
    return await services.materials.get(access, material_id)


@router.get("/materials/{material_id}/file", responses={**_errors, 200: {"content": {"application/octet-stream": {}}}},
            summary="The stored file")
async def material_file(material_id: MaterialId, access: AccessDep, services: ServicesDep) -> Response:
    data, content_type = await services.materials.file(access, material_id)
    return Response(content=data, media_type=content_type)


@router.get("/materials/{material_id}/thumbnail", responses={**_errors, 200: {"content": {"image/jpeg": {}}}},
            summary="The thumbnail or poster frame the platform made")
async def material_thumbnail(material_id: MaterialId, access: AccessDep, services: ServicesDep) -> Response:
    data, content_type = await services.materials.file(access, material_id, thumbnail=True)
    return Response(content=data, media_type=content_type)


@router.delete("/materials/{material_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_errors,
               summary="Remove a material from the library")
async def delete_material(material_id: MaterialId, access: AccessDep, services: ServicesDep) -> Response:
    await services.materials.delete(access, material_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/chatbots/{chatbot_id}/sync", response_model=SyncProgress, responses=_errors,
            summary="How far the tenant's materials and templates have reached a chatbot")
async def chatbot_sync(chatbot_id: Annotated[str, Path(min_length=1, max_length=64)], access: AccessDep,
                       services: ServicesDep) -> SyncProgress:
    counts = await services.templates.counts(access.tenant_id, chatbot_id)
    return await services.materials.progress(access.tenant_id, chatbot_id, counts)
