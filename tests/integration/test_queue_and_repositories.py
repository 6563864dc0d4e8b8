"""The embedded queue and the tenant-scoped repositories, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
import pytest_asyncio

from msg5g.kit.clock import utcnow
from msg5g.pipeline.queue import NewJob
from msg5g.pipeline.sql_queue import SqlQueue
from msg5g.storage.database import Database
from msg5g.storage.migrate import upgrade_async
from msg5g.storage.repositories import BusinessRepository
from msg5g.storage.tables import Business
from tests.conftest import postgres_database

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[Database]:
    async with AsyncExitStack() as stack:
        url = sqlite_url if request.param == "sqlite" else await stack.enter_async_context(postgres_database())
        await upgrade_async(url)
        db = Database(url)
        yield db
        await db.dispose()


async def _enqueue(db: Database, queue: SqlQueue, jobs: list[NewJob]) -> None:
    async with db.transaction() as session:
        await queue.enqueue(session, jobs)


async def test_priority_lanes_and_not_before(database: Database) -> None:
    queue = SqlQueue(database, visibility_timeout=30)
    await _enqueue(database, queue, [
        NewJob("t", {"n": "marketing"}, priority=3),
        NewJob("t", {"n": "notification"}, priority=0),
        NewJob("t", {"n": "later"}, priority=0, delay_seconds=60),
        NewJob("other", {"n": "elsewhere"}),
    ])
    claimed = await queue.claim("t", 10)
    assert [job.payload["n"] for job in claimed] == ["notification", "marketing"]
    assert await queue.claim("t", 10) == []  # claimed ones are invisible, the delayed one not yet due


async def test_visibility_timeout_redelivers_and_ack_is_fenced(database: Database) -> None:
    queue = SqlQueue(database, visibility_timeout=0.3)
    await _enqueue(database, queue, [NewJob("t", {"n": 1})])
    [first] = await queue.claim("t", 1)
    await asyncio.sleep(0.4)
    [second] = await queue.claim("t", 1)  # the first worker "died": the job comes back
    assert second.id == first.id
    assert second.attempts == 2
    await queue.ack([first])  # the late first worker's ack must not remove the live claim
    assert (await queue.depth())[("t", 0, "ready")] == 1
    await queue.ack([second])
    assert ("t", 0, "ready") not in await queue.depth()


async def test_retry_and_dead_letter(database: Database) -> None:
    queue = SqlQueue(database, visibility_timeout=30)
    await _enqueue(database, queue, [NewJob("t", {"n": 1}, tenant_id="tenant-a")])
    [job] = await queue.claim("t", 1)
    await queue.retry(job, 0.0, "carrier 503")
    [again] = await queue.claim("t", 1)
    await queue.dead(again, "gave up")
    assert await queue.claim("t", 1) == []
    [dead] = await queue.dead_letters("tenant-a", 10)
    assert dead.last_error == "gave up"
    assert await queue.dead_letters("tenant-b", 10) == []


async def test_enqueue_rolls_back_with_its_transaction(database: Database) -> None:
    queue = SqlQueue(database, visibility_timeout=30)
    async def failing_request() -> None:
        async with database.transaction() as session:
            await queue.enqueue(session, [NewJob("t", {"n": 1})])
            raise RuntimeError("the request failed after enqueueing")

    with pytest.raises(RuntimeError):
        await failing_request()
    assert await queue.claim("t", 1) == []


async def test_repositories_never_cross_tenants(database: Database) -> None:
    async with database.transaction() as session:
        await BusinessRepository(session, "tenant-a").add(Business(
            id="b-1", tenant_id="tenant-a", name="A", traffic_class="notification", callback_url=None,
            callback_secret="s", created_at=utcnow()))
        with pytest.raises(ValueError, match="another tenant"):
            await BusinessRepository(session, "tenant-b").add(Business(
                id="b-2", tenant_id="tenant-a", name="sneaky", traffic_class="notification", callback_url=None,
                callback_secret="s", created_at=utcnow()))
    async with database.reader() as session:
        assert await BusinessRepository(session, "tenant-b").get("b-1") is None
        assert await BusinessRepository(session, "tenant-b").all() == []
        found = await BusinessRepository(session, "tenant-a").get("b-1")
        assert found is not None
        assert found.name == "A"

