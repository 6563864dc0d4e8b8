"""The embedded durable queue: rows in the platform database, claimed with a visibility timeout.

It survives a process kill: a claimed job whose worker died becomes visible again when its
visibility timeout passes, and is tried again. Handlers are therefore written to be idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.pipeline.queue import Backlog, DeadJob, Job, NewJob
from msg5g.storage.database import Database
from msg5g.storage.tables import QueueEntry, core_table


class SqlQueue:
    def __init__(self, database: Database, *, visibility_timeout: float = 60.0) -> None:
        self._db = database
        self._visibility_timeout = visibility_timeout
        self._wakeups: dict[str, asyncio.Event] = defaultdict(asyncio.Event)

    async def enqueue(self, session: AsyncSession, jobs: list[NewJob]) -> None:
        if not jobs:
            return
        now = time.time()
        await session.execute(
            insert(core_table(QueueEntry)),
            [
                {
                    "topic": job.topic,
                    "priority": job.priority,
                    "tenant_id": job.tenant_id,
                    "payload": job.payload,
                    "state": "ready",
                    "not_before": now + job.delay_seconds,
                    "locked_until": 0.0,
                    "attempts": 0,
                    "created_at": now,
                }
                for job in jobs
            ],
        )

    def notify(self, topic: str) -> None:
        """Wake this process's workers for `topic` (call after the enqueueing transaction commits)."""
        self._wakeups[topic].set()

    async def wait(self, topic: str, timeout: float) -> None:
        event = self._wakeups[topic]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        event.clear()

    async def claim(self, topic: str, limit: int) -> list[Job]:
        now = time.time()
        candidates = (
            select(QueueEntry.id)
            .where(
                QueueEntry.topic == topic,
                QueueEntry.state == "ready",
                QueueEntry.not_before <= now,
                QueueEntry.locked_until <= now,
            )
            .order_by(QueueEntry.priority, QueueEntry.not_before)
            .limit(limit)
            # PostgreSQL: concurrent workers skip each other's rows; SQLite ignores this (its
            # writers are serialised anyway).
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        statement = (
            update(QueueEntry)
            .where(QueueEntry.id.in_(candidates))
            .values(locked_until=now + self._visibility_timeout, attempts=QueueEntry.attempts + 1)
            .returning(QueueEntry.id, QueueEntry.topic, QueueEntry.payload, QueueEntry.priority,
                       QueueEntry.attempts, QueueEntry.tenant_id)
            .execution_options(synchronize_session=False)
        )
        async with self._db.transaction() as session:
            rows = (await session.execute(statement)).all()
        return [
            Job(id=row.id, topic=row.topic, payload=row.payload, priority=row.priority, attempts=row.attempts,
                tenant_id=row.tenant_id)
            for row in sorted(rows, key=lambda r: (r.priority, r.id))
        ]

    async def ack(self, jobs: list[Job]) -> None:
        if jobs:
            async with self._db.transaction() as session:
                await self.ack_in(session, jobs)

    async def ack_in(self, session: AsyncSession, jobs: list[Job]) -> None:
        """Ack inside the caller's transaction, so the job is done exactly when its effects commit."""
        # Fenced by the attempt count: a job that timed out and was claimed again elsewhere is not
        # deleted by its first, late worker.
        condition = [and_(QueueEntry.id == job.id, QueueEntry.attempts == job.attempts) for job in jobs]
        for chunk_start in range(0, len(condition), 200):
            await session.execute(
                delete(QueueEntry).where(or_(*condition[chunk_start:chunk_start + 200]))
                .execution_options(synchronize_session=False)
            )

    async def retry(self, job: Job, delay: float, error: str) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                update(QueueEntry)
                .where(QueueEntry.id == job.id, QueueEntry.attempts == job.attempts)
                .values(not_before=time.time() + delay, locked_until=0.0, last_error=error[:2000])
                .execution_options(synchronize_session=False)
            )

    async def dead(self, job: Job, error: str) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                update(QueueEntry)
                .where(QueueEntry.id == job.id, QueueEntry.attempts == job.attempts)
                .values(state="dead", locked_until=0.0, last_error=error[:2000])
                .execution_options(synchronize_session=False)
            )

    async def depth(self) -> dict[tuple[str, int, str], int]:
        statement = select(QueueEntry.topic, QueueEntry.priority, QueueEntry.state, func.count()).group_by(
            QueueEntry.topic, QueueEntry.priority, QueueEntry.state
        )
        async with self._db.reader() as session:
            return {(t, p, s): n for t, p, s, n in (await session.execute(statement)).all()}

    async def backlog(self, tenant_id: str | None = None) -> list[Backlog]:
        now = time.time()
        statement = select(QueueEntry.topic, func.count(), func.min(QueueEntry.not_before)).where(
            QueueEntry.state == "ready", QueueEntry.not_before <= now, QueueEntry.locked_until <= now,
        ).group_by(QueueEntry.topic)
        if tenant_id is not None:
            statement = statement.where(QueueEntry.tenant_id == tenant_id)
        async with self._db.reader() as session:
            rows = (await session.execute(statement)).all()
        return [Backlog(topic=t, waiting=n, oldest_age_seconds=max(0.0, now - oldest)) for t, n, oldest in rows]

    async def dead_letters(self, tenant_id: str, limit: int = 100) -> list[DeadJob]:
        statement = (
            select(QueueEntry)
            .where(QueueEntry.state == "dead", QueueEntry.tenant_id == tenant_id)
            .order_by(QueueEntry.id.desc())
            .limit(limit)
        )
        async with self._db.reader() as session:
            return [DeadJob(id=e.id, topic=e.topic, payload=e.payload, attempts=e.attempts, last_error=e.last_error)
                    for e in await session.scalars(statement)]
