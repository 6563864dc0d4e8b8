"""Per-request state of the admin (session, user, language) and the dependencies pages declare.

Pages take one of:

* `AnyoneDep`    -> AdminContext, signed in or not (the login page);
* `SignedInDep`  -> AdminContext whose `user` is set, else a redirect to the login page;
* `InTenantDep`  -> Operator: a signed-in user working inside one tenant. A platform admin who has not
  chosen a tenant is sent to the tenant picker first.

Every POST through any of them must carry the session's CSRF token, else 403.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
from babel.support import NullTranslations
from fastapi import Depends, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from msg5g.admin.i18n import LANGUAGE_COOKIE, LOCALES, N_, choose_locale, languages, translations
from msg5g.admin.nav import NAV
from msg5g.admin.permissions import required
from msg5g.admin.session import CSRF_FIELD, CSRF_HEADER, AdminSession, SessionCodec
from msg5g.config import Settings
from msg5g.domain.messages import MessageStatus
from msg5g.domain.roles import Permission
from msg5g.kit.phone import mask
from msg5g.services.access import AdminAccess
from msg5g.services.audit import identify
from msg5g.services.bundle import Services

TEMPLATE_DIR = Path(__file__).parent / "templates"

STATUS_LABELS: dict[str, str] = {
    MessageStatus.ACCEPTED: N_("Accepted"),
    MessageStatus.QUEUED: N_("Queued"),
    MessageStatus.SENT: N_("Sent"),
    MessageStatus.DELIVERED: N_("Delivered"),
    MessageStatus.DISPLAYED: N_("Displayed"),
    MessageStatus.FAILED: N_("Failed"),
    MessageStatus.EXPIRED: N_("Expired"),
    MessageStatus.REVOKED: N_("Revoked"),
    "pending": N_("Pending"),  # an attempt state
}


# Where to go after signing in or switching language; `AdminContext.safe_next` checks it.
NextQuery = Annotated[str | None, Query(alias="next", max_length=2000)]


class LoginRequired(Exception):
    pass


class TenantRequired(Exception):
    pass


class CsrfRejected(Exception):
    pass


class AdminSite:
    """What all admin requests share: services, settings, the session codec and one Jinja2
    environment per language (each with its catalog installed, so concurrent requests in different
    languages never see each other's)."""

    def __init__(self, services: Callable[[], Services], settings: Settings) -> None:
        self.services = services
        self.settings = settings
        self.codec = SessionCodec(settings.secret_key, idle_seconds=settings.admin_idle_minutes * 60)
        self._environments = {locale: _environment(translations(locale)) for locale in LOCALES}

    def environment(self, locale: str) -> jinja2.Environment:
        return self._environments[locale]


def _environment(catalog: NullTranslations) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]

    def status_label(status: str) -> str:
        return catalog.gettext(STATUS_LABELS.get(status) or status)

    env.globals.update(nav=NAV, languages=languages(), status_label=status_label)
    env.filters.update(mask=mask, when=format_time)
    return env


def format_time(moment: datetime | None) -> str:
    # Always UTC, and saying so: operators and carriers compare these with logs.
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(slots=True)
class AdminContext:
    request: Request
    site: AdminSite
    session: AdminSession
    locale: str
    user: AdminAccess | None

    @property
    def services(self) -> Services:
        return self.site.services()

    @property
    def tenant_id(self) -> str | None:
        """The tenant the user works in: their own, or the one a platform admin chose."""
        if self.user is None:
            return None
        return self.user.tenant_id if self.user.tenant_id is not None else self.session.tenant_id

    @property
    def root_path(self) -> str:
        """Where the admin is mounted (/admin): the path its cookies are scoped to."""
        return str(self.request.scope.get("root_path") or "/")

    @property
    def language(self) -> str:
        return self.locale.replace("_", "-")

    def gettext(self, message: str, **variables: Any) -> str:
        translated = translations(self.locale).gettext(message)
        return translated % variables if variables else translated

    def url(self, name: str, /, query: Mapping[str, str | None] | None = None, **path_params: Any) -> str:
        """A path inside the admin (wherever it is mounted), with the query's non-empty values."""
        route = self.request.app.url_path_for(name, **path_params)
        path = self.root_path.rstrip("/") + str(route)
        values = {k: v for k, v in (query or {}).items() if v}
        return f"{path}?{urlencode(values)}" if values else path

    def here(self) -> str:
        """This request's path and query, as a `next` target."""
        query = self.request.url.query
        return self.request.url.path + (f"?{query}" if query else "")

    def safe_next(self, target: str | None) -> str:
        """`target` if it is a path inside the admin, else the dashboard: no open redirects."""
        root = self.root_path.rstrip("/") + "/"
        if target and target.startswith(root) and not target.startswith("//") and "\\" not in target:
            return target
        return self.url("dashboard")

    def render(self, template: str, /, *, status_code: int = 200, **values: Any) -> HTMLResponse:
        values.setdefault("active", "")  # the nav key of the current section
        body = self.site.environment(self.locale).get_template(template).render(
            ctx=self, csrf_field=CSRF_FIELD, csrf_token=self.session.csrf_token, **values
        )
        response = HTMLResponse(body, status_code=status_code)
        self.finish(response)
        return response

    def redirect(self, target: str) -> RedirectResponse:
        # 303: after a POST the browser follows with a GET.
        response = RedirectResponse(target, status_code=303)
        self.finish(response)
        return response

    def finish(self, response: Response) -> None:
        """Write the session cookie onto a response built elsewhere, if it changed."""
        self.site.codec.store(self.request, response, self.session)


@dataclass(frozen=True, slots=True)
class Operator:
    ctx: AdminContext
    user: AdminAccess
    tenant_id: str

    @property
    def services(self) -> Services:
        return self.ctx.services


async def load_context(request: Request) -> AdminContext:
    """The request's AdminContext, built once and kept on the request for the error handlers."""
    existing = getattr(request.state, "admin_context", None)
    if isinstance(existing, AdminContext):
        return existing
    site: AdminSite = request.app.state.site
    session = site.codec.load(request)
    locale = choose_locale(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    user = None
    if session.user_id is not None:
        user = await site.services().admins.get(session.user_id)
        if user is None:  # the account was deleted since sign-in
            session.sign_out()
    ctx = AdminContext(request=request, site=site, session=session, locale=locale, user=user)
    request.state.admin_context = ctx
    if user is not None:
        route = getattr(request.scope.get("route"), "path", request.url.path)
        identify(user.actor, ctx.tenant_id, f"{request.method} {request.scope.get('root_path', '')}{route}")
    return ctx


async def _anyone(request: Request) -> AdminContext:
    ctx = await load_context(request)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        presented = request.headers.get(CSRF_HEADER)
        if presented is None:
            form = await request.form()
            value = form.get(CSRF_FIELD)
            presented = value if isinstance(value, str) else None
        if not ctx.session.csrf_matches(presented):
            raise CsrfRejected
    return ctx


AnyoneDep = Annotated[AdminContext, Depends(_anyone)]


async def _signed_in(ctx: AnyoneDep) -> AdminContext:
    if ctx.user is None:
        raise LoginRequired
    return ctx


SignedInDep = Annotated[AdminContext, Depends(_signed_in)]


class PermissionDenied(Exception):
    def __init__(self, permission: Permission | None) -> None:
        super().__init__(permission.value if permission else "no rule")
        self.permission = permission


async def _in_tenant(ctx: SignedInDep) -> Operator:
    assert ctx.user is not None  # _signed_in saw to it
    tenant_id = ctx.tenant_id
    if tenant_id is None:
        raise TenantRequired
    route = ctx.request.scope.get("route")
    permission = required(ctx.request.method, getattr(route, "path", ""))
    if permission is None or not ctx.user.can(permission):
        raise PermissionDenied(permission)
    return Operator(ctx=ctx, user=ctx.user, tenant_id=tenant_id)


InTenantDep = Annotated[Operator, Depends(_in_tenant)]
