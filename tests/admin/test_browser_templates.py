"""One real browser (Debian's chromium through Playwright): the template editor's phone preview follows
what the author types, without a page reload, and shows a compile error in its place."""

from __future__ import annotations

import shutil

import pytest

from tests.admin.conftest import PASSWORD
from tests.conftest import Stack

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.mark.browser
@pytest.mark.asyncio
async def test_the_phone_preview_follows_the_draft(stack: Stack, tenant_admin: str) -> None:
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
            await page.goto(f"{stack.base_url}/admin/templates/new")
            await expect(page).to_have_url(f"{stack.base_url}/admin/login?next=%2Fadmin%2Ftemplates%2Fnew")
            await page.get_by_label("邮箱").fill(tenant_admin)
            await page.get_by_label("密码").fill(PASSWORD)
            await page.get_by_role("button", name="登录").click()
            await expect(page.get_by_role("heading", name="新建模板")).to_be_visible()

            pane = page.locator("#phone-preview")
            await expect(pane).to_contain_text("填写版式后即可在手机上预览")
            await expect(pane).not_to_contain_text("张三")
            # Set after the page loaded: a reload would lose it.
            await page.evaluate("window.previewMarker = 'still the same page'")

            await page.locator("input[name=name]").fill("浏览器里写的模板")
            parameters = page.locator("textarea[name=parameters]")
            await parameters.fill('[{"name": "name", "type": "string", "sample": "张三"}]')
            await page.locator("textarea[name=layout]").fill('{"kind": "text", "text": "您好，{{ name }}，欢迎光临"}')
            bubble = pane.locator(".phone .bubble")
            await expect(bubble).to_have_text("您好，张三，欢迎光临")
            assert await page.evaluate("window.previewMarker") == "still the same page"

            # A syntax error: the pane shows it instead of the phone.
            await page.locator("textarea[name=layout]").fill('{"kind": "text", "text": "您好，{{ name "}')
            error = pane.get_by_role("alert")
            await expect(error).to_contain_text("无法预览此草稿")
            await expect(error).to_contain_text("template_invalid")
            await expect(pane.locator(".phone")).to_have_count(0)
            assert await page.evaluate("window.previewMarker") == "still the same page"

            # Fixed again, the phone comes back; the form then saves the draft.
            await page.locator("textarea[name=layout]").fill('{"kind": "text", "text": "{{ name }}，再见"}')
            await expect(bubble).to_have_text("张三，再见")
            await page.get_by_role("button", name="创建模板").click()
            await expect(page.get_by_role("heading", name="模板 浏览器里写的模板")).to_be_visible()
            await expect(page.get_by_text("模板已创建为草稿")).to_be_visible()
        finally:
            await browser.close()
