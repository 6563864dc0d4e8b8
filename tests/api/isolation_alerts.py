"""The second-tenant cases of alert management's routes, for test_tenant_isolation.ISOLATION_CASES.

Each case takes the isolation test's World (tenants A and B, their keys and admin users). Alerts are
raised by the platform's own evaluation (`services.alerts.evaluate`, what the periodic task runs) from
a queue backlog of A's, so no case waits for the timer.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from msg5g.domain.alerts import AlertRuleSpec
from msg5g.pipeline.queue import NewJob

Case = Callable[[Any], Awaitable[None]]
PROBE_TOPIC = "isolation-alert-probe"
A_RULE_NAME = "A 的告警规则"


async def _call(w: Any, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
    async with w.http.request(method, f"{w.stack.base_url}{path}", json=body, headers=headers) as r:
        text = await r.text()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text


async def _backlog(w: Any, tenant_id: str, count: int = 2) -> None:
    ctx = w.stack.platform.services.ctx
    async with ctx.db.transaction() as session:
        await ctx.queue.enqueue(session, [NewJob(topic=PROBE_TOPIC, payload={"n": i}, tenant_id=tenant_id)
                                          for i in range(count)])


async def a_rule(w: Any) -> dict[str, Any]:
    status, created = await _call(w, "POST", "/v1/alert-rules", w.stack.auth(w.a), {
        "name": A_RULE_NAME, "kind": "queue_backlog", "max_waiting": 1, "topic": PROBE_TOPIC})
    assert status == 201, created
    return dict(created)


async def a_alert(w: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A's rule and the alert it raised."""
    rule = await a_rule(w)
    await _backlog(w, w.a.tenant_id)
    await w.stack.platform.services.alerts.evaluate()
    [alert] = [a for a in await w.stack.platform.services.alerts.alerts(w.a.tenant_id) if a.rule_id == rule["id"]]
    return rule, alert.model_dump(mode="json")


def _hidden(answer: Any) -> None:
    assert A_RULE_NAME not in json.dumps(answer, ensure_ascii=False), answer
    assert PROBE_TOPIC not in json.dumps(answer, ensure_ascii=False), answer


async def _add_rule(w: Any) -> None:
    """B's rule is B's: A's list does not change; B's evaluation does not see A's backlog."""
    await _backlog(w, w.a.tenant_id)
    status, created = await _call(w, "POST", "/v1/alert-rules", w.stack.auth(w.b), {
        "name": "B 的规则", "kind": "queue_backlog", "max_waiting": 1, "topic": PROBE_TOPIC})
    assert status == 201, created
    assert created["tenant_id"] == w.b.tenant_id
    await w.stack.platform.services.alerts.evaluate()
    assert await w.stack.platform.services.alerts.alerts(w.b.tenant_id) == []
    assert await w.stack.platform.services.alerts.rules(w.a.tenant_id) == []
    await a_rule(w)  # the control, through the route


async def _list_rules(w: Any) -> None:
    rule = await a_rule(w)
    status, listed = await _call(w, "GET", "/v1/alert-rules", w.stack.auth(w.b))
    assert (status, listed) == (200, []), listed
    status, listed = await _call(w, "GET", "/v1/alert-rules", w.stack.auth(w.a))
    assert [r["id"] for r in listed] == [rule["id"]]
    assert all(r["webhook_secret"] is None for r in listed)


def _rule_case(method: str, body: dict[str, Any] | None = None) -> Case:
    async def case(w: Any) -> None:
        rule = await a_rule(w)
        before = await w.stack.platform.services.alerts.rules(w.a.tenant_id)
        status, answer = await _call(w, method, f"/v1/alert-rules/{rule['id']}", w.stack.auth(w.b), body)
        missing = await _call(w, method, "/v1/alert-rules/no-such-rule", w.stack.auth(w.b), body)
        assert status == 404, answer
        assert (status, answer) == missing
        _hidden(answer)
        assert await w.stack.platform.services.alerts.rules(w.a.tenant_id) == before
        status, answer = await _call(w, method, f"/v1/alert-rules/{rule['id']}", w.stack.auth(w.a), body)
        assert status in {200, 204}, answer

    return case


async def _list_alerts(w: Any) -> None:
    _, alert = await a_alert(w)
    for query in ("", "?state=firing", "?kind=queue_backlog", "?limit=500"):
        status, listed = await _call(w, "GET", f"/v1/alerts{query}", w.stack.auth(w.b))
        assert (status, listed) == (200, []), (query, listed)
    status, listed = await _call(w, "GET", "/v1/alerts", w.stack.auth(w.a))
    assert [a["id"] for a in listed] == [alert["id"]]


def _alert_case(method: str, suffix: str = "") -> Case:
    async def case(w: Any) -> None:
        _, alert = await a_alert(w)
        status, answer = await _call(w, method, f"/v1/alerts/{alert['id']}{suffix}", w.stack.auth(w.b))
        missing = await _call(w, method, f"/v1/alerts/no-such-alert{suffix}", w.stack.auth(w.b))
        assert status == 404, answer
        assert (status, answer) == missing
        _hidden(answer)
        after = await w.stack.platform.services.alerts.alert(w.a.tenant_id, alert["id"])
        assert (after.state.value, after.acknowledged_by, after.resolved_by) == ("firing", None, None)
        status, answer = await _call(w, method, f"/v1/alerts/{alert['id']}{suffix}", w.stack.auth(w.a))
        assert status == 200, answer

    return case


def _platform_case(method: str, path: str, body: dict[str, Any] | None = None) -> Case:
    """The platform's rules and alerts are the operators': neither tenant's key reads or changes them."""

    async def case(w: Any) -> None:
        alerts = w.stack.platform.services.alerts
        rule = await alerts.add_rule(None, AlertRuleSpec(name="平台规则", kind="queue_backlog", max_waiting=1,
                                                         topic=PROBE_TOPIC), "operator:test")
        await _backlog(w, w.a.tenant_id)
        await alerts.evaluate()
        [alert] = await alerts.alerts(None)
        url = path.replace("{rule_id}", rule.id).replace("{alert_id}", alert.id)
        async def standing() -> tuple[Any, ...]:
            return (await alerts.rules(None), [(a.id, a.state, a.acknowledged_by, a.resolved_by)
                                               for a in await alerts.alerts(None)])
        before = await standing()
        for tenant in (w.b, w.a):
            status, answer = await _call(w, method, url, w.stack.auth(tenant), body)
            assert status == 401, answer
            assert answer["error"]["code"] == "invalid_operator_key"
            assert "平台规则" not in json.dumps(answer, ensure_ascii=False)
        assert await standing() == before
        # Nor do a tenant's own routes reach them.
        status, answer = await _call(w, "GET", f"/v1/alerts/{alert.id}", w.stack.auth(w.a))
        assert status == 404, answer
        status, answer = await _call(w, "GET", f"/v1/alert-rules/{rule.id}", w.stack.auth(w.a))
        assert status == 404, answer
        _, operator_key = await w.stack.platform.services.operator_keys.create("isolation test")
        status, answer = await _call(w, method, url, {"Authorization": f"Bearer {operator_key}"}, body)
        assert status in {200, 201, 204}, answer
        assert await alerts.rules(w.a.tenant_id) == []
        assert await alerts.rules(w.b.tenant_id) == []

    return case


_PLATFORM_RULE = {"name": "平台积压", "kind": "queue_backlog", "max_age_seconds": 60}

API_CASES: dict[tuple[str, str], Case] = {
    ("POST", "/v1/alert-rules"): _add_rule,
    ("GET", "/v1/alert-rules"): _list_rules,
    ("GET", "/v1/alert-rules/{rule_id}"): _rule_case("GET"),
    ("PUT", "/v1/alert-rules/{rule_id}"): _rule_case("PUT", {"name": "B 改的", "kind": "queue_backlog",
                                                             "max_waiting": 99}),
    ("DELETE", "/v1/alert-rules/{rule_id}"): _rule_case("DELETE"),
    ("GET", "/v1/alerts"): _list_alerts,
    ("GET", "/v1/alerts/{alert_id}"): _alert_case("GET"),
    ("POST", "/v1/alerts/{alert_id}/acknowledge"): _alert_case("POST", "/acknowledge"),
    ("POST", "/v1/alerts/{alert_id}/resolve"): _alert_case("POST", "/resolve"),
    ("POST", "/v1/platform/alert-rules"): _platform_case("POST", "/v1/platform/alert-rules", _PLATFORM_RULE),
    ("GET", "/v1/platform/alert-rules"): _platform_case("GET", "/v1/platform/alert-rules"),
    ("GET", "/v1/platform/alert-rules/{rule_id}"): _platform_case("GET", "/v1/platform/alert-rules/{rule_id}"),
    ("PUT", "/v1/platform/alert-rules/{rule_id}"): _platform_case("PUT", "/v1/platform/alert-rules/{rule_id}",
                                                                  _PLATFORM_RULE),
    ("DELETE", "/v1/platform/alert-rules/{rule_id}"): _platform_case("DELETE",
                                                                     "/v1/platform/alert-rules/{rule_id}"),
    ("GET", "/v1/platform/alerts"): _platform_case("GET", "/v1/platform/alerts"),
    ("GET", "/v1/platform/alerts/{alert_id}"): _platform_case("GET", "/v1/platform/alerts/{alert_id}"),
    ("POST", "/v1/platform/alerts/{alert_id}/acknowledge"): _platform_case(
        "POST", "/v1/platform/alerts/{alert_id}/acknowledge"),
    ("POST", "/v1/platform/alerts/{alert_id}/resolve"): _platform_case(
        "POST", "/v1/platform/alerts/{alert_id}/resolve"),
}


# ---- the admin's pages ----------------------------------------------------------------------------

UNKNOWN = "00000000-0000-0000-0000-000000000000"


def _unknown_alike(foreign: Any, unknown: Any, a_id: str) -> None:
    """A's id from B answers as an id nobody has."""
    assert foreign.status == 404, foreign.text[:300]
    assert (foreign.status, foreign.text.replace(a_id, UNKNOWN)) == (unknown.status, unknown.text)
    _hidden(foreign.text)


def _no_a(w: Any, text: str, *ids: str) -> None:
    for secret in (A_RULE_NAME, PROBE_TOPIC, w.a.tenant_id, *ids):
        assert secret not in text, secret


async def _admin_alerts(w: Any) -> None:
    a, b = await w.admins()
    _, alert = await a_alert(w)
    for query in ("", "?state=all", "?state=firing", "?scope=platform"):
        page = await b.get(f"/alerts{query}")
        assert page.status == 200, page.text[:300]
        assert "data-alert=" not in page.text, query
        _no_a(w, page.text, alert["id"])
    page = await a.get("/alerts")  # control
    assert f'data-alert="{alert["id"]}"' in page.text


async def _admin_alert(w: Any) -> None:
    a, b = await w.admins()
    _, alert = await a_alert(w)
    _unknown_alike(await b.get(f"/alerts/{alert['id']}"), await b.get(f"/alerts/{UNKNOWN}"), alert["id"])
    page = await a.get(f"/alerts/{alert['id']}")
    assert page.status == 200
    assert PROBE_TOPIC in page.text


def _admin_alert_action(action: str) -> Case:
    async def case(w: Any) -> None:
        a, b = await w.admins()
        _, alert = await a_alert(w)
        foreign = await b.submit("/alerts", f"/alerts/{alert['id']}/{action}", {})
        unknown = await b.submit("/alerts", f"/alerts/{UNKNOWN}/{action}", {})
        _unknown_alike(foreign, unknown, alert["id"])
        after = await w.stack.platform.services.alerts.alert(w.a.tenant_id, alert["id"])
        assert after.state.value == "firing"
        page = await a.submit("/alerts", f"/alerts/{alert['id']}/{action}", {})  # control
        assert page.status == 200, page.text[:300]
        after = await w.stack.platform.services.alerts.alert(w.a.tenant_id, alert["id"])
        assert after.state.value == {"acknowledge": "acknowledged", "resolve": "resolved"}[action]

    return case


async def _admin_rules(w: Any) -> None:
    a, b = await w.admins()
    rule = await a_rule(w)
    for query in ("", "?scope=platform"):
        page = await b.get(f"/alert-rules{query}")
        assert page.status == 200
        assert "data-rule=" not in page.text
        _no_a(w, page.text, rule["id"])
    page = await a.get("/alert-rules")
    assert f'data-rule="{rule["id"]}"' in page.text


async def _admin_rule_add(w: Any) -> None:
    """B's rule is B's, even asking for the platform's scope; A adds its own (the control)."""
    a, b = await w.admins()
    fields = {"name": "B 的规则", "kind": "channel_health", "severity": "warning", "quiet_minutes": "60"}
    for query in ("", "?scope=platform"):
        page = await b.submit("/alert-rules", f"/alert-rules{query}", fields)
        assert page.status == 200, page.text[:300]
    alerts = w.stack.platform.services.alerts
    assert [r.spec.name for r in await alerts.rules(w.b.tenant_id)] == ["B 的规则", "B 的规则"]
    assert await alerts.rules(w.a.tenant_id) == []
    assert await alerts.rules(None) == []
    page = await a.submit("/alert-rules", "/alert-rules", {**fields, "name": A_RULE_NAME})
    assert page.status == 200, page.text[:300]
    assert [r.spec.name for r in await alerts.rules(w.a.tenant_id)] == [A_RULE_NAME]


def _admin_rule_action(action: str, fields: dict[str, str]) -> Case:
    async def case(w: Any) -> None:
        a, b = await w.admins()
        rule = await a_rule(w)
        alerts = w.stack.platform.services.alerts
        before = await alerts.rules(w.a.tenant_id)
        foreign = await b.submit("/alert-rules", f"/alert-rules/{rule['id']}/{action}", fields)
        unknown = await b.submit("/alert-rules", f"/alert-rules/{UNKNOWN}/{action}", fields)
        _unknown_alike(foreign, unknown, rule["id"])
        assert await alerts.rules(w.a.tenant_id) == before
        page = await a.submit("/alert-rules", f"/alert-rules/{rule['id']}/{action}", fields)  # control
        assert page.status == 200, page.text[:300]
        assert await alerts.rules(w.a.tenant_id) != before

    return case


ADMIN_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/admin/alerts"): _admin_alerts,
    ("GET", "/admin/alerts/{alert_id}"): _admin_alert,
    ("POST", "/admin/alerts/{alert_id}/acknowledge"): _admin_alert_action("acknowledge"),
    ("POST", "/admin/alerts/{alert_id}/resolve"): _admin_alert_action("resolve"),
    ("GET", "/admin/alert-rules"): _admin_rules,
    ("POST", "/admin/alert-rules"): _admin_rule_add,
    ("POST", "/admin/alert-rules/{rule_id}/delete"): _admin_rule_action("delete", {}),
    ("POST", "/admin/alert-rules/{rule_id}/enabled"): _admin_rule_action("enabled", {"enabled": "false"}),
}
