"""Chatbot accounts and profiles in the admin, over HTTP against the real server: an account registered
through the form on the stack's China Mobile channel (its password never on a page), a profile with a
menu and its validation errors, the profile published on the account (manual: kept in the carrier's
console), credentials rotated, a platform admin recording the console's result, and the directory search."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest

from msg5g.domain.chatbots import InfoState
from msg5g.services.access import BusinessAccess
from tests.admin.conftest import AdminClient, Page, create_admin
from tests.admin.test_materials_templates import eventually
from tests.conftest import Stack

pytestmark = pytest.mark.asyncio

CARRIER_ID = "125200401119901"
APP_PASSWORD = "Xk9-register-secret"  # nothing else on any page looks like it
NEW_PASSWORD = "Rq4-rotated-secret"
PLATFORM_ADMIN = "root@platform.example"
CONSOLE_SENTENCE = "该运营商的 Chatbot 信息在其自己的后台维护"
MENU: dict[str, Any] = {"entries": [
    {"type": "reply", "text": "查余额", "postback_data": "menu:balance"},
    {"kind": "menu", "text": "更多", "entries": [
        {"type": "open_url", "text": "官网", "url": "https://bank.example.com/"},
        {"type": "reply", "text": "人工客服", "postback_data": "menu:agent"}]}]}


def text_of(page: Page) -> str:
    return html.unescape(page.text)


def credential(field: str) -> str:
    return f"credentials.cmcc.{field}"


def account_ids(page: Page) -> list[str]:
    return re.findall(r'href="/admin/chatbots/([0-9a-f-]{36})\?', page.text)


def id_in_url(page: Page, section: str) -> str:
    found = re.search(rf"/admin/{section}/([0-9a-f-]{{36}})\?", page.url)
    assert found, page.url
    return found[1]


def profile_fields(stack: Stack, **changes: str) -> dict[str, str]:
    return {"business_id": stack.tenant.business_id, "service_name": "招商银行", "description": "信用卡与储蓄服务",
            "category": "银行", "service_phone": "95555", "email": "service@bank.example.com",
            "website": "https://bank.example.com/", "sms_number": "1065595555", "theme_colour": "#1463D8",
            "keywords": "信用卡, 储蓄，理财", "longitude": "116.397", "latitude": "39.909",
            "menu": json.dumps(MENU, ensure_ascii=False), **changes}


async def register(client: AdminClient, stack: Stack, carrier_id: str = CARRIER_ID, **changes: str) -> Page:
    return await client.submit("/chatbots/new", "/chatbots", {
        "business_id": stack.tenant.business_id, "channel_id": stack.channel_id, "name": "银行客服号",
        "carrier_chatbot_id": carrier_id, credential("app_id"): carrier_id, credential("password"): APP_PASSWORD,
        **changes})


async def create_profile(client: AdminClient, stack: Stack, **changes: str) -> Page:
    return await client.submit("/chatbot-profiles/new", "/chatbot-profiles", profile_fields(stack, **changes))


def inline_errors(page: Page) -> dict[str, str]:
    """The errors shown inside each input's label, by the input's name."""
    found = {}
    for block in re.findall(r"<label>(.*?)</label>", text_of(page), re.S):
        name = re.search(r'name="([\w.]+)"', block)
        messages = re.findall(r'<span class="field-error">([^<]*)</span>', block)
        if name and messages:
            found[name[1]] = " ".join(messages)
    return found


def state_badge(page: Page, account_name: str) -> str | None:
    """The state badge's class in the account's row of a list."""
    for row in re.findall(r"<tr>(.*?)</tr>", page.text, re.S):
        if f">{account_name}</a>" in row:
            found = re.search(r'class="status istate-(\w+)"', row)
            return found[1] if found else None
    return None


async def test_register_publish_and_rotate(browser_session: AdminClient, tenant_admin: str, stack: Stack) -> None:
    client = browser_session
    await client.login(tenant_admin)
    dashboard = await client.get("/")
    assert 'href="/admin/chatbots"' in dashboard.text
    assert ">机器人</a>" in dashboard.text
    assert 'href="/admin/chatbot-profiles"' in dashboard.text
    assert 'href="/admin/directory"' in dashboard.text

    form = await client.get("/chatbots/new")
    assert form.status == 200
    assert f'<option value="{stack.channel_id}" data-type="cmcc"' in form.text
    assert f'name="{credential("app_id")}"' in form.text
    assert re.search(rf'<input type="password" name="{re.escape(credential("password"))}" value=""', form.text)
    assert "chatbots.js" in form.text

    page = await register(client, stack)
    assert page.status == 200, text_of(page)
    assert "done=registered" in page.url
    chatbot_id = id_in_url(page, "chatbots")
    assert "机器人账号已登记" in page.text
    assert f"sip:{CARRIER_ID}@botplatform.rcs.chinamobile.com" in page.text  # the URI made from the id
    assert APP_PASSWORD not in page.text
    listed = await client.get("/chatbots")
    assert chatbot_id in account_ids(listed)
    assert state_badge(listed, "银行客服号") == "draft"  # no profile yet
    assert "China Mobile (中国移动)" in listed.text
    assert CARRIER_ID in listed.text
    assert APP_PASSWORD not in listed.text
    access = BusinessAccess(stack.tenant.tenant_id, stack.tenant.business_id, "test")
    registered = await stack.platform.services.chatbots.get(access, chatbot_id)
    assert (registered.channel_id, registered.carrier_chatbot_id, registered.name) == (
        stack.channel_id, CARRIER_ID, "银行客服号")

    # The same carrier id again: refused beside its field, the password not echoed.
    again = await register(client, stack, name="重复的号")
    assert again.status == 422
    assert "此运营商 Chatbot ID 已在该通道登记" in again.text
    assert "chatbot_exists" in again.text
    assert APP_PASSWORD not in again.text
    assert f'value="{CARRIER_ID}"' in again.text  # the non-secret fields stay as typed

    # A profile with a menu.
    page = await create_profile(client, stack)
    assert page.status == 200, text_of(page)
    assert "done=created" in page.url
    profile_id = id_in_url(page, "chatbot-profiles")
    text = text_of(page)
    assert "资料已创建" in text
    assert "招商银行" in text
    assert "v1" in text
    assert '"postback_data": "menu:balance"' in text
    assert '"text": "人工客服"' in text
    assert "尚未发布到任何账号" in text
    profile = (await stack.platform.services.chatbots.get_profile(access, profile_id)).profile
    assert profile.keywords == ["信用卡", "储蓄", "理财"]
    assert profile.menu is not None
    assert len(profile.menu.entries) == 2
    assert (profile.longitude, profile.latitude) == (116.397, 39.909)
    assert f'<option value="{chatbot_id}">银行客服号 ({CARRIER_ID})</option>' in page.text

    # Published on the account: China Mobile keeps it in its console, so the account becomes manual.
    page = await client.post(f"/chatbot-profiles/{profile_id}/accounts",
                             {**page.hidden(), "chatbot_id": chatbot_id})
    assert page.status == 200, text_of(page)
    assert "资料已发布到该账号" in page.text

    async def manual() -> Page | None:
        shown = await client.get(f"/chatbot-profiles/{profile_id}")
        return shown if state_badge(shown, "银行客服号") == "manual" else None
    shown = await eventually(manual, "the account to be recorded as manual")
    assert "运营商后台维护" in shown.text
    assert CONSOLE_SENTENCE in shown.text
    account = await client.get(f"/chatbots/{chatbot_id}")
    text = text_of(account)
    assert 'class="status istate-manual"' in text
    assert CONSOLE_SENTENCE in text
    assert "kept in the carrier's own console" in text  # the account's info_reason, from the service
    assert "登记运营商后台结果" not in text  # a tenant admin may not record the console's result
    assert 'href="/admin/chatbot-profiles/' + profile_id in text

    # Rotation: the form shows nothing of the current credentials.
    assert re.search(rf'<input type="password" name="{re.escape(credential("password"))}" value=""', account.text)
    assert re.search(rf'<input type="text" name="{re.escape(credential("app_id"))}" value=""', account.text)
    refused = await client.post(f"/chatbots/{chatbot_id}/credentials",
                                {**account.hidden(), credential("app_id"): CARRIER_ID})
    assert refused.status == 422
    assert "必填" in refused.text
    page = await client.post(f"/chatbots/{chatbot_id}/credentials", {
        **account.hidden(), credential("app_id"): CARRIER_ID, credential("password"): NEW_PASSWORD})
    assert page.status == 200, text_of(page)
    assert "新凭据已保存" in page.text
    assert NEW_PASSWORD not in page.text
    assert APP_PASSWORD not in page.text
    resolved = await stack.platform.services.directory.chatbot(stack.tenant.tenant_id, chatbot_id)
    assert resolved.account.credentials["password"] == NEW_PASSWORD

    # Editing the profile makes version 2.
    edit = await client.get(f"/chatbot-profiles/{profile_id}/edit")
    assert edit.status == 200
    assert 'value="信用卡, 储蓄, 理财"' in edit.text
    assert "menu:balance" in edit.text
    page = await client.post(f"/chatbot-profiles/{profile_id}/edit",
                             {**edit.hidden(), **profile_fields(stack, description="信用卡、储蓄与理财服务")})
    assert page.status == 200, text_of(page)
    assert "资料已保存为新版本" in page.text
    assert "v2" in page.text
    assert "信用卡、储蓄与理财服务" in page.text
    assert (await stack.platform.services.chatbots.get_profile(access, profile_id)).version == 2


async def test_a_bad_profile_shows_each_error_beside_its_field(browser_session: AdminClient, tenant_admin: str,
                                                               stack: Stack) -> None:
    await browser_session.login(tenant_admin)
    six = {"entries": [{"type": "reply", "text": f"第{i}项", "postback_data": f"menu:{i}"} for i in range(6)]}
    page = await create_profile(browser_session, stack, description="长" * 151, category="不存在的行业",
                                menu=json.dumps(six, ensure_ascii=False), theme_colour="blue", email="not-an-email")
    assert page.status == 422
    text = text_of(page)
    assert "资料未保存" in text
    errors = inline_errors(page)
    assert "最多 150 个字符" in errors["description"]
    assert "请从列表中选择行业类型" in errors["category"]
    assert "最多 5 项" in errors["menu"]
    assert "#RRGGBB" in errors["theme_colour"]
    assert "不是有效的邮箱地址" in errors["email"]
    assert "长" * 151 in text  # what was typed stays in the form
    access = BusinessAccess(stack.tenant.tenant_id, stack.tenant.business_id, "test")
    assert await stack.platform.services.chatbots.browse_profiles(access) == []

    # A sub-menu's fault is named by where it is in the menu, without the suggestion kinds' noise.
    nested = {"entries": [{"kind": "menu", "text": "更多", "entries": [{"type": "reply", "text": ""}]}]}
    page = await create_profile(browser_session, stack, menu=json.dumps(nested, ensure_ascii=False))
    assert page.status == 422
    text = text_of(page)
    assert "entries[0].entries[0].text 必填" in text
    assert "tagged-union" not in text
    assert "SubMenu" not in text

    page = await create_profile(browser_session, stack, menu='{"entries": [', longitude="东经")
    assert page.status == 422
    errors = inline_errors(page)
    assert errors["menu"].startswith("不是有效的 JSON：")
    assert "请输入数字" in errors["longitude"]
    assert await stack.platform.services.chatbots.browse_profiles(access) == []


async def test_a_platform_admin_records_the_consoles_result(browser_session: AdminClient, second_session: AdminClient,
                                                            tenant_admin: str, stack: Stack) -> None:
    services = stack.platform.services
    access = BusinessAccess(stack.tenant.tenant_id, stack.tenant.business_id, "test")
    await browser_session.login(tenant_admin)
    page = await register(browser_session, stack)
    chatbot_id = id_in_url(page, "chatbots")
    page = await create_profile(browser_session, stack)
    profile_id = id_in_url(page, "chatbot-profiles")
    await services.chatbots.attach(access, profile_id, chatbot_id)

    async def manual() -> bool:
        return (await services.chatbots.get(access, chatbot_id)).info_state is InfoState.MANUAL
    await eventually(manual, "the account to be manual")

    # A tenant admin is refused the step.
    account = await browser_session.get(f"/chatbots/{chatbot_id}")
    refused = await browser_session.post(f"/chatbots/{chatbot_id}/state", {**account.hidden(), "state": "live"})
    assert refused.status == 403
    assert (await services.chatbots.get(access, chatbot_id)).info_state is InfoState.MANUAL

    root = second_session
    await create_admin(stack, PLATFORM_ADMIN, None, "Root")
    await root.login(PLATFORM_ADMIN)
    page = await root.submit("/tenant", "/tenant", {"tenant_id": stack.tenant.tenant_id,
                                                    "next": f"/admin/chatbots/{chatbot_id}"})
    assert page.status == 200, text_of(page)
    assert "登记运营商后台结果" in page.text
    assert '<input type="radio" name="state" value="live"' in page.text
    bad = await root.post(f"/chatbots/{chatbot_id}/state", {**page.hidden(), "state": "manual"})
    assert bad.status == 422
    assert "请选择已上线、已驳回或已下线" in bad.text
    page = await root.post(f"/chatbots/{chatbot_id}/state",
                           {**page.hidden(), "state": "live", "reason": "后台审核通过"})
    assert page.status == 200, text_of(page)
    assert "运营商后台结果已登记" in page.text
    assert 'class="status istate-live" title="后台审核通过"' in page.text
    view = await services.chatbots.get(access, chatbot_id)
    assert view.info_state is InfoState.LIVE
    assert view.sendable
    assert view.live_version == 1

    listed = await browser_session.get("/chatbots")
    assert state_badge(listed, "银行客服号") == "live"
    row = next(r for r in re.findall(r"<tr>(.*?)</tr>", listed.text, re.S) if ">银行客服号</a>" in r)
    assert '<span class="status status-enabled">是</span>' in row  # sendable
    assert "v1" in row  # the live version


async def test_the_directory_search_shows_the_tenants_view(browser_session: AdminClient, tenant_admin: str,
                                                           stack: Stack) -> None:
    services = stack.platform.services
    access = BusinessAccess(stack.tenant.tenant_id, stack.tenant.business_id, "test")
    await browser_session.login(tenant_admin)
    page = await create_profile(browser_session, stack, service_name="银行", description="一个只叫银行的号")
    exact = id_in_url(page, "chatbot-profiles")
    page = await create_profile(browser_session, stack, service_name="理财顾问", category="金融",
                                description="帮你比较各家银行的理财产品", keywords="")
    described = id_in_url(page, "chatbot-profiles")
    other = await stack.add_tenant("Tenant B", "125200401111529")
    hidden = await services.chatbots.create_profile(
        BusinessAccess(other.tenant_id, other.business_id, "test"),
        (await services.chatbots.get_profile(access, exact)).profile.model_copy(update={"service_name": "银行秘密号"}))

    async def indexed() -> Page | None:
        found = await browser_session.get("/directory?q=" + "银行")
        return found if "理财顾问" in found.text and ">银行</a>" in found.text else None
    page = await eventually(indexed, "both profiles in the directory")
    text = text_of(page)
    assert text.index(">银行</a>") < text.index(">理财顾问</a>")  # the exact name first
    assert "名称完全一致" in text
    assert "简介" in text
    assert f'href="/admin/chatbot-profiles/{exact}?' in text
    assert f'href="/admin/chatbot-profiles/{described}?' in text
    assert "银行秘密号" not in text  # another tenant's unpublished chatbot
    assert hidden.id not in text
    assert text.count('<span class="status status-disabled"') == 2  # both unpublished: only this tenant sees them

    none = await browser_session.get("/directory?q=" + "航空")
    assert none.status == 200
    assert "没有匹配的 Chatbot" in none.text
