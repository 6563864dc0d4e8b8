"""Chatbots end to end: accounts registered through the API, a profile submitted to each carrier in
its format and audited there, only live accounts carrying messages, credentials rotated, a menu
tap arriving as an uplink, and carriers without a management API recorded by an operator."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ServeFn, Stack
from tests.e2e.library import settled_syncs, upload, wait_for
from tests.media_samples import png

pytestmark = pytest.mark.asyncio

CTCC_BOT = "106598858810000006"
CREDENTIALS = {"app_id": "xSnu7777", "app_key": "key-7777", "notify_token": "tok-7777"}
USER = "+8618900139111"
MENU = {"entries": [
    {"type": "reply", "text": "查余额", "postback_data": "menu:balance"},
    {"kind": "menu", "text": "更多服务", "entries": [
        {"type": "reply", "text": "账单", "postback_data": "menu:bill"},
        {"type": "dial", "text": "客服热线", "phone_number": "95555"}]}]}


def profile(logo: str | None, **changes: Any) -> dict[str, Any]:
    return {"service_name": "招商银行信用卡", "description": "信用卡账单、还款与积分服务", "category": "银行",
            "logo_material_id": logo, "service_phone": "95555", "email": "service@cmb.example",
            "website": "https://cmb.example", "sms_number": "1065595555", "menu": MENU, **changes}


async def api(stack: Stack, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with stack.http.request(method, f"{stack.base_url}{path}", json=body, headers=stack.auth()) as r:
        return r.status, await r.json() if r.content_type == "application/json" else await r.text()


async def ctcc_account(stack: Stack, serve: ServeFn, profile_id: str | None, *,
                       hold_info: bool = False) -> tuple[dict[str, Any], str]:
    """A CTCC channel with its simulator, and an account on it registered through the API."""
    from msg5g.simulators import maapjson as json_sim

    services = stack.platform.services
    sim_url = await serve(json_sim.create_app(json_sim.SimulatorSettings(
        dialect="ctcc", faults=json_sim.Faults(delivered_delay_ms=10, displayed_delay_ms=10),
        notify_backoff_ms=20)), None)
    channel_id = await services.provisioning.create_channel("ctcc", "ctcc (sim)", sim_url)
    async with stack.http.put(f"{sim_url}/_sim/chatbots/{CTCC_BOT}?verify=false", json={
            **CREDENTIALS, "notify_url": f"{stack.base_url}/webhooks/ctcc/{channel_id}"}) as r:
        assert r.status < 300, await r.text()
    if hold_info:  # the carrier's audit of the chatbot's information waits for the test to settle it
        async with stack.http.put(f"{sim_url}/_sim/audit", json={"chatbot_info": "hold"}) as r:
            assert r.status == 200, await r.text()
    status, account = await api(stack, "POST", "/v1/chatbots", {
        "channel_id": channel_id, "name": "CMB on CTCC", "carrier_chatbot_id": CTCC_BOT,
        "credentials": CREDENTIALS, "profile_id": profile_id})
    assert status == 201, account
    assert "credentials" not in account
    assert "app_key" not in str(account)
    return account, sim_url


async def account_state(stack: Stack, chatbot_id: str, wanted: set[str]) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        _, view = await api(stack, "GET", f"/v1/chatbots/{chatbot_id}")
        return view if view["info_state"] in wanted else None
    return dict(await wait_for(check, f"chatbot {chatbot_id} in {wanted}"))


async def logo(stack: Stack) -> str:
    status, body = await upload(stack, png(200, 200))
    assert status == 201, body
    return str(body["id"])


async def test_a_profile_is_submitted_audited_and_then_sendable(stack: Stack, serve: ServeFn) -> None:
    logo_id = await logo(stack)
    status, created = await api(stack, "POST", "/v1/chatbot-profiles", profile(logo_id))
    assert status == 201, created
    account, sim_url = await ctcc_account(stack, serve, created["id"], hold_info=True)
    assert account["sendable"] is False
    await account_state(stack, account["id"], {"submitted"})  # after its logo was approved there
    status, answer = await stack.send({"chatbot_id": account["id"], "recipients": [USER],
                                       "content": {"kind": "text", "text": "您好"}})
    assert (status, answer["error"]["code"]) == (409, "chatbot_not_live"), answer
    for part in ("information", "menu"):  # two submissions, audited one by one
        async with stack.http.post(f"{sim_url}/_sim/chatbots/{CTCC_BOT}/info/audit", json={"approved": True}) as r:
            assert r.status == 200, (part, await r.text())
        if part == "information":
            assert (await account_state(stack, account["id"], {"submitted", "live"}))["info_state"] == "submitted"
    live = await account_state(stack, account["id"], {"live", "rejected"})
    assert live["info_state"] == "live", live
    assert live["sendable"] is True
    assert live["live_version"] == 1
    # The carrier got it in its format: name, the logo's URL as uploaded for this chatbot, the menu.
    async with stack.http.get(f"{sim_url}/_sim/chatbots/{CTCC_BOT}/info") as r:
        info = await r.json()
    approved = info["approved"]
    logo_url = (await settled_syncs(stack, logo_id, 2))[account["id"]]["url"]
    assert approved["serviceName"] == "招商银行信用卡"
    assert approved["serviceIcon"] == logo_url
    assert approved["category"] == ["银行"]
    assert info["menu"]["menu"]["entries"][0]["reply"]["postback"]["data"] == "menu:balance"
    # What a handset's directory search at the carrier now finds.
    async with stack.http.get(f"{sim_url}/_sim/directory", params={"q": "信用卡"}) as r:
        found = await r.json()
    assert [(f["chatbotId"], f["serviceName"], f["serviceIcon"]) for f in found] == [
        (CTCC_BOT, "招商银行信用卡", logo_url)]
    status, answer = await stack.send({"chatbot_id": account["id"], "recipients": [USER],
                                       "content": {"kind": "text", "text": "您好"}})
    assert status == 202, answer
    await stack.wait_status(answer["messages"][0]["id"], "displayed")
    # A menu tap comes back as an uplink with the entry's postback.
    async with stack.http.post(f"{sim_url}/_sim/handsets/{USER}/uplink",
                               json={"chatbot_id": CTCC_BOT, "menu_path": [1, 0]}) as r:
        assert r.status < 300, await r.text()

    async def tapped() -> list[Any] | None:
        _, inbound = await api(stack, "GET", "/v1/inbound")
        found = [i for i in inbound["data"] if "menu:bill" in str(i["content"])]
        return found or None
    await wait_for(tapped, "the menu tap as an uplink")


async def test_a_rejection_is_not_sendable_and_a_changed_profile_is_resubmitted(stack: Stack,
                                                                              serve: ServeFn) -> None:
    status, created = await api(stack, "POST", "/v1/chatbot-profiles", profile(None))  # no logo
    assert status == 201, created
    account, sim_url = await ctcc_account(stack, serve, created["id"])
    rejected = await account_state(stack, account["id"], {"rejected", "live"})
    assert rejected["info_state"] == "rejected"
    assert rejected["sendable"] is False
    assert rejected["info_reason"]  # the carrier's reason, shown
    status, updated = await api(stack, "PUT", f"/v1/chatbot-profiles/{created['id']}",
                                profile(await logo(stack), description="招商银行信用卡官方服务号"))
    assert status == 200, updated
    assert updated["version"] == 2
    live = await account_state(stack, account["id"], {"live"})
    assert live["live_version"] == 2
    async with stack.http.get(f"{sim_url}/_sim/chatbots/{CTCC_BOT}/info") as r:
        assert (await r.json())["approved"]["serviceDescription"] == "招商银行信用卡官方服务号"
    # The carrier takes it offline: nothing is sent through it any more.
    async with stack.http.post(f"{sim_url}/_sim/chatbots/{CTCC_BOT}/status",
                               json={"status": "offline", "description": "投诉过多"}) as r:
        assert r.status < 300, await r.text()
    offline = await account_state(stack, account["id"], {"offline"})
    assert "投诉过多" in (offline["unsendable_reason"] or "")


async def test_refused_credentials_mark_the_account_failing_until_rotated(stack: Stack, serve: ServeFn) -> None:
    account, _sim_url = await ctcc_account(stack, serve, None)
    status, answer = await api(stack, "PUT", f"/v1/chatbots/{account['id']}/credentials",
                               {"credentials": {**CREDENTIALS, "app_key": "wrong"}})
    assert status == 200, answer
    status, answer = await stack.send({"chatbot_id": account["id"], "recipients": [USER],
                                       "content": {"kind": "text", "text": "您好"}})
    assert status == 202, answer
    failed = await stack.wait_status(answer["messages"][0]["id"], "failed")
    assert "credentials" in failed["status_reason"] or "token" in failed["status_reason"]

    async def failing() -> dict[str, Any] | None:
        _, view = await api(stack, "GET", f"/v1/chatbots/{account['id']}")
        return view if view["credential_error"] else None
    view = await wait_for(failing, "the account marked failing")
    assert view["sendable"] is False
    status, answer = await stack.send({"chatbot_id": account["id"], "recipients": [USER],
                                       "content": {"kind": "text", "text": "您好"}})
    assert (status, answer["error"]["code"]) == (409, "chatbot_not_live"), answer
    status, rotated = await api(stack, "PUT", f"/v1/chatbots/{account['id']}/credentials",
                                {"credentials": CREDENTIALS})
    assert status == 200, rotated
    assert rotated["credential_error"] is None
    assert rotated["sendable"] is True
    status, answer = await stack.send({"chatbot_id": account["id"], "recipients": [USER],
                                       "content": {"kind": "text", "text": "您好"}})
    assert status == 202, answer
    await stack.wait_status(answer["messages"][0]["id"], "displayed")


async def test_china_mobile_is_recorded_by_an_operator(stack: Stack) -> None:
    services = stack.platform.services
    status, created = await api(stack, "POST", "/v1/chatbot-profiles", profile(None))
    assert status == 201, created
    status, view = await api(stack, "POST", f"/v1/chatbot-profiles/{created['id']}/accounts",
                             {"chatbot_id": stack.tenant.chatbot_id})
    assert status == 200, view
    manual = await account_state(stack, stack.tenant.chatbot_id, {"manual"})
    assert "console" in manual["info_reason"]
    assert manual["sendable"] is False
    _, operator_key = await services.operator_keys.create("ops")
    async with stack.http.put(f"{stack.base_url}/v1/platform/chatbots/{stack.tenant.chatbot_id}/state",
                              headers={"Authorization": f"Bearer {operator_key}"},
                              json={"state": "live", "reason": "approved in the CMCC console"}) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["sendable"] is True
    status, answer = await stack.text([USER])
    assert status == 202, answer


async def test_bad_profiles_are_refused_with_the_field_named(stack: Stack) -> None:
    cases = [({"description": "长" * 151}, "description"), ({"category": "赌博"}, "category"),
             ({"service_phone": "call me"}, "service_phone"), ({"email": "not-an-email"}, "email"),
             ({"website": "ftp://x"}, "website"),
             ({"menu": {"entries": [{"type": "reply", "text": f"项{i}"} for i in range(6)]}}, "menu.entries"),
             ({"logo_material_id": "no-such-material"}, "content")]
    for change, field in cases:
        status, answer = await api(stack, "POST", "/v1/chatbot-profiles", profile(None, **change))
        assert status in {404, 422}, (change, answer)
        assert field in (answer["error"]["field"] or ""), (change, answer)
