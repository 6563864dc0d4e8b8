"""The FastAPI application: routers, error handlers, OpenAPI description."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from msg5g import __version__
from msg5g.config import Settings
from msg5g.gateway.audit import AuditMiddleware
from msg5g.gateway.deps import ServicesProvider
from msg5g.gateway.errors import ERROR_CODES, install_error_handlers
from msg5g.gateway.routes import (
    alerts,
    applications,
    capacity,
    chatbots,
    conversations,
    directory,
    h5,
    mappings,
    materials,
    messages,
    ops,
    platform,
    templates,
    tenants,
    webhooks,
    words,
)
from msg5g.kit.ids import new_id
from msg5g.kit.logging import trace_id_var

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

_DESCRIPTION = """
The msg5g gateway: send 5G Messages (RCS business messages) through every connected carrier.

Authenticate with your business's API key: `Authorization: Bearer m5g_...`.

Every error is `{"error": {"code", "message", "field"}}`. Codes:

""" + "\n".join(f"- `{code}`: {meaning}" for code, meaning in ERROR_CODES.items())


class TraceIdMiddleware:
    """Every request gets a trace id (the caller's X-Request-Id, or a new one) for its log lines."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace_id = next((v.decode("latin-1")[:64] for k, v in scope["headers"] if k == b"x-request-id"), None)
        trace_id = trace_id or new_id()
        token = trace_id_var.set(trace_id)

        async def send_with_trace_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", trace_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace_id)
        finally:
            trace_id_var.reset(token)


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
    app.add_middleware(webhooks.CarrierWebhookFastPath)
    app.add_middleware(AuditMiddleware, services=services)
    app.add_middleware(TraceIdMiddleware)
    app.include_router(messages.router)
    app.include_router(webhooks.router)
    app.include_router(chatbots.router)
    app.include_router(chatbots.profiles_router)
    app.include_router(h5.router)
    app.include_router(platform.router)
    app.include_router(materials.router)
    app.include_router(templates.router)
    app.include_router(words.router)
    app.include_router(directory.router)
    app.include_router(applications.router)
    app.include_router(capacity.router)
    app.include_router(alerts.router)
    app.include_router(conversations.router)
    app.include_router(mappings.router)
    app.include_router(tenants.router)
    app.include_router(ops.router)
    return app


__all__: list[str] = ["create_api"]
