"""The platform keeps sending after a transient database error (found while making the API suites reliable)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from msg5g.pipeline.queue import Job
from msg5g.storage.database import Database
from tests.conftest import Stack

pytestmark = pytest.mark.asyncio


async def test_a_failed_claim_does_not_stop_the_workers(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    queue = stack.platform.services.ctx.queue
    original = queue.claim
    failed = asyncio.Event()

    async def claim_failing_once(topic: str, limit: int) -> list[Job]:
        if not failed.is_set():
            failed.set()
            raise OperationalError("UPDATE queue_entries ...", {}, sqlite3.OperationalError("database is locked"))
        return await original(topic, limit)

    monkeypatch.setattr(queue, "claim", claim_failing_once)
    await asyncio.wait_for(failed.wait(), 5)
    status, body = await stack.text(["13800138000"], "数据库抖动之后")
    assert status == 202, body
    await stack.wait_status(body["messages"][0]["id"], "displayed", timeout=10)


async def test_first_connections_to_a_fresh_database_do_not_fail(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 4.0
    round_number = 0
    while loop.time() < deadline:
        round_number += 1
        database = Database(f"sqlite+aiosqlite:///{tmp_path / f'fresh-{round_number}.db'}")

        async def read(db: Database = database) -> Any:
            async with db.reader() as session:
                return await session.execute(text("SELECT 1"))

        async def write(db: Database = database) -> Any:
            async with db.transaction() as session:
                return await session.execute(text("SELECT 1"))

        results = await asyncio.gather(read(), write(), read(), write(), return_exceptions=True)
        await database.dispose()
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, f"fresh database {round_number}: {errors[0]}"
