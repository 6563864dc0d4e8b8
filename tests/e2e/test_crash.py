"""Crash safety: SIGKILLed processes lose nothing and the handset gets each message exactly once.

The killed processes are real `msg5g` processes sharing the test's SQLite database; the test's own
platform serves the carrier webhooks and the simulator counts what reached the handset.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from tests.conftest import CallbackReceiver, ServeFn, Stack, build_stack, free_port

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]


@pytest_asyncio.fixture
async def stack_without_workers(sqlite_url: str, tmp_path: Path, serve: ServeFn,
                                callback_receiver: CallbackReceiver) -> AsyncIterator[Stack]:
    async for built in build_stack(sqlite_url, tmp_path, serve, callback_receiver, run_workers=False):
        yield built


@pytest.fixture
def spawn(sqlite_url: str, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _msg5g(args: list[str], sqlite_url: str, tmp_path: Path, **env: str) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "MSG5G_DATABASE_URL": sqlite_url, "MSG5G_DATA_DIR": str(tmp_path),
                   "MSG5G_VISIBILITY_TIMEOUT_SECONDS": "2", "MSG5G_LOG_LEVEL": "WARNING", **env}
    return subprocess.Popen([sys.executable, "-m", "msg5g.cli.main", *args], env=environment,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _until(predicate: object, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_process_killed_after_accept_before_send(
    stack_without_workers: Stack, spawn: list[subprocess.Popen[bytes]], sqlite_url: str, tmp_path: Path
) -> None:
    stack = stack_without_workers
    port = free_port()
    server = _msg5g(["serve", "--no-workers", "--port", str(port)], sqlite_url, tmp_path)
    spawn.append(server)
    url = f"http://127.0.0.1:{port}"

    async def up() -> bool:
        try:
            async with stack.http.get(f"{url}/healthz") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    await _until(up)
    body = {"chatbot_id": stack.tenant.chatbot_id, "recipients": ["13800138020", "13800138021"],
            "content": {"kind": "text", "text": "崩溃测试"}}
    async with stack.http.post(f"{url}/v1/messages", json=body, headers=stack.auth()) as response:
        assert response.status == 202
        ids = [m["id"] for m in (await response.json())["messages"]]
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=10)
    for message_id in ids:
        code, _ = await stack.sim("GET", f"/_sim/messages/{message_id}")
        assert code == 404  # nothing was sent before the kill

    spawn.append(_msg5g(["worker"], sqlite_url, tmp_path))
    for message_id in ids:
        await stack.wait_status(message_id, "displayed", timeout=30)
    # Both recipients went out as one group send, under one messageId (one of theirs).
    _, message = await stack.message(ids[0])
    group_id = message["attempts"][0]["carrier_message_id"]
    assert group_id in ids
    _, other = await stack.message(ids[1])
    assert other["attempts"][0]["carrier_message_id"] == group_id
    _, record = await stack.sim("GET", f"/_sim/messages/{group_id}")
    assert record["received"] == 1
    assert record["delivered"] == 2
    for number in ("+8613800138020", "+8613800138021"):
        _, inbox = await stack.sim("GET", f"/_sim/handsets/{number}/inbox")
        assert len(inbox) == 1, inbox


async def test_worker_killed_after_carrier_accepts_before_commit(
    stack_without_workers: Stack, spawn: list[subprocess.Popen[bytes]], sqlite_url: str, tmp_path: Path
) -> None:
    stack = stack_without_workers
    # The simulator holds each request this long before answering, then accepts it even though the
    # client has gone: the carrier has the message, our worker never records the answer. Its
    # delivery report comes late (well after a restarted worker has had time to start, even on a
    # loaded machine), so the restarted worker must decide to resend on its own.
    await stack.sim("PUT", "/_sim/faults", {"latency_ms": 1500, "delivered_delay_ms": 20_000})
    _, body = await stack.text(["13800138022"], "只送达一次")
    message_id = body["messages"][0]["id"]
    worker = _msg5g(["worker"], sqlite_url, tmp_path)
    spawn.append(worker)

    async def in_flight() -> bool:
        _, stats = await stack.sim("GET", "/_sim/stats")
        return int(stats["requests"]) >= 1

    await _until(in_flight)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)

    async def carrier_accepted() -> bool:
        code, record = await stack.sim("GET", f"/_sim/messages/{message_id}")
        return code == 200 and record["accepted"] == 1

    await _until(carrier_accepted)
    _, message = await stack.message(message_id)
    [attempt] = message["attempts"]
    assert attempt["state"] == "pending"  # our side never saw the 2xx

    await stack.sim("PUT", "/_sim/faults", {"latency_ms": 0})
    spawn.append(_msg5g(["worker"], sqlite_url, tmp_path))
    await stack.wait_status(message_id, "displayed", timeout=60)
    _, record = await stack.sim("GET", f"/_sim/messages/{message_id}")
    assert record["received"] == 2  # the restarted worker sent it again, with the same messageId
    assert record["delivered"] == 1  # and the carrier did not deliver it twice
