"""The same platform on PostgreSQL: one message end to end, and the queue's claim discipline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.conftest import CallbackReceiver, ServeFn, Stack, build_stack

pytestmark = [pytest.mark.asyncio, pytest.mark.postgres]


@pytest_asyncio.fixture
async def pg_stack(postgres_url: str, tmp_path: Path, serve: ServeFn,
                   callback_receiver: CallbackReceiver) -> AsyncIterator[Stack]:
    async for built in build_stack(postgres_url, tmp_path, serve, callback_receiver):
        yield built


async def test_send_and_uplink_on_postgres(pg_stack: Stack) -> None:
    stack = pg_stack
    status, body = await stack.text(["13800138030", "13800138031"], "PostgreSQL 你好", client_message_id="pg-1")
    assert status == 202
    for accepted in body["messages"]:
        message = await stack.wait_status(accepted["id"], "displayed")
        assert [h["status"] for h in message["history"]] == ["accepted", "queued", "sent", "delivered", "displayed"]
    status, again = await stack.text(["13800138030", "13800138031"], "PostgreSQL 你好", client_message_id="pg-1")
    assert status == 202
    assert again["replayed"] is True
    assert [m["id"] for m in again["messages"]] == [m["id"] for m in body["messages"]]
    code, _ = await stack.sim("POST", "/_sim/handsets/+8613800138030/uplink",
                              {"chatbot_id": "125200401111528", "text": "收到"})
    assert code == 200
    await stack.receiver.wait_for(lambda events: any(e["type"] == "message.inbound" for e in events))
