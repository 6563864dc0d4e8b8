"""Materials and templates in the admin, over HTTP against the real server: uploads through the form,
the library and its per-chatbot states, the template editor and its live preview endpoint, and the
review of a version by a second admin of the tenant."""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from msg5g.services.access import BusinessAccess
from tests.admin.conftest import AdminClient, Page, create_admin
from tests.conftest import Stack
from tests.media_samples import noisy_png, png

pytestmark = pytest.mark.asyncio

CARD_LAYOUT: dict[str, Any] = {"kind": "rich_card", "card": {
    "title": "{{ name }}的账单", "description": "应还 {{ amount|yuan }}",
    "suggestions": [{"type": "open_url", "text": "去还款", "url": "https://pay.example.com/{{ name }}"}]}}
PARAMETERS: list[dict[str, Any]] = [{"name": "name", "type": "string", "max_length": 10, "sample": "张三"},
              {"name": "amount", "type": "money", "sample": "1234.50"}]


def text_of(page: Page) -> str:
    """The page's text with entities decoded (service messages carry apostrophes and quotes)."""
    return html.unescape(page.text)


async def upload(client: AdminClient, data: bytes | None, file_name: str = "banner.png", **fields: str) -> Page:
    """Post the materials page's upload form as a browser does: multipart, with its hidden fields."""
    form_page = await client.get("/materials")
    assert form_page.status == 200, form_page.text
    form = aiohttp.FormData()
    for name, value in {**form_page.hidden(), **fields}.items():
        form.add_field(name, value)
    if data is not None:
        form.add_field("file", data, filename=file_name, content_type="application/octet-stream")
    async with client.http.post(f"{client.root}/materials", data=form) as r:
        return Page(r.status, str(r.url), await r.text(), r.headers)


def material_ids(text: str) -> list[str]:
    return re.findall(r'href="/admin/materials/([0-9a-f-]{36})\?', text)


def template_ids(text: str) -> list[str]:
    return re.findall(r'href="/admin/templates/([0-9a-f-]{36})\?', text)


async def eventually(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} never happened")


def draft(stack: Stack, layout: Any = None, parameters: Any = None, **extra: str) -> dict[str, str]:
    return {"business_id": stack.tenant.business_id,
            "layout": json.dumps(CARD_LAYOUT if layout is None else layout, ensure_ascii=False),
            "parameters": json.dumps(PARAMETERS if parameters is None else parameters, ensure_ascii=False),
            **extra}


async def create_template(client: AdminClient, stack: Stack, name: str = "还款提醒", **changes: Any) -> str:
    page = await client.submit("/templates/new", "/templates", {**draft(stack, **changes), "name": name,
                                                               "fallback_text": "{{ name }}您好，请按时还款"})
    assert page.status == 200, page.text
    found = re.search(r"/admin/templates/([0-9a-f-]{36})\?", page.url)
    assert found, page.url
    return found[1]


async def test_upload_a_png_and_see_it_in_the_library(browser_session: AdminClient, tenant_admin: str,
                                                       stack: Stack) -> None:
    await browser_session.login(tenant_admin)
    dashboard = await browser_session.get("/")
    assert 'href="/admin/materials"' in dashboard.text
    assert "素材库" in dashboard.text
    assert 'href="/admin/templates"' in dashboard.text
    empty = await browser_session.get("/materials")
    assert empty.status == 200
    assert 'enctype="multipart/form-data"' in empty.text
    assert "data-drop-zone" in empty.text
    assert "尚无素材" in empty.text

    page = await upload(browser_session, png(320, 240), "春季 banner.png", name="春季海报")
    assert page.status == 200, page.text
    assert "done=uploaded" in page.url
    assert "素材已上传" in page.text
    assert "春季海报" in page.text
    [material_id] = material_ids(page.text)
    assert re.search(r'<span class="status sync-(uploading|pending_audit|approved)"[^>]*>Tenant A bot: ', page.text)
    assert "320×240" in page.text

    async with browser_session.http.get(f"{browser_session.root}/materials/{material_id}/thumbnail") as r:
        assert r.status == 200
        assert r.headers["content-type"] == "image/jpeg"
        assert (await r.read())[:2] == b"\xff\xd8"
    assert f'src="/admin/materials/{material_id}/thumbnail?business={stack.tenant.business_id}"' in page.text

    async def approved() -> Page | None:
        listed = await browser_session.get("/materials")
        return listed if 'class="status sync-approved"' in listed.text else None
    listed = await eventually(approved, "the material's approval on the chatbot")
    assert "Tenant A bot: 已通过" in listed.text

    detail = await browser_session.get(f"/materials/{material_id}")
    assert detail.status == 200
    access = BusinessAccess(stack.tenant.tenant_id, stack.tenant.business_id, "test")
    [sync] = (await stack.platform.services.materials.get(access, material_id)).syncs
    assert sync.url
    assert sync.url in detail.text
    assert "Tenant A bot" in detail.text
    assert "已通过" in detail.text
    assert f'{{"material_id": "{material_id}"}}' in text_of(detail)

    english = await browser_session.get(f"/language/en?next=/admin/materials/{material_id}")
    assert "On each chatbot" in english.text
    assert "Approved" in english.text

    # Another tenant's admin sees none of it.
    tenant_b = await stack.add_tenant("Tenant B", "125200401111529")
    await create_admin(stack, "ops@tenant-b.example", tenant_b.tenant_id, "B 运营")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        other = AdminClient(stack, http)
        await other.login("ops@tenant-b.example")
        assert material_id not in (await other.get("/materials")).text
        assert (await other.get(f"/materials/{material_id}")).status == 404
        assert (await other.get(f"/materials/{material_id}/thumbnail")).status == 404
        assert (await other.get(f"/materials?business={stack.tenant.business_id}")).status == 404
        refused = await upload(other, png(), business_id=stack.tenant.business_id)
        assert refused.status == 422
        assert "请选择业务" in refused.text
    assert len(await stack.platform.services.materials.browse(access)) == 1


async def test_a_bad_upload_shows_the_services_error(browser_session: AdminClient, tenant_admin: str,
                                                     stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    await browser_session.login(tenant_admin)
    page = await upload(browser_session, b"plain text, not a picture", "fake.png")
    assert page.status == 415
    text = text_of(page)
    assert "文件未上传" in text
    assert "平台不支持此类文件" in text
    assert "the file's content is not a type the platform takes" in text  # the service's own words
    assert "unsupported_media_type" in text
    assert "尚无素材" in text

    page = await upload(browser_session, png()[:200], "broken.png")
    assert page.status == 422
    assert "corrupt_file" in page.text
    assert "文件为空或已损坏" in page.text

    monkeypatch.setattr(stack.platform.settings, "material_max_bytes", 4096)
    page = await upload(browser_session, noisy_png(64, 64), "big.png")
    assert page.status == 413
    assert "file_too_large" in page.text
    assert "文件过大" in page.text
    assert "limit of 4096 bytes" in page.text

    page = await upload(browser_session, None)
    assert page.status == 422
    assert "请选择要上传的文件" in page.text
    access = BusinessAccess(stack.tenant.tenant_id, stack.tenant.business_id, "test")
    assert await stack.platform.services.materials.browse(access) == []


async def preview(client: AdminClient, fields: dict[str, str]) -> Page:
    """What the editor's script does as the author types: the form's fields to the preview endpoint."""
    return await client.submit("/templates/new", "/templates/preview", fields)


async def test_the_editor_creates_a_template_and_previews_drafts(browser_session: AdminClient, tenant_admin: str,
                                                                 stack: Stack) -> None:
    await browser_session.login(tenant_admin)
    editor = await browser_session.get("/templates/new")
    assert editor.status == 200
    assert 'data-preview-url="/admin/templates/preview"' in editor.text
    assert 'id="phone-preview"' in editor.text
    assert "template_editor.js" in editor.text

    page = await preview(browser_session, draft(stack))
    assert page.status == 200, page.text
    assert page.headers["x-msg5g-fragment"] == "preview"
    assert "<html" not in page.text  # a fragment for the pane, not a page
    assert '<div class="card-title">张三的账单</div>' in page.text
    assert "应还 1,234.50元" in page.text
    assert "去还款" in page.text

    page = await preview(browser_session, draft(stack, layout={"kind": "text", "text": "{{ ''.__class__ }}"}))
    assert page.status == 422
    text = text_of(page)
    assert "无法预览此草稿" in text
    assert "template_unsafe" in text
    assert "access to '__class__' is not allowed" in text
    assert 'class="phone"' not in text

    page = await preview(browser_session, draft(stack, layout={"kind": "text", "text": "您好 {{ name "}))
    assert page.status == 422
    assert "template_invalid" in page.text
    assert "模板无法编译" in page.text
    page = await preview(browser_session, {**draft(stack), "layout": '{"kind": "text",'})
    assert page.status == 422
    assert "不是有效的 JSON" in page.text
    page = await preview(browser_session, draft(stack, layout={"kind": "text", "text": "{{ nobody }}"}))
    assert page.status == 422
    assert "undeclared parameters: nobody" in page.text
    page = await preview(browser_session, {**draft(stack), "layout": ""})
    assert page.status == 200
    assert "填写版式后即可在手机上预览" in page.text

    # A material in the layout shows as its thumbnail; one the business does not have says so.
    uploaded = await upload(browser_session, png(), "hero.png", name="hero")
    [material_id] = material_ids(uploaded.text)
    with_media = {**CARD_LAYOUT, "card": {**CARD_LAYOUT["card"], "media": {"file": {"material_id": material_id}}}}
    page = await preview(browser_session, draft(stack, layout=with_media))
    assert page.status == 200, page.text
    assert f'src="/admin/materials/{material_id}/thumbnail?business={stack.tenant.business_id}"' in page.text
    missing = {**CARD_LAYOUT, "card": {**CARD_LAYOUT["card"], "media": {"file": {"material_id": "no-such-id"}}}}
    assert "该业务下没有素材 no-such-id" in (await preview(browser_session, draft(stack, layout=missing))).text

    # Saving: a refused definition stays in the form with the service's reason.
    refused = await browser_session.submit("/templates/new", "/templates", {
        **draft(stack, layout={"kind": "text", "text": "{{ ''.__class__ }}"}), "name": "坏模板"})
    assert refused.status == 422
    assert "模板未保存" in refused.text
    assert "template_unsafe" in refused.text
    assert "__class__" in text_of(refused)
    refused = await browser_session.submit("/templates/new", "/templates", {**draft(stack, layout=missing),
                                                                           "name": "缺素材"})
    assert refused.status == 404
    assert "material_not_found" in refused.text
    refused = await browser_session.submit("/templates/new", "/templates", {**draft(stack), "name": ""})
    assert refused.status == 422
    assert "必填" in refused.text

    template_id = await create_template(browser_session, stack)
    detail = await browser_session.get(f"/templates/{template_id}")
    assert "模板已创建为草稿" not in detail.text  # the notice belongs to the redirect only
    assert '<span class="status review-draft">草稿</span>' in detail.text
    assert "提交审核" in detail.text
    listed = await browser_session.get("/templates")
    assert template_ids(listed.text) == [template_id]
    assert "还款提醒" in listed.text

    # Editing a draft changes it in place; the editor comes back with the definition as saved.
    edit = await browser_session.get(f"/templates/{template_id}/edit")
    assert edit.status == 200
    assert html.unescape(edit.text).count("{{ name }}的账单") == 1
    assert "张三的账单" in edit.text  # the preview is drawn on the server too
    changed = {**CARD_LAYOUT, "card": {**CARD_LAYOUT["card"], "title": "{{ name }}，本月账单"}}
    saved = await browser_session.submit(f"/templates/{template_id}/edit", f"/templates/{template_id}/edit",
                                         draft(stack, layout=changed))
    assert saved.status == 200, saved.text
    assert "修改已保存" in saved.text
    access = BusinessAccess(stack.tenant.tenant_id, stack.tenant.business_id, "test")
    view = await stack.platform.services.templates.get(access, template_id)
    assert [v.version for v in view.versions] == [1]
    assert view.versions[0].definition.layout["card"]["title"] == "{{ name }}，本月账单"
    assert [p.sample for p in view.versions[0].definition.parameters] == ["张三", "1234.50"]


async def test_a_second_admin_approves_what_the_first_wrote(browser_session: AdminClient,
                                                           second_session: AdminClient, tenant_admin: str,
                                                           stack: Stack) -> None:
    author_id = (await stack.platform.services.admins.login(tenant_admin, "correct horse battery staple")).user_id
    reviewer_id = await create_admin(stack, "checker@tenant-a.example", stack.tenant.tenant_id, "A 审核")
    await browser_session.login(tenant_admin)
    template_id = await create_template(browser_session, stack, layout={"kind": "text", "text": "{{ name }}，您好"},
                                        parameters=[PARAMETERS[0]])
    path = f"/templates/{template_id}"

    page = await browser_session.submit(path, f"{path}/versions/1/submit", {})
    assert page.status == 200, page.text
    assert "已提交审核" in page.text
    assert '<span class="status review-in_review">审核中</span>' in page.text
    assert f"{path}/edit" not in page.text  # no editing while in review

    page = await browser_session.submit(path, f"{path}/versions/1/review", {"decision": "approve"})
    assert page.status == 403
    assert "此版本由您编写，需由该租户的另一位管理员审核" in page.text
    assert "same_reviewer" in page.text
    assert '<span class="status review-in_review">审核中</span>' in page.text  # still waiting

    await second_session.login("checker@tenant-a.example")
    page = await second_session.submit(path, f"{path}/versions/1/review", {"decision": "approve", "note": "可以发送"})
    assert page.status == 200, page.text
    assert "版本已通过" in page.text
    assert '<span class="status review-approved">已通过</span>' in page.text
    assert "可以发送" in page.text
    access = BusinessAccess(stack.tenant.tenant_id, stack.tenant.business_id, "test")
    [version] = (await stack.platform.services.templates.get(access, template_id)).versions
    assert (version.created_by, version.reviewed_by) == (f"admin:{author_id}", f"admin:{reviewer_id}")

    # Taken to the chatbot and audited by the carrier (the simulator approves).
    async def on_the_chatbot() -> Page | None:
        seen = await second_session.get(path)
        return seen if '<span class="status tstate-approved"' in seen.text else None
    page = await eventually(on_the_chatbot, "the template's approval on the chatbot")
    assert "Tenant A bot" in page.text
    payloads = re.findall(r'<pre class="payload">(.*?)</pre>', page.text, re.S)
    assert any("张三，您好" in html.unescape(p) for p in payloads), payloads  # the adapter's body, with the sample
    listed = await browser_session.get("/templates")
    assert "Tenant A bot v1: 已通过" in listed.text

    # A second approval of the same version is refused as a state error, not a crash.
    page = await second_session.submit(path, f"{path}/versions/1/review", {"decision": "reject"})
    assert page.status == 409
    assert "invalid_review_state" in page.text

    page = await browser_session.submit(path, f"{path}/disable", {})
    assert page.status == 200
    assert "模板已停用" in page.text
    assert '<span class="status tstate-disabled">已停用</span>' in page.text
    assert (await stack.platform.services.templates.get(access, template_id)).disabled


async def test_a_rejection_goes_back_to_the_author_with_the_note(browser_session: AdminClient,
                                                                 second_session: AdminClient, tenant_admin: str,
                                                                 stack: Stack) -> None:
    await create_admin(stack, "checker@tenant-a.example", stack.tenant.tenant_id, "A 审核")
    await browser_session.login(tenant_admin)
    template_id = await create_template(browser_session, stack)
    path = f"/templates/{template_id}"
    assert (await browser_session.submit(path, f"{path}/versions/1/submit", {})).status == 200
    await second_session.login("checker@tenant-a.example")
    page = await second_session.submit(path, f"{path}/versions/1/review", {"decision": "reject", "note": "标题太长"})
    assert page.status == 200, page.text
    assert "版本已驳回" in page.text
    assert '<span class="status review-rejected">已驳回</span>' in page.text
    assert "标题太长" in page.text
    # The author edits the rejected version back into a draft.
    page = await browser_session.submit(f"{path}/edit", f"{path}/edit", draft(stack))
    assert page.status == 200, page.text
    assert '<span class="status review-draft">草稿</span>' in page.text
    assert (await browser_session.get("/templates/no-such-template")).status == 404
