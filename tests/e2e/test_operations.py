"""Operations: callback retries and their record, metrics, health, the CLI's send command."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from tests.conftest import Stack

pytestmark = pytest.mark.asyncio


async def test_failing_business_callback_is_retried_until_it_succeeds(stack: Stack) -> None:
    stack.receiver.status = 503
    _, body = await stack.text(["13800138040"])
    message_id = body["messages"][0]["id"]
    await stack.wait_status(message_id, "displayed")
    await stack.receiver.wait_for(lambda events: len(events) >= 2)
    stack.receiver.status = 200
    await stack.receiver.wait_for(lambda events: len({e["id"] for e in events}) >= 4 and len(events) >= 6,
                                  timeout=30)
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        async with stack.http.get(f"{stack.base_url}/v1/callbacks", headers=stack.auth()) as response:
            deliveries = await response.json()
        if all(d["state"] == "delivered" for d in deliveries) and len(deliveries) == 4:
            break
        assert asyncio.get_running_loop().time() < deadline, deliveries
        await asyncio.sleep(0.2)
    assert max(d["attempts"] for d in deliveries) >= 2  # refused at least once, then delivered
    ids = [r.headers["X-Msg5g-Event-Id"] for r in stack.receiver.requests]
    assert len(ids) > len(set(ids))  # a retry repeats the event id, so receivers can deduplicate


async def test_metrics_health_and_readiness(stack: Stack) -> None:
    _, body = await stack.text(["13800138041"])
    await stack.wait_status(body["messages"][0]["id"], "displayed")
    async with stack.http.get(f"{stack.base_url}/metrics") as response:
        text = await response.text()
    assert response.status == 200
    assert 'msg5g_messages_accepted_total{traffic_class="notification"}' in text
    assert 'msg5g_messages_delivered_total{channel="cmcc",traffic_class="notification"}' in text
    assert "msg5g_carrier_call_seconds_bucket" in text
    for path in ("/healthz", "/readyz"):
        async with stack.http.get(f"{stack.base_url}{path}") as response:
            assert response.status == 200


async def test_cli_send_reaches_the_handset(stack: Stack) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "msg5g.cli.main", "send", "--to", "13800138042", "--text", "命令行发送",
        "--chatbot", stack.tenant.chatbot_id, "--api-key", stack.tenant.api_key, "--api-url", stack.base_url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ},
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "+8613800138042" in out.decode()
    for _ in range(200):
        _, inbox = await stack.sim("GET", "/_sim/handsets/+8613800138042/inbox")
        if "命令行发送" in str(inbox):
            break
        await asyncio.sleep(0.05)
    assert "命令行发送" in str(inbox)
