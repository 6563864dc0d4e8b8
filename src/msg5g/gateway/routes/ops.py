"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from msg5g.gateway.deps import ServicesDep
from msg5g.gateway.errors import error_response

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The process can reach its database", responses={503: {"description": "Not ready"}})
async def readyz(services: ServicesDep) -> Response:
    try:
        await services.ready()
    except Exception:
        return error_response(503, "not_ready", "the database is not reachable")
    return Response(content='{"status":"ready"}', media_type="application/json")


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
