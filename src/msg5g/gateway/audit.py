"""The audit middleware: around every request to the API and the admin it keeps who acts
(services/audit.py `RequestAudit`), and afterwards writes the line a successful change did not write
itself, and the line for a view of recipients' numbers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from msg5g.services.audit import RequestAudit, audit_var
from msg5g.services.bundle import Services

log = logging.getLogger(__name__)

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
_BODY_KEPT = 16_384
# Requests that change no managed state: sends (each is its own record, the message), carrier callbacks,
# signing in and out, the language, previews and rule tests, the public pages.
NOT_CHANGES = {
    "POST /v1/messages", "POST /admin/send", "POST /admin/login", "POST /admin/logout",
    "POST /admin/templates/preview", "POST /v1/templates/{template_id}/preview", "POST /admin/tenant",
    "POST /v1/chatbots/{chatbot_id}/auto-reply-rules/test", "POST /admin/chatbots/{chatbot_id}/rules/test",
}
NOT_CHANGE_PREFIXES = ("/webhooks/", "/h/", "/public/")
# Reads that show recipients' numbers (PIPL: every such view is logged).
NUMBER_VIEWS = {
    "GET /v1/messages", "GET /v1/messages/{message_id}", "GET /v1/inbound", "GET /admin/messages",
    "GET /admin/messages/{message_id}",
}


def route_of(scope: Scope) -> str | None:
    """"METHOD /declared/path" of the route that served the request (mounts included)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return None
    return f"{scope['method']} {scope.get('root_path', '')}{path}"


def is_change(route: str) -> bool:
    method, _, path = route.partition(" ")
    return method in MUTATING and route not in NOT_CHANGES and not path.startswith(NOT_CHANGE_PREFIXES)


class AuditMiddleware:
    def __init__(self, app: ASGIApp, services: Callable[[], Services]) -> None:
        self.app = app
        self._services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        holder = RequestAudit(ip=client[0] if client else None)
        token = audit_var.set(holder)
        status = 0
        body = bytearray()
        json_answer = False
        # A change's answer is held back until its line is committed, so that whoever has the answer
        # (a 204's ends with its headers) finds the line in the log; a change's answer is small.
        held: list[Message] = []
        holding = scope["method"] in MUTATING

        async def capture(message: Message) -> None:
            nonlocal status, json_answer
            if message["type"] == "http.response.start":
                status = int(message["status"])
                json_answer = any(k == b"content-type" and v.startswith(b"application/json")
                                  for k, v in message.get("headers", []))
            elif message["type"] == "http.response.body" and json_answer and len(body) < _BODY_KEPT:
                body.extend(message.get("body", b"")[:_BODY_KEPT - len(body)])
            if not holding:
                await send(message)
                return
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                await self._after(holder, scope, status, body if json_answer else None, change_only=True)
                for waiting in held:
                    await send(waiting)
                held.clear()

        try:
            await self.app(scope, receive, capture)
        finally:
            audit_var.reset(token)
        for waiting in held:  # an answer that never finished: pass on what there was
            await send(waiting)
        await self._after(holder, scope, status, None, change_only=False)

    async def _after(self, holder: RequestAudit, scope: Scope, status: int, body: bytearray | None, *,
                     change_only: bool) -> None:
        route = route_of(scope)
        if route is None or not 200 <= status < 400:
            return
        holder.route = route
        try:
            if change_only:
                if is_change(route) and holder.recorded == 0:
                    await self._record(holder, route, scope, "change", self._answer(body) if body else None)
            elif route in NUMBER_VIEWS:
                params = {k: str(v) for k, v in (scope.get("path_params") or {}).items()}
                holder.route = route
                token = audit_var.set(holder)
                try:
                    self._services().audit.note_view(action=f"view_numbers: {route}", target_type=_resource(route),
                                                     target_id=next(iter(params.values()), None),
                                                     after={"path": params})
                finally:
                    audit_var.reset(token)
        except Exception:  # the answer stands; a failed audit line is logged loudly, not raised
            log.exception("audit line not written", extra={"route": route})

    @staticmethod
    def _answer(body: bytearray) -> Any:
        try:
            return orjson.loads(bytes(body)) if body else None
        except orjson.JSONDecodeError:
            return None

    async def _record(self, holder: RequestAudit, route: str, scope: Scope, kind: str, after: Any) -> None:
        params = {k: str(v) for k, v in (scope.get("path_params") or {}).items()}
        token = audit_var.set(holder)
        try:
            await self._services().audit.record_alone(
                action=f"{kind}: {route}", target_type=_resource(route), target_id=next(iter(params.values()), None),
                after={"path": params, "answer": after} if kind == "change" else {"path": params})
        finally:
            audit_var.reset(token)


def _resource(route: str) -> str | None:
    """What a route is about: its first path segment after /v1, /v1/platform or /admin."""
    parts = [p for p in route.partition(" ")[2].split("/") if p and not p.startswith("{")]
    while parts and parts[0] in {"v1", "platform", "admin"}:
        parts.pop(0)
    return parts[0] if parts else None
