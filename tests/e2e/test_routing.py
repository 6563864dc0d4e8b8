"""Routing by number, ported numbers (set and learned), and failover with recovery, over the real
simulators of each carrier."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from msg5g.simulators import aggregator as agg_sim
from tests.conftest import CallbackReceiver, ServeFn, Stack, build_stack
from tests.e2e.channels import ChannelUnderTest, aggregator_channel, chatbot_json_channel
from tests.e2e.library import wait_for

pytestmark = pytest.mark.asyncio

CMCC_NUMBER = "+8613800138501"
CTCC_NUMBER = "+8615300000501"
CUCC_NUMBER = "+8618600000501"


@dataclass
class Routed:
    stack: Stack
    ctcc: ChannelUnderTest
    cucc: ChannelUnderTest
    aggregator: ChannelUnderTest
    operator: dict[str, str]

    async def send(self, number: str, text: str = "按号码路由") -> str:
        status, body = await self.stack.send({"chatbot_id": self.stack.tenant.chatbot_id, "recipients": [number],
                                              "content": {"kind": "text", "text": text}})
        assert status == 202, body
        return str(body["messages"][0]["id"])

    async def platform(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.stack.http.request(method, f"{self.stack.base_url}/v1/platform{path}", json=body,
                                           headers=self.operator) as r:
            return r.status, (await r.json() if r.status != 204 else None)


@pytest_asyncio.fixture
async def routed(sqlite_url: str, tmp_path: Path, serve: ServeFn,
                 callback_receiver: CallbackReceiver) -> AsyncIterator[Routed]:
    async for stack in build_stack(sqlite_url, tmp_path, serve, callback_receiver, circuit_failures_to_open=3,
                                   circuit_open_seconds=2.0):
        ctcc = await chatbot_json_channel(stack, serve, "ctcc", "106598858810000006")
        cucc = await chatbot_json_channel(stack, serve, "cucc", "12580012011402")
        aggregator = await aggregator_channel(stack, serve,
                                              agg_sim.Faults(delivered_delay_ms=10, displayed_delay_ms=10))
        named = stack.tenant.chatbot_id  # the China Mobile chatbot of the stack; callers keep naming it
        async with stack.http.put(f"{stack.base_url}/v1/chatbots/{named}/routes", headers=stack.auth(), json={
                "routes": [{"carrier": "cmcc", "via_chatbot_id": named, "priority": 0},
                           {"carrier": "ctcc", "via_chatbot_id": ctcc.chatbot_id, "priority": 0},
                           {"carrier": "cucc", "via_chatbot_id": cucc.chatbot_id, "priority": 0},
                           {"carrier": "*", "via_chatbot_id": aggregator.chatbot_id, "priority": 10}]}) as r:
            assert r.status == 200, await r.text()
        _, key = await stack.platform.services.operator_keys.create("routing tests")
        yield Routed(stack, ctcc, cucc, aggregator, {"Authorization": f"Bearer {key}"})


async def _via(stack: Stack, message_id: str, status: str = "displayed") -> list[str]:
    done = await stack.wait_status(message_id, status)
    return [a["chatbot_id"] for a in done["attempts"]]


async def test_each_number_goes_through_its_own_carriers_channel(routed: Routed) -> None:
    stack = routed.stack
    ids = {number: await routed.send(number) for number in (CMCC_NUMBER, CTCC_NUMBER, CUCC_NUMBER)}
    assert await _via(stack, ids[CMCC_NUMBER]) == [stack.tenant.chatbot_id]
    assert await _via(stack, ids[CTCC_NUMBER]) == [routed.ctcc.chatbot_id]
    assert await _via(stack, ids[CUCC_NUMBER]) == [routed.cucc.chatbot_id]
    async with stack.http.get(f"{stack.base_url}/v1/chatbots/{stack.tenant.chatbot_id}/routes",
                              headers=stack.auth()) as r:
        routes = await r.json()
    assert [(x["carrier"], x["priority"]) for x in routes["routes"]] == [
        ("cmcc", 0), ("ctcc", 0), ("cucc", 0), ("*", 10)]


async def test_a_ported_number_set_by_an_operator_goes_to_its_new_carrier(routed: Routed) -> None:
    status, fact = await routed.platform("PUT", f"/numbers/{CMCC_NUMBER}", {"carrier": "ctcc"})
    assert status == 200, fact
    assert fact["home_carrier"] == "cmcc"
    assert fact["routed_carrier"] == "ctcc"
    assert fact["carrier_source"] == "manual"
    assert await _via(routed.stack, await routed.send(CMCC_NUMBER)) == [routed.ctcc.chatbot_id]
    status, _ = await routed.platform("DELETE", f"/numbers/{CMCC_NUMBER}")
    assert status == 204
    status, fact = await routed.platform("GET", f"/numbers/{CMCC_NUMBER}")
    assert status == 200, fact
    assert fact["routed_carrier"] == "cmcc"


async def test_a_not_our_subscriber_refusal_moves_the_number_for_good(routed: Routed) -> None:
    stack = routed.stack
    status, body = await stack.sim("PUT", f"/_sim/handsets/{CMCC_NUMBER}", {"ported_out": True})
    assert status == 200, body
    first = await routed.send(CMCC_NUMBER, "第一次")
    done = await stack.wait_status(first, "displayed")
    assert [a["state"] for a in done["attempts"]] == ["failed", "displayed"]
    assert done["attempts"][0]["error_reason"].startswith("ported out")
    assert done["attempts"][1]["chatbot_id"] == routed.ctcc.chatbot_id
    status, fact = await routed.platform("GET", f"/numbers/{CMCC_NUMBER}")
    assert status == 200, fact
    assert fact["not_carriers"] == ["cmcc"]
    _, before = await stack.sim("GET", "/_sim/stats")
    second = await routed.send(CMCC_NUMBER, "第二次")
    assert await _via(stack, second) == [routed.ctcc.chatbot_id]  # straight to the new carrier
    _, after = await stack.sim("GET", "/_sim/stats")
    assert after["requests"] == before["requests"]  # China Mobile was not asked again


async def test_failover_to_the_backup_and_back_when_the_primary_recovers(routed: Routed) -> None:
    stack = routed.stack
    async with stack.http.put(f"{routed.ctcc.simulator_url}/_sim/faults", json={"burst_5xx": 1000}) as r:
        assert r.status == 200, await r.text()
    ids = [await routed.send(f"+86153000006{i:02d}", "主通道故障") for i in range(4)]
    tried_primary = []
    for message_id in ids:
        done = await stack.wait_status(message_id, "displayed")
        assert done["attempts"][-1]["chatbot_id"] == routed.aggregator.chatbot_id, done
        # A message routed once the circuit had opened goes to the backup at once; one routed before
        # tried the primary first and was failed over.
        primary = [a for a in done["attempts"] if a["chatbot_id"] == routed.ctcc.chatbot_id]
        assert all(a["error_reason"].startswith("failed over") for a in primary), done
        if primary:
            tried_primary.append(primary[0])
    assert tried_primary, "no message tried the failing primary first"
    channel_id = tried_primary[0]["channel_id"]
    status, channel = await routed.platform("GET", f"/channels/{channel_id}")
    assert channel["health"]["circuit"] == "open", channel
    # The primary recovers: after the cooldown one probe goes through it, and traffic returns.
    async with stack.http.put(f"{routed.ctcc.simulator_url}/_sim/faults", json={"burst_5xx": 0}) as r:
        assert r.status == 200, await r.text()
    await asyncio.sleep(2.2)
    back = await routed.send(CTCC_NUMBER, "主通道恢复")
    assert await _via(stack, back) == [routed.ctcc.chatbot_id]
    status, channel = await routed.platform("GET", f"/channels/{channel_id}")
    assert status == 200, channel
    assert channel["health"]["circuit"] == "closed", channel
    from sqlalchemy import select

    from msg5g.storage.tables import ChannelHealthEvent

    async def recorded() -> list[str] | None:
        # The sender writes a batch's health changes after the batch's statuses: a moment after the answer.
        async with stack.platform.services.ctx.db.reader() as session:
            states = [e.state for e in await session.scalars(
                select(ChannelHealthEvent).where(ChannelHealthEvent.channel_id == channel_id)
                .order_by(ChannelHealthEvent.id))]
        return states if states[-1:] == ["closed"] else None
    assert await wait_for(recorded, "the channel's health events") == ["open", "half_open", "closed"]


async def test_bad_routes_are_refused(routed: Routed) -> None:
    stack = routed.stack
    url = f"{stack.base_url}/v1/chatbots/{stack.tenant.chatbot_id}/routes"
    for body, field in (({"routes": [{"carrier": "mars", "via_chatbot_id": routed.ctcc.chatbot_id}]},
                         "routes.0.carrier"),
                        ({"routes": [{"carrier": "ctcc", "via_chatbot_id": "no-such-bot"}]},
                         "routes.0.via_chatbot_id")):
        async with stack.http.put(url, headers=stack.auth(), json=body) as r:
            answer = await r.json()
            assert r.status == 422, answer
            assert answer["error"]["field"] == field
    async with stack.http.put(f"{stack.base_url}/v1/chatbots/no-such-bot/routes", headers=stack.auth(),
                              json={"routes": []}) as r:
        assert r.status == 404, await r.text()
    status, answer = await routed.platform("PUT", "/numbers/not-a-number", {"carrier": "ctcc"})
    assert status == 422, answer
    assert answer["error"]["code"] == "invalid_number"
