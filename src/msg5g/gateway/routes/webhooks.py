"""Carrier callbacks: /webhooks/{channel_type}/{channel_id}/{rest of the carrier's path}."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from msg5g.domain.errors import DomainError, WebhookRejected
from msg5g.gateway.deps import get_services
from msg5g.gateway.errors import error_response

log = logging.getLogger(__name__)

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
               200: {"description": "Applied; some carriers get a 200 or handshake headers"},
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
    # The busiest route of the platform (carriers post two or more notifications per message):
    # it takes only the Request, and CarrierWebhookFastPath calls it without FastAPI's routing.
    services = await get_services(request)
    params = request.path_params
    query_string = request.scope.get("query_string", b"")
    reply = await services.webhooks.receive(
        params["channel_type"], params["channel_id"], method=request.method, subpath=params["subpath"],
        headers=dict(request.headers), query=dict(request.query_params) if query_string else {},
        body=await request.body(),
    )
    return Response(status_code=reply.status, headers=dict(reply.headers), content=reply.body)


@router.get(
    "/webhooks/{channel_type}/{channel_id}/{subpath:path}",
    summary="Answer a carrier's callback-URL handshake",
    description="China Unicom verifies a callback root with a signed GET to `notifyPath` and expects its "
                "`echoStr` header echoed back.",
    status_code=200,
    response_class=Response,
    responses={200: {"description": "Handshake answered"}, 401: {"description": "Carrier authentication failed"},
               404: {"description": "Unknown channel or chatbot"}},
    openapi_extra={"parameters": _PATH_PARAMETERS},
)
async def carrier_webhook_handshake(request: Request) -> Response:
    return await carrier_webhook(request)


_ROUTE_PREFIX = "/webhooks/"


class CarrierWebhookFastPath:
    """Serves carrier callbacks ahead of FastAPI's router and per-request machinery.

    Per notification that machinery cost more CPU than receiving and applying the notification
    itself, and it is spent twice or more per message. The handler is the same `carrier_webhook`
    the router declares (and the OpenAPI document describes); errors get the same JSON bodies.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        parts = path[len(_ROUTE_PREFIX):].split("/", 2) if path.startswith(_ROUTE_PREFIX) else []
        if scope.get("method") != "POST" or len(parts) != 3 or not all(parts[:2]):
            await self.app(scope, receive, send)
            return
        scope["path_params"] = {"channel_type": parts[0], "channel_id": parts[1], "subpath": parts[2]}
        scope["app"] = scope.get("app") or self.app
        try:
            response = await carrier_webhook(Request(scope, receive))
        except DomainError as exc:
            response = error_response(exc.http_status, exc.code, exc.message, exc.field)
        except WebhookRejected as exc:
            response = error_response(exc.status, "webhook_rejected", str(exc))
        except Exception:
            log.exception("carrier callback failed")
            response = error_response(500, "internal_error", "internal error")
        await response(scope, receive, send)
