"""One real browser (Debian's chromium through Playwright) on the China Mobile simulator's handset page: a
person types to the chatbot and taps its chip; the platform's auto-reply rules answer, through the
simulator and back to the page, which shows the answers without being reloaded."""

from __future__ import annotations

import re
import shutil
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import CARRIER_CHATBOT_ID, Stack

# As in tests/admin/test_browser.py.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
NUMBER = "+8613900139001"
MENU_RULE = {
    "name": "menu",
    "conditions": {"match": "exact", "keywords": ["菜单"]},
    "actions": [{"kind": "reply", "content": {
        "kind": "text", "text": "请选择",
        "suggestions": [{"type": "reply", "text": "查询还款", "postback_data": "repay:check"}],
    }}],
}
CARD_RULE = {
    "name": "card",
    "conditions": {"postback": "repay:check"},
    "actions": [{"kind": "reply", "content": {"kind": "rich_card", "card": {
        "title": "本期账单", "description": "应还 100 元",
        "suggestions": [{"type": "reply", "text": "稍后提醒", "postback_data": "later"}],
    }}}],
}


async def add_rule(stack: Stack, rule: dict[str, Any]) -> None:
    async with stack.http.post(f"{stack.base_url}/v1/chatbots/{stack.tenant.chatbot_id}/auto-reply-rules",
                               json=rule, headers=stack.auth()) as response:
        assert response.status == 201, await response.text()


@pytest.mark.browser
@pytest.mark.asyncio
async def test_a_person_chats_with_the_chatbot_on_the_simulated_handset(stack: Stack) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (make browser, or apt-get install chromium); "
                    "Playwright's own browser download cannot work on this machine")
    from playwright.async_api import async_playwright, expect

    await add_rule(stack, MENU_RULE)
    await add_rule(stack, CARD_RULE)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page(locale="zh-CN")
            page.set_default_timeout(10_000)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            query = urlencode({"number": NUMBER, "chatbot_id": CARRIER_CHATBOT_ID})
            await page.goto(f"{stack.simulator_url}/_sim/?{query}")
            phone = page.get_by_role("region", name=f"Handset {NUMBER}")
            log = phone.get_by_role("log")
            await expect(log).to_contain_text("No messages with this chatbot yet")
            # Set on this document: still there at the end means nothing reloaded or left the page.
            await page.evaluate("window.sameDocument = true")

            await phone.get_by_role("textbox", name="Message").fill("菜单")
            await phone.get_by_role("button", name="Send").click()
            await expect(phone.get_by_role("textbox", name="Message")).to_have_value("")
            await expect(log.locator(".row.in", has_text="请选择")).to_be_visible()
            chip = phone.get_by_role("group", name="Suggestions").get_by_role("button", name="查询还款")
            await expect(chip).to_be_visible()

            await chip.click()
            card = log.locator("article.card", has=page.get_by_role("heading", name="本期账单"))
            await expect(card).to_be_visible()
            await expect(card).to_contain_text("应还 100 元")
            await expect(card.get_by_role("button", name="稍后提醒")).to_be_visible()
            # Both directions in time order: the person's own messages on the right.
            rows = log.locator(".row")
            await expect(rows).to_have_count(4)
            await expect(rows).to_have_class([re.compile(r"\bout\b"), re.compile(r"\bin\b"),
                                              re.compile(r"\bout\b"), re.compile(r"\bin\b")])
            await expect(log.locator(".row.out .bubble")).to_have_text(["菜单", "查询还款"])
            await expect(phone.get_by_role("group", name="Suggestions")).to_have_count(0)  # the card has none
            assert await page.evaluate("window.sameDocument") is True
            assert errors == []
        finally:
            await browser.close()

    # What the page sent went through the simulator's uplink path: a text, then the chip's postback.
    status, handset = await stack.sim("GET", f"/_sim/handsets/{NUMBER}")
    assert status == 200
    sent = [(u["kind"], u["body_text"], u["ok"]) for u in handset["uplinks"]]
    assert sent[0] == ("text", "菜单", True)
    assert (sent[1][0], sent[1][2]) == ("postback", True)
    assert '"postback":{"data":"repay:check"}' in sent[1][1]


@pytest.mark.browser
@pytest.mark.asyncio
async def test_the_handset_page_works_without_script(stack: Stack) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (make browser, or apt-get install chromium); "
                    "Playwright's own browser download cannot work on this machine")
    from playwright.async_api import Page, async_playwright, expect

    async def reload_until(page: Page, text: str) -> None:
        # Stands in for the <noscript> refresh, which would come only after ten seconds.
        for _ in range(50):
            if await page.get_by_role("log").get_by_text(text).count():
                return
            await page.wait_for_timeout(100)
            await page.reload()
        raise AssertionError(f"{text!r} never appeared")

    await add_rule(stack, MENU_RULE)
    await add_rule(stack, CARD_RULE)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            context = await browser.new_context(locale="zh-CN", java_script_enabled=False)
            page = await context.new_page()
            page.set_default_timeout(10_000)
            query = urlencode({"number": NUMBER, "chatbot_id": CARRIER_CHATBOT_ID})
            await page.goto(f"{stack.simulator_url}/_sim/?{query}")
            await page.get_by_role("textbox", name="Message").fill("菜单")
            await page.get_by_role("button", name="Send").click()
            await expect(page.get_by_role("status")).to_have_text(re.compile(r"^sent text: CSP answered 2\d\d$"))
            await reload_until(page, "请选择")
            await page.get_by_role("group", name="Suggestions").get_by_role("button", name="查询还款").click()
            await expect(page.get_by_role("status")).to_have_text(re.compile(r"^sent postback: CSP answered 2\d\d$"))
            await reload_until(page, "本期账单")
            await expect(page.get_by_role("log").locator(".row.out .bubble")).to_have_text(["菜单", "查询还款"])
        finally:
            await browser.close()
