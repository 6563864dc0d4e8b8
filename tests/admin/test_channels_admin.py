"""The Channels section, over HTTP against the real server: only platform admins, forms drawn from each
type's settings model, secrets never shown, bad input re-rendered with the error."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from msg5g.simulators import smsc as smsc_sim
from msg5g.storage.tables import Channel
from tests.admin.conftest import AdminClient, Page, create_admin
from tests.conftest import Stack

pytestmark = pytest.mark.asyncio

PLATFORM_ADMIN = "root@platform.example"
SMSC_SYSTEM_ID = "esme7"
SMSC_PASSWORD = "Zq7xKp2w"  # the SMPP maximum of 8 characters, and nothing else on any page looks like it
NAV_LINK = 'href="/admin/channels"'


@pytest_asyncio.fixture
async def platform_admin(stack: Stack, browser_session: AdminClient) -> AdminClient:
    await create_admin(stack, PLATFORM_ADMIN, None, "Root")
    page = await browser_session.login(PLATFORM_ADMIN)
    assert page.status == 200, page.text[:300]
    return browser_session


@pytest_asyncio.fixture
async def smsc() -> AsyncIterator[int]:
    """An SMSC simulator that knows one ESME account; yields its SMPP port."""
    simulator = smsc_sim.SmscSimulator(smsc_sim.SmscSettings(
        accounts=[smsc_sim.SmscAccount(SMSC_SYSTEM_ID, SMSC_PASSWORD, service_numbers=("1069007",))]))
    port = await simulator.start("127.0.0.1", 0)
    yield port
    await simulator.close()


def channel_id_of(page: Page) -> str:
    found = re.search(r"/admin/channels/([0-9a-f-]{36})", page.url)
    assert found, page.url
    return found.group(1)


async def channel_count(stack: Stack) -> int:
    return len(await stack.platform.services.channel_admin.all())


async def stored_settings(stack: Stack, channel_id: str) -> dict[str, object]:
    """The settings the adapter is given, secrets opened: what the admin must never show."""
    async with stack.platform.services.ctx.db.reader() as session:
        row = await session.get(Channel, channel_id)
    assert row is not None
    return dict(stack.platform.services.directory.endpoint(row).settings)


async def test_a_platform_admin_lists_every_channel_with_its_health(platform_admin: AdminClient, stack: Stack,
                                                                    smsc: int) -> None:
    smpp = await stack.platform.services.channel_admin.create(
        "smpp", "短信通道", f"smpp://127.0.0.1:{smsc}", {"system_id": SMSC_SYSTEM_ID, "password": SMSC_PASSWORD})
    dashboard = await platform_admin.get("/tenant")
    assert NAV_LINK in dashboard.text
    assert "通道管理" in dashboard.text

    page = await platform_admin.get("/channels")
    for _ in range(100):  # the bind is made in the background
        if "已绑定" in page.text:
            break
        await asyncio.sleep(0.05)
        page = await platform_admin.get("/channels")
    assert page.status == 200
    assert "China Mobile (sim)" in page.text
    assert "China Mobile (中国移动)" in page.text  # the type's display name
    assert stack.simulator_url in page.text
    assert f'href="/admin/channels/{stack.channel_id}"' in page.text
    assert "短信通道" in page.text
    assert "SMS (SMPP 3.4)" in page.text
    assert "已启用" in page.text
    assert "已绑定" in page.text  # the SMPP session's state
    assert f'href="/admin/channels/{smpp.id}"' in page.text
    assert SMSC_PASSWORD not in page.text
    assert 'aria-current="page">通道管理' in page.text

    page = await platform_admin.get("/channels", headers={"Accept-Language": "en"})
    assert "<h1>Channels</h1>" in page.text
    assert "Bound" in page.text


async def test_creating_an_smpp_channel_never_shows_its_password(platform_admin: AdminClient, stack: Stack,
                                                                 smsc: int) -> None:
    picker = await platform_admin.get("/channels/new")
    assert picker.status == 200
    assert '<option value="smpp">SMS (SMPP 3.4)</option>' in picker.text
    assert 'name="settings.' not in picker.text  # no form before a type is chosen

    form = await platform_admin.get("/channels/new?type=smpp")
    assert form.status == 200
    assert form.hidden()["type"] == "smpp"
    assert 'type="text" name="settings.system_id"' in form.text
    assert re.search(r'type="password" name="settings.password" value=""[^>]*maxlength="8"', form.text)
    assert "<code>smpp://</code>" in form.text  # the allowed scheme is shown

    page = await platform_admin.post("/channels", {
        **form.hidden(), "name": "SMSC line", "base_url": f"smpp://127.0.0.1:{smsc}",
        "settings.system_id": SMSC_SYSTEM_ID, "settings.password": SMSC_PASSWORD, "enabled": "true"})
    assert page.status == 200, page.text[:500]
    assert "通道已创建。" in page.text
    channel_id = channel_id_of(page)
    view = await stack.platform.services.channel_admin.get(channel_id)
    assert view.type == "smpp"
    assert view.name == "SMSC line"
    assert view.enabled is True
    assert view.settings["system_id"] == SMSC_SYSTEM_ID
    assert view.secrets_set == ["password"]
    assert (await stored_settings(stack, channel_id))["password"] == SMSC_PASSWORD
    assert "已设置。留空则保留当前值。" in page.text

    for path in ("/channels", f"/channels/{channel_id}", "/channels/new?type=smpp"):
        shown = await platform_admin.get(path)
        assert shown.status == 200, path
        assert SMSC_PASSWORD not in shown.text, path


async def test_creating_a_china_telecom_channel(platform_admin: AdminClient, stack: Stack) -> None:
    form = await platform_admin.get("/channels/new?type=ctcc")
    assert form.status == 200
    assert "China Telecom (中国电信)" in form.text
    assert 'name="settings.media_upload_mode"' in form.text  # its one setting: uploadMode of media (§3.3.4)
    assert 'name="settings.app_key"' not in form.text  # chatbot credentials are not channel settings
    before = await channel_count(stack)
    page = await platform_admin.post("/channels", {**form.hidden(), "name": "电信 MaaP",
                                                   "base_url": "https://maap.ctcc.example", "enabled": "true"})
    assert page.status == 200, page.text[:500]
    view = await stack.platform.services.channel_admin.get(channel_id_of(page))
    assert (view.type, view.name, view.base_url, view.enabled) == ("ctcc", "电信 MaaP", "https://maap.ctcc.example",
                                                                   True)
    assert await channel_count(stack) == before + 1
    listed = await platform_admin.get("/channels")
    assert "电信 MaaP" in listed.text
    assert "China Telecom (中国电信)" in listed.text


async def test_an_edit_with_the_secret_left_empty_keeps_it(platform_admin: AdminClient, stack: Stack) -> None:
    admin = stack.platform.services.channel_admin
    created = await admin.create("smpp", "SMSC", "smpp://127.0.0.1:2775",
                                 {"system_id": "esme1", "password": SMSC_PASSWORD}, enabled=False)
    path = f"/channels/{created.id}"
    page = await platform_admin.get(path)
    assert page.status == 200
    assert 'value="esme1"' in page.text  # the non-secret settings are filled in
    assert "已设置。留空则保留当前值。" in page.text
    assert SMSC_PASSWORD not in page.text

    page = await platform_admin.submit(path, path, {"name": "SMSC renamed", "base_url": "smpp://127.0.0.1:2776",
                                                    "settings.system_id": "esme2", "settings.password": ""})
    assert page.status == 200, page.text[:500]
    assert "修改已保存。" in page.text
    assert SMSC_PASSWORD not in page.text
    view = await admin.get(created.id)
    assert view.name == "SMSC renamed"
    assert view.base_url == "smpp://127.0.0.1:2776"
    assert view.settings["system_id"] == "esme2"
    assert view.secrets_set == ["password"]
    assert view.enabled is False  # saving the form leaves enabled alone
    assert (await stored_settings(stack, created.id))["password"] == SMSC_PASSWORD

    page = await platform_admin.submit(path, path, {"name": "SMSC renamed", "base_url": "smpp://127.0.0.1:2776",
                                                    "settings.system_id": "esme2", "settings.password": "n3wpass"})
    assert page.status == 200, page.text[:500]
    assert "n3wpass" not in page.text
    assert (await stored_settings(stack, created.id))["password"] == "n3wpass"


async def test_disable_and_enable_a_channel(platform_admin: AdminClient, stack: Stack) -> None:
    admin = stack.platform.services.channel_admin
    path = f"/channels/{stack.channel_id}"
    page = await platform_admin.submit(path, f"{path}/enabled", {})
    assert page.status == 200, page.text[:500]
    assert "通道已停用。" in page.text
    assert (await admin.get(stack.channel_id)).enabled is False
    status, refused = await stack.text(["+8613800138123"], "通道已停用")
    assert status == 409, refused

    page = await platform_admin.submit(path, f"{path}/enabled", {})
    assert page.status == 200, page.text[:500]
    assert "通道已启用。" in page.text
    assert (await admin.get(stack.channel_id)).enabled is True
    status, accepted = await stack.text(["+8613800138123"], "通道已恢复")
    assert status == 202, accepted


async def test_bad_input_is_shown_beside_the_form_and_creates_nothing(platform_admin: AdminClient,
                                                                      stack: Stack) -> None:
    good = {"type": "smpp", "name": "坏输入", "base_url": "smpp://127.0.0.1:2775",
            "settings.system_id": "esme-typed", "settings.password": "Tq9xWv"}
    cases: list[tuple[dict[str, str], str]] = [
        ({"base_url": "https://smsc.example"}, "请使用以 smpp:// 开头并包含主机名的地址。"),
        ({"settings.system_id": ""}, "必填。"),
        ({"settings.password": "123456789"}, "最多 8 个字符。"),
        ({"name": ""}, "必填。"),
    ]
    before = await channel_count(stack)
    for change, message in cases:
        fields = {**good, **change}
        page = await platform_admin.submit("/channels/new?type=smpp", "/channels", fields)
        assert page.status == 422, change
        assert "通道未保存" in page.text, change
        assert message in page.text, change
        assert "Traceback" not in page.text
        for name in ("name", "base_url", "settings.system_id"):
            if fields[name]:
                assert f'name="{name}" value="{fields[name]}"' in page.text, (change, name)  # what was typed stays
        assert 'name="settings.password" value=""' in page.text  # a secret does not
        assert fields["settings.password"] not in page.text, change
    page = await platform_admin.submit("/channels/new", "/channels", {**good, "type": "telegraph"})
    assert page.status == 422
    assert "请选择通道类型。" in page.text
    page = await platform_admin.get("/channels/new?type=telegraph")
    assert "请选择通道类型。" in page.text
    assert await channel_count(stack) == before

    # An edit is judged the same way, and changes nothing when refused.
    path = f"/channels/{stack.channel_id}"
    page = await platform_admin.submit(path, path, {"name": "China Mobile (sim)", "base_url": "ftp://maap.example"})
    assert page.status == 422
    assert "请使用以 http:// / https:// 开头并包含主机名的地址。" in page.text
    assert "invalid_channel_config" in page.text  # the service's code stays English
    assert 'name="base_url" value="ftp://maap.example"' in page.text
    assert (await stack.platform.services.channel_admin.get(stack.channel_id)).base_url == stack.simulator_url
    missing = await platform_admin.get("/channels/no-such-channel")
    assert missing.status == 404
    assert "没有这个通道。" in missing.text


async def test_a_tenant_admin_is_refused_and_sees_no_channels_entry(browser_session: AdminClient,
                                                                    tenant_admin: str, stack: Stack) -> None:
    await browser_session.login(tenant_admin)
    dashboard = await browser_session.get("/")
    assert dashboard.status == 200
    assert NAV_LINK not in dashboard.text
    assert "通道管理" not in dashboard.text
    for path in ("/channels", "/channels/new", "/channels/new?type=smpp", f"/channels/{stack.channel_id}"):
        page = await browser_session.get(path)
        assert page.status == 403, path
        assert "此页面仅限平台管理员访问。" in page.text
        assert stack.simulator_url not in page.text
    before = await channel_count(stack)
    page = await browser_session.submit("/", "/channels", {"type": "ctcc", "name": "tenant's own",
                                                           "base_url": "https://x.example", "enabled": "true"})
    assert page.status == 403
    assert "此页面仅限平台管理员访问。" in page.text  # refused for who they are, not for a missing token
    page = await browser_session.submit("/", f"/channels/{stack.channel_id}", {"name": "hijacked",
                                                                             "base_url": "https://x.example"})
    assert page.status == 403
    page = await browser_session.submit("/", f"/channels/{stack.channel_id}/enabled", {"enabled": "false"})
    assert page.status == 403
    view = await stack.platform.services.channel_admin.get(stack.channel_id)
    assert (view.name, view.enabled) == ("China Mobile (sim)", True)
    assert await channel_count(stack) == before


async def test_posts_without_the_csrf_token_are_refused(platform_admin: AdminClient, stack: Stack) -> None:
    before = await channel_count(stack)
    fields = {"type": "ctcc", "name": "forged", "base_url": "https://x.example", "enabled": "true"}
    for token in ({}, {"csrf_token": "guessed"}):
        page = await platform_admin.post("/channels", {**fields, **token})
        assert page.status == 403
        assert "表单已过期" in page.text
        page = await platform_admin.post(f"/channels/{stack.channel_id}/enabled", {"enabled": "false", **token})
        assert page.status == 403
        page = await platform_admin.post(f"/channels/{stack.channel_id}", {"name": "forged",
                                                                         "base_url": "https://x.example", **token})
        assert page.status == 403
    view = await stack.platform.services.channel_admin.get(stack.channel_id)
    assert (view.name, view.enabled) == ("China Mobile (sim)", True)
    assert await channel_count(stack) == before
