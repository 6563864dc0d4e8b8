"""Carrier callbacks: /webhooks/{channel_type}/{channel_id}/{rest of the carrier's path}."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from msg5g.gateway.deps import get_services

router = APIRouter(tags=["carrier webhooks"])

_PATH_PARAMETERS = [
    {"name": "channel_type", "in": "path", "required": True, "schema": {"type": "string"},
     "description": "The channel's adapter type, e.g. `cmcc`."},
    {"name": "channel_id", "in": "path", "required": True, "schema": {"type": "string"}},
    {"name": "subpath", "in": "path", "required": True, "schema": {"type": "string"},
     "description": "The carrier's own path, e.g. `DeliveryInfoNotification/{chatbot}`."},
]


@router.post(
    "/webhooks/{channel_type}/{channel_id}/{subpath:path}",
    summary="Receive a carrier notification (delivery report, uplink, audit result)",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "Applied (or a harmless repeat)"},
               401: {"description": "Carrier authentication failed"}, 400: {"description": "Unparseable body"},
               404: {"description": "Unknown channel or chatbot"}},
    openapi_extra={
        "parameters": _PATH_PARAMETERS,
        "requestBody": {"required": True, "content": {
            "application/xml": {"schema": {"type": "string"}}, "application/json": {"schema": {"type": "object"}},
        }},
    },
)
async def carrier_webhook(request: Request) -> Response:
    # Carriers post several notifications per message: this handler takes only the Request, so
    # FastAPI has no parameters or dependencies to solve on the busiest route of the platform.
    services = await get_services(request)
    params = request.path_params
    query_string = request.scope.get("query_string", b"")
    await services.webhooks.receive(
        params["channel_type"], params["channel_id"], method=request.method, subpath=params["subpath"],
        headers=dict(request.headers), query=dict(request.query_params) if query_string else {},
        body=await request.body(),
    )
    return Response(status_code=204)
