"""Carrier applications in the admin, over HTTP against the real server: the page for a tenant admin, the
enterprise's documents uploaded and its record saved through the forms (and a bad field refused by name,
nothing stored), China Mobile refused with `applications_not_supported`, and on a China Telecom channel
whose CSP API cannot be reached an application listed with its registration, retried and registered again
once they have failed. No carrier simulator: the records are made at once and go no further."""

from __future__ import annotations

import html
import re
from typing import Any

import aiohttp
import pytest

from msg5g.domain.applications import EnterpriseRecord
from msg5g.domain.errors import NotFound
from msg5g.kit.clock import utcnow
from msg5g.services.access import BusinessAccess
from msg5g.storage.application_repository import ApplicationRepository
from tests.admin.conftest import AdminClient, Page
from tests.admin.test_chatbots_admin import inline_errors, text_of
from tests.conftest import Stack, Tenant
from tests.media_samples import png

pytestmark = pytest.mark.asyncio

PAGE = "/carrier-applications"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
CLOSED_CSP = "http://127.0.0.1:9"  # nothing listens on the discard port: every CSP call fails at once
CHATBOT_NUMBER = "10659885881000099"
KINDS = ("licence", "logo", "id_card_front", "id_card_back", "contract")
NO_MANAGEMENT_API = "中国移动和聚合通道没有管理接口"
REGISTER_AGAIN = '<button type="submit">重新入驻</button>'
RETRY = '<button type="submit">重新提交</button>'


def enterprise_fields(name: str = "甲方科技有限公司", **changes: str) -> dict[str, str]:
    """The enterprise form's inputs (the names of EnterpriseRecord's fields, nested ones dotted)."""
    return {
        "name": name, "industry": "金融", "introduction": "信用卡发卡与服务", "work_phone": "0755-83198888",
        "licence_number": "91440300618831041G", "address": "深圳市福田区深南大道7088号", "province": "广东省",
        "city": "深圳市", "area": "福田区", "operator.name": "张三", "operator.id_number": "44030419900101123X",
        "operator.phone": "13800138000", "operator.email": "zhangsan@cmb.example", "legal_person.name": "李四",
        "legal_person.id_number": "440304198001011234", "contract.number": "CT-2026-0001",
        "contract.name": "5G消息服务合同", "contract.effective_date": "2026-01-01",
        "contract.expiry_date": "2028-12-31", **changes}


def record_body(documents: dict[str, str], name: str = "甲方科技有限公司", **changes: Any) -> dict[str, Any]:
    """The same enterprise as PUT /v1/enterprise takes it; `documents` by kind."""
    flat = enterprise_fields(name)
    body: dict[str, Any] = {}
    for key, value in flat.items():
        head, _, tail = key.partition(".")
        if tail:
            body.setdefault(head, {})[tail] = value
        else:
            body[key] = value
    return {**body, **{f"{kind}_document_id": documents[kind] for kind in KINDS}, **changes}


def document_file(kind: str) -> tuple[bytes, str]:
    return (PDF, "合同.pdf") if kind == "contract" else (png(300 + KINDS.index(kind), 200), f"{kind}.png")


async def csp_channel(stack: Stack, name: str = "China Telecom (CSP closed)") -> str:
    """A China Telecom channel with CSP credentials whose management API does not answer."""
    return await stack.platform.services.provisioning.create_channel(
        "ctcc", name, CLOSED_CSP,
        settings={"csp_api_url": f"{CLOSED_CSP}/cspApi/v1", "csp_id": "C1210000XX", "csp_access_key": "csp-key"})


def access(tenant: Tenant) -> BusinessAccess:
    return BusinessAccess(tenant_id=tenant.tenant_id, business_id=tenant.business_id, api_key_id="test")


async def mark_failed(stack: Stack, tenant: Tenant, kind: str, row_id: str, note: str) -> None:
    """What the platform records once a carrier kept failing a step (STEP_MAX_TRIES tries, minutes here)."""
    async with stack.platform.services.ctx.db.transaction() as session:
        repo = ApplicationRepository(session, tenant.tenant_id)
        row = await (repo.customer(row_id) if kind == "customer" else repo.application(row_id))
        assert row is not None
        now = utcnow()
        row.state, row.reason, row.updated_at = "failed", note, now
        row.history = [*row.history, {"state": "failed", "at": now.isoformat(), "note": note}]


async def api(stack: Stack, method: str, path: str, body: Any = None, tenant: Tenant | None = None
              ) -> tuple[int, Any]:
    async with stack.http.request(method, f"{stack.base_url}{path}", json=body, headers=stack.auth(tenant)) as r:
        return r.status, await r.json()


async def create_profile(stack: Stack, service_name: str = "甲方信用卡") -> str:
    status, body = await api(stack, "POST", "/v1/chatbot-profiles", {
        "service_name": service_name, "description": "信用卡账单与还款", "category": "银行"})
    assert status == 201, body
    return str(body["id"])


async def upload_document(client: AdminClient, kind: str, data: bytes, file_name: str) -> Page:
    """One of the page's upload forms as a browser posts it: multipart, with the page's hidden fields."""
    form_page = await client.get(PAGE)
    assert form_page.status == 200, form_page.text
    form = aiohttp.FormData()
    for name, value in {**form_page.hidden(), "kind": kind}.items():
        form.add_field(name, value)
    form.add_field("file", data, filename=file_name, content_type="application/octet-stream")
    async with client.http.post(f"{client.root}{PAGE}/documents", data=form) as r:
        return Page(r.status, str(r.url), await r.text(), r.headers)


async def upload_all(client: AdminClient) -> None:
    for kind in KINDS:
        data, file_name = document_file(kind)
        page = await upload_document(client, kind, data, file_name)
        assert page.status == 200, text_of(page)
        assert "done=uploaded" in page.url


def selected(page: Page, name: str) -> str | None:
    """The option a select of the page has selected."""
    found = re.search(rf'<select name="{re.escape(name)}"[^>]*>(.*?)</select>', page.text, re.S)
    assert found, name
    option = re.search(r'<option value="([^"]*)" selected>', found[1])
    return option[1] if option else None


def section(page: Page, element_id: str) -> str:
    """The text of one <section> of the page, by its id."""
    found = re.search(rf'<section class="card" id="{element_id}">(.*?)</section>', page.text, re.S)
    assert found, element_id
    return html.unescape(found[1])


def error_list(page: Page) -> str:
    found = re.search(r'<section class="card errors" role="alert">(.*?)</section>', page.text, re.S)
    assert found, page.text[:2000]
    return html.unescape(found[1])


async def test_the_page_renders_for_a_tenant_admin(browser_session: AdminClient, tenant_admin: str,
                                                   stack: Stack) -> None:
    await browser_session.login(tenant_admin)
    dashboard = await browser_session.get("/")
    assert f'href="/admin{PAGE}"' in dashboard.text
    assert ">运营商入驻</a>" in dashboard.text

    page = await browser_session.get(PAGE)
    assert page.status == 200, page.text
    text = text_of(page)
    assert "<h1>运营商入驻</h1>" in text
    # China Mobile (the stack's only channel) takes no applications: said plainly, with the way to enter by hand.
    assert NO_MANAGEMENT_API in text
    assert f'href="/admin/chatbots/new?business={stack.tenant.business_id}"' in page.text
    assert "尚未接入中国电信或中国联通通道" in text
    assert selected(page, "channel_id") is None
    assert f'<option value="{stack.channel_id}"' not in page.text
    # An upload form per kind of document, and the record not entered yet.
    assert page.text.count('enctype="multipart/form-data"') == len(KINDS)
    for kind in KINDS:
        assert f'<input type="hidden" name="kind" value="{kind}">' in page.text
    assert "尚未录入" in text
    assert "企业尚未在任何运营商处入驻" in text
    assert "尚未申请 Chatbot" in text

    # A China Telecom channel with the CSP's credentials is offered for applications; China Mobile still not.
    channel_id = await csp_channel(stack)
    profile_id = await create_profile(stack)
    page = await browser_session.get(PAGE)
    apply_form = page.text[page.text.index('class="apply-form"'):]
    assert f'<option value="{channel_id}">China Telecom (CSP closed) · China Telecom (中国电信)</option>' in apply_form
    assert f'<option value="{stack.channel_id}"' not in apply_form
    assert f'<option value="{profile_id}">甲方信用卡</option>' in apply_form
    # ... and in English too.
    english = await browser_session.get(PAGE, headers={"Accept-Language": "en"},
                                        cookies={"msg5g_admin_lang": "en"})
    assert "China Mobile and the aggregators have no management API" in text_of(english)


async def test_documents_and_the_enterprise_record_are_saved_through_the_forms(
        browser_session: AdminClient, tenant_admin: str, stack: Stack) -> None:
    client = browser_session
    await client.login(tenant_admin)
    service = stack.platform.services.applications

    # A PDF is no licence scan: refused with the service's reason, nothing stored.
    page = await upload_document(client, "licence", PDF, "licence.pdf")
    assert page.status == 415
    assert "unsupported_media_type" in error_list(page)
    assert await service.documents(access(stack.tenant)) == []

    await upload_all(client)
    page = await client.get(PAGE)
    documents = {d.kind.value: d for d in await service.documents(access(stack.tenant))}
    assert sorted(documents) == sorted(KINDS)
    listed = section(page, "documents")
    for kind in KINDS:
        assert documents[kind].file_name in listed
        # The enterprise form offers the upload of each kind.
        assert selected(page, f"{kind}_document_id") == documents[kind].id

    # A bad field is refused beside its input, by name, and nothing is stored.
    fields = {**enterprise_fields(licence_number="123"),
              **{f"{kind}_document_id": documents[kind].id for kind in KINDS}}
    page = await client.submit(PAGE, f"{PAGE}/enterprise", fields)
    assert page.status == 422, text_of(page)
    assert "统一社会信用代码" in error_list(page)
    assert "18 位" in inline_errors(page)["licence_number"]
    assert list(inline_errors(page)) == ["licence_number"]
    assert 'value="123"' in page.text  # what was typed stays in the form
    with pytest.raises(NotFound):
        await service.enterprise(access(stack.tenant))
    status, body = await api(stack, "GET", "/v1/enterprise")
    assert (status, body["error"]["code"]) == (404, "enterprise_not_found"), body

    # A document that is not the tenant's is named too.
    page = await client.submit(PAGE, f"{PAGE}/enterprise", {**fields, "licence_number": "91440300618831041G",
                                                            "logo_document_id": "no-such-document"})
    assert page.status == 404, text_of(page)
    assert "document_not_found" in error_list(page)
    assert "logo_document_id" in inline_errors(page)

    # Saved: the record the API returns is the one typed, with the documents chosen.
    page = await client.submit(PAGE, f"{PAGE}/enterprise", {**fields, "licence_number": "91440300618831041G"})
    assert page.status == 200, text_of(page)
    assert "done=saved" in page.url
    assert "企业资料已保存为新版本" in text_of(page)
    saved = await service.enterprise(access(stack.tenant))
    assert saved.version == 1
    assert saved.record == EnterpriseRecord.model_validate(record_body({k: d.id for k, d in documents.items()}))
    status, body = await api(stack, "GET", "/v1/enterprise")
    assert status == 200, body
    assert (body["version"], body["record"]["name"], body["record"]["operator"]["phone"]) == (
        1, "甲方科技有限公司", "13800138000")
    # The form shows the record as saved; every document is marked as the one in the record.
    record_section = section(page, "enterprise")
    assert "版本 1" in record_section
    assert 'value="91440300618831041G"' in record_section
    assert section(page, "documents").count("已用于企业资料") == len(KINDS)

    # Wrong dates are refused; the saved record stays as it was.
    page = await client.submit(PAGE, f"{PAGE}/enterprise", {
        **fields, "licence_number": "91440300618831041G", "contract.expiry_date": "2025-01-01",
        "operator.phone": "12345"})
    assert page.status == 422
    errors = inline_errors(page)
    assert "到期日期必须晚于生效日期" in errors["contract.expiry_date"]
    assert "不是有效的手机号码" in errors["operator.phone"]
    assert (await service.enterprise(access(stack.tenant))).version == 1

    # A clearer licence uploaded later is offered in its place; saving it makes version 2.
    page = await upload_document(client, "licence", png(1200, 800), "clearer.png")
    assert page.status == 200
    newest = max((d for d in await service.documents(access(stack.tenant)) if d.kind.value == "licence"),
                 key=lambda d: d.created_at)
    assert selected(page, "licence_document_id") == newest.id
    page = await client.submit(PAGE, f"{PAGE}/enterprise", {
        **fields, "licence_number": "91440300618831041G", "licence_document_id": newest.id})
    assert page.status == 200, text_of(page)
    saved = await service.enterprise(access(stack.tenant))
    assert (saved.version, saved.record.licence_document_id) == (2, newest.id)


async def test_applying_on_china_mobile_shows_that_it_has_no_management_api(
        browser_session: AdminClient, tenant_admin: str, stack: Stack) -> None:
    await browser_session.login(tenant_admin)
    profile_id = await create_profile(stack)
    fields = {"business_id": stack.tenant.business_id, "channel_id": stack.channel_id, "profile_id": profile_id,
              "chatbot_number": CHATBOT_NUMBER, "signature": "甲方银行", "provider": "", "ip_whitelist": ""}
    page = await browser_session.submit(PAGE, f"{PAGE}/chatbots", fields)
    assert page.status == 422, text_of(page)
    errors = error_list(page)
    assert "applications_not_supported" in errors
    assert "该通道不能申请 Chatbot" in errors
    assert "console" in errors  # the service's own words: enter it by hand
    assert "该通道不能申请" in inline_errors(page)["channel_id"]
    assert selected(page, "profile_id") == profile_id  # the form keeps what was chosen
    status, listed = await api(stack, "GET", "/v1/chatbot-applications")
    assert (status, listed) == (200, [])
    assert await stack.platform.services.applications.customers(access(stack.tenant)) == []

    # Bad fields are named before any channel is asked.
    page = await browser_session.submit(PAGE, f"{PAGE}/chatbots", {
        **fields, "chatbot_number": "12ab", "ip_whitelist": "203.0.113.7\nnot-an-ip"})
    assert page.status == 422
    errors_by_field = inline_errors(page)
    assert "仅限数字" in errors_by_field["chatbot_number"]
    assert "#2: not-an-ip" in errors_by_field["ip_whitelist"]
    assert errors_by_field["ip_whitelist"].count("IPv4") == 1  # one message per address, not one per IP version
    # Another business's profile, or none, is refused as well.
    page = await browser_session.submit(PAGE, f"{PAGE}/chatbots", {**fields, "profile_id": "no-such-profile"})
    assert page.status == 404
    assert "profile_not_found" in error_list(page)


async def test_an_application_on_a_csp_channel_is_listed_retried_and_registered_again(
        browser_session: AdminClient, tenant_admin: str, stack: Stack) -> None:
    client = browser_session
    await client.login(tenant_admin)
    channel_id = await csp_channel(stack)
    profile_id = await create_profile(stack)
    fields = {"business_id": stack.tenant.business_id, "channel_id": channel_id, "profile_id": profile_id,
              "chatbot_number": CHATBOT_NUMBER, "signature": "甲方银行", "provider": "甲方科技",
              "ip_whitelist": "203.0.113.7, 2001:db8::1"}
    page = await client.submit(PAGE, f"{PAGE}/chatbots", fields)
    assert page.status == 409, text_of(page)  # no enterprise record yet
    assert "enterprise_not_found" in error_list(page)
    assert "请先录入并保存企业资料" in error_list(page)

    await upload_all(client)
    documents = {d.kind.value: d.id for d in await stack.platform.services.applications.documents(access(stack.tenant))}
    status, body = await api(stack, "PUT", "/v1/enterprise", record_body(documents))
    assert status == 200, body

    page = await client.submit(PAGE, f"{PAGE}/chatbots", fields)
    assert page.status == 200, text_of(page)
    assert "done=applied" in page.url
    found = re.search(rf"/admin{PAGE}/([0-9a-f-]{{36}})\?", page.url)
    assert found, page.url
    application_id = found[1]
    detail = text_of(page)
    assert "已提交 Chatbot 申请" in detail
    assert 'class="status istate-submitted astate-waiting"' in page.text  # the enterprise is registered first
    assert "203.0.113.7" in detail
    assert "2001:db8::1" in detail
    assert "甲方信用卡" in detail
    assert RETRY not in detail  # nothing to retry while it waits
    status, view = await api(stack, "GET", f"/v1/chatbot-applications/{application_id}")
    assert status == 200, view
    assert (view["request"]["signature"], view["request"]["provider"], view["request"]["ip_whitelist"]) == (
        "甲方银行", "甲方科技", ["203.0.113.7", "2001:db8::1"])

    page = await client.get(PAGE)
    [registration] = await stack.platform.services.applications.customers(access(stack.tenant))
    registrations = section(page, "registrations")
    assert "China Telecom (CSP closed) · China Telecom (中国电信)" in registrations
    assert f'data-registration="{registration.id}"' in page.text
    assert REGISTER_AGAIN not in registrations  # not while it is being filed
    applications = section(page, "chatbot-applications")
    assert f'data-application="{application_id}"' in page.text
    assert CHATBOT_NUMBER in applications
    # The history timeline, with the service's notes.
    assert "enterprise record version 1" in registrations
    assert "waiting for the enterprise's approval" in applications

    # A failed application is retried from the list: it waits for its enterprise again.
    await mark_failed(stack, stack.tenant, "chatbot", application_id, "the carrier kept failing: test")
    page = await client.get(PAGE)
    assert "the carrier kept failing: test" in section(page, "chatbot-applications")
    assert f'action="/admin{PAGE}/{application_id}/retry"' in page.text
    page = await client.submit(PAGE, f"{PAGE}/{application_id}/retry", {"business_id": stack.tenant.business_id})
    assert page.status == 200, text_of(page)
    assert "done=retried" in page.url
    assert "申请已重新提交给运营商" in text_of(page)
    status, view = await api(stack, "GET", f"/v1/chatbot-applications/{application_id}")
    assert view["state"] == "waiting", view
    # Retrying it again while it waits is refused on its page.
    page = await client.post(f"{PAGE}/{application_id}/retry", {**page.hidden(),
                                                                "business_id": stack.tenant.business_id})
    assert page.status == 409
    assert "application_in_progress" in error_list(page)

    # A failed registration is registered again from the list.
    await mark_failed(stack, stack.tenant, "customer", registration.id, "the carrier kept failing: test")
    page = await client.get(PAGE)
    registrations = section(page, "registrations")
    assert REGISTER_AGAIN in registrations
    assert "the carrier kept failing: test" in registrations
    page = await client.submit(PAGE, f"{PAGE}/registrations", {"channel_id": channel_id,
                                                               "business_id": stack.tenant.business_id})
    assert page.status == 200, text_of(page)
    assert "done=registered" in page.url
    status, again = await api(stack, "GET", f"/v1/enterprise/registrations/{registration.id}")
    assert (status, again["state"]) == (200, "submitting"), again
    # ... and not once more while it is being filed.
    page = await client.submit(PAGE, f"{PAGE}/registrations", {"channel_id": channel_id})
    assert page.status == 409
    assert "already_registered" in error_list(page)
    # The detail page of an unknown application is a 404.
    assert (await client.get(f"{PAGE}/no-such-application")).status == 404
