"""Fallback (回落) for handsets that cannot take a 5G message: by the carrier, over the platform's own
SMS channel, as an SMS with an H5 link, or not at all; and what the platform learns of the number."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import CallbackReceiver, ServeFn, Stack, build_stack
from tests.e2e.channels import ChannelUnderTest, smpp_channel

pytestmark = pytest.mark.asyncio

NUMBER = "+8613800138777"  # a China Mobile number whose handset takes no chatbot messages
CARD = {"kind": "rich_card", "card": {"title": "账单提醒", "description": "本月应还 1,024.00 元"}}


@dataclass
class Fallbacks:
    stack: Stack
    sms: ChannelUnderTest

    async def send(self, content: dict[str, Any], **extra: Any) -> tuple[int, Any]:
        return await self.stack.send({"chatbot_id": self.stack.tenant.chatbot_id, "recipients": [NUMBER],
                                      "content": content, **extra})

    async def sms_inbox(self) -> list[dict[str, Any]]:
        async with self.stack.http.get(f"{self.sms.simulator_url}/_sim/handsets/{NUMBER}/inbox") as r:
            return list(await r.json())

    async def rich_requests(self) -> int:
        _, stats = await self.stack.sim("GET", "/_sim/stats")
        return int(stats["requests"])


@pytest_asyncio.fixture
async def fallbacks(sqlite_url: str, tmp_path: Path, serve: ServeFn,
                    callback_receiver: CallbackReceiver) -> AsyncIterator[Fallbacks]:
    async for stack in build_stack(sqlite_url, tmp_path, serve, callback_receiver):
        sms = await smpp_channel(stack, serve)
        named = stack.tenant.chatbot_id
        async with stack.http.put(f"{stack.base_url}/v1/chatbots/{named}/routes", headers=stack.auth(), json={
                "routes": [{"carrier": "*", "via_chatbot_id": named},
                           {"carrier": "sms", "via_chatbot_id": sms.chatbot_id}]}) as r:
            assert r.status == 200, await r.text()
        status, body = await stack.sim("PUT", f"/_sim/handsets/{NUMBER}", {"capability": "none"})
        assert status == 200, body
        yield Fallbacks(stack, sms)


async def test_carrier_fallback_lets_the_network_send_the_text(fallbacks: Fallbacks) -> None:
    status, body = await fallbacks.send({"kind": "text", "text": "5G 消息"}, fallback_text="短信版本")
    assert status == 202, body
    done = await fallbacks.stack.wait_status(body["messages"][0]["id"], "delivered")
    assert done["status_reason"] == "delivered as SMS by the network"
    assert len(done["attempts"]) == 1
    assert await fallbacks.sms_inbox() == []  # the carrier converted it; our SMSC saw nothing


async def test_platform_sms_fallback_after_delivery_impossible_then_straight_to_sms(fallbacks: Fallbacks) -> None:
    status, body = await fallbacks.send(CARD, fallback="sms", fallback_text="【账单】本月应还1024.00元")
    assert status == 202, body
    done = await fallbacks.stack.wait_status(body["messages"][0]["id"], "delivered")
    assert [(a["state"], a["error_code"]) for a in done["attempts"]] == [("failed", "not_capable"),
                                                                         ("delivered", None)]
    assert done["attempts"][1]["chatbot_id"] == fallbacks.sms.chatbot_id
    [sms] = await fallbacks.sms_inbox()
    assert sms["text"] == "【账单】本月应还1024.00元"
    assert sms["data_coding"] == 8  # UCS-2
    # The number is now known to take no 5G messages: the next one goes straight to SMS.
    before = await fallbacks.rich_requests()
    status, body = await fallbacks.send(CARD, fallback="sms", fallback_text="【账单】第二条")
    assert status == 202, body
    second = await fallbacks.stack.wait_status(body["messages"][0]["id"], "delivered")
    assert [a["chatbot_id"] for a in second["attempts"]] == [fallbacks.sms.chatbot_id]
    assert await fallbacks.rich_requests() == before  # zero rich-message requests at the carrier
    _, key = await fallbacks.stack.platform.services.operator_keys.create("fallback test")
    async with fallbacks.stack.http.get(f"{fallbacks.stack.base_url}/v1/platform/numbers/{NUMBER}",
                                        headers={"Authorization": f"Bearer {key}"}) as r:
        fact = await r.json()
    assert fact["capability"] == "sms_only"
    assert fact["capability_source"] == "learned"


async def test_h5_fallback_sends_a_link_to_a_page_of_the_card_and_counts_opens(fallbacks: Fallbacks) -> None:
    status, body = await fallbacks.send(CARD, fallback="h5")
    assert status == 202, body
    message_id = body["messages"][0]["id"]
    await fallbacks.stack.wait_status(message_id, "delivered")
    [sms] = await fallbacks.sms_inbox()
    assert sms["text"].startswith("账单提醒 ")
    link = sms["text"].split(" ")[-1]
    assert link.startswith(f"{fallbacks.stack.platform.settings.resolved_public_base_url()}/h/")
    for _ in range(2):
        async with fallbacks.stack.http.get(link) as r:
            page = await r.text()
            assert r.status == 200, page
    assert "本月应还 1,024.00 元" in page
    assert await fallbacks.stack.platform.services.h5.clicks(fallbacks.stack.tenant.tenant_id, message_id) == 2
    async with fallbacks.stack.http.get(f"{fallbacks.stack.base_url}/h/not-a-real-token") as r:
        assert r.status == 404


async def test_no_fallback_fails_the_message(fallbacks: Fallbacks) -> None:
    status, body = await fallbacks.send(CARD)
    assert status == 202, body
    done = await fallbacks.stack.wait_status(body["messages"][0]["id"], "failed")
    assert done["status_reason"].startswith("DeliveryImpossible")
    assert await fallbacks.sms_inbox() == []


async def test_a_fallback_that_needs_text_refuses_a_request_without_it(fallbacks: Fallbacks) -> None:
    for policy in ("sms", "carrier"):
        status, body = await fallbacks.send(CARD, fallback=policy)
        assert status == 422, body
        assert body["error"]["code"] == "invalid_request"
