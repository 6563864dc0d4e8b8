"""Every channel type end to end through the gateway: send, reports through to the final status at
the business callback, and an uplink back, each against its own simulator over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from msg5g.simulators import aggregator as agg_sim
from msg5g.simulators import maapjson as json_sim
from msg5g.simulators import smsc as smsc_sim
from tests.conftest import ServeFn, Stack

pytestmark = pytest.mark.asyncio

USER = "+8613900139111"


@dataclass
class ChannelUnderTest:
    chatbot_id: str
    simulator_url: str
    final_status: str
    uplink_path: str
    uplink_body: dict[str, Any]


async def _aggregator(stack: Stack, serve: ServeFn, faults: agg_sim.Faults | None = None) -> ChannelUnderTest:
    services = stack.platform.services
    sim_url = await serve(agg_sim.create_app(agg_sim.SimulatorSettings(
        faults=faults or agg_sim.Faults(delivered_delay_ms=10, displayed_delay_ms=10), notify_backoff_ms=20)), None)
    channel_id = await services.provisioning.create_channel("aggregator", "Aggregator (sim)", sim_url)
    chatbot_id = await services.provisioning.create_chatbot(
        stack.tenant.tenant_id, channel_id=channel_id, business_id=stack.tenant.business_id, name="agg bot",
        carrier_chatbot_id="agg-bot-1", credentials={"appid": "70001", "appkey": "agg-key"})
    push_url = f"{stack.base_url}/webhooks/aggregator/{channel_id}/agg-bot-1"
    async with stack.http.put(f"{sim_url}/_sim/accounts/70001", json={"appkey": "agg-key", "push_url": push_url}) as r:
        assert r.status < 300, await r.text()
    async with stack.http.put(f"{sim_url}/_sim/chatbots/agg-bot-1", json={"appid": "70001"}) as r:
        assert r.status < 300, await r.text()
    return ChannelUnderTest(chatbot_id, sim_url, "displayed", f"/_sim/handsets/{USER}/uplink",
                            {"chatbot_id": "agg-bot-1", "postback": {"display_text": "立即还款", "data": "pay"}})


async def _chatbot_json(stack: Stack, serve: ServeFn, dialect: str, bot: str,
                        faults: json_sim.Faults | None = None) -> ChannelUnderTest:
    services = stack.platform.services
    sim_url = await serve(json_sim.create_app(json_sim.SimulatorSettings(
        dialect=dialect,  # type: ignore[arg-type]
        faults=faults or json_sim.Faults(delivered_delay_ms=10, displayed_delay_ms=10), notify_backoff_ms=20)), None)
    channel_id = await services.provisioning.create_channel(dialect, f"{dialect} (sim)", sim_url)
    chatbot_id = await services.provisioning.create_chatbot(
        stack.tenant.tenant_id, channel_id=channel_id, business_id=stack.tenant.business_id, name=f"{dialect} bot",
        carrier_chatbot_id=bot, credentials={"app_id": "xSnu7777", "app_key": "key-7777", "notify_token": "tok-7777"})
    # Registering the chatbot at the simulated MaaP runs the notifyPath handshake against our gateway.
    async with stack.http.put(f"{sim_url}/_sim/chatbots/{bot}", json={
            "app_id": "xSnu7777", "app_key": "key-7777", "notify_token": "tok-7777",
            "notify_url": f"{stack.base_url}/webhooks/{dialect}/{channel_id}"}) as r:
        answer = await r.json()
        assert r.status < 300, answer
    assert answer["notify_path_verified"] is True, answer
    return ChannelUnderTest(chatbot_id, sim_url, "displayed", f"/_sim/handsets/{USER}/uplink",
                            {"chatbot_id": bot, "postback": {"display_text": "立即还款", "data": "pay"}})


async def _ctcc(stack: Stack, serve: ServeFn) -> ChannelUnderTest:
    return await _chatbot_json(stack, serve, "ctcc", "106598858810000006")


async def _cucc(stack: Stack, serve: ServeFn) -> ChannelUnderTest:
    return await _chatbot_json(stack, serve, "cucc", "12580012011402")


async def _smpp(stack: Stack, serve: ServeFn) -> ChannelUnderTest:
    services = stack.platform.services
    simulator = smsc_sim.SmscSimulator(smsc_sim.SmscSettings(
        accounts=[smsc_sim.SmscAccount("esme9", "pw9", service_numbers=("1069009",))],
        faults=smsc_sim.Faults(dlr_delay_ms=10)))
    port = await simulator.start("127.0.0.1", 0)
    _SMSCS.append(simulator)
    control_url = await serve(smsc_sim.create_control_app(simulator), None)
    channel_id = await services.provisioning.create_channel(
        "smpp", "SMS (sim)", f"smpp://127.0.0.1:{port}", settings={"system_id": "esme9", "password": "pw9"})
    chatbot_id = await services.provisioning.create_chatbot(
        stack.tenant.tenant_id, channel_id=channel_id, business_id=stack.tenant.business_id, name="sms",
        carrier_chatbot_id="1069009", credentials={})
    return ChannelUnderTest(chatbot_id, control_url, "delivered", f"/_sim/handsets/{USER}/uplink",
                            {"to": "1069009", "text": "退订"})


_SMSCS: list[smsc_sim.SmscSimulator] = []


@pytest_asyncio.fixture(autouse=True)
async def _close_smscs() -> AsyncIterator[None]:
    yield
    while _SMSCS:
        await _SMSCS.pop().close()


CHANNELS: dict[str, Callable[[Stack, ServeFn], Awaitable[ChannelUnderTest]]] = {
    "aggregator": _aggregator, "ctcc": _ctcc, "cucc": _cucc, "smpp": _smpp,
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
    channel = await _aggregator(stack, serve)
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
    channel = await _smpp(stack, serve)
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
    channel = await _smpp(stack, serve)
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
