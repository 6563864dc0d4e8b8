"""Caps hold exactly under concurrency on PostgreSQL: 200 concurrent sends into two separate `msg5g serve`
processes (API and workers each) and this test's own platform, against one database, and not one
message over a count cap or a fen over a cost cap; every accepted message is then rated once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from msg5g.domain.messages import TrafficClass
from msg5g.storage.tables import CapacityUsage, Charge, Message
from tests.conftest import CallbackReceiver, ServeFn, Stack, build_stack, free_port

pytestmark = [pytest.mark.asyncio, pytest.mark.postgres, pytest.mark.slow]

COUNT_LIMIT = 137  # messages a day for business A
PRICE = 5  # fen per text message on CMCC
B_SHARE = 50  # what the tenant's budget leaves for business B after A used its count
SENDS = 200


@pytest_asyncio.fixture
async def pg_stack(postgres_url: str, tmp_path: Path, serve: ServeFn,
                   callback_receiver: CallbackReceiver) -> AsyncIterator[Stack]:
    async for built in build_stack(postgres_url, tmp_path, serve, callback_receiver):
        yield built


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


async def _serve_process(stack: Stack, url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> str:
    port = free_port()
    environment = {**os.environ, "MSG5G_DATABASE_URL": url, "MSG5G_DATA_DIR": str(tmp_path / f"p{port}"),
                   "MSG5G_LOG_LEVEL": "WARNING", "MSG5G_VISIBILITY_TIMEOUT_SECONDS": "5"}
    processes.append(subprocess.Popen([sys.executable, "-m", "msg5g.cli.main", "serve", "--port", str(port)],
                                      env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    base = f"http://127.0.0.1:{port}"
    deadline = asyncio.get_running_loop().time() + 60
    while asyncio.get_running_loop().time() < deadline:
        try:
            async with stack.http.get(f"{base}/readyz") as response:
                if response.status == 200:
                    return base
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"msg5g serve on {port} never became ready")


async def _burst(stack: Stack, bases: list[str], key: str, first: int) -> list[tuple[int, Any]]:
    """SENDS single-recipient sends at once, spread over the processes. A fresh connection each: a
    connection kept alive from earlier may have been closed by the server meanwhile."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True, limit=0)) as http:
        async def one(index: int) -> tuple[int, Any]:
            body = {"chatbot_id": stack.tenant.chatbot_id, "recipients": [f"+86139{first + index:08d}"],
                    "content": {"kind": "text", "text": "并发上限"}}
            async with http.post(f"{bases[index % len(bases)]}/v1/messages", json=body,
                                 headers={"Authorization": f"Bearer {key}"}) as response:
                return response.status, await response.json()
        return await asyncio.gather(*(one(i) for i in range(SENDS)))


async def test_caps_hold_exactly_across_processes(pg_stack: Stack, postgres_url: str, tmp_path: Path,
                                                  processes: list[subprocess.Popen[bytes]]) -> None:
    stack = pg_stack
    services = stack.platform.services
    tenant = stack.tenant.tenant_id
    from msg5g.domain.capacity import CapSpec, PriceSpec

    await services.capacity.set_prices(tenant, [PriceSpec(content_kind="text", channel_type="cmcc", price_fen=PRICE)])
    count_cap = await services.capacity.add_cap(tenant, CapSpec(
        scope="business", scope_id=stack.tenant.business_id, metric="count", period="day", limit=COUNT_LIMIT))
    budget = await services.capacity.add_cap(tenant, CapSpec(
        scope="tenant", metric="cost", period="month", limit=PRICE * (COUNT_LIMIT + B_SHARE)))
    business_b, _ = await services.provisioning.create_business(tenant, "B marketing", TrafficClass.NOTIFICATION)
    _, key_b = await services.api_keys.create(tenant, business_b, "b")
    # Business B sends through A's chatbot, mapped to it.
    from msg5g.services.access import BusinessAccess
    from msg5g.services.grants import ResourceType

    grant = await services.grants.apply(BusinessAccess(tenant, business_b, "b"), ResourceType.CHATBOT,
                                        stack.tenant.chatbot_id, None, requested_by="api-key:b")
    await services.grants.decide(tenant, grant.id, approve=True, by="admin:auditor")
    bases = [stack.base_url, *[await _serve_process(stack, postgres_url, tmp_path, processes) for _ in range(2)]]

    answers = await _burst(stack, bases, stack.tenant.api_key, 0)
    assert sorted({status for status, _ in answers}) == [202, 429], answers[:3]
    accepted = [body for status, body in answers if status == 202]
    refused = [body for status, body in answers if status == 429]
    assert len(accepted) == COUNT_LIMIT
    assert {body["error"]["code"] for body in refused} == {"quota_exceeded"}
    assert all(count_cap.id in body["error"]["message"] for body in refused)

    answers_b = await _burst(stack, bases, key_b, 1000)
    accepted_b = [body for status, body in answers_b if status == 202]
    assert len(accepted_b) == B_SHARE, [b for s, b in answers_b if s != 202][:2]
    assert all(budget.id in body["error"]["message"] for status, body in answers_b if status == 429)

    ids = [m["id"] for body in accepted + accepted_b for m in body["messages"]]

    async def settled() -> dict[str, tuple[int, int, int]] | None:
        async with services.ctx.db.reader() as session:
            rows = (await session.scalars(select(CapacityUsage))).all()
        found = {row.cap_id: (row.reserved, row.charged, row.refused) for row in rows}
        done = found.get(count_cap.id, (None,))[0] == 0 and found.get(budget.id, (None,))[0] == 0
        return found if done else None
    usage = None
    for _ in range(1200):
        usage = await settled()
        if usage:
            break
        await asyncio.sleep(0.1)
    assert usage, "the ledger never settled"
    displayed = 0
    for _ in range(600):  # every accepted message reaches the handset
        async with services.ctx.db.reader() as session:
            displayed = await session.scalar(select(func.count()).select_from(Message).where(
                Message.id.in_(ids), Message.status == "displayed")) or 0
        if displayed == len(ids):
            break
        await asyncio.sleep(0.1)
    assert displayed == len(ids) == COUNT_LIMIT + B_SHARE
    assert usage[count_cap.id] == (0, COUNT_LIMIT, SENDS - COUNT_LIMIT)
    assert usage[budget.id] == (0, PRICE * (COUNT_LIMIT + B_SHARE), SENDS - B_SHARE)
    async with services.ctx.db.reader() as session:
        charges = await session.scalar(select(func.count()).select_from(Charge).where(Charge.tenant_id == tenant))
    assert charges == COUNT_LIMIT + B_SHARE  # each accepted message rated exactly once
