"""/v1/messages: send, read one, list; /v1/inbound; /v1/callbacks; /v1/dead-letters."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from msg5g.domain.errors import Conflict, NotFound
from msg5g.domain.messages import MessageStatus
from msg5g.gateway.deps import AccessDep, ServicesDep
from msg5g.gateway.errors import ErrorBody, ErrorResponse
from msg5g.services.revoke import RevokeOutcome
from msg5g.services.submit import SendRequest
from msg5g.services.views import (
    CallbackDeliveryView,
    DeadLetterView,
    InboundPage,
    MessagePage,
    MessageView,
    SendResponse,
)

router = APIRouter(prefix="/v1", tags=["messages"])

_errors: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorResponse, "description": "Malformed JSON"},
    401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
    404: {"model": ErrorResponse, "description": "Unknown or foreign resource"},
    409: {"model": ErrorResponse, "description": "client_message_id reused with different content"},
    422: {"model": ErrorResponse, "description": "Validation failed; `field` names the offending field"},
}


@router.post("/messages", status_code=status.HTTP_202_ACCEPTED, response_model=SendResponse, responses=_errors,
             summary="Send a message to one or more recipients")
async def send_message(body: SendRequest, access: AccessDep, services: ServicesDep) -> Response:
    """Accepts the message durably and answers at once; sending happens in the background.

    One message id comes back per distinct recipient. Repeating a request with the same
    `client_message_id` returns the first answer (`replayed: true`) and creates nothing new.
    """
    result = await services.send(access, body)
    # Serialised here, once: returned as a model, FastAPI would validate all 1,000 entries again.
    return Response(content=result.model_dump_json(), status_code=status.HTTP_202_ACCEPTED,
                    media_type="application/json",
                    headers={"Idempotent-Replayed": "true"} if result.replayed else None)


MessageId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/messages/{message_id}", response_model=MessageView, responses=_errors,
            summary="A message and its history")
async def get_message(message_id: MessageId, access: AccessDep, services: ServicesDep) -> MessageView:
    return await services.queries.message(access.tenant_id, message_id, business_id=access.business_id)


class RevokeResult(BaseModel):
    message_id: str
    outcome: Literal["revoked", "requested"] | None = Field(
        description="`revoked`: it had not left the platform and never will; `requested`: the carrier was "
                    "asked to recall it, and the result arrives as a status (`revoked`) or as the attempt's "
                    "`revoke_result`. Null when refused (see `error`).")
    error: ErrorBody | None = None


class BulkRevoke(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1, max_length=1000)


class BulkRevokeResult(BaseModel):
    results: list[RevokeResult]


def _result(outcome: RevokeOutcome) -> RevokeResult:
    error = (ErrorBody(code=outcome.error_code, message=outcome.error_message or outcome.error_code)
             if outcome.error_code else None)
    return RevokeResult(message_id=outcome.message_id, outcome=outcome.outcome, error=error)


@router.delete("/messages/{message_id}", status_code=status.HTTP_202_ACCEPTED, response_model=RevokeResult,
               responses=_errors, summary="Revoke (recall) a message that has not been delivered yet")
async def revoke_message(message_id: MessageId, access: AccessDep, services: ServicesDep) -> RevokeResult:
    """A message still waiting on the platform is revoked at once; one the carrier has taken is
    recalled through the carrier, and the outcome arrives asynchronously (status `revoked`, or the
    attempt's `revoke_result` when the carrier could not recall it, e.g. because it was delivered
    meanwhile). A read, failed, expired or already revoked message cannot be revoked (409
    `not_revocable`)."""
    [outcome] = await services.revoker.request(access.tenant_id, access.business_id, [message_id])
    if outcome.error_code == "message_not_found":
        raise NotFound(outcome.error_message or "no such message", code="message_not_found")
    if outcome.error_code:
        raise Conflict(outcome.error_message or "not revocable", code=outcome.error_code)
    return _result(outcome)


@router.post("/messages/revoke", response_model=BulkRevokeResult, responses=_errors,
             summary="Revoke up to 1,000 messages; one result per message")
async def revoke_messages(body: BulkRevoke, access: AccessDep, services: ServicesDep) -> BulkRevokeResult:
    outcomes = await services.revoker.request(access.tenant_id, access.business_id, body.message_ids)
    return BulkRevokeResult(results=[_result(o) for o in outcomes])


@router.get("/messages", response_model=MessagePage, responses=_errors, summary="Recent messages, newest first")
async def list_messages(
    access: AccessDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[str | None, Query(max_length=64, description="Cursor from next_cursor")] = None,
    status_filter: Annotated[MessageStatus | None, Query(alias="status")] = None,
    recipient: Annotated[str | None, Query(max_length=32)] = None,
) -> MessagePage:
    return await services.queries.messages(access.tenant_id, limit=limit, before=before, status=status_filter,
                                           business_id=access.business_id, recipient=recipient)


@router.get("/inbound", response_model=InboundPage, responses=_errors, tags=["inbound"],
            summary="Recent uplink messages to this business's chatbots")
async def list_inbound(
    access: AccessDep, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> InboundPage:
    return await services.queries.inbound(access.tenant_id, limit=limit, business_id=access.business_id)


@router.get("/callbacks", response_model=list[CallbackDeliveryView], responses=_errors, tags=["callbacks"],
            summary="Recent business callback deliveries and their outcome")
async def list_callbacks(
    access: AccessDep, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=500)] = 50,
    state: Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")] = None,
) -> list[CallbackDeliveryView]:
    return await services.queries.callbacks(access.tenant_id, limit=limit, state=state)


@router.get("/dead-letters", response_model=list[DeadLetterView], responses=_errors, tags=["operations"],
            summary="Queue jobs that exhausted their retries")
async def list_dead_letters(
    access: AccessDep, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[DeadLetterView]:
    return await services.queries.dead_letters(access.tenant_id, limit)
