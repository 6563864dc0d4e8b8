"""Alert management end to end: each kind of rule raises its alert once, the alert reaches the rule's
webhook (signed) and a real SMTP server (aiosmtpd on loopback), repeats are counted and not sent, a
condition resolves itself when it clears, a flap within the quiet period is recorded but not sent,
and a person acknowledges or resolves an alert."""

from __future__ import annotations

import asyncio
import email
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from msg5g.pipeline.queue import NewJob
from msg5g.services.signing import verify_callback
from tests.conftest import CallbackReceiver, ServeFn, Stack, build_stack, free_port
from tests.e2e.channels import aggregator_channel
from tests.e2e.library import approved_template, channel_states, settled, wait_for

pytestmark = pytest.mark.asyncio


@dataclass
class Mailbox:
    """A real SMTP server: what it was sent."""

    port: int = 0
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        self.messages.append(email.message_from_bytes(content if isinstance(content, bytes) else content.encode()))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(email.header.make_header(email.header.decode_header(m["Subject"]))) for m in self.messages]


@pytest_asyncio.fixture
async def mailbox() -> AsyncIterator[Mailbox]:
    box = Mailbox(port=free_port())
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(box, hostname="mail.test"), "127.0.0.1",
                                                            box.port)
    yield box
    server.close()
    with suppress(Exception):
        await server.wait_closed()


@pytest_asyncio.fixture
async def hooks() -> AsyncIterator[CallbackReceiver]:
    """The alert webhook: a real HTTP server, apart from the business's callback endpoint."""
    receiver = CallbackReceiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    receiver.url = f"http://127.0.0.1:{port}/alerts"
    yield receiver
    await runner.cleanup()


@pytest_asyncio.fixture
async def stack(sqlite_url: str, tmp_path: Path, serve: ServeFn, callback_receiver: CallbackReceiver,
                mailbox: Mailbox) -> AsyncIterator[Stack]:
    async for built in build_stack(sqlite_url, tmp_path, serve, callback_receiver, alert_eval_seconds=0.2,
                                   smtp_url=f"smtp://127.0.0.1:{mailbox.port}", circuit_failures_to_open=2,
                                   circuit_open_seconds=0.5):
        yield built


async def api(stack: Stack, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with stack.http.request(method, f"{stack.base_url}{path}", json=body, headers=stack.auth()) as r:
        return r.status, await r.json() if r.content_type == "application/json" else None


async def operator(stack: Stack, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    if not hasattr(stack, "_operator_key"):
        _, key = await stack.platform.services.operator_keys.create("alerts test")
        stack._operator_key = key  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {stack._operator_key}"}  # type: ignore[attr-defined]
    async with stack.http.request(method, f"{stack.base_url}/v1/platform{path}", json=body, headers=headers) as r:
        return r.status, await r.json() if r.content_type == "application/json" else None


async def rule(stack: Stack, hooks: CallbackReceiver, **spec: Any) -> dict[str, Any]:
    status, created = await api(stack, "POST", "/v1/alert-rules", {
        "webhooks": [hooks.url], "emails": ["oncall@tenant-a.example"], **spec})
    assert status == 201, created
    assert created["webhook_secret"], created
    return dict(created)


async def alerts_of(stack: Stack, rule_id: str, count: int, *, state: str | None = None) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]] | None:
        status, listed = await api(stack, "GET", "/v1/alerts")
        assert status == 200, listed
        mine = [a for a in listed if a["rule_id"] == rule_id and (state is None or a["state"] == state)]
        return mine if len(mine) == count else None
    return list(await wait_for(check, f"{count} alerts of rule {rule_id} (state {state})"))


def hook_alerts(hooks: CallbackReceiver, rule_id: str) -> list[dict[str, Any]]:
    return [e["alert"] for e in hooks.events("alert.firing") if e["alert"]["rule_id"] == rule_id]


async def test_a_capacity_threshold_alerts_once_per_period_by_webhook_and_mail_and_is_acknowledged(
        stack: Stack, hooks: CallbackReceiver, mailbox: Mailbox) -> None:
    status, cap = await operator(stack, "POST", f"/tenants/{stack.tenant.tenant_id}/caps", {
        "scope": "business", "scope_id": stack.tenant.business_id, "metric": "count", "period": "day",
        "limit": 5, "name": "每日条数"})
    assert status == 201, cap
    created = await rule(stack, hooks, name="caps", kind="capacity", thresholds=[80, 100])
    for i in range(4):
        status, body = await stack.text([f"+8613900200{i:03d}"])
        assert status == 202, body
    [first] = await alerts_of(stack, created["id"], 1)
    assert (first["detail"]["threshold"], first["detail"]["used"]) == (80, 4), first
    assert "每日条数" in first["title"]
    await wait_for(lambda: _done(lambda: len(hook_alerts(hooks, created["id"])) == 1 and len(mailbox.messages) == 1),
                   "the 80% alert at the webhook and in the mailbox")
    await asyncio.sleep(1.0)  # five more evaluations: still one alert, sent once
    assert len(await alerts_of(stack, created["id"], 1)) == 1
    assert len(hook_alerts(hooks, created["id"])) == 1
    assert len(mailbox.messages) == 1
    # The webhook is signed with the rule's secret, like a business callback.
    [request] = [r for r in hooks.requests if r.json()["alert"]["rule_id"] == created["id"]]
    assert verify_callback(created["webhook_secret"], request.body, request.headers)
    assert not verify_callback("another secret", request.body, request.headers)
    [mail] = mailbox.messages
    assert mail["To"] == "oncall@tenant-a.example"
    assert "每日条数" in mailbox.subjects()[0]
    assert "80%" in mailbox.subjects()[0]
    assert f"/admin/alerts/{first['id']}" in mail.get_payload(decode=True).decode()  # type: ignore[union-attr]

    status, body = await stack.text(["+8613900200100"])  # the fifth: 100%
    assert (status, body["refused"]) == (202, []), body
    status, body = await stack.text(["+8613900200101"])  # over the cap: refused, no new alert
    assert status == 429, body
    alerts = await alerts_of(stack, created["id"], 2)
    assert sorted(a["detail"]["threshold"] for a in alerts) == [80, 100]
    await wait_for(lambda: _done(lambda: len(mailbox.messages) == 2), "the 100% mail")

    status, acked = await api(stack, "POST", f"/v1/alerts/{first['id']}/acknowledge")
    assert status == 200, acked
    assert acked["state"] == "acknowledged", acked
    assert acked["acknowledged_by"].startswith("api-key:"), acked
    assert {n["channel"]: n["state"] for n in acked["notifications"]} == {"webhook": "sent", "email": "sent"}
    status, resolved = await api(stack, "POST", f"/v1/alerts/{first['id']}/resolve")
    assert (status, resolved["state"]) == (200, "resolved"), resolved
    status, answer = await api(stack, "POST", f"/v1/alerts/{first['id']}/acknowledge")
    assert (status, answer["error"]["code"]) == (409, "alert_resolved"), answer
    await asyncio.sleep(0.6)  # an event's alert does not come back once resolved
    assert len(await alerts_of(stack, created["id"], 2)) == 2


async def _done(check: Any) -> bool:
    return bool(check())


async def test_a_failing_channel_alerts_resolves_itself_and_a_flap_in_the_quiet_period_is_not_sent(
        stack: Stack, hooks: CallbackReceiver, mailbox: Mailbox) -> None:
    created = await rule(stack, hooks, name="channels", kind="channel_health", quiet_minutes=60)
    status, answer = await stack.sim("PUT", "/_sim/faults", {"burst_5xx": 1000})
    assert status == 200, answer
    status, sent = await stack.text(["+8613900300001", "+8613900300002", "+8613900300003"])
    assert status == 202, sent
    [alert] = await alerts_of(stack, created["id"], 1, state="firing")
    assert alert["subject"] == f"channel:{stack.channel_id}", alert
    await wait_for(lambda: _done(lambda: len(hook_alerts(hooks, created["id"])) == 1 and mailbox.messages),
                   "the channel alert sent")
    status, answer = await stack.sim("PUT", "/_sim/faults", {"burst_5xx": 0})
    assert status == 200, answer
    for message in sent["messages"]:  # retried through the recovered channel; the circuit closes
        await stack.wait_status(message["id"], "displayed", timeout=60)
    [cleared] = await alerts_of(stack, created["id"], 1, state="resolved")
    assert cleared["resolved_by"] is None, cleared  # it cleared by itself
    assert cleared["resolved_at"], cleared

    # It fails again within the quiet period: a new alert in the history, not sent again.
    status, answer = await stack.sim("PUT", "/_sim/faults", {"burst_5xx": 1000})
    status, again = await stack.text(["+8613900300004", "+8613900300005", "+8613900300006"])
    assert status == 202, again
    firing = await alerts_of(stack, created["id"], 1, state="firing")
    assert {n["state"] for n in firing[0]["notifications"]} == {"suppressed"}, firing
    assert "quiet period" in firing[0]["notifications"][0]["last_error"]
    assert len(hook_alerts(hooks, created["id"])) == 1
    assert len(mailbox.messages) == 1
    await stack.sim("PUT", "/_sim/faults", {"burst_5xx": 0})


async def test_a_queue_backlog_alerts_counts_repeats_and_clears_when_worked_off(
        stack: Stack, hooks: CallbackReceiver, mailbox: Mailbox) -> None:
    created = await rule(stack, hooks, name="backlog", kind="queue_backlog", max_waiting=2, topic="alert-probe")
    ctx = stack.platform.services.ctx
    async with ctx.db.transaction() as session:  # a stage nothing works on, through the queue interface
        await ctx.queue.enqueue(session, [NewJob(topic="alert-probe", payload={"n": i},
                                                 tenant_id=stack.tenant.tenant_id) for i in range(3)])
    [alert] = await alerts_of(stack, created["id"], 1, state="firing")
    assert alert["detail"]["waiting"] == 3, alert

    async def repeated() -> dict[str, Any] | None:
        [current] = await alerts_of(stack, created["id"], 1)
        return current if current["occurrences"] >= 3 else None
    await wait_for(repeated, "repeats counted on the one alert")
    assert len(hook_alerts(hooks, created["id"])) <= 1
    await wait_for(lambda: _done(lambda: len(hook_alerts(hooks, created["id"])) == 1 and len(mailbox.messages) == 1),
                   "the backlog alert sent")
    status, acked = await api(stack, "POST", f"/v1/alerts/{alert['id']}/acknowledge")
    assert (status, acked["state"]) == (200, "acknowledged"), acked
    jobs = await ctx.queue.claim("alert-probe", 10)
    await ctx.queue.ack(jobs)
    [cleared] = await alerts_of(stack, created["id"], 1, state="resolved")
    assert cleared["resolved_by"] is None
    # Another tenant's backlog is not this tenant's business.
    other = await stack.add_tenant("Tenant B", "125200401111530")
    async with ctx.db.transaction() as session:
        await ctx.queue.enqueue(session, [NewJob(topic="alert-probe", payload={"n": i}, tenant_id=other.tenant_id)
                                          for i in range(5)])
    await asyncio.sleep(0.8)
    assert len(await alerts_of(stack, created["id"], 1)) == 1
    jobs = await ctx.queue.claim("alert-probe", 10)
    await ctx.queue.ack(jobs)


async def test_failing_callbacks_alert_and_clear_once_they_get_through(
        stack: Stack, hooks: CallbackReceiver, callback_receiver: CallbackReceiver, mailbox: Mailbox) -> None:
    created = await rule(stack, hooks, name="callbacks", kind="callback_failures", min_failures=2, window_minutes=5)
    callback_receiver.status = 503
    status, sent = await stack.text(["+8613900400001", "+8613900400002"])
    assert status == 202, sent
    [alert] = await alerts_of(stack, created["id"], 1, state="firing")
    assert alert["detail"]["business_id"] == stack.tenant.business_id, alert
    assert alert["detail"]["failing"] >= 2, alert
    await wait_for(lambda: _done(lambda: len(hook_alerts(hooks, created["id"])) == 1 and len(mailbox.messages) == 1),
                   "the callbacks alert sent")
    status, acked = await api(stack, "POST", f"/v1/alerts/{alert['id']}/acknowledge")
    assert (status, acked["state"]) == (200, "acknowledged"), acked
    callback_receiver.status = 200
    [cleared] = await alerts_of(stack, created["id"], 1, state="resolved")
    assert cleared["occurrences"] >= 1


async def test_a_carrier_rejection_alerts_once(stack: Stack, serve: ServeFn, hooks: CallbackReceiver,
                                               mailbox: Mailbox) -> None:
    await aggregator_channel(stack, serve)
    created = await rule(stack, hooks, name="audits", kind="audit_rejected", resources=["template"],
                         severity="critical")
    view = await approved_template(stack, {"name": "forbidden", "definition": {
        "layout": {"kind": "text", "text": "违禁 {{ name }}"},
        "parameters": [{"name": "name", "type": "string", "sample": "x"}]}})
    states = await channel_states(stack, view["id"], 1, settled)
    rejected_on = {s["channel_id"] for s in states.values() if s["state"] == "rejected"}
    assert len(rejected_on) == 2, states  # both simulated carriers refuse the word
    alerts = await alerts_of(stack, created["id"], 2)  # one per channel that rejected it
    assert {a["detail"]["channel_id"] for a in alerts} == rejected_on
    for alert in alerts:
        assert (alert["severity"], alert["detail"]["resource_id"]) == ("critical", view["id"]), alert
        assert "违禁" in alert["title"]
    await wait_for(lambda: _done(lambda: len(hook_alerts(hooks, created["id"])) == 2 and len(mailbox.messages) == 2),
                   "the rejections sent")
    await asyncio.sleep(0.8)
    assert len(await alerts_of(stack, created["id"], 2)) == 2
    assert len(mailbox.messages) == 2


async def test_platform_rules_are_the_operators_and_bad_rules_are_refused(stack: Stack,
                                                                          hooks: CallbackReceiver) -> None:
    status, platform_rule = await operator(stack, "POST", "/alert-rules", {
        "name": "whole queue", "kind": "queue_backlog", "max_age_seconds": 1, "webhooks": [hooks.url]})
    assert status == 201, platform_rule
    ctx = stack.platform.services.ctx
    async with ctx.db.transaction() as session:
        await ctx.queue.enqueue(session, [NewJob(topic="alert-probe-platform", payload={},
                                                 tenant_id=stack.tenant.tenant_id)])

    async def raised() -> list[dict[str, Any]] | None:
        status, listed = await operator(stack, "GET", "/alerts?state=firing")
        assert status == 200, listed
        return [a for a in listed if a["rule_id"] == platform_rule["id"]] or None
    [alert] = await wait_for(raised, "the platform's backlog alert")
    assert alert["tenant_id"] is None
    status, tenant_alerts = await api(stack, "GET", "/v1/alerts")
    assert status == 200
    assert alert["id"] not in {a["id"] for a in tenant_alerts}
    status, answer = await api(stack, "GET", f"/v1/alerts/{alert['id']}")
    assert (status, answer["error"]["code"]) == (404, "alert_not_found"), answer
    status, answer = await api(stack, "DELETE", f"/v1/alert-rules/{platform_rule['id']}")
    assert (status, answer["error"]["code"]) == (404, "alert_rule_not_found"), answer
    jobs = await ctx.queue.claim("alert-probe-platform", 10)
    await ctx.queue.ack(jobs)

    bad = [
        ({"name": "x", "kind": "capacity", "max_waiting": 3}, "max_waiting"),
        ({"name": "x", "kind": "queue_backlog"}, "max_waiting"),
        ({"name": "x", "kind": "capacity", "thresholds": [0]}, "percentages"),
        ({"name": "x", "kind": "capacity", "thresholds": [80, 80]}, "repeat"),
        ({"name": "x", "kind": "capacity", "quiet_minutes": -1}, "quiet_minutes"),
        ({"name": "x", "kind": "capacity", "webhooks": ["not a url"]}, "webhooks"),
        ({"name": "x", "kind": "capacity", "emails": ["nobody"]}, "emails"),
        ({"name": "x", "kind": "weather"}, "kind"),
    ]
    for body, hint in bad:
        status, answer = await api(stack, "POST", "/v1/alert-rules", body)
        assert status == 422, (body, answer)
        assert hint in str(answer["error"]), (body, answer)
    created = await rule(stack, hooks, name="caps", kind="capacity")
    status, answer = await api(stack, "PUT", f"/v1/alert-rules/{created['id']}",
                               {"name": "caps", "kind": "queue_backlog", "max_waiting": 5})
    assert (status, answer["error"]["code"]) == (409, "alert_rule_kind_fixed"), answer
    status, answer = await api(stack, "PUT", f"/v1/alert-rules/{created['id']}",
                               {"name": "caps at 50", "kind": "capacity", "thresholds": [50], "enabled": False})
    assert (status, answer["spec"]["thresholds"], answer["webhook_secret"]) == (200, [50], None), answer
    status, listed = await api(stack, "GET", "/v1/alert-rules")
    assert [r["spec"]["name"] for r in listed] == ["caps at 50"], listed
    status, _ = await api(stack, "DELETE", f"/v1/alert-rules/{created['id']}")
    assert status == 204
    status, answer = await api(stack, "GET", f"/v1/alert-rules/{created['id']}")
    assert (status, answer["error"]["code"]) == (404, "alert_rule_not_found"), answer
