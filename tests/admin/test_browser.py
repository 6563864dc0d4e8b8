"""One real browser (Debian's chromium through Playwright): sign in, send a text, see it listed; a platform
admin opens the channel list."""

from __future__ import annotations

import shutil

import pytest

from tests.admin.conftest import PASSWORD, create_admin, wait_for_inbox
from tests.conftest import Stack

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.mark.browser
@pytest.mark.asyncio
async def test_operator_sends_a_text_and_sees_it_in_the_list(stack: Stack, tenant_admin: str) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (make browser, or apt-get install chromium); "
                    "Playwright's own browser download cannot work on this machine")
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page(locale="zh-CN")
            page.set_default_timeout(10_000)
            await page.goto(f"{stack.base_url}/admin/send")
            await expect(page).to_have_url(f"{stack.base_url}/admin/login?next=%2Fadmin%2Fsend")
            await page.get_by_label("邮箱").fill(tenant_admin)
            await page.get_by_label("密码").fill(PASSWORD)
            await page.get_by_role("button", name="登录").click()
            await expect(page.get_by_role("heading", name="发送消息")).to_be_visible()

            # One business and one chatbot: both come preselected.
            await page.get_by_label("接收号码").fill("13800138000")
            await expect(page.get_by_label("卡片标题")).to_be_hidden()  # the rich card's fields hide for text
            await page.locator("textarea[name=text]").fill("浏览器发出的消息")
            await page.get_by_role("button", name="发送消息").click()
            await expect(page.get_by_text("已受理 1 条消息。")).to_be_visible()
            message_link = page.locator("ul.sent a").first
            message_id = (await message_link.inner_text()).strip()

            await page.get_by_role("link", name="消息记录").click()
            await expect(page.get_by_role("link", name=message_id)).to_be_visible()
            await expect(page.get_by_text("+86138****8000")).to_be_visible()
            await expect(page.get_by_role("link", name="通道管理")).to_have_count(0)  # platform admins only

            await create_admin(stack, "root@platform.example", None, "Root")
            root = await browser.new_page(locale="zh-CN")  # a context of its own: no shared cookies
            root.set_default_timeout(10_000)
            await root.goto(f"{stack.base_url}/admin/login")
            await root.get_by_label("邮箱").fill("root@platform.example")
            await root.get_by_label("密码").fill(PASSWORD)
            await root.get_by_role("button", name="登录").click()
            await root.get_by_role("link", name="通道管理").click()
            await expect(root.get_by_role("heading", name="通道管理")).to_be_visible()
            await expect(root.get_by_role("link", name="China Mobile (sim)")).to_be_visible()
        finally:
            await browser.close()
    await wait_for_inbox(stack, "+8613800138000", "浏览器发出的消息")
