"""Carrier faults: 5xx and timeouts are retried, duplicates and reordering change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.conftest import CallbackReceiver, ServeFn, Stack, build_stack

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def impatient_stack(sqlite_url: str, tmp_path: Path, serve: ServeFn,
                          callback_receiver: CallbackReceiver) -> AsyncIterator[Stack]:
    async for built in build_stack(sqlite_url, tmp_path, serve, callback_receiver, carrier_timeout_seconds=0.5):
        yield built


async def test_carrier_5xx_burst_is_retried_then_succeeds(stack: Stack) -> None:
    await stack.sim("PUT", "/_sim/faults", {"burst_5xx": 2})
    _, body = await stack.text(["13800138010"])
    message_id = body["messages"][0]["id"]
    message = await stack.wait_status(message_id, "displayed", timeout=20)
    [attempt] = message["attempts"]
    assert attempt["tries"] == 3
    _, record = await stack.sim("GET", f"/_sim/messages/{message_id}")
    assert record["received"] == 3  # two refused copies, then the accepted one
    assert record["delivered"] == 1


async def test_carrier_timeout_is_retried_then_succeeds(impatient_stack: Stack) -> None:
    stack = impatient_stack
    await stack.sim("PUT", "/_sim/faults", {"timeout_next": 1, "hang_seconds": 2})
    _, body = await stack.text(["13800138011"])
    message_id = body["messages"][0]["id"]
    message = await stack.wait_status(message_id, "displayed", timeout=20)
    assert message["attempts"][0]["tries"] == 2
    _, record = await stack.sim("GET", f"/_sim/messages/{message_id}")
    assert record["delivered"] == 1


async def test_duplicate_notifications_change_nothing(stack: Stack) -> None:
    await stack.sim("PUT", "/_sim/faults", {"duplicate_notifications": True})
    _, body = await stack.text(["13800138012"])
    message_id = body["messages"][0]["id"]
    message = await stack.wait_status(message_id, "displayed")
    await stack.receiver.wait_for(lambda events: any(
        e["data"].get("message_id") == message_id and e["data"]["status"] == "displayed" for e in events))
    _, record = await stack.sim("GET", f"/_sim/messages/{message_id}")
    assert len(record["notifications_sent"]) >= 4  # every report really was sent twice
    _, again = await stack.message(message_id)
    assert [h["status"] for h in again["history"]] == ["accepted", "queued", "sent", "delivered", "displayed"]
    # Callbacks are delivered concurrently, so they may arrive in any order; each carries when
    # the change happened, and every change arrives exactly once.
    mine = [e["data"] for e in stack.receiver.events("message.status") if e["data"]["message_id"] == message_id]
    events = sorted(mine, key=lambda data: data["occurred_at"])
    assert [data["status"] for data in events] == ["queued", "sent", "delivered", "displayed"]
    assert message["status"] == "displayed"


async def test_out_of_order_reports_never_move_status_backwards(stack: Stack) -> None:
    await stack.sim("PUT", "/_sim/faults", {"out_of_order": True})
    _, body = await stack.text(["13800138013"])
    message_id = body["messages"][0]["id"]
    await stack.wait_status(message_id, "displayed")
    for _ in range(100):
        _, record = await stack.sim("GET", f"/_sim/messages/{message_id}")
        if len(record["notifications_sent"]) == 2:
            break
        await asyncio.sleep(0.05)
    assert record["notifications_sent"] == ["MessageDisplayed", "DeliveredToTerminal"]
    _, message = await stack.message(message_id)
    assert message["status"] == "displayed"
    assert [h["status"] for h in message["history"]][-1] == "displayed"


async def test_handset_without_5g_messaging_fails_with_the_carrier_reason(stack: Stack) -> None:
    await stack.sim("PUT", "/_sim/handsets/+8613800138014", {"capability": "none"})
    _, body = await stack.text(["13800138014"])
    message = await stack.wait_status(body["messages"][0]["id"], "failed")
    assert "DeliveryImpossible" in (message["status_reason"] or "")


async def test_sms_fallback_by_the_network_counts_as_delivered(stack: Stack) -> None:
    await stack.sim("PUT", "/_sim/handsets/+8613800138015", {"capability": "none"})
    _, body = await stack.text(["13800138015"], fallback_text="【演示】您的账单已出")
    message = await stack.wait_status(body["messages"][0]["id"], "delivered")
    assert message["history"][-1]["carrier_status"] == "DeliveredToNetwork"
    _, inbox = await stack.sim("GET", "/_sim/handsets/+8613800138015/inbox")
    assert "您的账单已出" in str(inbox)
