"""Request dependencies: the services of this platform and the caller's business access."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from msg5g.domain.errors import Forbidden
from msg5g.gateway.scopes import scope_for
from msg5g.services.access import BusinessAccess
from msg5g.services.audit import identify
from msg5g.services.bundle import Services

ServicesProvider = Callable[[], Services]

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Alternatively `X-API-Key: <API key>`")


async def get_services(request: Request) -> Services:
    # async: FastAPI would run a plain def dependency in a thread pool, on every request.
    provider: ServicesProvider = request.app.state.services
    return provider()


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_access(
    request: Request,
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> BusinessAccess:
    """The caller's key, checked for the scope the route needs and the address it comes from."""
    presented = bearer.credentials if bearer else header_key
    access = await services.api_keys.authenticate(presented)
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    scope = scope_for(request.method, path)
    if scope is None:  # fail closed: a route no scope rule covers opens for no key
        raise Forbidden("no API key scope covers this route", code="scope_missing")
    access.check(scope, request.client.host if request.client else None)
    identify(f"api-key:{access.api_key_id}", access.tenant_id, f"{request.method} {path}")
    return access


AccessDep = Annotated[BusinessAccess, Depends(get_access)]
