"""Request dependencies: the services of this platform and the caller's business access."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from msg5g.services.access import BusinessAccess
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
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header)],
) -> BusinessAccess:
    presented = bearer.credentials if bearer else header_key
    return await services.api_keys.authenticate(presented)


AccessDep = Annotated[BusinessAccess, Depends(get_access)]
