"""Revoke (撤回): recall before delivery, too late after it, and a message still waiting here."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from msg5g.simulators import aggregator as agg_sim
from msg5g.simulators import maapjson as json_sim
from tests.conftest import ServeFn, Stack
from tests.e2e.channels import USER, ChannelUnderTest, aggregator_channel, chatbot_json_channel, smpp_channel

pytestmark = pytest.mark.asyncio


async def _send(stack: Stack, chatbot_id: str, text: str = "可撤回的消息") -> str:
    status, body = await stack.send({"chatbot_id": chatbot_id, "recipients": [USER],
                                     "content": {"kind": "text", "text": text}})
    assert status == 202, body
    return str(body["messages"][0]["id"])


async def _revoke(stack: Stack, message_id: str) -> tuple[int, Any]:
    async with stack.http.delete(f"{stack.base_url}/v1/messages/{message_id}", headers=stack.auth()) as r:
        return r.status, await r.json()


async def _attempt(stack: Stack, message_id: str, predicate: Any, timeout: float = 20.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        _, body = await stack.message(message_id)
        if body["attempts"] and predicate(body["attempts"][-1]):
            return dict(body)
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"attempt never matched: {body}")
        await asyncio.sleep(0.1)


async def _inbox(channel: ChannelUnderTest, stack: Stack) -> list[Any]:
    async with stack.http.get(f"{channel.simulator_url}/_sim/handsets/{USER}/inbox") as r:
        return list(await r.json())


@pytest.mark.parametrize(("dialect", "bot"), [("ctcc", "106598858810000006"), ("cucc", "12580012011402")])
async def test_revoke_before_delivery_recalls_it_at_the_carrier(stack: Stack, serve: ServeFn, dialect: str,
                                                                bot: str) -> None:
    channel = await chatbot_json_channel(stack, serve, dialect, bot, json_sim.Faults(delivered_delay_ms=4000))
    message_id = await _send(stack, channel.chatbot_id)
    await stack.wait_status(message_id, "sent")
    status, answer = await _revoke(stack, message_id)
    assert status == 202, answer
    assert answer == {"message_id": message_id, "outcome": "requested", "error": None}
    done = await stack.wait_status(message_id, "revoked")
    assert done["attempts"][0]["revoke_result"] == "revoked"
    assert done["attempts"][0]["revoke_requested_at"] is not None
    await asyncio.sleep(4.5)  # past the simulator's delivery delay: it must not arrive anyway
    assert await _inbox(channel, stack) == []
    _, after = await stack.message(message_id)
    assert after["status"] == "revoked"
    await stack.receiver.wait_for(lambda events: any(
        e["type"] == "message.status" and e["data"]["status"] == "revoked" for e in events))


async def test_revoke_after_delivery_is_too_late(stack: Stack, serve: ServeFn) -> None:
    channel = await chatbot_json_channel(stack, serve, "ctcc", "106598858810000006",
                                  json_sim.Faults(delivered_delay_ms=10, displayed_delay_ms=60_000))
    message_id = await _send(stack, channel.chatbot_id)
    await stack.wait_status(message_id, "delivered")
    status, answer = await _revoke(stack, message_id)
    assert status == 202, answer
    assert answer["outcome"] == "requested"
    done = await _attempt(stack, message_id, lambda a: a["revoke_result"] is not None)
    assert done["attempts"][-1]["revoke_result"].startswith("the carrier could not recall it")
    assert done["status"] == "delivered"
    assert len(await _inbox(channel, stack)) == 1


async def test_a_message_still_waiting_here_is_revoked_at_once(stack: Stack) -> None:
    # The carrier hangs on the first call: the message is queued here, in flight, when revoked.
    status, body = await stack.sim("PUT", "/_sim/faults", {"timeout_next": 1, "hang_seconds": 5})
    assert status == 200, body
    status, sent = await stack.text([USER], "还在排队")
    assert status == 202, sent
    message_id = sent["messages"][0]["id"]
    await stack.wait_status(message_id, "queued")
    status, answer = await _revoke(stack, message_id)
    assert status == 202, answer
    assert answer["outcome"] == "revoked"
    _, now = await stack.message(message_id)
    assert now["status"] == "revoked"
    assert now["history"][-1]["reason"] == "revoked before it was sent"
    # The retry after the carrier's timeout finds it revoked and sends nothing; the check job records it.
    done = await _attempt(stack, message_id, lambda a: a["revoke_result"] is not None, timeout=20)
    assert done["attempts"][-1]["revoke_result"] == "revoked before it was sent"
    assert done["status"] == "revoked"
    status, inbox = await stack.sim("GET", f"/_sim/handsets/{USER}/inbox")
    assert inbox == []


async def test_a_send_that_reached_the_carrier_while_revoked_is_recalled_there(stack: Stack,
                                                                               serve: ServeFn) -> None:
    # The aggregator accepts at once but answers late (and reports nothing before delivery): revoked
    # here while the call is in flight, the check job finds the send did reach the carrier and
    # recalls it there.
    channel = await aggregator_channel(stack, serve, agg_sim.Faults(latency_ms=1500, delivered_delay_ms=20_000))
    message_id = await _send(stack, channel.chatbot_id)
    await stack.wait_status(message_id, "queued")
    status, answer = await _revoke(stack, message_id)
    assert status == 202, answer
    assert answer["outcome"] == "revoked"
    done = await _attempt(stack, message_id, lambda a: a["revoke_result"] is not None, timeout=25)
    assert done["attempts"][-1]["revoke_result"] == "revoked"
    assert done["status"] == "revoked"
    assert await _inbox(channel, stack) == []


async def test_sms_cannot_be_recalled_and_says_so(stack: Stack, serve: ServeFn) -> None:
    channel = await smpp_channel(stack, serve)
    message_id = await _send(stack, channel.chatbot_id, "短信无法撤回")
    await stack.wait_status(message_id, "delivered")  # SMS has no read report: delivered is not final
    status, answer = await _revoke(stack, message_id)
    assert status == 202, answer
    done = await _attempt(stack, message_id, lambda a: a["revoke_result"] is not None)
    assert "cannot recall" in done["attempts"][-1]["revoke_result"]


async def test_revoke_refusals_and_the_bulk_form(stack: Stack) -> None:
    status, answer = await _revoke(stack, "no-such-message")
    assert status == 404, answer
    assert answer["error"]["code"] == "message_not_found"
    status, sent = await stack.text([USER], "已读之后")
    assert status == 202, sent
    read_id = sent["messages"][0]["id"]
    await stack.wait_status(read_id, "displayed")
    status, answer = await _revoke(stack, read_id)
    assert status == 409, answer
    assert answer["error"]["code"] == "not_revocable"
    async with stack.http.post(f"{stack.base_url}/v1/messages/revoke", headers=stack.auth(),
                               json={"message_ids": [read_id, "no-such-message"]}) as r:
        bulk = await r.json()
        assert r.status == 200, bulk
    assert [(x["message_id"], x["outcome"], x["error"]["code"]) for x in bulk["results"]] == [
        (read_id, None, "not_revocable"), ("no-such-message", None, "message_not_found")]
    for bad in ({"message_ids": []}, {"message_ids": ["x"] * 1001}, {"ids": ["x"]}):
        async with stack.http.post(f"{stack.base_url}/v1/messages/revoke", headers=stack.auth(), json=bad) as r:
            assert r.status == 422, await r.text()


async def test_china_mobile_recalls_before_delivery(stack: Stack) -> None:
    status, body = await stack.sim("PUT", "/_sim/faults", {"delivered_delay_ms": 4000})
    assert status == 200, body
    message_id = await _send(stack, stack.tenant.chatbot_id, "移动撤回")
    await stack.wait_status(message_id, "sent")
    status, answer = await _revoke(stack, message_id)
    assert status == 202, answer
    done = await stack.wait_status(message_id, "revoked")
    assert done["attempts"][0]["revoke_result"] == "revoked"
    await asyncio.sleep(4.5)
    status, inbox = await stack.sim("GET", f"/_sim/handsets/{USER}/inbox")
    assert inbox == []
    _, record = await stack.sim("GET", f"/_sim/messages/{message_id}")
    assert record["delivered"] == 0
