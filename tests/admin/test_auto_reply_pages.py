"""Auto-reply rules in the admin, over HTTP against the real server: a rule added as JSON (a catastrophic
pattern refused with the reason, nothing stored), tested against a sample uplink without anything sent,
turned off, deleted; a user of another business sees none of it."""

from __future__ import annotations

import json
import re

import pytest

from msg5g.domain.messages import TrafficClass
from msg5g.domain.roles import Role
from tests.admin.conftest import PASSWORD, AdminClient
from tests.admin.test_chatbots_admin import text_of
from tests.conftest import Stack

pytestmark = pytest.mark.asyncio

RULE = {"name": "余额", "priority": 5, "conditions": {"match": "regex", "pattern": r"查(\d+)月"},
        "actions": [{"kind": "reply", "content": {"kind": "text", "text": "{{ groups[1] }}月的账单"}},
                    {"kind": "set", "state": "bill"}]}


async def test_rules_are_added_tested_turned_off_and_deleted(stack: Stack, browser_session: AdminClient,
                                                             tenant_admin: str) -> None:
    await browser_session.login(tenant_admin)
    path = f"/chatbots/{stack.tenant.chatbot_id}/rules"
    page = await browser_session.get(path)
    assert page.status == 200, page.text
    refused = await browser_session.submit(path, path, {"rule": json.dumps(
        {**RULE, "conditions": {"match": "regex", "pattern": "(a+)+$"}})})
    assert refused.status == 422
    assert "catastrophically slow" in text_of(refused)
    assert re.findall(r'data-rule="', refused.text) == []

    added = await browser_session.submit(path, path, {"rule": json.dumps(RULE, ensure_ascii=False)})
    assert added.status == 200, added.text
    [rule_id] = re.findall(r'data-rule="([^"]+)"', added.text)
    tested = await browser_session.submit(path, f"{path}/test", {"text": "帮我查11月", "tags": "vip"})
    assert tested.status == 200, tested.text
    assert "11月的账单" in text_of(tested)
    assert "bill" in text_of(tested)
    _, inbox = await stack.sim("GET", "/_sim/handsets/+8613800138000/inbox")
    assert inbox == []  # a test sends nothing

    await browser_session.submit(path, f"{path}/{rule_id}/enabled", {"enabled": "false"})
    tested = await browser_session.submit(path, f"{path}/test", {"text": "帮我查11月"})
    assert "11月的账单" not in text_of(tested)  # turned off
    deleted = await browser_session.submit(path, f"{path}/{rule_id}/delete", {})
    assert deleted.status == 200
    assert re.findall(r'data-rule="', deleted.text) == []


async def test_another_business_user_sees_no_rules(stack: Stack, browser_session: AdminClient) -> None:
    other, _ = await stack.platform.services.provisioning.create_business(stack.tenant.tenant_id, "另一业务",
                                                                        TrafficClass.SERVICE)
    await stack.platform.services.admins.create("other@tenant-a.example", PASSWORD, tenant_id=stack.tenant.tenant_id,
                                                display_name="别的", role=Role.OPERATOR, business_ids=[other])
    await browser_session.login("other@tenant-a.example")
    page = await browser_session.get(f"/chatbots/{stack.tenant.chatbot_id}/rules")
    assert page.status == 404
