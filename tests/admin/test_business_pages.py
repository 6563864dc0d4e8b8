"""Businesses, mapping requests and the messages of a business in the admin, over HTTP against the real
server: a tenant admin adds a business (a bad callback URL refused by name; the secret shown once, then
callbacks signed with it), changes its type and rotates its secret; an operator limited to one business
asks for a mapping for it and cannot ask for another's; the same operator sees only that business's
messages, and exports them with numbers masked, unless a role that may see them asks, each export in
the audit log."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from sqlalchemy import select

from msg5g.domain.messages import TrafficClass
from msg5g.domain.roles import Role
from msg5g.services.grants import ResourceType
from msg5g.services.signing import verify_callback
from msg5g.storage.tables import AuditEntry
from tests.admin.conftest import PASSWORD, AdminClient, Page
from tests.admin.test_chatbots_admin import inline_errors
from tests.conftest import Stack

pytestmark = pytest.mark.asyncio


def business_ids(page: Page) -> list[str]:
    return re.findall(r'<tr data-business="([^"]+)"', page.text)


async def test_a_tenant_admin_adds_changes_and_rotates_a_business(stack: Stack, browser_session: AdminClient,
                                                                  tenant_admin: str) -> None:
    await browser_session.login(tenant_admin)
    page = await browser_session.get("/businesses")
    assert business_ids(page) == [stack.tenant.business_id]

    refused = await browser_session.submit("/businesses", "/businesses", {
        "name": "营销活动", "traffic_class": "marketing", "callback_url": "not a url"})
    assert refused.status == 422, refused.text
    assert "callback_url" in inline_errors(refused), inline_errors(refused)
    assert len(await stack.platform.services.businesses.of_tenant(stack.tenant.tenant_id)) == 1

    added = await browser_session.submit("/businesses", "/businesses", {
        "name": "营销活动", "traffic_class": "marketing", "callback_url": stack.receiver.url})
    assert added.status == 200, added.text
    [secret] = re.findall(r'<code class="callback-secret">([^<]+)</code>', added.text)
    [created] = [b for b in await stack.platform.services.businesses.of_tenant(stack.tenant.tenant_id)
                 if b.name == "营销活动"]
    assert created.traffic_class is TrafficClass.MARKETING
    assert secret not in (await browser_session.get("/businesses")).text

    changed = await browser_session.submit("/businesses", f"/businesses/{created.id}", {
        "name": "营销活动", "traffic_class": "service", "callback_url": stack.receiver.url})
    assert changed.status == 200, changed.text
    [after] = [b for b in await stack.platform.services.businesses.of_tenant(stack.tenant.tenant_id)
               if b.id == created.id]
    assert after.traffic_class is TrafficClass.SERVICE

    rotated = await browser_session.submit("/businesses", f"/businesses/{created.id}/rotate-secret", {})
    assert rotated.status == 200, rotated.text
    [new_secret] = re.findall(r'<code class="callback-secret">([^<]+)</code>', rotated.text)
    assert new_secret != secret
    # Callbacks of the business are signed with the new secret: a chatbot of it sends, the status arrives.
    services = stack.platform.services
    _, key = await services.api_keys.create(stack.tenant.tenant_id, created.id, "marketing key")
    grant = await services.grants.apply_for(stack.tenant.tenant_id, created.id, ResourceType.CHATBOT,
                                            stack.tenant.chatbot_id, None, "test")
    await services.grants.decide(stack.tenant.tenant_id, grant.id, approve=True, by="admin:checker")
    async with stack.http.post(f"{stack.base_url}/v1/messages", headers={"Authorization": f"Bearer {key}"}, json={
            "chatbot_id": stack.tenant.chatbot_id, "recipients": ["+8613900500002"],
            "content": {"kind": "text", "text": "营销"}}) as r:
        assert r.status == 202, await r.text()
        sent = (await r.json())["messages"][0]["id"]

    def about_it(events: list[dict[str, Any]]) -> bool:
        return any(e.get("data", {}).get("message_id") == sent for e in events)
    await stack.receiver.wait_for(about_it)
    request = next(r for r in stack.receiver.requests if r.body and r.json().get("data", {}).get("message_id") == sent)
    assert verify_callback(new_secret, request.body, request.headers)
    assert not verify_callback(secret, request.body, request.headers)


async def _operator(stack: Stack, business_id: str, role: Role = Role.OPERATOR) -> str:
    email = f"{role.value}-{business_id[:8]}@tenant-a.example"
    await stack.platform.services.admins.create(email, PASSWORD, tenant_id=stack.tenant.tenant_id,
                                                display_name="运营", role=role, business_ids=[business_id])
    return email


async def test_a_limited_operator_asks_for_a_mapping_for_their_business_only(stack: Stack,
                                                                            browser_session: AdminClient) -> None:
    services = stack.platform.services
    own, _ = await services.provisioning.create_business(stack.tenant.tenant_id, "售后", TrafficClass.CUSTOMER_SERVICE)
    await browser_session.login(await _operator(stack, own))
    page = await browser_session.get("/mappings")
    assert page.status == 200, page.text
    assert f'value="chatbot:{stack.tenant.chatbot_id}"' in page.text
    assert f'<option value="{stack.tenant.business_id}"' not in page.text  # not their business to ask for
    foreign = await browser_session.submit("/mappings", "/mappings", {
        "business_id": stack.tenant.business_id, "resource": f"chatbot:{stack.tenant.chatbot_id}"})
    assert foreign.status == 422, foreign.text
    assert await services.grants.of_tenant(stack.tenant.tenant_id) == []
    asked = await browser_session.submit("/mappings", "/mappings", {
        "business_id": own, "resource": f"chatbot:{stack.tenant.chatbot_id}", "note": "售后通知"})
    assert asked.status == 200, asked.text
    [grant] = await services.grants.of_tenant(stack.tenant.tenant_id)
    assert (grant.business_id, grant.resource_id, grant.state.value, grant.note) == (
        own, stack.tenant.chatbot_id, "pending", "售后通知")
    assert grant.requested_by.startswith("admin:operator-")
    again = await browser_session.submit("/mappings", "/mappings", {
        "business_id": own, "resource": f"chatbot:{stack.tenant.chatbot_id}"})
    assert again.status == 409, again.text  # asked already
    assert len(await services.grants.of_tenant(stack.tenant.tenant_id)) == 1


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


async def test_a_limited_operator_sees_and_exports_only_their_business_messages(
        stack: Stack, browser_session: AdminClient, second_session: AdminClient, tenant_admin: str) -> None:
    services = stack.platform.services
    other, _ = await services.provisioning.create_business(stack.tenant.tenant_id, "另一业务", TrafficClass.SERVICE)
    status, sent = await stack.text(["+8613900600001", "+8613900600002"], "本业务")
    assert status == 202, sent
    mine = {m["id"] for m in sent["messages"]}
    await browser_session.login(await _operator(stack, other))
    page = await browser_session.get("/messages")
    assert not any(i in page.text for i in mine), "another business's messages are listed"
    detail = await browser_session.get(f"/messages/{sent['messages'][0]['id']}")
    assert detail.status == 404
    exported = await browser_session.get("/messages/export")
    assert exported.status == 200
    assert _rows(exported.text) == []

    await second_session.login(tenant_admin)
    masked = _rows((await second_session.get("/messages/export")).text)
    assert {r["message_id"] for r in masked} >= mine
    assert "+86139****0001" in {r["recipient"] for r in masked}, masked
    full = _rows((await second_session.get("/messages/export?reveal=1")).text)
    assert "+8613900600001" in {r["recipient"] for r in full}
    viewer = await _operator(stack, stack.tenant.business_id, Role.VIEWER)
    await browser_session.login(viewer)
    refused_reveal = _rows((await browser_session.get("/messages/export?reveal=1")).text)
    assert "+8613900600001" not in {r["recipient"] for r in refused_reveal}  # a viewer may not see numbers
    async with services.ctx.db.reader() as session:
        lines = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "messages.export"))).all()
    assert sorted((line.after or {})["numbers"] for line in lines) == ["masked", "masked", "masked", "unmasked"]
    assert {line.actor for line in lines} >= {f"admin:{tenant_admin}"}
