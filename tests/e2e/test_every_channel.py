"""Every channel type end to end through the gateway: send, reports through to the final status at
the business callback, and an uplink back, each against its own simulator over loopback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.conftest import ServeFn, Stack
from tests.e2e.channels import (
    USER,
    ChannelUnderTest,
    aggregator_channel,
    ctcc_channel,
    cucc_channel,
    smpp_channel,
)

pytestmark = pytest.mark.asyncio



CHANNELS: dict[str, Callable[[Stack, ServeFn], Awaitable[ChannelUnderTest]]] = {
    "aggregator": aggregator_channel, "ctcc": ctcc_channel, "cucc": cucc_channel, "smpp": smpp_channel,
}


@pytest.mark.parametrize("channel_type", sorted(CHANNELS))
async def test_send_reports_and_uplink(stack: Stack, serve: ServeFn, channel_type: str) -> None:
    channel = await CHANNELS[channel_type](stack, serve)
    status, body = await stack.send({"chatbot_id": channel.chatbot_id, "recipients": [USER],
                                     "content": {"kind": "text", "text": "您的账单已出"}})
    assert status == 202, body
    message_id = body["messages"][0]["id"]
    done = await stack.wait_status(message_id, channel.final_status)
    statuses = [event["status"] for event in done["history"]]
    assert statuses[:3] == ["accepted", "queued", "sent"], done
    assert "delivered" in statuses, done
    attempt = done["attempts"][0]
    if channel_type in {"aggregator", "cucc", "smpp"}:
        assert attempt["carrier_message_id"] != message_id  # the carrier's own id, yet reports matched it
    await stack.receiver.wait_for(lambda events: any(
        e["type"] == "message.status" and e["data"]["message_id"] == message_id
        and e["data"]["status"] == channel.final_status for e in events))

    async with stack.http.post(f"{channel.simulator_url}{channel.uplink_path}", json=channel.uplink_body) as r:
        assert r.status < 300, await r.text()
    await stack.receiver.wait_for(lambda events: any(e["type"] == "message.inbound" for e in events))
    [inbound] = [e["data"] for e in stack.receiver.events("message.inbound")]
    assert inbound["sender"] == USER
    assert inbound["chatbot_id"] == channel.chatbot_id
    assert inbound["content"]["kind"] in {"text", "suggestion_response"}


async def test_reports_that_arrive_before_the_carriers_answer_are_held_and_applied(
        stack: Stack, serve: ServeFn) -> None:
    # The aggregator names its own sendID in the answer; with the answer delayed, its delivery and
    # read reports reach us first and name an id no attempt carries yet.
    channel = await aggregator_channel(stack, serve)
    async with stack.http.put(f"{channel.simulator_url}/_sim/faults", json={"latency_ms": 400}) as r:
        assert r.status == 200, await r.text()
    status, body = await stack.send({"chatbot_id": channel.chatbot_id, "recipients": [USER],
                                     "content": {"kind": "text", "text": "先到的回执"}})
    assert status == 202, body
    done = await stack.wait_status(body["messages"][0]["id"], "displayed")
    assert [e["status"] for e in done["history"]] == ["accepted", "queued", "sent", "delivered", "displayed"], done
    async with stack.platform.services.ctx.db.reader() as session:
        from sqlalchemy import func, select

        from msg5g.storage.tables import EarlyStatusReport

        held = await session.scalar(select(func.count()).select_from(EarlyStatusReport))
    assert held == 0  # every held report was claimed


async def test_a_message_is_checked_against_its_channel_before_it_is_accepted(stack: Stack, serve: ServeFn) -> None:
    channel = await smpp_channel(stack, serve)
    card = {"kind": "rich_card", "card": {"title": "本月账单", "description": "应还 1,024.00 元"}}
    status, refused = await stack.send({"chatbot_id": channel.chatbot_id, "recipients": [USER], "content": card})
    assert status == 422, refused
    assert refused["error"]["code"] == "content_not_supported"
    assert refused["error"]["field"] == "content"
    status, accepted = await stack.send({"chatbot_id": channel.chatbot_id, "recipients": [USER], "content": card,
                                         "fallback_text": "【msg5g】本月应还1024.00元"})
    assert status == 202, accepted
    await stack.wait_status(accepted["messages"][0]["id"], "delivered")
    async with stack.http.get(f"{channel.simulator_url}/_sim/handsets/{USER}/inbox") as r:
        inbox = await r.json()
    assert [entry["text"] for entry in inbox] == ["【msg5g】本月应还1024.00元"]
    assert inbox[0]["data_coding"] == 8  # Chinese goes as UCS-2


async def test_a_long_chinese_sms_goes_as_ucs2_segments_and_is_reported_once(stack: Stack, serve: ServeFn) -> None:
    channel = await smpp_channel(stack, serve)
    text = "您好，这是一条很长的中文短信，用来检查长短信的分段与重组。" * 5  # 150 characters: 3 UCS-2 segments
    status, accepted = await stack.send({"chatbot_id": channel.chatbot_id, "recipients": [USER],
                                         "content": {"kind": "text", "text": text}})
    assert status == 202, accepted
    done = await stack.wait_status(accepted["messages"][0]["id"], "delivered")
    async with stack.http.get(f"{channel.simulator_url}/_sim/handsets/{USER}/inbox") as r:
        [entry] = await r.json()
    assert entry["text"] == text
    assert entry["data_coding"] == 8
    assert entry["segments"] == 3
    assert [e["status"] for e in done["history"]].count("delivered") == 1
    assert done["attempts"][0]["carrier_message_id"] == entry["message_ids"][0]
