"""Aggregator -> customer HTTP: status and revoke events through a queue and a sender pool.

One aiohttp session (bounded connector) is shared by everything. The events of one sendID form a
chain: the next one is only scheduled once the previous one was pushed or given up, so
DeliveredToTerminal cannot overtake MessageDisplayed unless the `out_of_order` fault asks for it.
Delays and retry backoffs are loop timers, not sleeping tasks, so thousands of pending events cost
little. MO pushes and /_sim/push go out directly (the caller wants the customer's answer).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import aiohttp
from yarl import URL

from .constants import EVENT_INVOKE, H_APPID, H_SIGNATURE, H_TIMESTAMP
from .settings import Account, SimulatorSettings
from .state import Push, SendRecord, SimState
from .wire import beijing_time, invoke_event, message_event, push_signature

log = logging.getLogger(__name__)

_JSON = "application/json"


@dataclass(slots=True)
class Step:
    event: str
    status: str
    delay_s: float


@dataclass(slots=True)
class Chain:
    """The events still owed to the customer for one sendID."""

    record: SendRecord
    steps: list[Step]
    copies: int = 1
    index: int = 0
    copy: int = 0
    attempt: int = 0
    # The body of the current step, built when the step fell due: its timestamp is the event's
    # time, and retries and duplicate copies repeat it byte for byte.
    body: bytes | None = None


class Notifier:
    def __init__(self, settings: SimulatorSettings, state: SimState) -> None:
        self.settings = settings
        self.state = state
        self._session: aiohttp.ClientSession | None = None
        self._queue: asyncio.Queue[Chain] = asyncio.Queue(maxsize=settings.notify_queue_size)
        self._workers: list[asyncio.Task[None]] = []
        self._overflow: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = True
        self._give_ups = 0
        # Parsing the same push URL for every event is measurable at thousands per second.
        self._urls: dict[str, URL] = {}

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        connector = aiohttp.TCPConnector(limit=self.settings.notify_connection_limit, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.settings.notify_timeout_seconds),
        )
        self._closed = False
        self._workers = [
            asyncio.create_task(self._worker(), name=f"aggregator-notifier-{i}")
            for i in range(max(1, self.settings.notify_workers))
        ]

    async def close(self) -> None:
        self._closed = True
        for task in [*self._workers, *self._overflow]:
            task.cancel()
        await asyncio.gather(*self._workers, *self._overflow, return_exceptions=True)
        self._workers.clear()
        self._overflow.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    # -- scheduling --

    def start_chain(self, chain: Chain) -> None:
        self._schedule(chain, chain.steps[0].delay_s)

    def _schedule(self, chain: Chain, delay_s: float) -> None:
        if self._closed or self._loop is None:
            return
        if delay_s <= 0:
            self._enqueue(chain)
        else:
            self._loop.call_later(delay_s, self._enqueue, chain)

    def _enqueue(self, chain: Chain) -> None:
        if self._closed:
            return
        try:
            self._queue.put_nowait(chain)
        except asyncio.QueueFull:
            # Backpressure without dropping: park the chain on a task until a sender frees room.
            self.state.stats.push_queue_overflows += 1
            task = asyncio.ensure_future(self._queue.put(chain))
            self._overflow.add(task)
            task.add_done_callback(self._overflow.discard)

    async def _worker(self) -> None:
        while True:
            chain = await self._queue.get()
            try:
                await self._send_step(chain)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not kill the sender pool
                log.exception("push chain failed")

    async def _send_step(self, chain: Chain) -> None:
        record = chain.record
        if record.generation != self.state.generation:
            return  # from before a /_sim/reset
        step = chain.steps[chain.index]
        account = self.state.accounts.get(record.appid)
        if account is None:
            self._finish_step(chain, ok=False, http_status=None)
            return
        if chain.body is None:
            build = invoke_event if step.event == EVENT_INVOKE else message_event
            chain.body = build(record.send_id, record.to, step.status, beijing_time(time.time()))
        status, _error = await self.post(account, chain.body)
        chain.attempt += 1
        ok = status is not None and 200 <= status < 300
        if not ok and chain.attempt <= self.settings.notify_retries:
            self.state.stats.push_retries += 1
            self._schedule(chain, self.backoff(chain.attempt))
            return
        self._finish_step(chain, ok=ok, http_status=status)

    def backoff(self, attempt: int) -> float:
        return float(self.settings.notify_backoff_ms / 1000.0 * 2.0 ** (attempt - 1))

    def _finish_step(self, chain: Chain, *, ok: bool, http_status: int | None) -> None:
        step = chain.steps[chain.index]
        stats = self.state.stats
        chain.record.pushes.append(Push(step.event, step.status, ok, http_status, chain.attempt, time.time()))
        if ok:
            stats.pushes_sent += 1
        else:
            stats.pushes_failed += 1
            self._give_ups += 1
            # A dead webhook would otherwise flood the log at benchmark rates.
            level = logging.WARNING if self._give_ups % 1000 == 1 else logging.DEBUG
            log.log(
                level,
                "gave up on %s %s for %s (HTTP %s), %d give-ups so far",
                step.event,
                step.status,
                chain.record.send_id,
                http_status,
                self._give_ups,
            )
        chain.attempt = 0
        chain.copy += 1
        if chain.copy < chain.copies:
            self._enqueue(chain)
            return
        chain.copy = 0
        chain.body = None
        chain.index += 1
        if chain.index < len(chain.steps):
            self._schedule(chain, chain.steps[chain.index].delay_s)

    # -- HTTP --

    def _url(self, push_url: str) -> URL:
        url = self._urls.get(push_url)
        if url is None:
            if len(self._urls) > 1024:
                self._urls.clear()
            url = self._urls[push_url] = URL(push_url)
        return url

    async def post(self, account: Account, body: bytes) -> tuple[int | None, str | None]:
        """One signed POST to the account's push URL: (HTTP status, None) or (None, error text)."""
        if self._session is None:
            return None, "notifier is not running"
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": _JSON,
            # [invented] constants.PUSH_CARRIES_APPID: lets one webhook serve several appids.
            H_APPID: account.appid,
            H_TIMESTAMP: timestamp,
            H_SIGNATURE: push_signature(account.appkey, timestamp, body),
        }
        try:
            async with self._session.post(self._url(account.push_url), data=body, headers=headers) as response:
                await response.read()
                return response.status, None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"{type(exc).__name__}: {exc}"

    async def post_with_retries(self, account: Account, body: bytes) -> tuple[int | None, str | None, int]:
        """Signed POST with the push retry policy; returns (status, error, attempts)."""
        attempts = 0
        while True:
            status, error = await self.post(account, body)
            attempts += 1
            if status is not None and 200 <= status < 300:
                return status, None, attempts
            if attempts > self.settings.notify_retries:
                return status, error, attempts
            self.state.stats.push_retries += 1
            await asyncio.sleep(self.backoff(attempts))
