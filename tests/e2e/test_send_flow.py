"""One message end to end: gateway -> queue -> China Mobile adapter -> simulator -> reports back."""

from __future__ import annotations

import pytest

from msg5g.services.signing import verify_callback
from tests.conftest import Stack

pytestmark = pytest.mark.asyncio


async def test_text_is_sent_delivered_and_displayed(stack: Stack) -> None:
    status, body = await stack.text(["13800138000"], "你好, 5G消息")
    assert status == 202, body
    [accepted] = body["messages"]
    assert accepted["recipient"] == "+8613800138000"
    assert accepted["status"] == "accepted"

    message = await stack.wait_status(accepted["id"], "displayed")
    assert [h["status"] for h in message["history"]] == ["accepted", "queued", "sent", "delivered", "displayed"]
    [attempt] = message["attempts"]
    assert attempt["carrier_message_id"] == accepted["id"]
    assert attempt["state"] == "displayed"

    code, record = await stack.sim("GET", f"/_sim/messages/{accepted['id']}")
    assert code == 200
    assert record["received"] == 1
    assert record["delivered"] == 1
    code, inbox = await stack.sim("GET", "/_sim/handsets/+8613800138000/inbox")
    assert code == 200
    assert any("你好, 5G消息" in str(entry) for entry in inbox)


async def test_business_callback_gets_every_status_signed(stack: Stack) -> None:
    _, body = await stack.text(["13800138001"])
    message_id = body["messages"][0]["id"]
    await stack.receiver.wait_for(
        lambda events: any(e["data"]["status"] == "displayed" for e in events if e["type"] == "message.status"))
    # Callbacks are delivered concurrently, so they may arrive in any order; each carries when
    # the change happened, and every change arrives exactly once.
    mine = [e["data"] for e in stack.receiver.events("message.status") if e["data"]["message_id"] == message_id]
    events = sorted(mine, key=lambda data: data["occurred_at"])
    assert [data["status"] for data in events] == ["queued", "sent", "delivered", "displayed"]
    for request in stack.receiver.requests:
        assert verify_callback(stack.tenant.callback_secret, request.body, request.headers)
        assert not verify_callback("another-secret", request.body, request.headers)
