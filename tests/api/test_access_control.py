"""Access control: API key scopes, address ranges, rotation and revocation; admin roles and what they may
grant; the password policy, the sign-in lock and TOTP; the admin session's idle timeout; and the audit
log's lines for changes (with before and after, secrets left out) and for views of numbers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
import pytest_asyncio
from fastapi.routing import APIRoute
from sqlalchemy import select

from msg5g.admin import context as admin_context
from msg5g.admin.app import create_admin
from msg5g.admin.permissions import POSTS
from msg5g.domain.errors import Forbidden, Unauthenticated, ValidationFailed
from msg5g.domain.roles import ApiScope, Role
from msg5g.gateway.app import create_api
from msg5g.gateway.scopes import scope_for
from msg5g.kit.clock import utcnow
from msg5g.storage.repositories import PlatformRepository
from msg5g.storage.tables import AuditEntry
from tests.api.helpers import ADMIN_PASSWORD, AdminBrowser, admin_http
from tests.conftest import CallbackReceiver, ServeFn, Stack, build_stack

pytestmark = pytest.mark.asyncio

USER = "+8613800138077"


async def call(stack: Stack, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
    async with stack.http.request(method, f"{stack.base_url}{path}", json=body,
                                  headers={"Authorization": f"Bearer {key}"}) as r:
        return r.status, await r.json() if r.content_type == "application/json" else None


def text(stack: Stack) -> dict[str, Any]:
    return {"chatbot_id": stack.tenant.chatbot_id, "recipients": [USER], "content": {"kind": "text", "text": "好"}}


# ---- API keys ------------------------------------------------------------------------------------------


async def test_a_key_does_only_what_its_scopes_allow(stack: Stack) -> None:
    keys = stack.platform.services.api_keys
    _, reader = await keys.create(stack.tenant.tenant_id, stack.tenant.business_id, "reader",
                                  scopes=[ApiScope.READ_STATUS])
    status, body = await call(stack, "GET", "/v1/messages", reader)
    assert status == 200, body
    for method, path, payload in (("POST", "/v1/messages", text(stack)), ("GET", "/v1/templates", None),
                                  ("GET", "/v1/caps", None)):
        status, body = await call(stack, method, path, reader, payload)
        assert (status, body["error"]["code"]) == (403, "scope_missing"), (path, body)
    _, sender = await keys.create(stack.tenant.tenant_id, stack.tenant.business_id, "sender",
                                  scopes=[ApiScope.SEND])
    status, body = await call(stack, "POST", "/v1/messages", sender, text(stack))
    assert status == 202, body
    status, body = await call(stack, "GET", f"/v1/messages/{body['messages'][0]['id']}", sender)
    assert (status, body["error"]["code"]) == (403, "scope_missing"), body
    with pytest.raises(ValidationFailed) as empty:
        await keys.create(stack.tenant.tenant_id, stack.tenant.business_id, "none", scopes=[])
    assert empty.value.code == "no_scopes"


async def test_a_key_limited_to_address_ranges(stack: Stack) -> None:
    keys = stack.platform.services.api_keys
    _, elsewhere = await keys.create(stack.tenant.tenant_id, stack.tenant.business_id, "office",
                                     allowed_ips=["10.0.0.0/8", "2001:db8::/32"])
    status, body = await call(stack, "GET", "/v1/messages", elsewhere)
    assert (status, body["error"]["code"]) == (403, "ip_not_allowed"), body
    _, local = await keys.create(stack.tenant.tenant_id, stack.tenant.business_id, "local",
                                 allowed_ips=["127.0.0.0/8"])
    status, body = await call(stack, "GET", "/v1/messages", local)
    assert status == 200, body
    with pytest.raises(ValidationFailed) as bad:
        await keys.create(stack.tenant.tenant_id, stack.tenant.business_id, "bad", allowed_ips=["not-a-range"])
    assert (bad.value.code, bad.value.field) == ("invalid_ip_range", "allowed_ips")


async def test_rotation_and_revocation(stack: Stack) -> None:
    keys = stack.platform.services.api_keys
    key_id, old = await keys.create(stack.tenant.tenant_id, stack.tenant.business_id, "rotating",
                                    scopes=[ApiScope.READ_STATUS, ApiScope.SEND])
    assert (await call(stack, "GET", "/v1/messages", old))[0] == 200
    view, new = await keys.rotate(stack.tenant.tenant_id, key_id)
    assert (view.name, set(view.scopes)) == ("rotating", {ApiScope.READ_STATUS, ApiScope.SEND})
    status, body = await call(stack, "GET", "/v1/messages", old)
    assert (status, body["error"]["code"]) == (401, "invalid_api_key"), body
    assert (await call(stack, "GET", "/v1/messages", new))[0] == 200
    await keys.revoke(stack.tenant.tenant_id, view.id)
    status, body = await call(stack, "GET", "/v1/messages", new)
    assert (status, body["error"]["code"]) == (401, "invalid_api_key"), body
    listed = {k.id: k for k in await keys.keys(stack.tenant.tenant_id)}
    assert listed[key_id].revoked_at is not None
    assert listed[view.id].revoked_at is not None
    assert "key_hash" not in listed[key_id].model_dump()
    # Another tenant's key id is unknown here.
    from msg5g.domain.errors import NotFound
    with pytest.raises(NotFound):
        await keys.revoke("another-tenant", key_id)


async def test_every_business_route_needs_a_scope(stack: Stack) -> None:
    """A route a business key opens names the scope it needs (gateway/scopes.py); one that does not opens
    for no key at all, so a new route without a rule fails here rather than in production."""
    app = create_api(lambda: stack.platform.services, settings=stack.platform.settings)
    from fastapi.routing import iter_route_contexts

    uncovered = []
    for context in iter_route_contexts(list(app.routes)):
        route = context.original_route
        if not isinstance(route, APIRoute) or not context.path.startswith("/v1/") or \
                context.path.startswith("/v1/platform/"):
            continue
        for method in context.methods or set():
            if scope_for(method, context.path) is None:
                uncovered.append((method, context.path))
    assert not uncovered, uncovered


# ---- admin users ---------------------------------------------------------------------------------------


async def test_roles_grant_no_more_than_the_granter_holds(stack: Stack) -> None:
    admins = stack.platform.services.admins
    tenant = stack.tenant.tenant_id
    owner_id = await admins.create("owner@a.example", ADMIN_PASSWORD, tenant_id=tenant, display_name="owner")
    owner = await admins.get(owner_id)
    assert owner is not None
    assert owner.role is Role.TENANT_ADMIN
    operator_id = await admins.create("op@a.example", ADMIN_PASSWORD, tenant_id=tenant, display_name="op",
                                      role=Role.OPERATOR, business_ids=[stack.tenant.business_id], granted_by=owner)
    operator = await admins.get(operator_id)
    assert operator is not None
    assert operator.business_ids == frozenset({stack.tenant.business_id})
    with pytest.raises(Forbidden) as refused:  # an operator manages no users
        await admins.create("x@a.example", ADMIN_PASSWORD, tenant_id=tenant, display_name="x", role=Role.VIEWER,
                            granted_by=operator)
    assert refused.value.code == "grant_beyond_rights"
    with pytest.raises(ValidationFailed):  # a platform admin belongs to no tenant
        await admins.create("root2@a.example", ADMIN_PASSWORD, tenant_id=tenant, display_name="r",
                            role=Role.PLATFORM_ADMIN, granted_by=owner)
    with pytest.raises(Forbidden):  # nor may a tenant admin make one
        await admins.create("root3@a.example", ADMIN_PASSWORD, tenant_id=None, display_name="r",
                            role=Role.PLATFORM_ADMIN, granted_by=owner)
    scoped_id = await admins.create("scoped@a.example", ADMIN_PASSWORD, tenant_id=tenant, display_name="s",
                                    role=Role.TENANT_ADMIN, business_ids=[stack.tenant.business_id])
    scoped = await admins.get(scoped_id)
    assert scoped is not None
    with pytest.raises(Forbidden) as all_of_them:  # limited to one business, it cannot grant all
        await admins.create("y@a.example", ADMIN_PASSWORD, tenant_id=tenant, display_name="y", role=Role.VIEWER,
                            granted_by=scoped)
    assert "all of them" in all_of_them.value.message
    with pytest.raises(Forbidden):  # nor change someone who holds more than it does
        await admins.set_role(scoped, owner_id, Role.VIEWER, None)
    changed = await admins.set_role(owner, operator_id, Role.AUDITOR, None)
    assert (changed.role, changed.business_ids) == (Role.AUDITOR, None)
    for weak in ("Short-1", "alllowercaseletters", "my-carol-pass-2026"):  # short; one kind; the name
        with pytest.raises(ValidationFailed) as policy:
            await admins.create("carol@b.example", weak, tenant_id=tenant, display_name="w")
        assert policy.value.code == "weak_password", weak


async def test_every_admin_form_names_the_permission_it_needs(stack: Stack) -> None:
    """Every form posted to a tenant page is in admin/permissions.py POSTS (an unlisted one is refused)."""
    from fastapi.routing import iter_route_contexts

    app = create_admin(lambda: stack.platform.services, stack.platform.settings)

    def uses_in_tenant(dependant: Any) -> bool:
        return any(d.call is admin_context._in_tenant or uses_in_tenant(d) for d in dependant.dependencies)

    routes = [(c.path, c.methods or set(), c.original_route) for c in iter_route_contexts(list(app.routes))
              if isinstance(c.original_route, APIRoute)]
    missing = [path for path, methods, route in routes if "POST" in methods and uses_in_tenant(route.dependant)
               and path not in POSTS]
    assert not missing, missing
    stale = sorted(set(POSTS) - {path for path, methods, _ in routes if "POST" in methods})
    assert not stale, stale


async def test_repeated_failures_lock_the_account_for_a_while(stack: Stack) -> None:
    admins = stack.platform.services.admins
    await admins.create("lock@a.example", ADMIN_PASSWORD, tenant_id=stack.tenant.tenant_id, display_name="l")
    for _ in range(stack.platform.settings.admin_lock_after_failures):
        with pytest.raises(Unauthenticated) as wrong:
            await admins.login("lock@a.example", "wrong password 1")
        assert wrong.value.code == "invalid_login"
    with pytest.raises(Unauthenticated) as locked:
        await admins.login("lock@a.example", ADMIN_PASSWORD)  # even the right password, for now
    assert locked.value.code == "account_locked"
    async with stack.platform.services.ctx.db.transaction() as session:
        user = await PlatformRepository(session).admin_user_by_email("lock@a.example")
        assert user is not None
        user.locked_until = utcnow() - timedelta(seconds=1)  # the lock has run out
    assert (await admins.login("lock@a.example", ADMIN_PASSWORD)).email == "lock@a.example"


async def test_totp_two_factor_sign_in(stack: Stack) -> None:
    admins = stack.platform.services.admins
    user_id = await admins.create("2fa@a.example", ADMIN_PASSWORD, tenant_id=stack.tenant.tenant_id,
                                  display_name="t")
    secret, uri = await admins.start_totp(user_id)
    assert uri.startswith("otpauth://totp/")
    assert "2fa%40a.example" in uri
    await admins.login("2fa@a.example", ADMIN_PASSWORD)  # not required until confirmed
    with pytest.raises(ValidationFailed):
        await admins.confirm_totp(user_id, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    await admins.confirm_totp(user_id, pyotp.TOTP(secret).now())
    with pytest.raises(Unauthenticated) as asked:
        await admins.login("2fa@a.example", ADMIN_PASSWORD)
    assert asked.value.code == "totp_required"
    wrong = "123456" if pyotp.TOTP(secret).now() != "123456" else "654321"
    with pytest.raises(Unauthenticated) as refused:
        await admins.login("2fa@a.example", ADMIN_PASSWORD, wrong)
    assert refused.value.code == "invalid_totp"
    assert (await admins.login("2fa@a.example", ADMIN_PASSWORD, pyotp.TOTP(secret).now())).user_id == user_id
    # Over HTTP: the sign-in form asks for the code, then takes it.
    async with admin_http() as http:
        browser = AdminBrowser(stack, http)
        page = await browser.login("2fa@a.example")
        assert page.status == 401
        assert 'name="totp"' in page.text
        page = await browser.submit("/login", "/login", {"email": "2fa@a.example", "password": ADMIN_PASSWORD,
                                                         "totp": pyotp.TOTP(secret).now(), "next": ""})
        assert page.status == 200, page.text[:300]
        assert "/admin/login" not in page.url


@pytest_asyncio.fixture
async def idle_stack(sqlite_url: str, tmp_path: Path, serve: ServeFn,
                     callback_receiver: CallbackReceiver) -> AsyncIterator[Stack]:
    async for built in build_stack(sqlite_url, tmp_path, serve, callback_receiver, admin_idle_minutes=0.05):
        yield built


async def test_an_idle_admin_session_ends(idle_stack: Stack) -> None:
    stack = idle_stack
    await stack.platform.services.admins.create("idle@a.example", ADMIN_PASSWORD, tenant_id=stack.tenant.tenant_id,
                                                display_name="i")
    async with admin_http() as http:
        browser = AdminBrowser(stack, http)
        assert (await browser.login("idle@a.example")).status == 200
        assert "/admin/login" not in (await browser.get("/")).url  # active: still signed in
        await asyncio.sleep(4.0)  # longer than the 3 s idle limit
        page = await browser.get("/")
        assert "/admin/login" in page.url
        assert "idle=1" in page.url
        assert 'role="alert"' in page.text  # the page says why


# ---- the audit log -------------------------------------------------------------------------------------


async def test_changes_and_views_of_numbers_are_logged(stack: Stack) -> None:
    services = stack.platform.services
    tenant = stack.tenant.tenant_id
    _, operator_key = await services.operator_keys.create("ops")
    async with stack.http.post(f"{stack.base_url}/v1/platform/tenants/{tenant}/caps",
                               headers={"Authorization": f"Bearer {operator_key}"},
                               json={"scope": "tenant", "metric": "count", "period": "day", "limit": 5}) as r:
        assert r.status == 201, await r.text()
        cap_id = (await r.json())["id"]
    key_id, key = await services.api_keys.create(tenant, stack.tenant.business_id, "audited")
    await services.api_keys.revoke(tenant, key_id)
    status, sent = await stack.text([USER])
    assert status == 202
    status, _ = await call(stack, "GET", f"/v1/messages/{sent['messages'][0]['id']}", stack.tenant.api_key)
    assert status == 200
    # A view's line is written once its answer is out: looked for until it is there.
    for _ in range(100):
        entries = await services.audit.browse(tenant, limit=50)
        by_action = {e.action: e for e in entries}
        if "view_numbers: GET /v1/messages/{message_id}" in by_action:
            break
        await asyncio.sleep(0.05)
    added = by_action["cap.add"]
    assert (added.actor, added.target_id, added.route) == (
        "operator:ops", cap_id, "POST /v1/platform/tenants/{tenant_id}/caps")
    assert added.after["limit"] == 5
    revoked = by_action["api_key.revoke"]
    assert revoked.before["revoked_at"] is None
    assert revoked.after["revoked_at"] is not None
    assert key.split("_")[2] not in str([e.model_dump() for e in entries])  # the secret is never logged
    viewed = by_action["view_numbers: GET /v1/messages/{message_id}"]
    assert viewed.actor.startswith("api-key:"), viewed
    assert viewed.target_id == sent["messages"][0]["id"]
    # A cap removed by the operator keeps its last state in the log.
    await services.capacity.delete_cap(tenant, cap_id)
    deleted = [e for e in await services.audit.browse(tenant) if e.action == "cap.delete"]
    assert deleted[0].before["limit"] == 5
    async with services.ctx.db.reader() as session:
        other = (await session.scalars(select(AuditEntry).where(AuditEntry.tenant_id == "another"))).all()
    assert other == []


async def test_numbers_are_masked_unless_revealed_by_a_role_that_may(stack: Stack) -> None:
    admins = stack.platform.services.admins
    tenant = stack.tenant.tenant_id
    await admins.create("boss@a.example", ADMIN_PASSWORD, tenant_id=tenant, display_name="boss")
    await admins.create("look@a.example", ADMIN_PASSWORD, tenant_id=tenant, display_name="look", role=Role.VIEWER)
    await admins.create("check@a.example", ADMIN_PASSWORD, tenant_id=tenant, display_name="check",
                        role=Role.AUDITOR)
    status, sent = await stack.text([USER])
    assert status == 202
    message_id = sent["messages"][0]["id"]
    masked = USER[:6] + "****" + USER[-4:]
    async with admin_http() as boss_http, admin_http() as viewer_http, admin_http() as auditor_http:
        boss, viewer, auditor = (AdminBrowser(stack, boss_http), AdminBrowser(stack, viewer_http),
                                 AdminBrowser(stack, auditor_http))
        for browser, email in ((boss, "boss@a.example"), (viewer, "look@a.example"), (auditor, "check@a.example")):
            assert (await browser.login(email)).status == 200
        page = await boss.get(f"/messages/{message_id}")
        assert masked in page.text
        assert USER not in page.text
        assert "reveal=1" in page.text
        page = await boss.get(f"/messages/{message_id}?reveal=1")
        assert USER in page.text
        page = await viewer.get(f"/messages/{message_id}?reveal=1")  # a viewer may not
        assert USER not in page.text
        assert masked in page.text
        assert (await viewer.get("/audit")).status == 403  # nor read the audit log
        for _ in range(100):  # views are written together, within a second
            page = await auditor.get("/audit")
            assert page.status == 200
            if "view_numbers: GET /admin/messages/{message_id}" in page.text:
                break
            await asyncio.sleep(0.1)
        assert "view_numbers: GET /admin/messages/{message_id}" in page.text  # the views are in it
