"""Workers: drain one topic of the queue with bounded concurrency, retrying with backoff.

A handler that returns has done its job (ack); one that returns True has acked it itself, in the
transaction that committed its effects. One that raises RetryLater is tried again after the
delay it names; any other exception is retried with exponential backoff and jitter until the job's
attempts run out, and then the job is dead-lettered (kept, visible, never silently dropped).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from msg5g.pipeline.queue import Job, Queue, RetryLater, backoff_delay

log = logging.getLogger(__name__)

Handler = Callable[[Job], Awaitable[bool | None]]


class Worker:
    def __init__(
        self,
        queue: Queue,
        topic: str,
        handler: Handler,
        *,
        concurrency: int = 8,
        max_attempts: int = 8,
        idle_poll_seconds: float = 0.25,
    ) -> None:
        self._queue = queue
        self.topic = topic
        self._handler = handler
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._idle_poll = idle_poll_seconds
        self._inflight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._done: list[Job] = []

    async def run(self, stop: asyncio.Event) -> None:
        finished = asyncio.Event()  # this worker's own: `stop` is shared by every worker
        flusher = asyncio.create_task(self._flush_acks(finished))
        try:
            while not stop.is_set():
                free = self._concurrency - len(self._inflight)
                try:
                    jobs = await self._queue.claim(self.topic, free) if free > 0 else []
                except Exception:
                    # A locked or unreachable database must not end the worker: nothing would
                    # be sent again while the API went on accepting.
                    log.exception("claiming jobs failed; retrying", extra={"topic": self.topic})
                    await asyncio.sleep(1.0)
                    continue
                for job in jobs:
                    await self._slots.acquire()
                    task = asyncio.create_task(self._run_one(job))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                if not jobs:
                    if self._inflight and free <= 0:
                        await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
                    else:
                        await self._queue.wait(self.topic, self._idle_poll)
        finally:
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)
            finished.set()
            await flusher

    async def _run_one(self, job: Job) -> None:
        acked = False
        try:
            acked = bool(await self._handler(job))
        except RetryLater as retry:
            await self._retry_or_bury(job, retry.delay, str(retry))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("job failed", extra={"topic": job.topic, "job_id": job.id, "attempt": job.attempts})
            await self._retry_or_bury(job, backoff_delay(job.attempts), f"{type(exc).__name__}: {exc}")
        else:
            if not acked:
                self._done.append(job)
        finally:
            self._slots.release()

    async def _retry_or_bury(self, job: Job, delay: float, error: str) -> None:
        if job.attempts >= self._max_attempts:
            log.error("job dead-lettered", extra={"topic": job.topic, "job_id": job.id, "error": error})
            await self._queue.dead(job, error)
        else:
            await self._queue.retry(job, delay, error)

    async def _flush_acks(self, finished: asyncio.Event) -> None:
        # Acks are batched: one delete per few milliseconds instead of one transaction per job.
        while True:
            if self._done:
                batch, self._done = self._done, []
                try:
                    await self._queue.ack(batch)
                except Exception:
                    log.exception("ack failed; the jobs will be redelivered after their visibility timeout")
            elif finished.is_set():
                return
            else:
                await asyncio.sleep(0.005)
