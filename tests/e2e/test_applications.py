"""Applying for a chatbot on China Telecom through its CSP management API (protocols.md §3.4), end to end
against the simulated MaaP: the enterprise's documents and record filed and audited (a rejected licence
corrected and filed again), the chatbot applied for, audited, brought online, its developer credentials
fetched, and then a live account of the business that messages go through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from msg5g.simulators import maapjson as json_sim
from tests.conftest import CallbackReceiver, ServeFn, Stack, build_stack
from tests.e2e.library import upload, wait_for
from tests.media_samples import png

pytestmark = pytest.mark.asyncio

CSP_ID, CSP_KEY = "C1210000XX", "csp-access-key"
CHATBOT_NUMBER = "10659885881000099"
USER = "+8618900139222"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest_asyncio.fixture
async def stack(sqlite_url: str, tmp_path: Path, serve: ServeFn,
                callback_receiver: CallbackReceiver) -> AsyncIterator[Stack]:
    # The carrier's audits are asked after every 0.1 s here (30 s by default).
    async for built in build_stack(sqlite_url, tmp_path, serve, callback_receiver, application_poll_seconds=0.1):
        yield built


async def api(stack: Stack, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with stack.http.request(method, f"{stack.base_url}{path}", json=body, headers=stack.auth()) as r:
        return r.status, await r.json() if r.content_type == "application/json" else await r.text()


async def document(stack: Stack, kind: str, data: bytes, name: str = "scan.png") -> tuple[int, Any]:
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("kind", kind)
    form.add_field("file", data, filename=name)
    async with stack.http.post(f"{stack.base_url}/v1/enterprise/documents", data=form, headers=stack.auth()) as r:
        return r.status, await r.json()


async def documents(stack: Stack) -> dict[str, str]:
    ids = {}
    for kind, data in (("licence", png(600, 400)), ("logo", png(120, 120)), ("id_card_front", png(300, 200)),
                       ("id_card_back", png(300, 201)), ("contract", PDF)):
        status, body = await document(stack, kind, data, "contract.pdf" if kind == "contract" else "scan.png")
        assert status == 201, body
        assert body["kind"] == kind
        ids[f"{kind}_document_id"] = body["id"]
    return ids


def record(docs: dict[str, str], **changes: Any) -> dict[str, Any]:
    return {
        "name": "招商银行股份有限公司信用卡中心", "industry": "金融", "introduction": "信用卡发卡与服务",
        "work_phone": "0755-83198888", "licence_number": "91440300618831041G", "address": "深圳市福田区深南大道7088号",
        "province": "广东省", "city": "深圳市", "area": "福田区",
        "operator": {"name": "张三", "id_number": "44030419900101123X", "phone": "13800138000",
                     "email": "zhangsan@cmb.example"},
        "legal_person": {"name": "李四", "id_number": "440304198001011234"},
        "contract": {"number": "CT-2026-0001", "name": "5G消息服务合同", "effective_date": "2026-01-01",
                     "expiry_date": "2028-12-31"},
        **docs, **changes}


async def sim_channel(stack: Stack, serve: ServeFn, *, access_key: str = CSP_KEY) -> tuple[str, str]:
    sim_url = await serve(json_sim.create_app(json_sim.SimulatorSettings(
        dialect="ctcc", csp_id=CSP_ID, csp_access_key=CSP_KEY, audit_delay_seconds=0.1,
        faults=json_sim.Faults(delivered_delay_ms=10, displayed_delay_ms=10), notify_backoff_ms=20)), None)
    channel_id = await stack.platform.services.provisioning.create_channel(
        "ctcc", "China Telecom (sim)", sim_url,
        settings={"csp_api_url": f"{sim_url}/cspApi/v1", "csp_id": CSP_ID, "csp_access_key": access_key})
    return channel_id, sim_url


async def profile(stack: Stack, **changes: Any) -> dict[str, Any]:
    status, logo = await upload(stack, png(200, 200))
    assert status == 201, logo
    status, created = await api(stack, "POST", "/v1/chatbot-profiles", {
        "service_name": "招行信用卡", "description": "信用卡账单、还款与积分服务", "category": "银行",
        "logo_material_id": logo["id"], "service_phone": "95555", "sms_number": "1065595555", **changes})
    assert status == 201, created
    return dict(created)


async def state(stack: Stack, path: str, wanted: set[str]) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        status, view = await api(stack, "GET", path)
        assert status == 200, view
        return view if view["state"] in wanted else None
    try:
        return dict(await wait_for(check, f"{path} in {wanted}"))
    except AssertionError as exc:  # what both records said, to see which step stopped
        _, last = await api(stack, "GET", path)
        _, registrations = await api(stack, "GET", "/v1/enterprise/registrations")
        raise AssertionError(f"{exc}\n{path}: {last}\nregistrations: {registrations}") from None


async def sim(stack: Stack, sim_url: str, method: str, path: str, body: Any = None) -> Any:
    async with stack.http.request(method, f"{sim_url}{path}", json=body) as r:
        assert r.status < 300, await r.text()
        return await r.json()


async def test_a_chatbot_applied_for_through_the_carrier_goes_live_and_carries_messages(
        stack: Stack, serve: ServeFn) -> None:
    channel_id, sim_url = await sim_channel(stack, serve)
    status, answer = await api(stack, "POST", "/v1/chatbot-applications", {
        "channel_id": channel_id, "profile_id": (await profile(stack))["id"], "chatbot_number": CHATBOT_NUMBER,
        "signature": "招商银行"})
    assert (status, answer["error"]["code"]) == (409, "enterprise_not_found"), answer
    status, entered = await api(stack, "PUT", "/v1/enterprise", record(await documents(stack)))
    assert status == 200, entered
    assert entered["version"] == 1
    created = await profile(stack)
    status, application = await api(stack, "POST", "/v1/chatbot-applications", {
        "channel_id": channel_id, "profile_id": created["id"], "chatbot_number": CHATBOT_NUMBER,
        "signature": "招商银行", "ip_whitelist": ["203.0.113.7"]})
    assert status == 202, application
    assert application["state"] == "waiting"  # the enterprise is registered first
    status, twice = await api(stack, "POST", "/v1/chatbot-applications", {
        "channel_id": channel_id, "profile_id": created["id"], "chatbot_number": CHATBOT_NUMBER,
        "signature": "招商银行"})
    assert (status, twice["error"]["code"]) == (409, "application_exists"), twice
    live = await state(stack, f"/v1/chatbot-applications/{application['id']}", {"live", "rejected", "failed"})
    assert live["state"] == "live", live
    steps = [step["state"] for step in live["history"]]
    assert steps == ["waiting", "submitting", "auditing", "going_online", "configuring", "configuring", "live"], steps
    assert len(live["carrier_ref"]) == 32  # accessTagNo
    _, registrations = await api(stack, "GET", "/v1/enterprise/registrations")
    assert [(r["channel_id"], r["state"]) for r in registrations] == [(channel_id, "approved")]
    assert registrations[0]["carrier_ref"].startswith(CSP_ID)  # cspEcNo

    # The carrier got the filing in its format: files it issued URLs for, the record's fields.
    carrier = await sim(stack, sim_url, "GET", "/_sim/csp")
    customer = carrier["customers"][0]
    body = customer["body"]
    assert body["rcsRegisterInfo"]["ecName"] == "招商银行股份有限公司信用卡中心"
    assert body["rcsInfo"]["operatorPhone"] == "13800138000"
    assert body["rcsContractInformation"]["expiryDate"] == "20281231000000"
    assert body["rcsInfo"]["businessLicense"].startswith("http")
    chatbot = carrier["chatbots"][0]
    assert chatbot["body"]["chatbotId"] == CHATBOT_NUMBER
    assert chatbot["body"]["serviceName"] == "招行信用卡"
    assert chatbot["body"]["category"] == ["银行"]
    assert chatbot["body"]["ipWhiteList"] == ["203.0.113.7"]
    assert chatbot["body"]["serviceIcon"].startswith("http")

    # The account exists, publishes the profile as the carrier approved it, and is sendable.
    status, account = await api(stack, "GET", f"/v1/chatbots/{live['chatbot_id']}")
    assert status == 200, account
    assert (account["carrier_chatbot_id"], account["info_state"], account["live_version"], account["sendable"]) == (
        CHATBOT_NUMBER, "live", 1, True), account
    assert account["address"] == f"sip:{CHATBOT_NUMBER}@botplatform.rcs.vnet.cn"
    found = await sim(stack, sim_url, "GET", "/_sim/directory?q=信用卡")
    assert [f["chatbotId"] for f in found] == [CHATBOT_NUMBER], found

    # Messages go through it with the developer credentials the carrier issued, and reports come back
    # to the callback URL the platform gave the carrier.
    status, sent = await stack.send({"chatbot_id": account["id"], "recipients": [USER],
                                     "content": {"kind": "text", "text": "您的账单已出"}})
    assert status == 202, sent
    await stack.wait_status(sent["messages"][0]["id"], "displayed")

    async def verified() -> dict[str, Any] | None:
        bots = await sim(stack, sim_url, "GET", "/_sim/chatbots")
        listed = bots if isinstance(bots, list) else bots.get("chatbots", [])
        entry = next((b for b in listed if CHATBOT_NUMBER in str(b)), None)
        return entry if entry and entry.get("notify_path_verified") else None
    await wait_for(verified, "the carrier's notifyPath handshake with the platform")


async def test_a_rejected_licence_is_corrected_and_filed_again(stack: Stack, serve: ServeFn) -> None:
    channel_id, sim_url = await sim_channel(stack, serve)
    await sim(stack, sim_url, "PUT", "/_sim/audit", {"customers": "reject", "reason": "营业执照不清晰"})
    docs = await documents(stack)
    status, _ = await api(stack, "PUT", "/v1/enterprise", record(docs))
    assert status == 200
    status, application = await api(stack, "POST", "/v1/chatbot-applications", {
        "channel_id": channel_id, "profile_id": (await profile(stack))["id"], "chatbot_number": CHATBOT_NUMBER,
        "signature": "招商银行"})
    assert status == 202, application
    _, registrations = await api(stack, "GET", "/v1/enterprise/registrations")
    registration = await state(stack, f"/v1/enterprise/registrations/{registrations[0]['id']}", {"rejected"})
    assert registration["reason"] == "营业执照不清晰"
    # The chatbot waits for its enterprise; nothing was applied for at the carrier.
    status, waiting = await api(stack, "GET", f"/v1/chatbot-applications/{application['id']}")
    assert waiting["state"] == "waiting", waiting
    assert (await sim(stack, sim_url, "GET", "/_sim/csp"))["chatbots"] == []

    await sim(stack, sim_url, "PUT", "/_sim/audit", {"customers": "approve"})
    status, clearer = await document(stack, "licence", png(1200, 800))
    assert status == 201, clearer
    status, entered = await api(stack, "PUT", "/v1/enterprise", record({**docs, "licence_document_id": clearer["id"]}))
    assert (status, entered["version"]) == (200, 2), entered
    status, again = await api(stack, "POST", "/v1/enterprise/registrations", {"channel_id": channel_id})
    assert (status, again["state"], again["record_version"]) == (202, "submitting", 2), again
    approved = await state(stack, f"/v1/enterprise/registrations/{again['id']}", {"approved", "rejected"})
    assert approved["state"] == "approved", approved
    assert approved["carrier_ref"] == registration["carrier_ref"]  # the same customer, its record edited
    assert [s["state"] for s in approved["history"]] == ["submitting", "auditing", "rejected", "submitting",
                                                         "auditing", "approved"]
    live = await state(stack, f"/v1/chatbot-applications/{application['id']}", {"live", "rejected", "failed"})
    assert live["state"] == "live", live
    customers = (await sim(stack, sim_url, "GET", "/_sim/csp"))["customers"]
    assert len(customers) == 1, customers


async def test_a_rejected_chatbot_shows_the_carriers_reason_and_is_applied_for_again(
        stack: Stack, serve: ServeFn) -> None:
    channel_id, sim_url = await sim_channel(stack, serve)
    status, _ = await api(stack, "PUT", "/v1/enterprise", record(await documents(stack)))
    assert status == 200
    created = await profile(stack, description="违禁品信用卡")  # the carrier's forbidden word
    status, application = await api(stack, "POST", "/v1/chatbot-applications", {
        "channel_id": channel_id, "profile_id": created["id"], "chatbot_number": CHATBOT_NUMBER,
        "signature": "招商银行"})
    assert status == 202, application
    path = f"/v1/chatbot-applications/{application['id']}"
    rejected = await state(stack, path, {"rejected", "live"})
    assert rejected["state"] == "rejected"
    assert rejected["reason"]
    assert rejected["chatbot_id"] is None
    status, changed = await api(stack, "PUT", f"/v1/chatbot-profiles/{created['id']}", {
        "service_name": "招行信用卡", "description": "信用卡账单、还款与积分服务", "category": "银行",
        "logo_material_id": created["profile"]["logo_material_id"]})
    assert status == 200, changed
    status, answer = await api(stack, "POST", f"{path}/retry")
    assert (status, answer["state"]) == (200, "submitting"), answer
    status, answer = await api(stack, "POST", f"{path}/retry")
    assert (status, answer["error"]["code"]) == (409, "application_in_progress"), answer
    live = await state(stack, path, {"live", "rejected", "failed"})
    assert live["state"] == "live", live
    assert live["profile_version"] == 2
    assert len((await sim(stack, sim_url, "GET", "/_sim/csp"))["chatbots"]) == 2  # applied for anew


async def test_refused_csp_credentials_fail_the_registration_with_the_reason(stack: Stack, serve: ServeFn) -> None:
    channel_id, _ = await sim_channel(stack, serve, access_key="wrong-key")
    status, _ = await api(stack, "PUT", "/v1/enterprise", record(await documents(stack)))
    assert status == 200
    status, registration = await api(stack, "POST", "/v1/enterprise/registrations", {"channel_id": channel_id})
    assert status == 202, registration
    failed = await state(stack, f"/v1/enterprise/registrations/{registration['id']}", {"failed", "approved"})
    assert failed["state"] == "failed"
    assert "41001" in failed["reason"] or "41002" in failed["reason"], failed
    assert "credentials" in failed["reason"]
    status, answer = await api(stack, "POST", "/v1/enterprise/registrations", {"channel_id": channel_id})
    assert (status, answer["state"]) == (202, "submitting"), answer  # tried again once fixed


async def test_bad_filings_are_refused_with_the_field_named(stack: Stack, serve: ServeFn) -> None:
    channel_id, _ = await sim_channel(stack, serve)
    docs = await documents(stack)
    cases: list[tuple[dict[str, Any], str]] = [
        (record(docs, licence_number="12345"), "licence_number"),
        (record(docs, operator={"name": "张三", "id_number": "44030419900101123X", "phone": "12345",
                                "email": "zhangsan@cmb.example"}), "phone"),
        (record(docs, contract={"number": "1", "name": "合同", "effective_date": "2026-01-01",
                                "expiry_date": "2025-01-01"}), "contract"),
        (record({**docs, "licence_document_id": docs["logo_document_id"]}), "licence_document_id"),
        (record({**docs, "contract_document_id": "no-such-document"}), "contract_document_id"),
    ]
    for body, field in cases:
        status, answer = await api(stack, "PUT", "/v1/enterprise", body)
        assert status in {404, 422}, (field, answer)
        assert field in str(answer["error"].get("field")) or field in answer["error"]["message"], (field, answer)
    status, answer = await document(stack, "licence", PDF, "licence.pdf")
    assert (status, answer["error"]["code"]) == (415, "unsupported_media_type"), answer
    status, answer = await document(stack, "licence", b"")
    assert status == 422, answer
    # Channels without a management API, or without the CSP's credentials, take no applications.
    created = await profile(stack)
    bare = await stack.platform.services.provisioning.create_channel("cucc", "CU without CSP", "http://127.0.0.1:9")
    for channel, why in ((stack.channel_id, "console"), (bare, "csp_")):
        status, answer = await api(stack, "POST", "/v1/chatbot-applications", {
            "channel_id": channel, "profile_id": created["id"], "chatbot_number": CHATBOT_NUMBER,
            "signature": "招商银行"})
        assert (status, answer["error"]["code"]) == (422, "applications_not_supported"), answer
        assert why in answer["error"]["message"], answer
    for body, field in (({"chatbot_number": "12ab"}, "chatbot_number"),
                        ({"ip_whitelist": [f"10.0.0.{i}" for i in range(16)]}, "ip_whitelist"),
                        ({"ip_whitelist": ["not-an-ip"]}, "ip_whitelist")):
        status, answer = await api(stack, "POST", "/v1/chatbot-applications", {
            "channel_id": channel_id, "profile_id": created["id"], "chatbot_number": CHATBOT_NUMBER,
            "signature": "招商银行", **body})
        assert status == 422, (field, answer)
        assert field in str(answer["error"].get("field")), (field, answer)
    status, answer = await api(stack, "POST", "/v1/chatbot-applications", {
        "channel_id": channel_id, "profile_id": "nope", "chatbot_number": CHATBOT_NUMBER, "signature": "招商银行"})
    assert (status, answer["error"]["code"]) == (404, "profile_not_found"), answer
