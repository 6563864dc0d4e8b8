"""Engine and transactions.

SQLite allows one writer at a time. Rather than let concurrent writers spin in SQLite's busy handler,
write transactions in one process queue on an asyncio lock and begin IMMEDIATE (so a reader never
has to upgrade to a writer mid-transaction, which is how SQLite deadlocks). Other processes (a
separate `msg5g worker`) are handled by the busy timeout. PostgreSQL needs none of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                _enable_wal(parsed.database)
            kwargs["connect_args"] = {"timeout": 30}
            kwargs["pool_size"] = 8
        else:
            kwargs["pool_size"] = 10
            kwargs["max_overflow"] = 20
            kwargs["pool_pre_ping"] = True
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._write_engine = self.engine
        if self.is_sqlite:
            _configure_sqlite(self.engine, begin="BEGIN")
            # Writers get an engine of their own whose transactions begin IMMEDIATE.
            self._write_engine = create_async_engine(url, **{**kwargs, "pool_size": 2})
            _configure_sqlite(self._write_engine, begin="BEGIN IMMEDIATE")
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._write_sessions = async_sessionmaker(self._write_engine, expire_on_commit=False, autoflush=False)
        self._write_lock = PriorityLock() if self.is_sqlite else None

    @asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """A write transaction: commits on success, rolls back on any exception.

        `urgent` transactions (someone outside is waiting on them, like a carrier for its 2xx) take
        SQLite's write lock before queued background work does.
        """
        if self._write_lock is None:
            async with self._write_sessions() as session, session.begin():
                yield session
            return
        async with self._write_lock.hold(urgent=urgent), self._write_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._write_engine is not self.engine:
            await self._write_engine.dispose()


class PriorityLock:
    """An asyncio lock whose urgent waiters are served before the others, each group in FIFO order.

    asyncio.Lock has no priorities; without them a carrier waiting for its 2xx queues behind every
    background batch, and carriers bound their concurrency, so that wait caps the whole platform.
    """

    def __init__(self) -> None:
        self._locked = False
        self._waiters: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (deque(), deque())

    @asynccontextmanager
    async def hold(self, *, urgent: bool = False) -> AsyncIterator[None]:
        await self._acquire(urgent)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool) -> None:
        if not self._locked and not any(self._waiters):
            self._locked = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiters[0 if urgent else 1]
        queue.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release()  # we were handed the lock as we were cancelled: pass it on
            else:
                queue.remove(waiter)
            raise

    def _release(self) -> None:
        for queue in self._waiters:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # ownership passes directly; _locked stays True
                    return
        self._locked = False


def _enable_wal(path: str) -> None:
    """Switch the file to WAL once, before any pooled connection exists.

    WAL is a property of the file. Switching needs an exclusive lock, and pooled connections that
    each tried it as they opened failed at random with "database is locked" on a fresh file.
    """
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


def _configure_sqlite(engine: AsyncEngine, *, begin: str) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 driver so the BEGIN below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        # NORMAL in WAL mode is durable against a process crash (the case we promise) and loses at
        # most the last transactions on power loss; FULL would cost an fsync per commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)


def null_pool_engine(url: str) -> AsyncEngine:
    """An engine for one-off tools (migrations) that must not keep connections open."""
    return create_async_engine(url, poolclass=NullPool)


def upsert_insert(session: Any, table: Any) -> Any:
    """An INSERT of the session's dialect, so that ON CONFLICT clauses can follow (SQLite and PostgreSQL)."""
    from sqlalchemy.dialects.postgresql import insert as postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return postgresql_insert(table) if session.get_bind().dialect.name == "postgresql" else sqlite_insert(table)
