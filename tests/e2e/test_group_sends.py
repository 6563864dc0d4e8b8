"""Group sends the carrier's way: recipients of identical content in one request (CMCC: repeated
destinationAddress, at most 100), with per-recipient statuses still right."""

from __future__ import annotations

import pytest

from msg5g.simulators import aggregator as agg_sim
from msg5g.simulators import maapjson as json_sim
from tests.conftest import ServeFn, Stack
from tests.e2e.channels import aggregator_channel, chatbot_json_channel

pytestmark = pytest.mark.asyncio


async def _requests(stack: Stack) -> int:
    _, stats = await stack.sim("GET", "/_sim/stats")
    return int(stats["requests"])


async def test_one_request_carries_the_group_and_statuses_come_per_recipient(stack: Stack) -> None:
    numbers = [f"+861380013{i:04d}" for i in range(10)]
    for number in numbers[:3]:  # these handsets take no chatbot messages
        status, body = await stack.sim("PUT", f"/_sim/handsets/{number}", {"capability": "none"})
        assert status == 200, body
    before = await _requests(stack)
    status, sent = await stack.text(numbers, "群发")
    assert status == 202, sent
    ids = {m["recipient"]: m["id"] for m in sent["messages"]}
    for number in numbers[:3]:
        done = await stack.wait_status(ids[number], "failed")
        assert done["status_reason"].startswith("DeliveryImpossible"), done
    for number in numbers[3:]:
        await stack.wait_status(ids[number], "displayed")
    assert await _requests(stack) == before + 1  # one HTTP request for all ten
    group_ids = set()
    for message_id in ids.values():
        _, body = await stack.message(message_id)
        group_ids.add(body["attempts"][0]["carrier_message_id"])
    assert len(group_ids) == 1


async def test_more_than_a_hundred_recipients_are_split_into_groups_of_a_hundred(stack: Stack) -> None:
    numbers = [f"+861390013{i:04d}" for i in range(150)]
    before = await _requests(stack)
    status, sent = await stack.text(numbers, "大群发")
    assert status == 202, sent
    for message in sent["messages"]:
        await stack.wait_status(message["id"], "displayed", timeout=60)
    _, stats = await stack.sim("GET", "/_sim/stats")
    assert int(stats["requests"]) == before + 2  # 100 + 50: no POL0003
    assert stats.get("rejected_by_code", {}).get("POL0003", 0) == 0


async def test_a_group_the_carrier_refuses_as_a_whole_is_sent_one_by_one(stack: Stack) -> None:
    numbers = [f"+861370013{i:04d}" for i in range(4)]
    status, body = await stack.sim("PUT", f"/_sim/handsets/{numbers[0]}", {"ported_out": True})
    assert status == 200, body
    status, sent = await stack.text(numbers, "一个号码已转网")
    assert status == 202, sent
    ids = {m["recipient"]: m["id"] for m in sent["messages"]}
    for number in numbers[1:]:
        done = await stack.wait_status(ids[number], "displayed")
        assert done["attempts"][-1]["carrier_message_id"] == ids[number]  # sent on its own
    ported = await stack.wait_status(ids[numbers[0]], "failed")
    assert ported["status_reason"].startswith("the carrier does not serve this number"), ported


async def test_an_aggregator_group_gets_one_send_id_per_recipient(stack: Stack, serve: ServeFn) -> None:
    channel = await aggregator_channel(stack, serve, agg_sim.Faults(delivered_delay_ms=10, displayed_delay_ms=10))
    numbers = [f"+861860013{i:04d}" for i in range(5)]
    status, sent = await stack.send({"chatbot_id": channel.chatbot_id, "recipients": numbers,
                                     "content": {"kind": "text", "text": "聚合群发"}})
    assert status == 202, sent
    send_ids = set()
    for message in sent["messages"]:
        done = await stack.wait_status(message["id"], "displayed")
        send_ids.add(done["attempts"][0]["carrier_message_id"])
    assert len(send_ids) == 5
    async with stack.http.get(f"{channel.simulator_url}/_sim/stats") as r:
        stats = await r.json()
    assert stats["requests"] == 1, stats


async def test_a_unicom_group_under_its_own_id_with_reports_ahead_of_the_answer(stack: Stack,
                                                                              serve: ServeFn) -> None:
    # CUCC answers a group with one messageId of its own; with its answer delayed, the recipients'
    # reports arrive first, are held, and are told apart by recipient when the answer lands.
    channel = await chatbot_json_channel(stack, serve, "cucc", "12580012011402",
                                  json_sim.Faults(latency_ms=600, delivered_delay_ms=10, displayed_delay_ms=10))
    numbers = [f"+861860014{i:04d}" for i in range(5)]
    status, sent = await stack.send({"chatbot_id": channel.chatbot_id, "recipients": numbers,
                                     "content": {"kind": "text", "text": "联通群发"}})
    assert status == 202, sent
    carrier_ids = set()
    for message in sent["messages"]:
        done = await stack.wait_status(message["id"], "displayed")
        assert [e["status"] for e in done["history"]][-2:] == ["delivered", "displayed"], done
        carrier_ids.add(done["attempts"][0]["carrier_message_id"])
    [carrier_id] = carrier_ids
    assert carrier_id not in {m["id"] for m in sent["messages"]}  # Unicom's own id, shared by the group
    async with stack.http.get(f"{channel.simulator_url}/_sim/stats") as r:
        stats = await r.json()
    assert stats["accepted"] == 1, stats  # one request for the five
