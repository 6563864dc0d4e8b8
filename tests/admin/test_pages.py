"""Dashboard, messages, sending, languages and tenant isolation, over HTTP against the real server."""

from __future__ import annotations

import html
import re

import pytest

from msg5g.admin.pages.messages import PAGE_SIZE
from tests.admin.conftest import AdminClient, create_admin, wait_for_inbox
from tests.conftest import Stack

pytestmark = pytest.mark.asyncio


def linked_ids(text: str) -> list[str]:
    """The message ids a page links to (its rows, or the messages a send accepted)."""
    return re.findall(r'href="/admin/messages/([0-9a-f-]{36})"', text)


async def test_messages_page_lists_a_message_sent_through_the_api(browser_session: AdminClient, tenant_admin: str,
                                                                  stack: Stack) -> None:
    status, body = await stack.text(["13800138000"], "来自 API")
    assert status == 202, body
    message_id = body["messages"][0]["id"]
    await stack.wait_status(message_id, "displayed")
    await browser_session.login(tenant_admin)

    page = await browser_session.get("/messages")
    assert page.status == 200
    assert message_id in page.text
    assert "+86138****8000" in page.text
    assert "13800138000" not in page.text  # the number shows masked only
    assert "已阅读" in page.text

    assert message_id in (await browser_session.get("/messages?status=displayed")).text
    assert message_id not in (await browser_session.get("/messages?status=failed")).text
    assert message_id in (await browser_session.get("/messages?recipient=138+0013+8000")).text
    assert message_id not in (await browser_session.get("/messages?recipient=13800138001")).text
    assert "不是有效的手机号码" in (await browser_session.get("/messages?recipient=12")).text
    assert message_id in (await browser_session.get(f"/messages?chatbot={stack.tenant.chatbot_id}")).text
    assert message_id not in (await browser_session.get("/messages?chatbot=other")).text

    detail = await browser_session.get(f"/messages/{message_id}")
    assert detail.status == 200
    history = detail.text[detail.text.index("状态历史"):detail.text.index("投递尝试")]
    # Under load a delivery report can overtake the "sent" bookkeeping, so only the ends are certain.
    assert history.index("已受理") < history.index("已阅读")
    assert "DeliveredToTerminal" in history or "MessageDisplayed" in history  # the carrier's own words
    assert "Tenant A bot" in detail.text
    assert stack.channel_id in detail.text  # the attempt's channel

    dashboard = await browser_session.get("/")
    assert re.search(r'<span class="count">1</span>\s*<span class="label">已阅读</span>', dashboard.text)

    # Paging: the "older" link carries next_cursor; two pages hold every message exactly once.
    status, body = await stack.text([f"1380013{n:04d}" for n in range(PAGE_SIZE + 3)], "paging")
    assert status == 202, body
    ids = {m["id"] for m in body["messages"]} | {message_id}
    first = await browser_session.get("/messages")
    older = re.search(r'<a rel="next" href="([^"]+)"', first.text)
    assert older, "no link to the older page"
    second = await browser_session.get(html.unescape(older[1]).removeprefix("/admin"))
    on_first, on_second = set(linked_ids(first.text)), set(linked_ids(second.text))
    assert len(on_first) == PAGE_SIZE
    assert on_first.isdisjoint(on_second)
    assert on_first | on_second == ids
    assert 'rel="next"' not in second.text
    assert "最新" in second.text  # the way back to the first page


async def test_send_page_sends_to_the_handset(browser_session: AdminClient, tenant_admin: str, stack: Stack) -> None:
    await browser_session.login(tenant_admin)
    form = await browser_session.get("/send")
    assert "Tenant A bot" in form.text
    fields = {**form.hidden(), "business_id": stack.tenant.business_id, "chatbot_id": stack.tenant.chatbot_id,
              "recipients": "13800138000,\n+8613800138002", "kind": "text", "text": "运营后台发送",
              "chips": "好的|yes\n不用了"}
    page = await browser_session.post("/send", fields)
    assert page.status == 200, page.text
    ids = linked_ids(page.text)
    assert len(ids) == 2
    assert "+86138****8000" in page.text

    inbox = await wait_for_inbox(stack, "+8613800138000", "运营后台发送")
    assert "yes" in str(inbox)
    await wait_for_inbox(stack, "+8613800138002", "运营后台发送")
    message = await stack.platform.services.queries.message(stack.tenant.tenant_id, ids[0])
    assert message.business_id == stack.tenant.business_id

    # The same form again (a reload, a double click) sends nothing new.
    again = await browser_session.post("/send", fields)
    assert sorted(linked_ids(again.text)) == sorted(ids)
    assert "该表单已发送过" in again.text

    detail = await browser_session.get(f"/messages/{ids[0]}")
    assert detail.status == 200
    assert "admin-" in detail.text  # the form's idempotency key is the client message id

    page = await browser_session.submit("/send", "/send", {
        "business_id": stack.tenant.business_id, "chatbot_id": stack.tenant.chatbot_id, "kind": "rich_card",
        "recipients": "13800138003", "title": "双十一特惠", "description": "全场五折",
        "image_url": "https://cdn.example.com/sale.png", "chips": "查看|view",
    })
    assert page.status == 200, page.text
    [card_id] = linked_ids(page.text)
    await wait_for_inbox(stack, "+8613800138003", "双十一特惠")
    await stack.wait_status(card_id, "displayed")


async def test_send_page_shows_form_errors(browser_session: AdminClient, tenant_admin: str, stack: Stack) -> None:
    await browser_session.login(tenant_admin)
    base = {"business_id": stack.tenant.business_id, "chatbot_id": stack.tenant.chatbot_id, "kind": "text"}

    page = await browser_session.submit("/send", "/send", {**base, "recipients": "13800138000, 12345", "text": ""})
    assert page.status == 422
    assert "消息未发送" in page.text
    assert "接收号码 #2: 12345" in page.text
    assert "不是有效的手机号码" in page.text
    assert "必填" in page.text
    assert "Traceback" not in page.text
    assert "12345</textarea>" in page.text  # what was typed stays

    page = await browser_session.submit("/send", "/send", {**base, "chatbot_id": "no-such-bot",
                                                           "recipients": "13800138000", "text": "hi"})
    assert page.status == 422
    assert "该租户下没有这个 Chatbot" in page.text
    assert "chatbot_not_found" in page.text  # the code stays English

    page = await browser_session.submit("/send", "/send", {**base, "kind": "rich_card", "recipients": "13800138000"})
    assert page.status == 422
    assert "卡片至少需要标题、描述或图片之一" in page.text

    page = await browser_session.submit("/send", "/send", {**base, "business_id": "", "recipients": "13800138000",
                                                           "text": "hi"})
    assert page.status == 422
    assert "请选择业务" in page.text


async def test_language_switch(browser_session: AdminClient, tenant_admin: str) -> None:
    page = await browser_session.get("/login")
    assert '<html lang="zh-CN">' in page.text
    assert "登录" in page.text
    page = await browser_session.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "Sign in" in page.text
    page = await browser_session.get("/login", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert "登录" in page.text

    page = await browser_session.get("/language/en?next=/admin/login")
    assert page.url.endswith("/admin/login")
    assert '<html lang="en">' in page.text
    assert "Sign in" in page.text
    assert "登录" not in page.text

    await browser_session.login(tenant_admin)
    page = await browser_session.get("/")
    assert "Messages by status" in page.text
    page = await browser_session.get("/language/zh_CN?next=/admin/", headers={"Accept-Language": "en"})
    assert "按状态统计消息" in page.text  # the choice beats the browser's preference

    page = await browser_session.get("/no-such-page")
    assert page.status == 404
    assert "页面不存在" in page.text
    page = await browser_session.get(f"/messages?status={'x' * 100}")
    assert page.status == 400
    assert "无法处理该请求" in page.text  # an HTML page, not the API's JSON error
    css = await browser_session.get("/static/admin.css")
    assert css.status == 200
    assert ".topbar" in css.text


async def test_another_tenants_admin_sees_none_of_its_messages(browser_session: AdminClient,
                                                               second_session: AdminClient, tenant_admin: str,
                                                               stack: Stack) -> None:
    status, body = await stack.text(["13800138000"], "只属于 A")
    assert status == 202, body
    message_id = body["messages"][0]["id"]
    tenant_b = await stack.add_tenant("Tenant B", "125200401111529")
    await create_admin(stack, "ops@tenant-b.example", tenant_b.tenant_id, "B 运营")

    await browser_session.login(tenant_admin)
    assert message_id in (await browser_session.get("/messages")).text

    await second_session.login("ops@tenant-b.example")
    page = await second_session.get("/messages")
    assert page.status == 200
    assert message_id not in page.text
    assert "+86138****8000" not in page.text
    assert (await second_session.get(f"/messages/{message_id}")).status == 404
    send_form = await second_session.get("/send")
    assert "Tenant B bot" in send_form.text
    assert "Tenant A bot" not in send_form.text
    # B cannot send through A's chatbot or business either.
    page = await second_session.submit("/send", "/send", {
        "business_id": stack.tenant.business_id, "chatbot_id": stack.tenant.chatbot_id,
        "recipients": "13800138000", "kind": "text", "text": "hi"})
    assert page.status == 422
    dashboard = await second_session.get("/")
    assert '<span class="count">0</span>' in dashboard.text
