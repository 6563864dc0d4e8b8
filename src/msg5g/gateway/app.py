"""The FastAPI application: routers, error handlers, OpenAPI description."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI

from msg5g import __version__
from msg5g.config import Settings
from msg5g.gateway.deps import ServicesProvider
from msg5g.gateway.errors import ERROR_CODES, install_error_handlers
from msg5g.gateway.routes import messages, ops, webhooks

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

_DESCRIPTION = """
The msg5g gateway: send 5G Messages (RCS business messages) through every connected carrier.

Authenticate with your business's API key: `Authorization: Bearer m5g_...`.

Every error is `{"error": {"code", "message", "field"}}`. Codes:

""" + "\n".join(f"- `{code}`: {meaning}" for code, meaning in ERROR_CODES.items())


def create_api(services: ServicesProvider, *, lifespan: Lifespan | None = None, settings: Settings) -> FastAPI:
    app = FastAPI(
        title="msg5g",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.services = services
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(messages.router)
    app.include_router(webhooks.router)
    app.include_router(ops.router)
    return app


__all__: list[str] = ["create_api"]
