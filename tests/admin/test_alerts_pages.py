"""Alerts in the admin, over HTTP against the real server: a tenant admin adds a rule through the form (a
bad field refused by name, nothing stored; the webhook secret shown once), the alert it raises is listed
with where it was sent, acknowledged and resolved from the page; a viewer sees alerts but has no buttons
and a posted acknowledgement is refused; the rules' page turns a rule off and deletes it."""

from __future__ import annotations

import re

import pytest

from msg5g.domain.roles import Role
from msg5g.pipeline.queue import NewJob
from tests.admin.conftest import PASSWORD, AdminClient, Page
from tests.admin.test_chatbots_admin import inline_errors, text_of
from tests.conftest import Stack

pytestmark = pytest.mark.asyncio

TOPIC = "admin-alert-probe"


def rule_ids(page: Page) -> list[str]:
    return re.findall(r'<tr data-rule="([^"]+)"', page.text)


def alert_ids(page: Page) -> list[str]:
    return re.findall(r'<tr data-alert="([^"]+)"', page.text)


async def backlog(stack: Stack, count: int = 3) -> None:
    ctx = stack.platform.services.ctx
    async with ctx.db.transaction() as session:
        await ctx.queue.enqueue(session, [NewJob(topic=TOPIC, payload={"n": i}, tenant_id=stack.tenant.tenant_id)
                                          for i in range(count)])


async def test_a_rule_added_in_the_admin_raises_an_alert_that_is_acknowledged_and_resolved(
        stack: Stack, browser_session: AdminClient, tenant_admin: str) -> None:
    await browser_session.login(tenant_admin)
    page = await browser_session.get("/alert-rules")
    assert page.status == 200, page.text
    assert rule_ids(page) == []

    refused = await browser_session.submit("/alert-rules", "/alert-rules", {
        "name": "积压", "kind": "queue_backlog", "severity": "critical", "quiet_minutes": "abc",
        "webhooks": "not a url", "max_waiting": ""})
    assert refused.status == 422, refused.text
    errors = inline_errors(refused)
    assert set(errors) >= {"quiet_minutes", "webhooks"}, errors
    assert "整数" in errors["quiet_minutes"] or "whole" in errors["quiet_minutes"], errors
    assert await stack.platform.services.alerts.rules(stack.tenant.tenant_id) == []

    added = await browser_session.submit("/alert-rules", "/alert-rules", {
        "name": "积压", "kind": "queue_backlog", "severity": "critical", "quiet_minutes": "30",
        "webhooks": "", "emails": "", "max_waiting": "2", "topic": TOPIC, "thresholds": "80, 100"})
    assert added.status == 200, added.text
    [secret] = re.findall(r'<code class="webhook-secret">([^<]+)</code>', added.text)
    assert len(secret) > 30
    [rule] = await stack.platform.services.alerts.rules(stack.tenant.tenant_id)
    # The thresholds typed are not a queue rule's, so they are left out.
    assert (rule.spec.max_waiting, rule.spec.topic, rule.spec.thresholds) == (2, TOPIC, None)
    assert rule.created_by == f"admin:{tenant_admin}"
    assert secret not in (await browser_session.get("/alert-rules")).text  # shown once

    await backlog(stack)
    await stack.platform.services.alerts.evaluate()
    page = await browser_session.get("/alerts")
    [alert_id] = alert_ids(page)
    detail = await browser_session.get(f"/alerts/{alert_id}")
    assert detail.status == 200, detail.text
    assert TOPIC in text_of(detail)
    assert "没有 webhook" in text_of(detail) or "no webhook" in text_of(detail)

    acked = await browser_session.submit(f"/alerts/{alert_id}", f"/alerts/{alert_id}/acknowledge", {})
    assert acked.status == 200, acked.text
    view = await stack.platform.services.alerts.alert(stack.tenant.tenant_id, alert_id)
    assert (view.state.value, view.acknowledged_by) == ("acknowledged", f"admin:{tenant_admin}")
    resolved = await browser_session.submit(f"/alerts/{alert_id}", f"/alerts/{alert_id}/resolve", {})
    assert resolved.status == 200, resolved.text
    assert (await stack.platform.services.alerts.alert(stack.tenant.tenant_id, alert_id)).state.value == "resolved"
    page = await browser_session.get("/alerts?state=resolved")
    assert alert_ids(page) == [alert_id]
    assert alert_ids(await browser_session.get("/alerts")) == []  # the default list: what is firing

    turned_off = await browser_session.submit("/alert-rules", f"/alert-rules/{rule.id}/enabled", {"enabled": "false"})
    assert turned_off.status == 200, turned_off.text
    assert (await stack.platform.services.alerts.rule(stack.tenant.tenant_id, rule.id)).spec.enabled is False
    deleted = await browser_session.submit("/alert-rules", f"/alert-rules/{rule.id}/delete", {})
    assert deleted.status == 200, deleted.text
    assert rule_ids(deleted) == []
    assert alert_ids(await browser_session.get("/alerts?state=all")) == [alert_id]  # the history stays
    jobs = await stack.platform.services.ctx.queue.claim(TOPIC, 10)
    await stack.platform.services.ctx.queue.ack(jobs)


async def test_a_viewer_sees_alerts_but_does_not_handle_them(stack: Stack, browser_session: AdminClient,
                                                             second_session: AdminClient, tenant_admin: str) -> None:
    from msg5g.domain.alerts import AlertRuleSpec

    await stack.platform.services.alerts.add_rule(stack.tenant.tenant_id, AlertRuleSpec(
        name="积压", kind="queue_backlog", max_waiting=1, topic=TOPIC), "test")
    await backlog(stack)
    await stack.platform.services.alerts.evaluate()
    await stack.platform.services.admins.create("look@tenant-a.example", PASSWORD,
                                                tenant_id=stack.tenant.tenant_id, display_name="看", role=Role.VIEWER)
    await second_session.login("look@tenant-a.example")
    page = await second_session.get("/alerts")
    [alert_id] = alert_ids(page)
    assert "/acknowledge" not in page.text
    refused = await second_session.submit("/alerts", f"/alerts/{alert_id}/acknowledge", {})
    assert refused.status == 403, refused.text
    assert (await stack.platform.services.alerts.alert(stack.tenant.tenant_id, alert_id)).state.value == "firing"
    rules = await second_session.get("/alert-rules")
    assert rules.status == 200
    assert "/alert-rules/" not in rules.text  # no buttons on the rules either
    # A tenant's user never sees the platform's alerts, even asking for them.
    await browser_session.login(tenant_admin)
    platform = await browser_session.get("/alerts?scope=platform")
    assert alert_ids(platform) == [alert_id]  # the tenant's own, not the platform's
    jobs = await stack.platform.services.ctx.queue.claim(TOPIC, 10)
    await stack.platform.services.ctx.queue.ack(jobs)
