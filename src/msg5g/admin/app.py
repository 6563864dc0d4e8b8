"""Mounting the admin under /admin: a FastAPI sub-application of its own.

A sub-application rather than a router on the API app so that the admin has its own error pages
(HTML, not the API's JSON errors), its own security headers and no place in the OpenAPI document.
A later admin section adds a router module under `msg5g.admin.pages`, includes it in `ROUTERS` and
adds its entry to `msg5g.admin.nav.NAV`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import PlainTextResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from msg5g.admin.context import (
    AdminSite,
    CsrfRejected,
    LoginRequired,
    PermissionDenied,
    TenantRequired,
    load_context,
)
from msg5g.admin.pages import (
    alerts,
    api_keys,
    applications,
    audit,
    auth,
    auto_reply,
    businesses,
    capacity,
    channels,
    chatbots,
    dashboard,
    inbox,
    mappings,
    materials,
    messages,
    send,
    templates,
    tenants,
    users,
)
from msg5g.config import Settings
from msg5g.services.bundle import Services

log = logging.getLogger(__name__)

PREFIX = "/admin"
STATIC_DIR = Path(__file__).parent / "static"
ROUTERS: list[APIRouter] = [auth.router, tenants.router, dashboard.router, messages.router, send.router,
                            channels.router, materials.router, templates.router, chatbots.router, applications.router,
                            mappings.router, capacity.router, users.router, api_keys.router, audit.router,
                            alerts.router, businesses.router, inbox.router, auto_reply.router]

# No script, style or frame from anywhere but here: the pages use no inline script at all.
_SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


def create_admin(services: Callable[[], Services], settings: Settings) -> FastAPI:
    admin = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, title="msg5g admin")
    admin.state.site = AdminSite(services, settings)
    admin.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        admin.include_router(router, include_in_schema=False)
    admin.add_middleware(_SecurityHeaders)
    _install_error_pages(admin)
    return admin


def mount_admin(app: FastAPI, services: Callable[[], Services], settings: Settings) -> None:
    app.mount(PREFIX, create_admin(services, settings), name="admin")


def _install_error_pages(admin: FastAPI) -> None:
    @admin.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired) -> Response:
        ctx = await load_context(request)
        target = ctx.here() if request.method == "GET" else None
        return ctx.redirect(ctx.url("login", query={"next": target, "idle": "1" if ctx.session.timed_out else None}))

    @admin.exception_handler(TenantRequired)
    async def _tenant(request: Request, _exc: TenantRequired) -> Response:
        ctx = await load_context(request)
        target = ctx.here() if request.method == "GET" else None
        return ctx.redirect(ctx.url("choose_tenant", query={"next": target}))

    @admin.exception_handler(channels.PlatformAdminRequired)
    async def _platform_only(request: Request, _exc: channels.PlatformAdminRequired) -> Response:
        ctx = await load_context(request)
        return ctx.render("error.html", status_code=403, title=ctx.gettext("Not allowed"),
                          detail=ctx.gettext("This section is for platform admins only."))

    @admin.exception_handler(PermissionDenied)
    async def _denied(request: Request, exc: PermissionDenied) -> Response:
        ctx = await load_context(request)
        needed = exc.permission.value if exc.permission else "?"
        return ctx.render("error.html", status_code=403, title=ctx.gettext("Not allowed"),
                          detail=ctx.gettext("Your role does not allow this (it needs the %(permission)s "
                                             "permission).", permission=needed))

    @admin.exception_handler(CsrfRejected)
    async def _csrf(request: Request, _exc: CsrfRejected) -> Response:
        ctx = await load_context(request)
        return ctx.render("error.html", status_code=403, title=ctx.gettext("Request refused"),
                          detail=ctx.gettext("The form had expired or did not come from this site. "
                                             "Reload the page and try again."))

    @admin.exception_handler(RequestValidationError)
    async def _invalid(request: Request, _exc: RequestValidationError) -> Response:
        # Only hand-edited URLs get here (an over-long filter or id): forms are read by the pages.
        ctx = await load_context(request)
        return ctx.render("error.html", status_code=400, title=ctx.gettext("Request failed"),
                          detail=ctx.gettext("The request could not be handled."))

    @admin.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        ctx = await load_context(request)
        if exc.status_code == 404:
            title, detail = ctx.gettext("Not found"), ctx.gettext("There is no such page.")
        else:
            title, detail = ctx.gettext("Request failed"), ctx.gettext("The request could not be handled.")
        return ctx.render("error.html", status_code=exc.status_code, title=title, detail=detail)

    @admin.exception_handler(Exception)
    async def _unexpected(request: Request, _exc: Exception) -> Response:
        # The traceback goes to the log (Starlette re-raises after this response), never to the page.
        try:
            ctx = await load_context(request)
        except Exception:  # e.g. the database is down: no user, no page
            return PlainTextResponse("internal error", status_code=500)
        return ctx.render("error.html", status_code=500, title=ctx.gettext("Something went wrong"),
                          detail=ctx.gettext("The error was logged. Try again in a moment."))


class _SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in _SECURITY_HEADERS if name not in present]
                static = scope["path"].startswith(f"{scope.get('root_path', '')}/static/")
                if not static and b"cache-control" not in present:
                    # Pages show tenant data: no shared or back-button caches.
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
