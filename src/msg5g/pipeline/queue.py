"""The queue interface that every backend implements (the embedded SQL queue now, RabbitMQ later).

Enqueueing always happens inside the caller's database transaction (the transactional outbox):
a job exists if and only if the rows it refers to were committed. With the embedded backend the
outbox table *is* the queue; a broker backend relays committed outbox rows to the broker.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

TOPIC_SEND = "send"
TOPIC_CALLBACK = "callback"
TOPIC_UPLINK = "uplink"  # each uplink, for its conversation and the auto-reply rules
TOPIC_UPLINK_FILE = "uplink-file"  # a file a customer sent, to fetch from the carrier


@dataclass(frozen=True, slots=True)
class NewJob:
    topic: str
    payload: dict[str, Any]
    priority: int = 0  # lower is served first: the traffic-class lane
    delay_seconds: float = 0.0
    tenant_id: str | None = None


@dataclass(slots=True)
class Job:
    id: int
    topic: str
    payload: dict[str, Any]
    priority: int
    attempts: int  # including the current one
    tenant_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeadJob:
    id: int
    topic: str
    payload: dict[str, Any]
    attempts: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Backlog:
    """Jobs of one topic that are due and not being worked on: how many, and how long the one due longest has waited."""

    topic: str
    waiting: int
    oldest_age_seconds: float


class RetryLater(Exception):
    """Raised by a handler to have its job tried again after `delay` seconds."""

    def __init__(self, delay: float, reason: str = "") -> None:
        super().__init__(reason or f"retry in {delay:.1f}s")
        self.delay = delay


class Queue(Protocol):
    async def enqueue(self, session: AsyncSession, jobs: list[NewJob]) -> None: ...
    def notify(self, topic: str) -> None: ...
    async def claim(self, topic: str, limit: int) -> list[Job]: ...
    async def ack(self, jobs: list[Job]) -> None: ...
    async def ack_in(self, session: AsyncSession, jobs: list[Job]) -> None: ...
    async def retry(self, job: Job, delay: float, error: str) -> None: ...
    async def dead(self, job: Job, error: str) -> None: ...
    async def wait(self, topic: str, timeout: float) -> None: ...
    async def depth(self) -> dict[tuple[str, int, str], int]: ...
    async def dead_letters(self, tenant_id: str, limit: int) -> list[DeadJob]: ...
    async def backlog(self, tenant_id: str | None = None) -> list[Backlog]: ...


def backoff_delay(attempt: int, *, base: float = 0.5, cap: float = 300.0) -> float:
    """Exponential backoff with jitter: ~base * 2^(attempt-1), spread over [50%, 100%]."""
    ceiling: float = min(cap, base * (2.0 ** max(0, attempt - 1)))
    jitter: float = random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography
    return ceiling * jitter
