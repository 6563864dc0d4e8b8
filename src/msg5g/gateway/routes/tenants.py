"""/v1/platform/tenants: platform operators create tenants and their businesses (业务). A business's type
is its traffic class, and so its queue priority: notification, customer service, service, marketing."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from msg5g.domain.errors import NotFound
from msg5g.domain.messages import TrafficClass
from msg5g.gateway.deps import ServicesDep
from msg5g.gateway.errors import ErrorResponse
from msg5g.gateway.routes.platform import OperatorDep

router = APIRouter(prefix="/v1/platform", tags=["platform"])
_errors: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid operator key"},
    404: {"model": ErrorResponse, "description": "No such tenant"},
    422: {"model": ErrorResponse, "description": "Validation failed; `field` names the offending field"},
}
TenantId = Annotated[str, Path(min_length=1, max_length=64)]


class TenantIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=200)


class TenantOut(BaseModel):
    id: str
    name: str
    created_at: datetime


class BusinessIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=200)
    type: TrafficClass = Field(description="notification > customer_service > service > marketing in the queues.")
    callback_url: AnyHttpUrl | None = Field(default=None, description="Where statuses and uplinks are posted.")


class BusinessOut(BaseModel):
    id: str
    tenant_id: str
    name: str
    type: TrafficClass
    callback_url: str | None


class BusinessCreated(BusinessOut):
    callback_secret: str = Field(description="Signs the business's callbacks; shown this once.")


@router.post("/tenants", status_code=status.HTTP_201_CREATED, response_model=TenantOut, responses=_errors,
             summary="Create a tenant")
async def create_tenant(body: TenantIn, _operator: OperatorDep, services: ServicesDep) -> TenantOut:
    tenant_id = await services.provisioning.create_tenant(body.name)
    return next(TenantOut(id=i, name=n, created_at=c) for i, n, c in await services.provisioning.tenants()
                if i == tenant_id)


@router.get("/tenants", response_model=list[TenantOut], responses=_errors, summary="Every tenant")
async def list_tenants(_operator: OperatorDep, services: ServicesDep) -> list[TenantOut]:
    return [TenantOut(id=i, name=n, created_at=c) for i, n, c in await services.provisioning.tenants()]


@router.post("/tenants/{tenant_id}/businesses", status_code=status.HTTP_201_CREATED, response_model=BusinessCreated,
             responses=_errors, summary="Create a business of a tenant")
async def create_business(tenant_id: TenantId, body: BusinessIn, _operator: OperatorDep,
                          services: ServicesDep) -> BusinessCreated:
    if not await services.provisioning.tenant_exists(tenant_id):
        raise NotFound("no such tenant", code="tenant_not_found", field="tenant_id")
    business_id, secret = await services.provisioning.create_business(
        tenant_id, body.name, body.type, callback_url=str(body.callback_url) if body.callback_url else None)
    return BusinessCreated(id=business_id, tenant_id=tenant_id, name=body.name, type=body.type,
                           callback_url=str(body.callback_url) if body.callback_url else None,
                           callback_secret=secret)


@router.get("/tenants/{tenant_id}/businesses", response_model=list[BusinessOut], responses=_errors,
            summary="A tenant's businesses")
async def list_businesses(tenant_id: TenantId, _operator: OperatorDep, services: ServicesDep) -> list[BusinessOut]:
    if not await services.provisioning.tenant_exists(tenant_id):
        raise NotFound("no such tenant", code="tenant_not_found", field="tenant_id")
    return [BusinessOut(id=i, tenant_id=tenant_id, name=n, type=TrafficClass(t), callback_url=u)
            for i, n, t, u in await services.provisioning.business_rows(tenant_id)]
