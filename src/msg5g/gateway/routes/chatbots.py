"""/v1/chatbots/{id}/routes: which chatbot account carries a chatbot's messages to each carrier."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from msg5g.domain.chatbots import ChatbotProfile
from msg5g.gateway.deps import AccessDep, ServicesDep
from msg5g.gateway.errors import ErrorResponse
from msg5g.services.chatbots import ChatbotView, ProfileView

router = APIRouter(prefix="/v1", tags=["routing"])

_errors: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
    404: {"model": ErrorResponse, "description": "Unknown or foreign chatbot"},
    422: {"model": ErrorResponse, "description": "Validation failed; `field` names the offending field"},
}
ChatbotId = Annotated[str, Path(min_length=1, max_length=64)]


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")
    carrier: Literal["cmcc", "ctcc", "cucc", "cbn", "*", "sms"] = Field(
        description="The recipients' carrier (from the number, or what the platform knows of a ported number); "
                    "`*` matches any; `sms` is the route of platform-side fallbacks (`fallback`: `sms`, `h5`).")
    via_chatbot_id: str = Field(min_length=1, max_length=64,
                                description="The chatbot account (on some channel) that sends for these numbers.")
    priority: int = Field(default=0, ge=0, le=1000, description="Lower is tried first; the next is the backup.")


class Routes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    routes: list[Route] = Field(max_length=50, description="Empty: the chatbot sends through itself.")


@router.get("/chatbots/{chatbot_id}/routes", response_model=Routes, responses=_errors,
            summary="A chatbot's routes by carrier")
async def get_routes(chatbot_id: ChatbotId, access: AccessDep, services: ServicesDep) -> Routes:
    routes = await services.router.get_routes(access.tenant_id, chatbot_id)
    return Routes(routes=[Route(carrier=c, via_chatbot_id=v, priority=p) for c, v, p in routes])


@router.put("/chatbots/{chatbot_id}/routes", response_model=Routes, responses=_errors,
            summary="Replace a chatbot's routes (primary and backups per carrier); applies at once")
async def put_routes(chatbot_id: ChatbotId, body: Routes, access: AccessDep, services: ServicesDep) -> Routes:
    routes = await services.router.set_routes(access.tenant_id, chatbot_id,
                                              [(r.carrier, r.via_chatbot_id, r.priority) for r in body.routes])
    return Routes(routes=[Route(carrier=c, via_chatbot_id=v, priority=p) for c, v, p in routes])


# ---- chatbot accounts and profiles ---------------------------------------------------------------

profiles_router = APIRouter(prefix="/v1", tags=["chatbots"])
ProfileId = Annotated[str, Path(min_length=1, max_length=64)]
_chatbot_errors: dict[int | str, dict[str, object]] = {
    **_errors, 409: {"model": ErrorResponse, "description": "The chatbot already publishes another profile"}}


class ChatbotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    carrier_chatbot_id: str = Field(min_length=1, max_length=100, description="The id the carrier issued.")
    address: str | None = Field(default=None, max_length=300, description="The chatbot URI; default from the id.")
    credentials: dict[str, Any] = Field(description="The carrier API credentials (never shown again).")
    profile_id: str | None = Field(default=None, max_length=64, description="The profile this account publishes.")
    tps_limit: float | None = Field(default=None, gt=0)


class CredentialsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    credentials: dict[str, Any]


class AttachIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chatbot_id: str = Field(min_length=1, max_length=64)


@profiles_router.post("/chatbots", status_code=201, response_model=ChatbotView, responses=_chatbot_errors,
                      summary="Register a carrier chatbot account")
async def register_chatbot(body: ChatbotIn, access: AccessDep, services: ServicesDep) -> ChatbotView:
    return await services.chatbots.register(
        access, channel_id=body.channel_id, name=body.name, carrier_chatbot_id=body.carrier_chatbot_id,
        credentials=body.credentials, address=body.address, profile_id=body.profile_id, tps_limit=body.tps_limit)


@profiles_router.get("/chatbots", response_model=list[ChatbotView], responses=_errors,
                     summary="The business's chatbot accounts and their standing with each carrier")
async def list_chatbots(access: AccessDep, services: ServicesDep) -> list[ChatbotView]:
    return await services.chatbots.browse(access)


@profiles_router.get("/chatbots/{chatbot_id}", response_model=ChatbotView, responses=_errors,
                     summary="A chatbot account (never its credentials)")
async def get_chatbot(chatbot_id: ChatbotId, access: AccessDep, services: ServicesDep) -> ChatbotView:
    return await services.chatbots.get(access, chatbot_id)


@profiles_router.put("/chatbots/{chatbot_id}/credentials", response_model=ChatbotView, responses=_errors,
                     summary="Rotate a chatbot account's carrier credentials")
async def rotate_credentials(chatbot_id: ChatbotId, body: CredentialsIn, access: AccessDep,
                             services: ServicesDep) -> ChatbotView:
    return await services.chatbots.rotate_credentials(access, chatbot_id, body.credentials)


@profiles_router.post("/chatbot-profiles", status_code=201, response_model=ProfileView, responses=_errors,
                      summary="Create a chatbot's public information and menu")
async def create_profile(body: ChatbotProfile, access: AccessDep, services: ServicesDep) -> ProfileView:
    return await services.chatbots.create_profile(access, body)


@profiles_router.get("/chatbot-profiles", response_model=list[ProfileView], responses=_errors,
                     summary="The business's chatbot profiles")
async def list_profiles(access: AccessDep, services: ServicesDep) -> list[ProfileView]:
    return await services.chatbots.browse_profiles(access)


@profiles_router.get("/chatbot-profiles/{profile_id}", response_model=ProfileView, responses=_errors,
                     summary="A profile and its state on each carrier account")
async def get_profile(profile_id: ProfileId, access: AccessDep, services: ServicesDep) -> ProfileView:
    return await services.chatbots.get_profile(access, profile_id)


@profiles_router.put("/chatbot-profiles/{profile_id}", response_model=ProfileView, responses=_errors,
                     summary="Change a profile: a new version, submitted again to every carrier")
async def update_profile(profile_id: ProfileId, body: ChatbotProfile, access: AccessDep,
                         services: ServicesDep) -> ProfileView:
    return await services.chatbots.update_profile(access, profile_id, body)


@profiles_router.post("/chatbot-profiles/{profile_id}/accounts", response_model=ProfileView,
                      responses=_chatbot_errors, summary="Publish the profile on one more carrier account")
async def attach_account(profile_id: ProfileId, body: AttachIn, access: AccessDep,
                         services: ServicesDep) -> ProfileView:
    return await services.chatbots.attach(access, profile_id, body.chatbot_id)
