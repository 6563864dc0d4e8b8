"""/v1/mappings: a business asks to use another business's template or chatbot of its tenant; a tenant
admin or auditor decides in the admin. Until approved, the business cannot send through it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field

from msg5g.gateway.deps import AccessDep, ServicesDep
from msg5g.gateway.errors import ErrorResponse
from msg5g.services.grants import GrantView, ResourceType

router = APIRouter(prefix="/v1", tags=["businesses"])
_errors: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
    404: {"model": ErrorResponse, "description": "No such template, chatbot or mapping in the tenant"},
    409: {"model": ErrorResponse, "description": "`mapping_exists`: one is already pending or approved"},
    422: {"model": ErrorResponse, "description": "`already_owned`, or another validation failure"},
}
GrantId = Annotated[str, Path(min_length=1, max_length=64)]


class MappingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resource_type: ResourceType
    resource_id: str = Field(min_length=1, max_length=64, description="The template or chatbot id.")
    note: str | None = Field(default=None, max_length=500, description="Why the business needs it.")


@router.post("/mappings", status_code=status.HTTP_201_CREATED, response_model=GrantView, responses=_errors,
             summary="Apply to use another business's template or chatbot")
async def apply(body: MappingIn, access: AccessDep, services: ServicesDep) -> GrantView:
    return await services.grants.apply(access, body.resource_type, body.resource_id, body.note,
                                       requested_by=f"api-key:{access.api_key_id}")


@router.get("/mappings", response_model=list[GrantView], responses=_errors, summary="The business's mappings")
async def list_mappings(access: AccessDep, services: ServicesDep) -> list[GrantView]:
    return await services.grants.of_business(access)


@router.get("/mappings/{mapping_id}", response_model=GrantView, responses=_errors,
            summary="One mapping with its history")
async def get_mapping(mapping_id: GrantId, access: AccessDep, services: ServicesDep) -> GrantView:
    return await services.grants.get(access, mapping_id)
