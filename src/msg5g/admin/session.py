"""The admin session: a signed (not encrypted) cookie, and the CSRF token it carries.

The cookie holds only ids and the CSRF token, never anything secret, so signing with
`settings.secret_key` suffices. It is scoped to /admin so the API never sees it, HttpOnly, SameSite=Lax
and Secure whenever the request arrived over https. Sessions expire SESSION_SECONDS after sign-in, or
sooner after `idle_seconds` without a request (the cookie carries when it was last seen, rewritten at
most once a minute);
being stateless, a copied cookie stays valid until then even after logout (a server-side session store
would fix that, and is not needed yet).

CSRF: every session, signed in or not, has a random token; every form carries it in a hidden field
(CSRF_FIELD) and every POST must echo it (or send it as the X-CSRF-Token header) or gets 403. The
token changes at sign-in and sign-out.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "msg5g_admin_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600
IDLE_SECONDS = 30 * 60.0
_SEEN_REFRESH_SECONDS = 60.0
_SALT = "msg5g.admin.session.v1"


@dataclass(slots=True)
class AdminSession:
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    user_id: str | None = None
    # A platform admin's chosen tenant; ignored for tenant admins, who are bound to their own.
    tenant_id: str | None = None
    dirty: bool = False  # set when the cookie must be (re)written
    seen_at: float = field(default_factory=time.time)  # the last request, for the idle timeout
    timed_out: bool = False  # the user was signed out for being idle

    def sign_in(self, user_id: str) -> None:
        self.user_id = user_id
        self.tenant_id = None
        self.seen_at = time.time()
        self.csrf_token = secrets.token_urlsafe(32)
        self.dirty = True

    def sign_out(self) -> None:
        self.user_id = None
        self.tenant_id = None
        self.csrf_token = secrets.token_urlsafe(32)
        self.dirty = True

    def choose_tenant(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.dirty = True

    def csrf_matches(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf_token.encode(), (presented or "").encode())


class SessionCodec:
    def __init__(self, secret_key: str, *, max_age: int = SESSION_SECONDS, idle_seconds: float = IDLE_SECONDS) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=_SALT)
        self._max_age = max_age
        self._idle = idle_seconds

    def load(self, request: Request) -> AdminSession:
        """The request's session, or a new anonymous one (to be written) when it has none or a bad one."""
        raw = request.cookies.get(COOKIE_NAME)
        if raw:
            try:
                data: Any = self._serializer.loads(raw, max_age=self._max_age)
            except BadSignature:  # also covers an expired signature
                data = None
            if isinstance(data, dict) and isinstance(data.get("csrf"), str):
                user_id, tenant_id, seen = data.get("uid"), data.get("tid"), data.get("seen")
                session = AdminSession(
                    csrf_token=data["csrf"],
                    user_id=user_id if isinstance(user_id, str) else None,
                    tenant_id=tenant_id if isinstance(tenant_id, str) else None,
                    seen_at=float(seen) if isinstance(seen, int | float) else 0.0,
                )
                now = time.time()
                if session.user_id is not None and now - session.seen_at > self._idle:
                    session.sign_out()
                    session.timed_out = True
                elif now - session.seen_at > _SEEN_REFRESH_SECONDS:
                    session.seen_at, session.dirty = now, True
                return session
        return AdminSession(dirty=True)

    def store(self, request: Request, response: Response, session: AdminSession) -> None:
        if not session.dirty:
            return
        value = self._serializer.dumps({"csrf": session.csrf_token, "uid": session.user_id, "tid": session.tenant_id,
                                        "seen": round(session.seen_at, 1)})
        response.set_cookie(
            COOKIE_NAME, value, max_age=self._max_age, path=request.scope.get("root_path") or "/", httponly=True,
            samesite="lax", secure=request.url.scheme == "https",
        )
