"""One real browser (Debian's chromium through Playwright), two pages: a customer on the simulated handset
asks for a person; the agent, signed in to the admin's inbox, sees the conversation arrive without a
reload, opens it, answers, and the customer's handset shows the answer."""

from __future__ import annotations

import shutil
from urllib.parse import urlencode

import pytest

from msg5g.domain.roles import Role
from tests.admin.conftest import PASSWORD
from tests.admin.test_browser import CHROMIUM_ARGS
from tests.conftest import CARRIER_CHATBOT_ID, Stack

CUSTOMER = "+8613900139077"


@pytest.mark.browser
@pytest.mark.asyncio
async def test_an_agent_answers_in_the_inbox_and_the_handset_shows_it(stack: Stack) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (make browser, or apt-get install chromium); "
                    "Playwright's own browser download cannot work on this machine")
    from playwright.async_api import async_playwright, expect

    async with stack.http.post(f"{stack.base_url}/v1/chatbots/{stack.tenant.chatbot_id}/auto-reply-rules", json={
            "name": "people", "conditions": {"match": "contains", "keywords": ["人工"]},
            "actions": [{"kind": "reply", "content": {"kind": "text", "text": "正在为您转接人工客服"}},
                        {"kind": "handover"}]}, headers=stack.auth()) as response:
        assert response.status == 201, await response.text()
    await stack.platform.services.admins.create("agent@tenant-a.example", PASSWORD, tenant_id=stack.tenant.tenant_id,
                                                display_name="客服小王", role=Role.OPERATOR)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            agent = await browser.new_page(locale="zh-CN")
            agent.set_default_timeout(15_000)
            await agent.goto(f"{stack.base_url}/admin/login?next=%2Fadmin%2Finbox")
            await agent.get_by_label("邮箱").fill("agent@tenant-a.example")
            await agent.get_by_label("密码").fill(PASSWORD)
            await agent.get_by_role("button", name="登录").click()
            await expect(agent.get_by_role("heading", name="客服工作台")).to_be_visible()
            await expect(agent.get_by_text("没有客户在排队。")).to_be_visible()
            await agent.evaluate("window.sameDocument = true")

            customer = await browser.new_page(locale="zh-CN")
            customer.set_default_timeout(15_000)
            await customer.goto(f"{stack.simulator_url}/_sim/?"
                                f"{urlencode({'number': CUSTOMER, 'chatbot_id': CARRIER_CHATBOT_ID})}")
            phone = customer.get_by_role("region", name=f"Handset {CUSTOMER}")
            await phone.get_by_role("textbox", name="Message").fill("我要找人工")
            await phone.get_by_role("button", name="Send").click()
            await expect(phone.get_by_role("log").locator(".row.in", has_text="正在为您转接人工客服")).to_be_visible()

            # The waiting conversation appears in the agent's queue by itself (server-sent events).
            waiting = agent.locator("table.queue tr[data-conversation]")
            await expect(waiting).to_have_count(1)
            assert await agent.evaluate("window.sameDocument") is True
            await waiting.get_by_role("link", name="查看").click()
            await agent.get_by_role("button", name="接入此会话").click()
            await expect(agent.get_by_text("会话已由你接待。")).to_be_visible()
            await agent.locator("textarea[name=text]").fill("您好，我是客服小王，请问有什么可以帮您？")
            await agent.locator("form.reply-form").get_by_role("button", name="发送消息").click()
            await expect(agent.get_by_text("回复已发送。")).to_be_visible()

            await expect(phone.get_by_role("log").locator(".row.in", has_text="我是客服小王")).to_be_visible()
            # And the customer's next words reach the agent's page without a reload.
            await agent.evaluate("window.sameDocument = true")
            await phone.get_by_role("textbox", name="Message").fill("我的账单有问题")
            await phone.get_by_role("button", name="Send").click()
            await expect(agent.locator("ol.history")).to_contain_text("我的账单有问题")
            assert await agent.evaluate("window.sameDocument") is True
        finally:
            await browser.close()
