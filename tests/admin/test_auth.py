"""Signing in, the session cookie and CSRF."""

from __future__ import annotations

import pytest

from tests.admin.conftest import AdminClient, create_admin
from tests.conftest import Stack

pytestmark = pytest.mark.asyncio


async def test_pages_need_sign_in_and_a_wrong_password_says_so(browser_session: AdminClient,
                                                                tenant_admin: str) -> None:
    for path in ("/", "/messages", "/send", "/messages/some-id"):
        page = await browser_session.get(path, follow=False)
        assert page.status == 303, path
        assert page.headers["location"].startswith("/admin/login?next=%2Fadmin%2F"), page.headers["location"]
    page = await browser_session.get("/messages?status=sent")
    assert 'name="password"' in page.text
    assert page.hidden()["next"] == "/admin/messages?status=sent"

    page = await browser_session.login(tenant_admin, "not the password")
    assert page.status == 401
    assert "邮箱或密码错误" in page.text
    assert "Traceback" not in page.text
    assert f'value="{tenant_admin}"' in page.text  # the email stays filled in
    page = await browser_session.login("nobody@example.com", "whatever")
    assert page.status == 401
    assert "邮箱或密码错误" in page.text

    # `next` never leads out of the admin.
    page = await browser_session.submit("/login", "/login", {"email": tenant_admin,
                                                            "password": "correct horse battery staple",
                                                            "next": "https://evil.example/"})
    assert page.url.endswith("/admin/")
    page = await browser_session.get("/login?next=//evil.example/", follow=False)
    assert page.headers["location"] == "/admin/"


async def test_sign_in_then_out(browser_session: AdminClient, tenant_admin: str, stack: Stack) -> None:
    login_page = await browser_session.get("/login")
    cookie = login_page.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "Path=/admin" in cookie
    assert "Secure" not in cookie  # plain http on loopback
    assert login_page.headers["x-frame-options"] == "DENY"

    page = await browser_session.post("/login", {**login_page.hidden(), "email": tenant_admin.upper(),
                                                 "password": "correct horse battery staple", "next": "/admin/send"})
    assert page.status == 200
    assert page.url.endswith("/admin/send")
    assert "A 运营" in page.text
    assert stack.tenant.tenant_id in page.text

    page = await browser_session.submit("/", "/logout", {})
    assert page.url.endswith("/admin/login")
    assert (await browser_session.get("/", follow=False)).status == 303


async def test_posts_without_the_csrf_token_are_refused(browser_session: AdminClient, tenant_admin: str,
                                                        stack: Stack) -> None:
    await browser_session.get("/login")  # a session exists, but the token is not sent
    page = await browser_session.post("/login", {"email": tenant_admin, "password": "correct horse battery staple"})
    assert page.status == 403
    assert "表单已过期" in page.text
    assert (await browser_session.get("/", follow=False)).status == 303  # not signed in

    assert (await browser_session.login(tenant_admin)).status == 200
    fields = {"business_id": stack.tenant.business_id, "chatbot_id": stack.tenant.chatbot_id,
              "recipients": "13800138000", "kind": "text", "text": "forged"}
    assert (await browser_session.post("/send", fields)).status == 403
    assert (await browser_session.post("/send", {**fields, "csrf_token": "guessed"})).status == 403
    assert (await browser_session.post("/logout", {})).status == 403
    page = await browser_session.get("/messages")
    assert "forged" not in page.text
    assert "+86138****8000" not in page.text


async def test_a_platform_admin_chooses_a_tenant_first(browser_session: AdminClient, stack: Stack) -> None:
    await create_admin(stack, "root@platform.example", None, "Root")
    page = await browser_session.login("root@platform.example")
    assert "/admin/tenant?next=" in page.url
    assert "选择租户" in page.text

    page = await browser_session.submit("/tenant", "/tenant", {"tenant_id": "no-such-tenant", "next": "/admin/"})
    assert page.status == 422
    assert "没有这个 ID 的租户" in page.text

    page = await browser_session.submit("/tenant", "/tenant", {"tenant_id": stack.tenant.tenant_id,
                                                               "next": "/admin/messages"})
    assert page.status == 200
    assert page.url.endswith("/admin/messages")
    assert stack.tenant.tenant_id in page.text


async def test_a_platform_admin_picks_a_tenant_from_the_list_or_adds_one(browser_session: AdminClient,
                                                                         stack: Stack) -> None:
    await create_admin(stack, "root@platform.example", None, "Root")
    await browser_session.login("root@platform.example")
    page = await browser_session.get("/tenant")
    assert f'data-tenant="{stack.tenant.tenant_id}"' in page.text
    refused = await browser_session.submit("/tenant", "/tenants", {"name": "", "traffic_class": "marketing"})
    assert refused.status == 422
    before = await stack.platform.services.provisioning.tenants()
    added = await browser_session.submit("/tenant", "/tenants", {
        "name": "新租户", "business_name": "会员营销", "traffic_class": "marketing"})
    assert added.status == 200, added.text
    assert added.url.endswith("/admin/businesses")
    [(tenant_id, name, _)] = [t for t in await stack.platform.services.provisioning.tenants() if t not in before]
    assert name == "新租户"
    assert "会员营销" in added.text  # working in the new tenant, whose first business it is
    [business] = await stack.platform.services.businesses.of_tenant(tenant_id)
    assert (business.name, business.traffic_class.value) == ("会员营销", "marketing")


async def test_a_tenant_admin_adds_no_tenant(browser_session: AdminClient, tenant_admin: str, stack: Stack) -> None:
    await browser_session.login(tenant_admin)
    before = await stack.platform.services.provisioning.tenants()
    page = await browser_session.submit("/", "/tenants", {"name": "偷偷的租户", "traffic_class": "marketing"})
    assert page.status == 403
    assert await stack.platform.services.provisioning.tenants() == before
