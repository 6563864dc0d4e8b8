"""/v1/templates: layouts with typed parameters, their versions, internal review and per-chatbot audit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field

from msg5g.content.templates import TemplateDefinition
from msg5g.gateway.deps import AccessDep, ServicesDep
from msg5g.gateway.errors import ErrorResponse
from msg5g.services.templates import PreviewView, TemplateView

router = APIRouter(prefix="/v1", tags=["templates"])

_errors: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
    403: {"model": ErrorResponse, "description": "`same_reviewer`: the author cannot approve their own version"},
    404: {"model": ErrorResponse, "description": "Unknown or foreign template or version"},
    409: {"model": ErrorResponse, "description": "The version is not in the state the step needs"},
    422: {"model": ErrorResponse, "description": "`template_invalid`, `template_unsafe`, `invalid_params`, "
                                                 "`sensitive_words`, or another validation failure"},
}
TemplateId = Annotated[str, Path(min_length=1, max_length=64)]
Version = Annotated[int, Path(ge=1, le=100000)]


def _actor(api_key_id: str) -> str:
    return f"api_key:{api_key_id}"


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    definition: TemplateDefinition


class TemplateEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    definition: TemplateDefinition


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approved: bool
    note: str | None = Field(default=None, max_length=1000)


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(default=None, ge=1, description="Default: the latest version.")
    params: dict[str, Any] | None = Field(default=None, description="Default: the parameters' samples.")


@router.post("/templates", status_code=status.HTTP_201_CREATED, response_model=TemplateView, responses=_errors,
             summary="Create a template (version 1, a draft)")
async def create_template(body: TemplateIn, access: AccessDep, services: ServicesDep) -> TemplateView:
    return await services.templates.create(access, body.name, body.definition, _actor(access.api_key_id))


@router.get("/templates", response_model=list[TemplateView], responses=_errors, summary="The business's templates")
async def list_templates(access: AccessDep, services: ServicesDep) -> list[TemplateView]:
    return await services.templates.browse(access)


@router.get("/templates/{template_id}", response_model=TemplateView, responses=_errors,
            summary="A template, its versions and their state on each chatbot")
async def get_template(template_id: TemplateId, access: AccessDep, services: ServicesDep) -> TemplateView:
    return await services.templates.get(access, template_id)


@router.put("/templates/{template_id}", response_model=TemplateView, responses=_errors,
            summary="Edit: changes a draft, or makes a new version of an approved one")
async def edit_template(template_id: TemplateId, body: TemplateEdit, access: AccessDep,
                        services: ServicesDep) -> TemplateView:
    return await services.templates.edit(access, template_id, body.definition, _actor(access.api_key_id))


@router.post("/templates/{template_id}/versions/{version}/submit", response_model=TemplateView, responses=_errors,
             summary="Send a draft to internal review")
async def submit_version(template_id: TemplateId, version: Version, access: AccessDep,
                         services: ServicesDep) -> TemplateView:
    return await services.templates.submit_for_review(access, template_id, version)


@router.post("/templates/{template_id}/versions/{version}/review", response_model=TemplateView, responses=_errors,
             summary="Approve or reject a version in review (not by its author)")
async def review_version(template_id: TemplateId, version: Version, body: ReviewIn, access: AccessDep,
                         services: ServicesDep) -> TemplateView:
    """An approval takes the version to every chatbot: it waits there for its materials, then goes to
    the carrier's audit where the carrier has one."""
    return await services.templates.review(access, template_id, version, approved=body.approved, note=body.note,
                                           reviewer=_actor(access.api_key_id))


@router.post("/templates/{template_id}/disable", response_model=TemplateView, responses=_errors,
             summary="Stop using a template everywhere")
async def disable_template(template_id: TemplateId, access: AccessDep, services: ServicesDep) -> TemplateView:
    return await services.templates.disable(access, template_id)


@router.post("/templates/{template_id}/preview", response_model=list[PreviewView], responses=_errors,
             summary="Render through each chatbot's adapter: the body its carrier would receive")
async def preview_template(template_id: TemplateId, body: PreviewIn, access: AccessDep,
                           services: ServicesDep) -> list[PreviewView]:
    return await services.templates.preview(access, template_id, body.version, body.params)
