"""The mapping gate: a business sends only through the chatbots and templates it owns or is mapped to.
Another business of the tenant applies; until a tenant admin or auditor approves, its sends are refused
as if the chatbot or template did not exist; a revocation takes that back."""

from __future__ import annotations

from typing import Any

import pytest

from msg5g.domain.messages import TrafficClass
from tests.conftest import Stack
from tests.e2e.library import Api, approved_template, card_template, channel_states, settled, upload, wait_for
from tests.media_samples import png

pytestmark = pytest.mark.asyncio

USER = "+8613900139555"
PARAMS = {"name": "李四", "amount": "88.00", "due": "2026-12-20", "account": "0042"}


async def second_business(stack: Stack) -> Api:
    services = stack.platform.services
    business_id, _ = await services.provisioning.create_business(stack.tenant.tenant_id, "营销", TrafficClass.MARKETING)
    _, key = await services.api_keys.create(stack.tenant.tenant_id, business_id, "marketing")
    return Api(stack, key)


async def displayed(api: Api, message_id: str) -> None:
    async def check() -> bool:
        status, message = await api.call("GET", f"/v1/messages/{message_id}")
        assert status == 200, message
        return bool(message["status"] == "displayed")
    await wait_for(check, f"message {message_id} displayed")


async def decide(stack: Stack, grant_id: str, approve: bool = True, by: str = "admin:auditor@a.example") -> Any:
    return await stack.platform.services.grants.decide(stack.tenant.tenant_id, grant_id, approve=approve, by=by)


async def test_a_chatbot_of_another_business_is_used_only_once_mapped(stack: Stack) -> None:
    marketing = await second_business(stack)
    text = {"chatbot_id": stack.tenant.chatbot_id, "recipients": [USER], "content": {"kind": "text", "text": "优惠"}}
    status, answer = await marketing.call("POST", "/v1/messages", text)
    assert (status, answer["error"]["code"]) == (404, "chatbot_not_found"), answer
    status, grant = await marketing.call("POST", "/v1/mappings", {
        "resource_type": "chatbot", "resource_id": stack.tenant.chatbot_id, "note": "双十二活动"})
    assert status == 201, grant
    assert (grant["state"], grant["resource_name"], grant["owner_business_id"]) == (
        "pending", "Tenant A bot", stack.tenant.business_id)
    status, answer = await marketing.call("POST", "/v1/messages", text)
    assert (status, answer["error"]["code"]) == (404, "chatbot_not_found"), answer  # pending is not enough
    status, again = await marketing.call("POST", "/v1/mappings", {
        "resource_type": "chatbot", "resource_id": stack.tenant.chatbot_id})
    assert (status, again["error"]["code"]) == (409, "mapping_exists"), again

    approved = await decide(stack, grant["id"])
    assert approved.state == "approved"
    status, sent = await marketing.call("POST", "/v1/messages", text)
    assert status == 202, sent
    await displayed(marketing, sent["messages"][0]["id"])
    status, history = await marketing.call("GET", f"/v1/mappings/{grant['id']}")
    assert status == 200, history
    assert [(s["action"], s["by"]) for s in history["history"]] == [
        ("requested", grant["requested_by"]), ("approved", "admin:auditor@a.example")]

    await stack.platform.services.grants.revoke(stack.tenant.tenant_id, grant["id"], by="admin:owner@a.example",
                                                reason="活动结束")
    status, answer = await marketing.call("POST", "/v1/messages", text)
    assert (status, answer["error"]["code"]) == (404, "chatbot_not_found"), answer
    status, listed = await marketing.call("GET", "/v1/mappings")
    assert [(g["id"], g["state"], g["reason"]) for g in listed] == [(grant["id"], "revoked", "活动结束")]


async def test_a_template_of_another_business_is_sent_only_once_mapped(stack: Stack) -> None:
    status, material = await upload(stack, png(400, 300))
    assert status == 201, material
    template = await approved_template(stack, card_template(material["id"]))
    await channel_states(stack, template["id"], 1, settled)
    marketing = await second_business(stack)
    # The chatbot is mapped; the template not yet.
    status, grant = await marketing.call("POST", "/v1/mappings", {"resource_type": "chatbot",
                                                                  "resource_id": stack.tenant.chatbot_id})
    assert status == 201, grant
    await decide(stack, grant["id"])
    body = {"chatbot_id": stack.tenant.chatbot_id, "recipients": [USER], "template": template["id"], "params": PARAMS}
    status, answer = await marketing.call("POST", "/v1/messages", body)
    assert (status, answer["error"]["code"]) == (404, "template_not_found"), answer
    status, answer = await marketing.call("GET", f"/v1/templates/{template['id']}")
    assert status == 404, answer  # another business's template stays invisible
    status, grant = await marketing.call("POST", "/v1/mappings", {"resource_type": "template",
                                                                  "resource_id": template["id"]})
    assert status == 201, grant
    rejected = await decide(stack, grant["id"], approve=False)
    assert rejected.state == "rejected"
    status, answer = await marketing.call("POST", "/v1/messages", body)
    assert (status, answer["error"]["code"]) == (404, "template_not_found"), answer
    status, grant = await marketing.call("POST", "/v1/mappings", {"resource_type": "template",
                                                                  "resource_id": template["id"]})
    assert status == 201, grant  # asked again after the rejection
    await decide(stack, grant["id"])
    status, sent = await marketing.call("POST", "/v1/messages", body)
    assert status == 202, sent
    await displayed(marketing, sent["messages"][0]["id"])


async def test_bad_mapping_requests_and_decisions_are_refused(stack: Stack) -> None:
    marketing = await second_business(stack)
    owner = Api(stack, stack.tenant.api_key)
    status, answer = await owner.call("POST", "/v1/mappings", {"resource_type": "chatbot",
                                                               "resource_id": stack.tenant.chatbot_id})
    assert (status, answer["error"]["code"]) == (422, "already_owned"), answer
    for body, code in (({"resource_type": "chatbot", "resource_id": "nope"}, "chatbot_not_found"),
                       ({"resource_type": "template", "resource_id": "nope"}, "template_not_found")):
        status, answer = await marketing.call("POST", "/v1/mappings", body)
        assert (status, answer["error"]["code"]) == (404, code), answer
    status, answer = await marketing.call("POST", "/v1/mappings", {"resource_type": "material", "resource_id": "x"})
    assert status == 422, answer
    status, grant = await marketing.call("POST", "/v1/mappings", {"resource_type": "chatbot",
                                                                  "resource_id": stack.tenant.chatbot_id})
    assert status == 201, grant
    from msg5g.domain.errors import Conflict
    with pytest.raises(Conflict) as same:
        await decide(stack, grant["id"], by=grant["requested_by"])
    assert same.value.code == "same_person"
    await decide(stack, grant["id"])
    with pytest.raises(Conflict) as twice:
        await decide(stack, grant["id"])
    assert twice.value.code == "mapping_decided"
    status, answer = await owner.call("GET", f"/v1/mappings/{grant['id']}")
    assert (status, answer["error"]["code"]) == (404, "mapping_not_found"), answer  # another business's


async def test_operators_create_tenants_and_their_businesses(stack: Stack) -> None:
    _, key = await stack.platform.services.operator_keys.create("ops")
    headers = {"Authorization": f"Bearer {key}"}
    base = f"{stack.base_url}/v1/platform"
    async with stack.http.post(f"{base}/tenants", json={"name": "某银行"}, headers=headers) as r:
        assert r.status == 201, await r.text()
        tenant = await r.json()
    async with stack.http.post(f"{base}/tenants/{tenant['id']}/businesses", headers=headers, json={
            "name": "贷款提醒", "type": "notification", "callback_url": "https://bank.example/cb"}) as r:
        assert r.status == 201, await r.text()
        business = await r.json()
    assert (business["type"], len(business["callback_secret"]) >= 32) == ("notification", True)
    async with stack.http.get(f"{base}/tenants/{tenant['id']}/businesses", headers=headers) as r:
        listed = await r.json()
    assert [(b["id"], b["type"]) for b in listed] == [(business["id"], "notification")]
    assert "callback_secret" not in listed[0]  # shown once, at creation
    for body, field in (({"name": "x", "type": "spam"}, "type"), ({"name": "", "type": "marketing"}, "name"),
                        ({"name": "x", "type": "marketing", "callback_url": "ftp://x"}, "callback_url")):
        async with stack.http.post(f"{base}/tenants/{tenant['id']}/businesses", json=body, headers=headers) as r:
            answer = await r.json()
            assert r.status == 422, answer
            assert field in str(answer["error"].get("field")), answer
    async with stack.http.post(f"{base}/tenants/no-such-tenant/businesses", headers=headers,
                               json={"name": "x", "type": "marketing"}) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (404, "tenant_not_found")
