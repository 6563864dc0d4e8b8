"""Channels of every type, each with its own simulator on loopback, added to a test stack's tenant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from msg5g.simulators import aggregator as agg_sim
from msg5g.simulators import maapjson as json_sim
from msg5g.simulators import smsc as smsc_sim
from tests.conftest import ServeFn, Stack

USER = "+8613900139111"


@dataclass
class ChannelUnderTest:
    chatbot_id: str
    simulator_url: str
    final_status: str
    uplink_path: str
    uplink_body: dict[str, Any]


async def aggregator_channel(stack: Stack, serve: ServeFn, faults: agg_sim.Faults | None = None) -> ChannelUnderTest:
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


async def chatbot_json_channel(stack: Stack, serve: ServeFn, dialect: str, bot: str,
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


async def ctcc_channel(stack: Stack, serve: ServeFn) -> ChannelUnderTest:
    return await chatbot_json_channel(stack, serve, "ctcc", "106598858810000006")


async def cucc_channel(stack: Stack, serve: ServeFn) -> ChannelUnderTest:
    return await chatbot_json_channel(stack, serve, "cucc", "12580012011402")


async def smpp_channel(stack: Stack, serve: ServeFn) -> ChannelUnderTest:
    services = stack.platform.services
    simulator = smsc_sim.SmscSimulator(smsc_sim.SmscSettings(
        accounts=[smsc_sim.SmscAccount("esme9", "pw9", service_numbers=("1069009",))],
        faults=smsc_sim.Faults(dlr_delay_ms=10)))
    port = await simulator.start("127.0.0.1", 0)
    SMSCS.append(simulator)
    control_url = await serve(smsc_sim.create_control_app(simulator), None)
    channel_id = await services.provisioning.create_channel(
        "smpp", "SMS (sim)", f"smpp://127.0.0.1:{port}", settings={"system_id": "esme9", "password": "pw9"})
    chatbot_id = await services.provisioning.create_chatbot(
        stack.tenant.tenant_id, channel_id=channel_id, business_id=stack.tenant.business_id, name="sms",
        carrier_chatbot_id="1069009", credentials={})
    return ChannelUnderTest(chatbot_id, control_url, "delivered", f"/_sim/handsets/{USER}/uplink",
                            {"to": "1069009", "text": "退订"})


SMSCS: list[smsc_sim.SmscSimulator] = []
