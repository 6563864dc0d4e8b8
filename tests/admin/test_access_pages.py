"""Users and roles, My account (TOTP), API keys, business mappings and capacity in the admin, over HTTP
against the real server: a tenant admin grants roles bounded by their own (a platform admin and a grant
beyond a limited admin's businesses refused with the service's message); each role's sign-in sees and
may do what the role allows (a limited operator works in its business only, a viewer's and an operator's
POSTs refused 403); an API key made on the page carries only its scopes, is shown once, and stops working
once rotated or revoked; an auditor decides a mapping and its history shows it, while the one who asked
cannot; the capacity page shows a cap's ledger; two-factor sign-in is turned on and then asked for."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pyotp
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from msg5g.admin import context
from msg5g.admin.app import ROUTERS
from msg5g.admin.permissions import POSTS
from msg5g.domain.capacity import CapSpec
from msg5g.domain.messages import TrafficClass
from msg5g.domain.roles import Role
from msg5g.services.access import BusinessAccess
from msg5g.services.grants import ResourceType
from tests.admin.conftest import PASSWORD, AdminClient, Page, create_admin
from tests.conftest import Stack

pytestmark = pytest.mark.asyncio

NOT_ALLOWED = "你的角色不允许此操作"
SECOND_BUSINESS = "A 营销"
_KEY = re.compile(r'<code class="api-key-secret">([^<]+)</code>')
_SECRET = re.compile(r'<code class="totp-secret">([A-Z2-7]+)</code>')


def text_of(page: Page) -> str:
    return html.unescape(page.text)


@asynccontextmanager
async def client(stack: Stack, email: str | None = None, password: str = PASSWORD) -> AsyncIterator[AdminClient]:
    """A browser of its own (its own cookie jar), signed in as `email` when one is given."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        browser = AdminClient(stack, http)
        if email is not None:
            page = await browser.login(email, password)
            assert page.status == 200, text_of(page)[:500]
        yield browser


async def post_many(browser: AdminClient, form_page: str, action: str, fields: list[tuple[str, str]]) -> Page:
    """A form with repeated names (a multi-select, checkboxes), with the page's hidden fields."""
    page = await browser.get(form_page)
    assert page.status == 200, page.text[:300]
    data = [*page.hidden().items(), *fields]
    async with browser.http.post(f"{browser.root}{action}", data=data) as r:
        return Page(r.status, str(r.url), await r.text(), r.headers)


def user_row(page: Page, email: str) -> str:
    """The users table's row of one user."""
    for row in re.findall(r"<tr data-user=.*?</tr>", page.text, re.S):
        if f"<code>{email}</code>" in row:
            return html.unescape(row)
    raise AssertionError(f"{email} is not listed")


def user_cell(page: Page, email: str, column: str) -> str:
    """One cell of a user's row: role, businesses, totp or state."""
    found = re.search(rf'<td class="{column}"[^>]*>(.*?)</td>', user_row(page, email), re.S)
    assert found is not None, column
    return found[1]


def user_id(page: Page, email: str) -> str:
    found = re.search(r'data-user="([^"]+)"', user_row(page, email))
    assert found is not None
    return found[1]


async def second_business(stack: Stack) -> str:
    business_id, _ = await stack.platform.services.provisioning.create_business(
        stack.tenant.tenant_id, SECOND_BUSINESS, TrafficClass.MARKETING)
    return business_id


async def api(stack: Stack, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
    async with stack.http.request(method, f"{stack.base_url}{path}", json=body,
                                  headers={"Authorization": f"Bearer {key}"}) as r:
        return r.status, await r.json()


async def wait_refused(stack: Stack, key: str, timeout: float = 15.0) -> dict[str, Any]:
    """The key's 401, within the cache time of the API key lookup (10 s)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status, body = await api(stack, "GET", "/v1/messages", key)
        if status == 401:
            return dict(body)
        assert status == 200, body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the key still works")
        await asyncio.sleep(0.2)


def _calls(dependant: Dependant) -> set[Any]:
    return {dependant.call, *(call for sub in dependant.dependencies for call in _calls(sub))}


async def test_every_in_tenant_post_has_its_permission_and_my_account_needs_none() -> None:
    """_in_tenant refuses a POST that POSTS does not list: every form of a tenant's page is in it, and the
    account's forms (SignedInDep) never reach it."""
    in_tenant, signed_in = set(), set()
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute) and "POST" in route.methods:
                calls = _calls(route.dependant)
                (in_tenant if context._in_tenant in calls else signed_in).add(route.path)
    assert in_tenant <= set(POSTS), sorted(in_tenant - set(POSTS))
    assert {"/account/totp", "/account/totp/confirm"} <= signed_in
    assert {"/users", "/api-keys", "/mappings/{mapping_id}/decide", "/capacity/prices"} <= in_tenant


# ---- users and roles ------------------------------------------------------------------------------------


async def test_a_tenant_admin_grants_roles_and_each_role_gets_what_it_may(stack: Stack, tenant_admin: str) -> None:
    other = await second_business(stack)
    own = stack.tenant.business_id
    async with client(stack, tenant_admin) as admin:
        page = await admin.get("/users")
        assert page.status == 200
        assert "用户与角色" in page.text
        assert user_cell(page, tenant_admin, "role") == "租户管理员"
        assert 'action="/admin/users"' in page.text

        page = await admin.submit("/users", "/users", {"email": "audit@tenant-a.example", "display_name": "审核",
                                                       "password": PASSWORD, "role": "auditor"})
        assert page.status == 200, text_of(page)[:500]
        assert "done=created" in page.url
        assert user_cell(page, "audit@tenant-a.example", "role") == "审核员"
        assert user_cell(page, "audit@tenant-a.example", "businesses") == "全部业务"
        assert "未开启" in user_cell(page, "audit@tenant-a.example", "totp")
        page = await post_many(admin, "/users", "/users", [
            ("email", "op@tenant-a.example"), ("display_name", "操作员"), ("password", PASSWORD),
            ("role", "operator"), ("business_ids", own)])
        assert "done=created" in page.url, text_of(page)[:500]
        assert user_cell(page, "op@tenant-a.example", "role") == "业务操作员"
        assert user_cell(page, "op@tenant-a.example", "businesses") == "Tenant A notifications"
        page = await admin.submit("/users", "/users", {"email": "view@tenant-a.example", "display_name": "只读",
                                                       "password": PASSWORD, "role": "viewer"})
        assert "done=created" in page.url

        # A platform admin belongs to no tenant: refused, with the service's own words.
        page = await admin.submit("/users", "/users", {"email": "root2@tenant-a.example", "display_name": "root",
                                                       "password": PASSWORD, "role": "platform_admin"})
        assert page.status == 422
        assert "a platform admin belongs to no tenant, every other role to one" in text_of(page)
        assert "invalid_role" in page.text
        assert "root2@tenant-a.example" in page.text  # the form keeps what was typed...
        assert PASSWORD not in page.text  # ...but never the password
        page = await admin.submit("/users", "/users", {"email": "weak@tenant-a.example", "display_name": "弱",
                                                       "password": "short", "role": "viewer"})
        assert page.status == 422
        assert "a password has at least 12 characters" in text_of(page)
        page = await admin.get(f"/api-keys?business={other}")  # a user of both businesses picks one
        assert page.status == 200
        assert 'class="filters card business-picker"' in page.text
        assert f'<option value="{other}" selected>{SECOND_BUSINESS}</option>' in page.text
        users = {u.email for u in await stack.platform.services.admins.users(stack.tenant.tenant_id)}
        assert users == {tenant_admin, "audit@tenant-a.example", "op@tenant-a.example", "view@tenant-a.example"}

    # The operator works in its one business: the other is not on its pages, nor reachable by name.
    async with client(stack, "op@tenant-a.example") as operator:
        page = await operator.get("/materials")
        assert page.status == 200
        assert "Tenant A notifications" in page.text
        assert SECOND_BUSINESS not in page.text
        for path in (f"/materials?business={other}", f"/api-keys?business={other}", f"/templates?business={other}"):
            page = await operator.get(path)
            assert page.status == 404, path
            assert SECOND_BUSINESS not in page.text
        page = await operator.get("/users")  # reading is `read`: the list, without the forms
        assert page.status == 200
        assert 'action="/admin/users"' not in page.text
        page = await operator.submit("/users", "/users", {"email": "sneak@tenant-a.example", "display_name": "x",
                                                          "password": PASSWORD, "role": "viewer"})
        assert page.status == 403
        assert NOT_ALLOWED in page.text
        assert "manage_tenant" in page.text
        page = await operator.submit("/api-keys", "/api-keys", {"business_id": own, "name": "sneaky",
                                                                "scopes": "send"})
        assert page.status == 403

    async with client(stack, "view@tenant-a.example") as viewer:
        # The form's token from the dashboard: the materials page itself fails for a user of two businesses
        # (materials_macros.business_picker reads `ctx`, which materials.html does not import it with).
        page = await viewer.submit("/", "/materials", {"business_id": own, "name": "x"})
        assert page.status == 403
        assert NOT_ALLOWED in page.text
        assert "manage_content" in page.text
        page = await viewer.submit("/", "/send", {"business_id": own, "chatbot_id": stack.tenant.chatbot_id,
                                                      "recipients": "13800138000", "kind": "text", "text": "x"})
        assert page.status == 403

        async with client(stack, tenant_admin) as admin:
            page = await admin.get("/users")
            operator_id, viewer_id = user_id(page, "op@tenant-a.example"), user_id(page, "view@tenant-a.example")
            # The operator now reads both businesses as a viewer.
            page = await post_many(admin, "/users", f"/users/{operator_id}/role",
                                   [("role", "viewer"), ("business_ids", own), ("business_ids", other)])
            assert "done=changed" in page.url, text_of(page)[:500]
            assert user_cell(page, "op@tenant-a.example", "role") == "只读用户"
            assert user_cell(page, "op@tenant-a.example", "businesses") in {
                f"Tenant A notifications, {SECOND_BUSINESS}", f"{SECOND_BUSINESS}, Tenant A notifications"}
            page = await admin.submit("/users", f"/users/{viewer_id}/disable", {})
            assert "done=disabled" in page.url
            assert "已停用" in user_cell(page, "view@tenant-a.example", "state")
            page = await admin.submit("/users", f"/users/{user_id(page, tenant_admin)}/disable", {})
            assert page.status == 409
            assert "不能停用自己的账户" in page.text
            page = await admin.submit("/users", "/users/no-such-user/role", {"role": "viewer"})
            assert page.status == 404
        # A disabled user's session ends at its next request.
        page = await viewer.get("/", follow=False)
        assert page.status == 303
        assert "/admin/login" in page.headers["location"]
        assert (await viewer.login("view@tenant-a.example")).status == 401


async def test_a_limited_tenant_admin_grants_only_their_own_businesses(stack: Stack) -> None:
    other = await second_business(stack)
    own = stack.tenant.business_id
    await stack.platform.services.admins.create("lead@tenant-a.example", PASSWORD, tenant_id=stack.tenant.tenant_id,
                                                display_name="组长", role=Role.TENANT_ADMIN, business_ids=[own])
    async with client(stack, "lead@tenant-a.example") as lead:
        page = await lead.get("/users")
        assert SECOND_BUSINESS not in page.text.split("<form")[-1]  # not offered in the create form
        page = await lead.submit("/users", "/users", {"email": "all@tenant-a.example", "display_name": "全部",
                                                      "password": PASSWORD, "role": "viewer"})
        assert page.status == 403
        assert "the granter is limited to some businesses and cannot grant all of them" in text_of(page)
        page = await post_many(lead, "/users", "/users", [
            ("email", "all@tenant-a.example"), ("display_name", "全部"), ("password", PASSWORD), ("role", "viewer"),
            ("business_ids", other)])
        assert page.status == 403
        assert f"businesses {other} are beyond the granter's own" in text_of(page)
        page = await post_many(lead, "/users", "/users", [
            ("email", "mine@tenant-a.example"), ("display_name", "我的"), ("password", PASSWORD),
            ("role", "operator"), ("business_ids", own)])
        assert "done=created" in page.url, text_of(page)[:500]
        emails = {u.email for u in await stack.platform.services.admins.users(stack.tenant.tenant_id)}
        assert emails == {"lead@tenant-a.example", "mine@tenant-a.example"}


# ---- my account: two-factor sign-in ------------------------------------------------------------------------


async def test_two_factor_sign_in_is_turned_on_and_then_asked_for(stack: Stack, tenant_admin: str) -> None:
    async with client(stack, tenant_admin) as admin:
        page = await admin.get("/account")
        assert page.status == 200
        assert "我的账户" in page.text
        assert "租户管理员" in page.text
        assert '<span class="status status-disabled totp-state">未开启</span>' in page.text
        page = await admin.submit("/account", "/account/totp", {})
        assert page.status == 200, text_of(page)[:500]
        secret = _SECRET.search(page.text)
        assert secret is not None, page.text
        assert f"otpauth://totp/msg5g:{tenant_admin.replace('@', '%40')}?secret={secret[1]}" in text_of(page)
        wrong = pyotp.TOTP(secret[1]).at(time.time() - 3600)
        page = await admin.post("/account/totp/confirm", {**page.hidden(), "code": wrong})
        assert page.status == 422
        assert "验证码错误" in page.text
        assert secret[1] not in page.text  # shown on the set-up answer only
        page = await admin.post("/account/totp/confirm", {**page.hidden(), "code": pyotp.TOTP(secret[1]).now()})
        assert page.status == 200
        assert "done=totp_on" in page.url
        assert '<span class="status status-enabled totp-state">已开启</span>' in page.text
        # Once on, the set-up is not offered again, nor does a request for it turn two-factor sign-in off.
        assert 'action="/admin/account/totp"' not in page.text
        page = await admin.submit("/account", "/account/totp", {})
        assert page.status == 409
        assert "两步验证已经开启" in page.text
        page = await admin.get("/users")
        assert "已开启" in user_cell(page, tenant_admin, "totp")

    async with client(stack) as browser:
        page = await browser.login(tenant_admin)
        assert page.status == 401
        assert "请输入身份验证器应用中的验证码" in page.text
        assert 'name="totp"' in page.text
        page = await browser.submit("/login", "/login", {"email": tenant_admin, "password": PASSWORD,
                                                         "totp": pyotp.TOTP(secret[1]).now()})
        assert page.status == 200, text_of(page)[:500]
        assert page.url.endswith("/admin/")


async def test_my_account_needs_no_tenant(stack: Stack) -> None:
    await create_admin(stack, "root@platform.example", None, "Root")
    async with client(stack) as root:
        await root.login("root@platform.example")
        page = await root.get("/account", follow=False)
        assert page.status == 200  # not sent to the tenant picker
        assert "平台管理员" in page.text
        assert "平台管理员可在任意租户中工作" in page.text
        page = await root.submit("/account", "/account/totp", {})
        assert page.status == 200
        assert _SECRET.search(page.text) is not None
        page = await root.get("/users", follow=False)  # a tenant's page still needs one
        assert page.status == 303
        assert "/admin/tenant" in page.headers["location"]


# ---- API keys --------------------------------------------------------------------------------------------


async def test_api_keys_carry_their_scopes_are_shown_once_rotated_and_revoked(stack: Stack,
                                                                              tenant_admin: str) -> None:
    keys = stack.platform.services.api_keys
    async with client(stack, tenant_admin) as admin:
        page = await admin.get("/api-keys")
        assert page.status == 200
        assert "API 密钥" in page.text
        [existing] = await keys.keys(stack.tenant.tenant_id)
        assert f'data-key="{existing.id}"' in page.text
        assert stack.tenant.api_key not in page.text

        page = await post_many(admin, "/api-keys", "/api-keys", [("name", "状态查询"), ("scopes", "read_status"),
                                                                 ("allowed_ips", "")])
        assert page.status == 200, text_of(page)[:500]
        assert "请立即复制密钥：它不会再次显示。" in page.text
        found = _KEY.search(page.text)
        assert found is not None
        key = found[1]
        status, body = await api(stack, "GET", "/v1/messages", key)
        assert status == 200, body
        status, body = await api(stack, "POST", "/v1/messages", key, {
            "chatbot_id": stack.tenant.chatbot_id, "recipients": ["+8613800138000"],
            "content": {"kind": "text", "text": "不该发出"}})
        assert status == 403, body
        assert body["error"]["code"] == "scope_missing"

        page = await admin.get("/api-keys")
        assert key not in page.text  # once only
        assert key.split("_")[2] not in page.text
        made = next(k for k in await keys.keys(stack.tenant.tenant_id) if k.name == "状态查询")
        row = re.search(rf'<tr data-key="{made.id}">.*?</tr>', page.text, re.S)
        assert row is not None
        assert made.prefix in row[0]
        assert "read_status" in row[0]
        assert ">send<" not in row[0]
        assert "不限" in row[0]  # from anywhere

        page = await admin.submit("/api-keys", f"/api-keys/{made.id}/rotate", {})
        assert page.status == 200, text_of(page)[:500]
        assert "密钥已轮换" in page.text
        found = _KEY.search(page.text)
        assert found is not None
        rotated = found[1]
        assert rotated != key
        assert (await wait_refused(stack, key))["error"]["code"] == "invalid_api_key"
        status, body = await api(stack, "GET", "/v1/messages", rotated)
        assert status == 200, body
        status, body = await api(stack, "POST", "/v1/messages", rotated, {
            "chatbot_id": stack.tenant.chatbot_id, "recipients": ["+8613800138000"],
            "content": {"kind": "text", "text": "不该发出"}})
        assert (status, body["error"]["code"]) == (403, "scope_missing")  # the old key's scopes, kept
        new = next(k for k in await keys.keys(stack.tenant.tenant_id) if k.name == "状态查询" and not k.revoked_at)
        page = await admin.get("/api-keys")
        assert rotated not in page.text
        page = await admin.submit("/api-keys", f"/api-keys/{new.id}/revoke", {})
        assert "done=revoked" in page.url
        assert (await wait_refused(stack, rotated))["error"]["code"] == "invalid_api_key"
        row = re.search(rf'<tr data-key="{new.id}">.*?</tr>', page.text, re.S)
        assert row is not None
        assert "已吊销" in row[0]
        assert "/rotate" not in row[0]
        page = await admin.submit("/api-keys", f"/api-keys/{made.id}/rotate", {})
        assert page.status == 409  # a revoked key is not rotated
        assert "api_key_revoked" in page.text

        # Address ranges: a key limited to a range the test's loopback is outside of.
        page = await post_many(admin, "/api-keys", "/api-keys", [("name", "办公网"), ("scopes", "read_status"),
                                                                 ("allowed_ips", "203.0.113.0/24\n2001:db8::/32")])
        found = _KEY.search(page.text)
        assert found is not None, text_of(page)[:500]
        assert "203.0.113.0/24" in page.text
        status, body = await api(stack, "GET", "/v1/messages", found[1])
        assert (status, body["error"]["code"]) == (403, "ip_not_allowed")
        page = await post_many(admin, "/api-keys", "/api-keys", [("name", "坏"), ("scopes", "send"),
                                                                 ("allowed_ips", "not-an-address")])
        assert page.status == 422
        assert "invalid_ip_range" in page.text
        page = await post_many(admin, "/api-keys", "/api-keys", [("name", "无权限")])
        assert page.status == 422
        assert "请至少选择一个权限范围" in page.text
        assert {k.name for k in await keys.keys(stack.tenant.tenant_id)} == {"test", "状态查询", "办公网"}
        page = await admin.submit("/api-keys", "/api-keys/no-such-key/revoke", {})
        assert page.status == 404


# ---- business mappings --------------------------------------------------------------------------------------


async def test_an_auditor_decides_a_mapping_and_the_one_who_asked_cannot(stack: Stack, tenant_admin: str) -> None:
    services = stack.platform.services
    other = await second_business(stack)
    _, other_key = await services.api_keys.create(stack.tenant.tenant_id, other, "营销系统")
    status, grant = await api(stack, "POST", "/v1/mappings", other_key, {
        "resource_type": "chatbot", "resource_id": stack.tenant.chatbot_id, "note": "营销活动要用"})
    assert status == 201, grant
    for email, role in (("audit@tenant-a.example", Role.AUDITOR), ("view@tenant-a.example", Role.VIEWER)):
        await services.admins.create(email, PASSWORD, tenant_id=stack.tenant.tenant_id, display_name=email,
                                     role=role)

    async with client(stack, "view@tenant-a.example") as viewer:
        page = await viewer.get("/mappings")
        assert page.status == 200
        assert f'data-mapping="{grant["id"]}"' in page.text
        assert "/decide" not in page.text  # a viewer is not offered the decision
        page = await viewer.submit("/mappings", f"/mappings/{grant['id']}/decide", {"decision": "approve"})
        assert page.status == 403

    async with client(stack, "audit@tenant-a.example") as auditor:
        page = await auditor.get("/mappings")  # pending, by default
        row = re.search(rf'<tr data-mapping="{grant["id"]}".*?</tr>', page.text, re.S)
        assert row is not None
        for value in ("待审批", SECOND_BUSINESS, "Tenant A bot", "营销活动要用", "“营销系统”"):
            assert value in html.unescape(row[0]), value
        page = await auditor.submit("/mappings", f"/mappings/{grant['id']}/decide", {"decision": "reject"})
        assert page.status == 422  # a rejection says why
        page = await auditor.submit("/mappings", f"/mappings/{grant['id']}/decide",
                                    {"decision": "approve", "reason": "同意本月使用"})
        assert page.status == 200, text_of(page)[:500]
        assert "state=approved" in page.url
        row = re.search(rf'<tr data-mapping="{grant["id"]}".*?</tr>', page.text, re.S)
        assert row is not None
        history = re.findall(r"<li class=\"step-(\w+)\">(.*?)</li>", row[0], re.S)
        assert [action for action, _ in history] == ["requested", "approved"]
        assert "audit@tenant-a.example" in history[1][1]
        assert "同意本月使用" in history[1][1]
        assert "/revoke" in row[0]
        page = await auditor.get("/mappings")
        assert f'data-mapping="{grant["id"]}"' not in page.text  # no longer pending
        assert "没有待审批的映射" in page.text

        page = await auditor.submit("/mappings?state=approved", f"/mappings/{grant['id']}/revoke",
                                    {"reason": "活动结束"})
        assert "state=revoked" in page.url, text_of(page)[:500]
        assert [s.action for s in (await services.grants.of_tenant(stack.tenant.tenant_id))[0].history] == [
            "requested", "approved", "revoked"]

        # Asked by the auditor (as the admin records its users): the auditor cannot decide it.
        mine = await services.grants.apply(
            BusinessAccess(tenant_id=stack.tenant.tenant_id, business_id=other, api_key_id="admin"),
            ResourceType.CHATBOT, stack.tenant.chatbot_id, "再次申请", requested_by="admin:audit@tenant-a.example")
        page = await auditor.submit("/mappings", f"/mappings/{mine.id}/decide", {"decision": "approve"})
        assert page.status == 409
        assert "这个映射是你本人申请的：必须由另一个人通过或驳回。" in page.text
        assert "same_person" in page.text
        page = await auditor.submit("/mappings", "/mappings/no-such-mapping/decide", {"decision": "approve"})
        assert page.status == 404

    async with client(stack, tenant_admin) as admin:
        page = await admin.submit("/mappings", f"/mappings/{mine.id}/decide",
                                  {"decision": "reject", "reason": "不需要"})
        assert "state=rejected" in page.url, text_of(page)[:500]
        assert "不需要" in page.text
    states = {g.id: g.state.value for g in await services.grants.of_tenant(stack.tenant.tenant_id)}
    assert states == {grant["id"]: "revoked", mine.id: "rejected"}


# ---- capacity ----------------------------------------------------------------------------------------------


def cap_row(page: Page, cap_id: str) -> dict[str, int]:
    row = re.search(rf'<tr data-cap="{cap_id}">.*?</tr>', page.text, re.S)
    assert row is not None, page.text
    return {name: int(value) for name, value in
            re.findall(r'<td class="number (limit|reserved|charged|remaining|refused)">(\d+)</td>', row[0])}


async def test_the_capacity_page_shows_each_caps_ledger(stack: Stack, tenant_admin: str) -> None:
    capacity = stack.platform.services.capacity
    cap = await capacity.add_cap(stack.tenant.tenant_id, CapSpec.model_validate(
        {"scope": "tenant", "metric": "count", "period": "day", "limit": 5, "name": "每日五条"}))
    status, body = await stack.text(["+8613800138000", "+8613800138001"], "容量")
    assert status == 202, body
    status, body = await stack.text([f"+861380013801{i}" for i in range(4)], "超出")
    assert status == 202, body
    assert len(body["refused"]) == 1, body
    async with client(stack, tenant_admin) as admin:
        page = await admin.get("/capacity")
        assert page.status == 200
        assert "容量" in page.text
        assert "每日五条" in page.text
        ledger = cap_row(page, cap.id)
        assert ledger["limit"] == 5
        assert ledger["reserved"] + ledger["charged"] == 5
        assert (ledger["remaining"], ledger["refused"]) == (0, 1)
        assert "没有价格方案" in page.text
        # Tenant users read caps; setting them is the platform's.
        assert 'action="/admin/capacity/caps"' not in page.text
        page = await admin.submit("/capacity", "/capacity/caps", {"scope": "tenant", "metric": "count",
                                                                  "period": "day", "limit": "99"})
        assert page.status == 403
        page = await admin.submit("/capacity", f"/capacity/caps/{cap.id}/delete", {})
        assert page.status == 403
    assert [c.id for c in await capacity.caps(stack.tenant.tenant_id)] == [cap.id]


async def test_a_platform_admin_sets_caps_and_prices(stack: Stack) -> None:
    capacity = stack.platform.services.capacity
    tenant = stack.tenant
    await create_admin(stack, "root@platform.example", None, "Root")
    async with client(stack) as root:
        await root.login("root@platform.example")
        page = await root.submit("/tenant", "/tenant", {"tenant_id": tenant.tenant_id, "next": "/admin/capacity"})
        assert page.status == 200
        assert 'action="/admin/capacity/caps"' in page.text
        page = await root.post("/capacity/caps", {**page.hidden(), "name": "营销月度", "scope": "business",
                                                  "business_id": tenant.business_id, "metric": "cost",
                                                  "period": "window", "limit": "1000", "window_start": "2026-01-01",
                                                  "window_end": "2025-12-31"})
        assert page.status == 422
        assert "window_end is before window_start" in page.text
        page = await root.submit("/capacity", "/capacity/caps", {"scope": "template", "template_id": "no-such",
                                                                 "metric": "count", "period": "day", "limit": "1"})
        assert page.status == 404
        assert "template_not_found" in page.text
        page = await root.submit("/capacity", "/capacity/caps", {"scope": "business", "business_id": "",
                                                                 "metric": "count", "period": "day", "limit": "x"})
        assert page.status == 422
        assert "请输入整数" in page.text
        page = await root.submit("/capacity", "/capacity/caps", {
            "name": "营销月度", "scope": "business", "business_id": tenant.business_id, "metric": "cost",
            "period": "month", "limit": "1000"})
        assert "done=added" in page.url, text_of(page)[:500]
        [cap] = await capacity.caps(tenant.tenant_id)
        assert (cap.scope.value, cap.scope_id, cap.metric.value, cap.limit) == ("business", tenant.business_id,
                                                                                "cost", 1000)
        assert cap_row(page, cap.id) == {"limit": 1000, "reserved": 0, "charged": 0, "remaining": 1000,
                                         "refused": 0}

        page = await post_many(root, "/capacity", "/capacity/prices", [
            ("content_kind", "text"), ("channel_type", "*"), ("price_fen", "5"),
            ("content_kind", "sms"), ("channel_type", "cmcc"), ("price_fen", "4"),
            ("content_kind", "rich_card"), ("channel_type", "*"), ("price_fen", "")])
        assert "done=priced" in page.url, text_of(page)[:500]
        prices = {(p.content_kind.value, p.channel_type, p.price_fen) for p in await capacity.prices(tenant.tenant_id)}
        assert prices == {("text", "*", 5), ("sms", "cmcc", 4)}
        page = await post_many(root, "/capacity", "/capacity/prices", [
            ("content_kind", "text"), ("channel_type", "*"), ("price_fen", "5"),
            ("content_kind", "text"), ("channel_type", "*"), ("price_fen", "6")])
        assert page.status == 422
        assert "duplicate_price" in page.text

        page = await root.submit("/capacity", f"/capacity/caps/{cap.id}/delete", {})
        assert "done=deleted" in page.url
        assert await capacity.caps(tenant.tenant_id) == []
        page = await root.submit("/capacity", f"/capacity/caps/{cap.id}/delete", {})
        assert page.status == 404

    async with client(stack) as browser:
        await create_admin(stack, "ops@tenant-a.example", tenant.tenant_id)
        await browser.login("ops@tenant-a.example")
        page = await browser.get("/capacity")
        prices_table = page.text.split('id="prices"')[1]
        assert "<td class=\"number\">5</td>" in prices_table  # read-only for the tenant
        assert 'name="price_fen"' not in prices_table
