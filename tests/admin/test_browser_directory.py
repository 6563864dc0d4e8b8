"""One real browser (Debian's chromium through Playwright) on the public directory page: published
chatbots found by a Chinese keyword in rank order, each with its "start chat" link, an unpublished or
unmatched one absent, and the empty result's sentence."""

from __future__ import annotations

import shutil

import pytest

from msg5g.domain.chatbots import ChatbotProfile, InfoState
from msg5g.services.access import BusinessAccess
from tests.admin.test_materials_templates import eventually
from tests.conftest import Stack

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

# (carrier chatbot id, name, category, description), published unless said otherwise. For 银行 the rank
# is: the exact name, then the name prefix, then the description match.
EXACT = ("125200401117001", "银行", "银行", "只叫银行的服务号")
PREFIX = ("125200401117002", "银行小助手", "银行", "网点与排队查询")
DESCRIBED = ("125200401117003", "理财顾问", "金融", "帮你比较各家银行的理财产品")
UNMATCHED = ("125200401117004", "快递小哥", "物流", "寄件与查件")
UNPUBLISHED = ("125200401117005", "银行内测号", "银行", "尚未上线的银行服务")


def uri(carrier_chatbot_id: str) -> str:
    return f"sip:{carrier_chatbot_id}@botplatform.rcs.chinamobile.com"


async def seed(stack: Stack, access: BusinessAccess, entry: tuple[str, str, str, str], *, publish: bool) -> str:
    """A China Mobile account publishing a profile; live as an operator records it from the console."""
    services = stack.platform.services
    carrier_id, name, category, description = entry
    profile = await services.chatbots.create_profile(access, ChatbotProfile(
        service_name=name, description=description, category=category))
    account = await services.chatbots.register(
        access, channel_id=stack.channel_id, name=f"{name} 账号", carrier_chatbot_id=carrier_id,
        credentials={"app_id": carrier_id, "password": "directory-test-password"}, profile_id=profile.id)
    if publish:
        async def manual() -> bool:
            view = await services.chatbots.get(access, account.id)
            return view.info_state is InfoState.MANUAL
        await eventually(manual, f"{name} to be waiting for the console")
        await services.chatbots.record_state(account.id, InfoState.LIVE, None)
    return profile.id


@pytest.mark.browser
@pytest.mark.asyncio
async def test_the_public_directory_finds_published_chatbots_in_rank_order(stack: Stack) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (make browser, or apt-get install chromium); "
                    "Playwright's own browser download cannot work on this machine")
    from playwright.async_api import async_playwright, expect

    services = stack.platform.services
    access = BusinessAccess(stack.tenant.tenant_id, stack.tenant.business_id, "test")
    for entry in (DESCRIBED, UNMATCHED, PREFIX, EXACT):  # not in rank order: the directory ranks them
        await seed(stack, access, entry, publish=True)
    hidden = await seed(stack, access, UNPUBLISHED, publish=False)
    expected = [EXACT[1], PREFIX[1], DESCRIBED[1]]

    async def indexed() -> bool:
        hits = await services.chatbot_directory.search("银行", viewer_tenant_id=None)
        return [h.name for h in hits] == expected
    await eventually(indexed, "the three published chatbots in the directory")
    # Its own tenant finds the unpublished one; the public page must not show it.
    own = await services.chatbot_directory.search("银行", viewer_tenant_id=stack.tenant.tenant_id)
    assert hidden in [h.profile_id for h in own]

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page(locale="zh-CN")
            page.set_default_timeout(10_000)
            await page.goto(f"{stack.base_url}/directory")
            await expect(page.get_by_role("heading", name="Chatbot 目录")).to_be_visible()
            await expect(page.locator("article.bot")).to_have_count(0)

            await page.get_by_label("搜索 Chatbot").fill("银行")
            await page.get_by_role("button", name="搜索").click()
            await expect(page).to_have_url(f"{stack.base_url}/directory?q=%E9%93%B6%E8%A1%8C")
            await expect(page.locator("article.bot h2")).to_have_text(expected)
            for carrier_id, name, _category, _description in (EXACT, PREFIX, DESCRIBED):
                bot = page.locator("article.bot").filter(has=page.get_by_role("heading", name=name, exact=True))
                await expect(bot.get_by_role("link", name="开始聊天")).to_have_attribute("href", uri(carrier_id))
            await expect(page.get_by_text(UNMATCHED[1])).to_have_count(0)
            await expect(page.get_by_text(UNPUBLISHED[1])).to_have_count(0)
            await expect(page.get_by_label("搜索 Chatbot")).to_have_value("银行")

            await page.get_by_label("搜索 Chatbot").fill("航空")
            await page.get_by_role("button", name="搜索").click()
            await expect(page.get_by_text("没有找到相关的 Chatbot。")).to_be_visible()
            await expect(page.locator("article.bot")).to_have_count(0)
        finally:
            await browser.close()
