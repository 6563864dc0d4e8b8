"""/v1/platform: what platform operators manage, with an operator key (no tenant's data here)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from msg5g.domain.chatbots import InfoState
from msg5g.domain.errors import ValidationFailed
from msg5g.gateway.deps import ServicesDep
from msg5g.gateway.errors import ErrorResponse
from msg5g.kit.phone import InvalidPhoneNumber, normalise_mobile
from msg5g.services.access import OperatorAccess
from msg5g.services.audit import identify
from msg5g.services.bundle import Services
from msg5g.services.chatbots import ChatbotView

router = APIRouter(prefix="/v1/platform", tags=["platform"])
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <operator key>`")

_errors: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorResponse, "description": "Malformed JSON"},
    401: {"model": ErrorResponse, "description": "Missing or invalid operator key"},
    404: {"model": ErrorResponse, "description": "No such channel"},
    422: {"model": ErrorResponse, "description": "Validation failed; `field` names the offending field"},
}


async def get_operator(
    request: Request, services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> OperatorAccess:
    operator = await services.operator_keys.authenticate(bearer.credentials if bearer else None)
    route = getattr(request.scope.get("route"), "path", request.url.path)
    # The tenant an operator acts on, where the route names one, owns the audit line.
    identify(f"operator:{operator.name}", request.path_params.get("tenant_id"), f"{request.method} {route}")
    return operator


OperatorDep = Annotated[OperatorAccess, Depends(get_operator)]
ChannelId = Annotated[str, Path(min_length=1, max_length=64)]


class ConfigField(BaseModel):
    name: str
    title: str
    type: str
    required: bool
    secret: bool = Field(description="Write-only: never returned, kept when an edit leaves it out.")
    description: str | None = None
    default: Any = None
    max_length: int | None = None


class ChannelTypeOut(BaseModel):
    type: str
    display_name: str
    url_schemes: list[str]
    settings_fields: list[ConfigField]
    credentials_fields: list[ConfigField] = Field(description="What each chatbot on such a channel is given.")
    capabilities: dict[str, Any]


class ChannelOut(BaseModel):
    id: str
    type: str
    name: str
    base_url: str
    settings: dict[str, Any] = Field(description="The non-secret settings.")
    secrets_set: list[str] = Field(description="Names of the secret settings that have a value.")
    enabled: bool
    created_at: datetime
    updated_at: datetime | None
    tps_limit: float | None = Field(default=None, description="Sends per second, kept across all workers.")
    health: dict[str, Any] | None = Field(
        default=None, description="Circuit state, success rate and latency; connection state for persistent ones.")


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(min_length=1, max_length=40, examples=["cmcc"])
    name: str = Field(min_length=1, max_length=200)
    base_url: str = Field(min_length=1, max_length=500, examples=["https://maap.example.com"])
    settings: dict[str, Any] = Field(default_factory=dict, description="Validated by the type's settings_fields.")
    enabled: bool = True
    tps_limit: float | None = Field(default=None, gt=0, le=100_000, description="The carrier contract's TPS.")


class ChannelPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    base_url: str | None = Field(default=None, min_length=1, max_length=500)
    settings: dict[str, Any] | None = Field(default=None, description="Merged into the current settings.")
    enabled: bool | None = None
    tps_limit: float | None = Field(default=None, gt=0, le=100_000, description="Null removes the limit.")


@router.get("/channel-types", response_model=list[ChannelTypeOut], responses=_errors,
            summary="The channel types this platform can connect, and what each is configured with")
async def channel_types(_operator: OperatorDep, services: ServicesDep) -> list[ChannelTypeOut]:
    return [ChannelTypeOut.model_validate(view, from_attributes=True) for view in services.channel_admin.types()]


@router.get("/channels", response_model=list[ChannelOut], responses=_errors, summary="Every channel")
async def list_channels(_operator: OperatorDep, services: ServicesDep) -> list[ChannelOut]:
    return [ChannelOut.model_validate(view, from_attributes=True) for view in await services.channel_admin.all()]


@router.post("/channels", status_code=status.HTTP_201_CREATED, response_model=ChannelOut, responses=_errors,
             summary="Connect a channel (takes effect at once, no restart)")
async def create_channel(body: ChannelIn, _operator: OperatorDep, services: ServicesDep) -> ChannelOut:
    view = await services.channel_admin.create(body.type, body.name, body.base_url, body.settings,
                                               enabled=body.enabled, tps_limit=body.tps_limit)
    return ChannelOut.model_validate(view, from_attributes=True)


@router.get("/channels/{channel_id}", response_model=ChannelOut, responses=_errors, summary="One channel")
async def get_channel(channel_id: ChannelId, _operator: OperatorDep, services: ServicesDep) -> ChannelOut:
    return ChannelOut.model_validate(await services.channel_admin.get(channel_id), from_attributes=True)


@router.patch("/channels/{channel_id}", response_model=ChannelOut, responses=_errors,
              summary="Edit, enable or disable a channel (takes effect at once)")
async def update_channel(channel_id: ChannelId, body: ChannelPatch, _operator: OperatorDep,
                         services: ServicesDep) -> ChannelOut:
    view = await services.channel_admin.update(
        channel_id, name=body.name, base_url=body.base_url, settings=body.settings, enabled=body.enabled,
        tps_limit=body.tps_limit, clear_tps_limit="tps_limit" in body.model_fields_set and body.tps_limit is None)
    return ChannelOut.model_validate(view, from_attributes=True)


class NumberFactOut(BaseModel):
    number: str
    home_carrier: str | None = Field(description="The carrier the number's prefix was allocated to.")
    carrier: str | None = Field(description="The carrier that serves it, where known to differ (携号转网).")
    carrier_source: str | None = Field(description="`manual` (set here) or `learned` (from a carrier's refusal).")
    carrier_expires_at: datetime | None
    not_carriers: list[str] = Field(description="Carriers that refused the number as not their subscriber.")
    routed_carrier: str | None = Field(description="The carrier routing uses for it now.")
    capability: str | None = Field(description="`rcs` or `sms_only`, where known (learned from outcomes or set).")
    capability_source: str | None
    capability_expires_at: datetime | None


class NumberFactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    carrier: Literal["cmcc", "ctcc", "cucc", "cbn"] | None = Field(
        default=None, description="The carrier serving the number; null clears the override; omitted: unchanged.")
    capability: Literal["rcs", "sms_only"] | None = Field(
        default=None, description="Whether it takes 5G messages; null clears; omitted: unchanged.")
    ttl_days: float | None = Field(default=None, gt=0, le=3650, description="Omitted: until changed.")


Number = Annotated[str, Path(min_length=5, max_length=32, examples=["+8613800138000"])]


def _e164(number: str) -> str:
    try:
        return normalise_mobile(number)
    except InvalidPhoneNumber:
        raise ValidationFailed("not a valid mobile number", code="invalid_number", field="number") from None


async def _fact_out(services: Services, number: str) -> NumberFactOut:
    return NumberFactOut.model_validate(await services.router.view(number), from_attributes=True)


@router.get("/numbers/{number}", response_model=NumberFactOut, responses=_errors,
            summary="What routing knows of a number: its carrier, and whether it was ported")
async def get_number(number: Number, _operator: OperatorDep, services: ServicesDep) -> NumberFactOut:
    return await _fact_out(services, _e164(number))


@router.put("/numbers/{number}", response_model=NumberFactOut, responses=_errors,
            summary="Override the carrier that serves a number (携号转网) or whether it takes 5G messages")
async def put_number(number: Number, body: NumberFactIn, _operator: OperatorDep,
                     services: ServicesDep) -> NumberFactOut:
    e164 = _e164(number)
    if "carrier" in body.model_fields_set:
        await services.router.set_fact(e164, carrier=body.carrier, ttl_days=body.ttl_days)
    if "capability" in body.model_fields_set:
        await services.router.set_capability(e164, body.capability, body.ttl_days)
    return await _fact_out(services, e164)


@router.delete("/numbers/{number}", status_code=status.HTTP_204_NO_CONTENT, responses=_errors,
               summary="Forget what was set or learned about a number")
async def delete_number(number: Number, _operator: OperatorDep, services: ServicesDep) -> None:
    await services.router.clear_fact(_e164(number))


class ChatbotStateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: Literal["live", "rejected", "offline"]
    reason: str | None = Field(default=None, max_length=1000)


@router.put("/chatbots/{chatbot_id}/state", response_model=ChatbotView, responses=_errors,
            summary="Record what a carrier's own console says of a chatbot (CMCC, aggregators)")
async def record_chatbot_state(chatbot_id: Annotated[str, Path(min_length=1, max_length=64)], body: ChatbotStateIn,
                               _operator: OperatorDep, services: ServicesDep) -> ChatbotView:
    """For carriers without a management API the platform cannot submit a chatbot's information; an
    operator enters the audit result from the carrier's console, and the chatbot is sendable once live."""
    return await services.chatbots.record_state(chatbot_id, InfoState(body.state), body.reason)
