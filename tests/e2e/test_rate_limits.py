"""A carrier's TPS limit is kept (the simulator, which enforces it, never has to refuse), and a
"too many requests" answer backs the channel off until it is over."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import ServeFn, Stack
from tests.e2e.channels import ChannelUnderTest, chatbot_json_channel

pytestmark = pytest.mark.asyncio
BOT = "106598858810000006"


async def _burst(stack: Stack, channel: ChannelUnderTest, count: int) -> list[str]:
    # One request per recipient, each with its own text: nothing to gather into a group send. All in
    # flight at once, so even on a loaded machine the messages are queued faster than the limit.
    async def one(i: int) -> str:
        status, body = await stack.send({"chatbot_id": channel.chatbot_id, "recipients": [f"+86153000070{i:02d}"],
                                         "content": {"kind": "text", "text": f"限速 {i}"}})
        assert status == 202, body
        return str(body["messages"][0]["id"])
    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def _stats(channel: ChannelUnderTest, stack: Stack) -> dict[str, int]:
    async with stack.http.get(f"{channel.simulator_url}/_sim/stats") as r:
        return dict(await r.json())


async def test_the_channels_tps_limit_is_kept_across_a_burst(stack: Stack, serve: ServeFn) -> None:
    channel = await chatbot_json_channel(stack, serve, "ctcc", BOT)
    # The simulated carrier enforces 5/s; the platform is told 4/s, below it.
    chatbot = await stack.platform.services.directory.chatbot(stack.tenant.tenant_id, channel.chatbot_id)
    channel_id = chatbot.endpoint.channel_id
    async with stack.http.put(f"{channel.simulator_url}/_sim/chatbots/{BOT}?verify=false", json={
            "app_id": "xSnu7777", "app_key": "key-7777", "notify_token": "tok-7777", "tps_limit": 5,
            "notify_url": f"{stack.base_url}/webhooks/ctcc/{channel_id}"}) as r:
        assert r.status < 300, await r.text()
    await stack.platform.services.channel_admin.update(channel_id, tps_limit=4)
    ids = await _burst(stack, channel, 24)
    for message_id in ids:
        await stack.wait_status(message_id, "displayed", timeout=60)
    stats = await _stats(channel, stack)
    assert stats["rate_limited"] == 0, stats  # the carrier never had to refuse one
    for message_id in ids:
        _, body = await stack.message(message_id)
        assert body["attempts"][0]["tries"] == 1  # waiting for the limit spent no tries


async def test_a_rate_limit_answer_backs_the_channel_off_and_everything_arrives(stack: Stack,
                                                                               serve: ServeFn) -> None:
    channel = await chatbot_json_channel(stack, serve, "ctcc", BOT)
    chatbot = await stack.platform.services.directory.chatbot(stack.tenant.tenant_id, channel.chatbot_id)
    async with stack.http.put(f"{channel.simulator_url}/_sim/chatbots/{BOT}?verify=false", json={
            "app_id": "xSnu7777", "app_key": "key-7777", "notify_token": "tok-7777", "tps_limit": 2,
            "notify_url": f"{stack.base_url}/webhooks/ctcc/{chatbot.endpoint.channel_id}"}) as r:
        assert r.status < 300, await r.text()
    ids = await _burst(stack, channel, 20)  # no limit configured here: the carrier refuses some
    for message_id in ids:
        await stack.wait_status(message_id, "displayed", timeout=60)
    stats = await _stats(channel, stack)
    assert stats["rate_limited"] > 0, stats  # refused, backed off, and still every message arrived
    for message_id in ids:
        _, body = await stack.message(message_id)
        # A refusal of our pace is not the message's fault: it cost no tries.
        assert body["attempts"][0]["tries"] == 1, body["attempts"]
