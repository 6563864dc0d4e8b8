"""Capacity end to end: message-count and cost caps refuse at accept what would exceed them (a bulk
send accepted up to the cap, the rest listed), reserve the worst case a message can cost, settle to
the charge line once it reaches the carrier, and release what a message that fails first held."""

from __future__ import annotations

from typing import Any

import pytest

from msg5g.storage.tables import Charge
from tests.conftest import CARRIER_CHATBOT_ID, CARRIER_PASSWORD, Stack
from tests.e2e.library import wait_for

pytestmark = pytest.mark.asyncio


async def operator(stack: Stack, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    if not hasattr(stack, "_operator_key"):
        _, key = await stack.platform.services.operator_keys.create("capacity test")
        stack._operator_key = key  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {stack._operator_key}"}  # type: ignore[attr-defined]
    async with stack.http.request(method, f"{stack.base_url}/v1/platform{path}", json=body, headers=headers) as r:
        return r.status, await r.json() if r.content_type == "application/json" else None


async def cap(stack: Stack, **spec: Any) -> dict[str, Any]:
    status, created = await operator(stack, "POST", f"/tenants/{stack.tenant.tenant_id}/caps", spec)
    assert status == 201, created
    return dict(created)


async def ledger(stack: Stack, cap_id: str) -> dict[str, Any]:
    status, caps = await operator(stack, "GET", f"/tenants/{stack.tenant.tenant_id}/caps")
    assert status == 200, caps
    return next(c for c in caps if c["id"] == cap_id)


async def settled(stack: Stack, cap_id: str, reserved: int, charged: int) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        row = await ledger(stack, cap_id)
        return row if (row["reserved"], row["charged"]) == (reserved, charged) else None
    try:
        return dict(await wait_for(check, f"cap {cap_id} at reserved {reserved}, charged {charged}"))
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {await ledger(stack, cap_id)}") from None


def numbers(start: int, count: int) -> list[str]:
    return [f"+86139001{start + i:05d}" for i in range(count)]


async def test_a_count_cap_refuses_what_would_exceed_it_and_settles_to_what_was_sent(stack: Stack) -> None:
    daily = await cap(stack, scope="business", scope_id=stack.tenant.business_id, metric="count", period="day",
                      limit=3, name="daily messages")
    status, first = await stack.text(numbers(0, 2))
    assert status == 202, first
    assert first["refused"] == []
    status, partial = await stack.text(numbers(2, 2))  # one fits
    assert status == 202, partial
    assert [m["recipient"] for m in partial["messages"]] == numbers(2, 1)
    assert [(r["recipient"], r["code"]) for r in partial["refused"]] == [(numbers(3, 1)[0], "quota_exceeded")]
    assert daily["id"] in partial["refused"][0]["message"]
    status, refused = await stack.text(numbers(4, 1))
    assert (status, refused["error"]["code"]) == (429, "quota_exceeded"), refused
    assert "daily messages" in refused["error"]["message"]
    for message in first["messages"] + partial["messages"]:
        await stack.wait_status(message["id"], "displayed")
    row = await settled(stack, daily["id"], reserved=0, charged=3)
    assert (row["refused"], row["remaining"]) == (2, 0), row
    # The business reads the caps that cover it.
    async with stack.http.get(f"{stack.base_url}/v1/caps", headers=stack.auth()) as r:
        assert r.status == 200
        assert [(c["id"], c["charged"]) for c in await r.json()] == [(daily["id"], 3)]


async def test_a_cost_cap_reserves_the_worst_case_and_settles_to_the_charge(stack: Stack) -> None:
    status, plan = await operator(stack, "PUT", f"/tenants/{stack.tenant.tenant_id}/prices", {"prices": [
        {"content_kind": "text", "channel_type": "cmcc", "price_fen": 5},
        {"content_kind": "sms", "price_fen": 3}]})
    assert status == 200, plan
    budget = await cap(stack, scope="tenant", metric="cost", period="month", limit=12, name="monthly budget")
    # With an SMS fallback the worst case is 5 + 3 = 8 fen: one fits in 12, not two.
    status, sent = await stack.text(numbers(10, 2), fallback_text="您的账单已出")
    assert status == 202, sent
    assert len(sent["messages"]) == 1
    assert len(sent["refused"]) == 1
    assert (await ledger(stack, budget["id"]))["reserved"] == 8
    await stack.wait_status(sent["messages"][0]["id"], "displayed")
    # Delivered without a fallback: it cost 5, and the 3 held for the fallback is free again.
    await settled(stack, budget["id"], reserved=0, charged=5)
    status, again = await stack.text(numbers(12, 1), fallback_text="您的账单已出")  # 8 > 12 - 5
    assert (status, again["error"]["code"]) == (429, "quota_exceeded"), again
    status, plain = await stack.text(numbers(13, 1))  # 5 <= 7
    assert status == 202, plain
    await stack.wait_status(plain["messages"][0]["id"], "displayed")
    await settled(stack, budget["id"], reserved=0, charged=10)
    async with stack.platform.services.ctx.db.reader() as session:
        from sqlalchemy import select
        charges = (await session.scalars(select(Charge).where(Charge.tenant_id == stack.tenant.tenant_id))).all()
    assert sorted((c.event, c.channel_type, c.content_kind, c.amount_fen) for c in charges) == [
        ("downlink", "cmcc", "text", 5), ("downlink", "cmcc", "text", 5)]


async def test_a_message_that_fails_before_the_carrier_releases_its_reservation(stack: Stack) -> None:
    daily = await cap(stack, scope="tenant", metric="count", period="day", limit=1)
    async with stack.http.put(f"{stack.base_url}/v1/chatbots/{stack.tenant.chatbot_id}/credentials",
                              headers=stack.auth(),
                              json={"credentials": {"app_id": CARRIER_CHATBOT_ID, "password": "wrong"}}) as r:
        assert r.status == 200, await r.text()
    status, sent = await stack.text(numbers(20, 1))
    assert status == 202, sent
    failed = await stack.wait_status(sent["messages"][0]["id"], "failed")
    assert failed["attempts"], failed
    await settled(stack, daily["id"], reserved=0, charged=0)  # the carrier never took it: nothing spent
    async with stack.http.put(f"{stack.base_url}/v1/chatbots/{stack.tenant.chatbot_id}/credentials",
                              headers=stack.auth(),
                              json={"credentials": {"app_id": CARRIER_CHATBOT_ID, "password": CARRIER_PASSWORD}}) as r:
        assert r.status == 200, await r.text()
    status, next_one = await stack.text(numbers(21, 1))
    assert status == 202, next_one  # the released message is there to take
    await stack.wait_status(next_one["messages"][0]["id"], "displayed")
    await settled(stack, daily["id"], reserved=0, charged=1)


async def test_bad_caps_and_prices_are_refused(stack: Stack) -> None:
    tenant = stack.tenant.tenant_id
    cases: list[tuple[dict[str, Any], int]] = [
        ({"scope": "tenant", "metric": "count", "period": "day", "limit": -1}, 422),
        ({"scope": "tenant", "metric": "count", "period": "day", "limit": 1.5}, 422),
        ({"scope": "tenant", "metric": "count", "period": "day", "limit": "10"}, 422),
        ({"scope": "tenant", "metric": "count", "period": "fortnight", "limit": 1}, 422),
        ({"scope": "tenant", "metric": "count", "period": "window", "limit": 1, "window_start": "2026-12-10",
          "window_end": "2026-12-01"}, 422),
        ({"scope": "tenant", "metric": "count", "period": "window", "limit": 1, "window_start": "12/01"}, 422),
        ({"scope": "business", "metric": "count", "period": "day", "limit": 1}, 422),
        ({"scope": "business", "scope_id": "no-such-business", "metric": "count", "period": "day", "limit": 1}, 404),
        ({"scope": "template", "scope_id": "no-such-template", "metric": "cost", "period": "day", "limit": 1}, 404),
    ]
    for body, expected in cases:
        status, answer = await operator(stack, "POST", f"/tenants/{tenant}/caps", body)
        assert status == expected, (body, answer)
        assert answer["error"]["code"], answer
    status, answer = await operator(stack, "POST", "/tenants/no-such-tenant/caps",
                                    {"scope": "tenant", "metric": "count", "period": "day", "limit": 1})
    assert (status, answer["error"]["code"]) == (404, "tenant_not_found"), answer
    status, answer = await operator(stack, "PUT", f"/tenants/{tenant}/prices", {"prices": [
        {"content_kind": "text", "price_fen": 1}, {"content_kind": "text", "price_fen": 2}]})
    assert (status, answer["error"]["code"]) == (422, "duplicate_price"), answer
    status, answer = await operator(stack, "PUT", f"/tenants/{tenant}/prices", {"prices": [
        {"content_kind": "text", "price_fen": 0.5}]})
    assert status == 422, answer
    for days in (0, 5000, "x"):
        status, answer = await operator(stack, "PUT", f"/tenants/{tenant}/retention", {"days": days})
        assert status == 422, (days, answer)
    status, answer = await operator(stack, "PUT", f"/tenants/{tenant}/retention", {"days": None})
    assert (status, answer) == (200, {"days": None})
    status, answer = await operator(stack, "DELETE", f"/tenants/{tenant}/caps/no-such-cap")
    assert (status, answer["error"]["code"]) == (404, "cap_not_found"), answer
