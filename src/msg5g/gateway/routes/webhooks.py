"""Carrier callbacks: /webhooks/{channel_type}/{channel_id}/{rest of the carrier's path}."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from msg5g.gateway.deps import ServicesDep

router = APIRouter(tags=["carrier webhooks"])


@router.post(
    "/webhooks/{channel_type}/{channel_id}/{subpath:path}",
    summary="Receive a carrier notification (delivery report, uplink, audit result)",
    responses={401: {"description": "Carrier authentication failed"}, 400: {"description": "Unparseable body"},
               404: {"description": "Unknown channel or chatbot"}},
)
async def carrier_webhook(channel_type: str, channel_id: str, subpath: str, request: Request,
                          services: ServicesDep) -> Response:
    await services.webhooks.receive(
        channel_type, channel_id, method=request.method, subpath=subpath, headers=dict(request.headers),
        query=dict(request.query_params), body=await request.body(),
    )
    return Response(status_code=204)
