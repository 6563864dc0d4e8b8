"""/v1/chatbots/{id}/routes: which chatbot account carries a chatbot's messages to each carrier."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from msg5g.gateway.deps import AccessDep, ServicesDep
from msg5g.gateway.errors import ErrorResponse

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
