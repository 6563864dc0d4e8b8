"""Capacity: a tenant's price plan and its caps (set by platform operators under /v1/platform/tenants),
and what a business reads of the caps that cover it (/v1/caps)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field

from msg5g.domain.capacity import CapSpec, PriceSpec
from msg5g.gateway.deps import AccessDep, ServicesDep
from msg5g.gateway.errors import ErrorResponse
from msg5g.gateway.routes.platform import OperatorDep
from msg5g.services.capacity import CapView

router = APIRouter(prefix="/v1", tags=["capacity"])
_errors: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid key"},
    404: {"model": ErrorResponse, "description": "No such tenant, business, template or cap"},
    422: {"model": ErrorResponse, "description": "Validation failed; `field` names the offending field"},
}
TenantId = Annotated[str, Path(min_length=1, max_length=64)]
CapId = Annotated[str, Path(min_length=1, max_length=64)]


class PricePlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prices: list[PriceSpec] = Field(max_length=500, description="Replaces the whole plan; no line: free.")


@router.get("/caps", response_model=list[CapView], responses=_errors,
            summary="The caps that cover the caller's business, with this period's ledger")
async def business_caps(access: AccessDep, services: ServicesDep) -> list[CapView]:
    return await services.capacity.caps(access.tenant_id, business_id=access.business_id)


@router.put("/platform/tenants/{tenant_id}/prices", response_model=PricePlanIn, responses=_errors,
            summary="Replace a tenant's price plan (fen per message by content kind and channel type)")
async def put_prices(tenant_id: TenantId, body: PricePlanIn, _operator: OperatorDep,
                     services: ServicesDep) -> PricePlanIn:
    await services.capacity.check_tenant(tenant_id)
    return PricePlanIn(prices=await services.capacity.set_prices(tenant_id, body.prices))


class RetentionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: int | None = Field(description="Message content and numbers are purged after this many days "
                                         "(counts for reports and billing stay); null keeps them.")


@router.put("/platform/tenants/{tenant_id}/retention", response_model=RetentionIn, responses=_errors,
            summary="Set how long a tenant's message content and numbers are kept")
async def put_retention(tenant_id: TenantId, body: RetentionIn, _operator: OperatorDep,
                        services: ServicesDep) -> RetentionIn:
    return RetentionIn(days=await services.retention.set_days(tenant_id, body.days))


@router.get("/platform/tenants/{tenant_id}/prices", response_model=PricePlanIn, responses=_errors,
            summary="A tenant's price plan")
async def get_prices(tenant_id: TenantId, _operator: OperatorDep, services: ServicesDep) -> PricePlanIn:
    await services.capacity.check_tenant(tenant_id)
    return PricePlanIn(prices=await services.capacity.prices(tenant_id))


@router.post("/platform/tenants/{tenant_id}/caps", status_code=status.HTTP_201_CREATED, response_model=CapView,
             responses=_errors, summary="Add a cap on a tenant, one of its businesses or one of its templates")
async def add_cap(tenant_id: TenantId, body: CapSpec, _operator: OperatorDep, services: ServicesDep) -> CapView:
    """A send that would exceed it is refused at accept (`429 quota_exceeded` naming the cap), or for many
    recipients accepted up to it with the rest listed in `refused`."""
    await services.capacity.check_tenant(tenant_id)
    return await services.capacity.add_cap(tenant_id, body)


@router.get("/platform/tenants/{tenant_id}/caps", response_model=list[CapView], responses=_errors,
            summary="A tenant's caps with this period's ledger")
async def list_caps(tenant_id: TenantId, _operator: OperatorDep, services: ServicesDep) -> list[CapView]:
    await services.capacity.check_tenant(tenant_id)
    return await services.capacity.caps(tenant_id)


@router.delete("/platform/tenants/{tenant_id}/caps/{cap_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=_errors, summary="Remove a cap")
async def delete_cap(tenant_id: TenantId, cap_id: CapId, _operator: OperatorDep, services: ServicesDep) -> None:
    await services.capacity.check_tenant(tenant_id)
    await services.capacity.delete_cap(tenant_id, cap_id)
