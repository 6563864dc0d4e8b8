"""MaaP -> CSP HTTP: delivery notifications through a queue and a sender pool, uplinks directly.

One aiohttp session (bounded connector) is shared by everything. Status reports for one recipient
form a chain: the next status is only scheduled once the previous one was sent or given up, so
Delivered cannot overtake Displayed unless the `out_of_order` fault asks for it, and a revoke result
(§1.5) queues behind what is already owed. Delays and retry backoffs are loop timers, not sleeping
tasks, so thousands of pending reports cost little. One-off posts (audit results) run as tasks the
notifier owns, so closing the app cancels them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from .constants import REVOKE_NOTIFY_PATH, REVOKE_PATH_SUFFIX, REVOKE_RESULTS
from .settings import SimulatorSettings
from .state import AccountEntry, MessageRecord, Notification, SimState
from .wire import basic_authorization, build_delivery_notification, build_revoke_notification, http_date_now

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Step:
    """One report; Revoked/RevokeFailed go out as a messageStatusReport (§1.5), the rest as §1.3."""

    status: str
    description: str | None
    delay_s: float
    copies: int = 1


@dataclass(slots=True, eq=False)
class Chain:
    """The status reports owed to one recipient of one message, in order."""

    record: MessageRecord
    address: str
    steps: list[Step] = field(default_factory=list)
    # Chains from before a /_sim/reset are dropped instead of reporting into the new run.
    generation: int = 0
    index: int = 0
    copy: int = 0
    attempt: int = 0
    busy: bool = False


class Notifier:
    def __init__(self, settings: SimulatorSettings, state: SimState) -> None:
        self.settings = settings
        self.state = state
        self._session: aiohttp.ClientSession | None = None
        self._queue: asyncio.Queue[Chain] = asyncio.Queue(maxsize=settings.notify_queue_size)
        self._workers: list[asyncio.Task[None]] = []
        self._overflow: set[asyncio.Task[None]] = set()
        self._jobs: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = True
        self._give_ups = 0
        # Parsing the same notify URL for every report is measurable at thousands per second.
        self._urls: dict[tuple[str, str, str], URL] = {}

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        connector = aiohttp.TCPConnector(limit=self.settings.notify_connection_limit, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.settings.notify_timeout_seconds),
        )
        self._closed = False
        self._workers = [
            asyncio.create_task(self._worker(), name=f"cmcc-notifier-{i}")
            for i in range(max(1, self.settings.notify_workers))
        ]

    async def close(self) -> None:
        self._closed = True
        for task in [*self._workers, *self._overflow, *self._jobs]:
            task.cancel()
        await asyncio.gather(*self._workers, *self._overflow, *self._jobs, return_exceptions=True)
        self._workers.clear()
        self._overflow.clear()
        self._jobs.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run one-off notification work on the loop; it is cancelled when the notifier closes."""
        if self._closed:
            work.close()
            return
        task = asyncio.ensure_future(work)
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    # -- scheduling --

    def add_steps(self, record: MessageRecord, destination: str, address: str, steps: list[Step]) -> None:
        """Queue reports for one recipient behind whatever it is still owed.

        `address` is what the reports name; it is fixed when the recipient's chain is created, so
        every report of one recipient uses the same form (tel or IMS SIP).
        """
        if not steps:
            return
        chain = record.chains.get(destination)
        if chain is None or chain.generation != self.state.generation:
            chain = Chain(record, address, generation=self.state.generation)
            record.chains[destination] = chain
        chain.steps.extend(steps)
        if not chain.busy:
            chain.busy = True
            self._schedule(chain, chain.steps[chain.index].delay_s)

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
            self.state.stats.notification_queue_overflows += 1
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
                log.exception("notification chain failed")

    async def _send_step(self, chain: Chain) -> None:
        if chain.generation != self.state.generation:
            return
        record = chain.record
        step = chain.steps[chain.index]
        entry = self.state.accounts.get(record.chatbot_id)
        if entry is None:
            self._finish_step(chain, ok=False, http_status=None)
            return
        if step.status in REVOKE_RESULTS:
            link = record.link + REVOKE_PATH_SUFFIX if record.link else None
            body = build_revoke_notification(chain.address, record.message_id, step.status, link)
            url = self._url(entry, REVOKE_NOTIFY_PATH)
        else:
            body = build_delivery_notification(
                chain.address, record.message_id, step.status, step.description, record.link or None
            )
            url = self._url(entry, "DeliveryInfoNotification")
        status, _error = await self.post(url, entry, body)
        chain.attempt += 1
        ok = status is not None and 200 <= status < 300
        if not ok and chain.attempt <= self.settings.notify_retries:
            self.state.stats.notification_retries += 1
            backoff = self.settings.notify_backoff_ms / 1000.0 * (2 ** (chain.attempt - 1))
            self._schedule(chain, backoff)
            return
        self._finish_step(chain, ok=ok, http_status=status)

    def _finish_step(self, chain: Chain, *, ok: bool, http_status: int | None) -> None:
        step = chain.steps[chain.index]
        stats = self.state.stats
        chain.record.notifications.append(
            Notification(chain.address, step.status, step.description, ok, http_status, chain.attempt, time.time())
        )
        if ok:
            stats.notifications_sent += 1
        else:
            stats.notifications_failed += 1
            self._give_ups += 1
            # A dead CSP would otherwise flood the log at benchmark rates.
            level = logging.WARNING if self._give_ups % 1000 == 1 else logging.DEBUG
            log.log(
                level,
                "gave up on %s for %s (HTTP %s), %d give-ups so far",
                step.status,
                chain.record.message_id,
                http_status,
                self._give_ups,
            )
        chain.attempt = 0
        chain.copy += 1
        if chain.copy < step.copies:
            self._enqueue(chain)
            return
        chain.copy = 0
        chain.index += 1
        if chain.index < len(chain.steps):
            self._schedule(chain, chain.steps[chain.index].delay_s)
        else:
            chain.busy = False

    # -- HTTP --

    def _url(self, entry: AccountEntry, kind: str) -> URL:
        """`{notify_url}/{kind}/{chatbotId}`: DeliveryInfoNotification (§1.3) or MessageStatusNotification."""
        account = entry.account
        key = (account.notify_url, account.chatbot_id, kind)
        url = self._urls.get(key)
        if url is None:
            url = URL(f"{account.notify_url.rstrip('/')}/{kind}/{account.chatbot_id}")
            self._urls[key] = url
        return url

    async def post(
        self,
        url: str | URL,
        entry: AccountEntry,
        body: bytes,
        *,
        content_type: str = "application/xml",
        extra_headers: Mapping[str, str] | None = None,
    ) -> tuple[int | None, str | None]:
        """One signed POST; returns (HTTP status, None) or (None, connection error text)."""
        if self._session is None:
            return None, "notifier is not running"
        date = http_date_now()
        headers = {
            # [I] same Basic scheme as downlinks (§1.8); see constants.NOTIFY_AUTH_SAME_AS_DOWNLINK.
            "Authorization": basic_authorization(entry.account.app_id, entry.token, date),
            "Date": date,
            "Content-Type": content_type,
        }
        if extra_headers:
            headers.update(extra_headers)
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                await response.read()
                return response.status, None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"{type(exc).__name__}: {exc}"

    async def post_with_retries(
        self,
        url: str | URL,
        entry: AccountEntry,
        body: bytes,
        *,
        content_type: str = "application/xml",
        extra_headers: Mapping[str, str] | None = None,
    ) -> tuple[int | None, str | None, int]:
        """Signed POST with the notification retry policy; returns (status, error, attempts)."""
        attempts = 0
        while True:
            status, error = await self.post(url, entry, body, content_type=content_type, extra_headers=extra_headers)
            attempts += 1
            if status is not None and 200 <= status < 300:
                return status, None, attempts
            if attempts > self.settings.notify_retries:
                return status, error, attempts
            self.state.stats.notification_retries += 1
            await asyncio.sleep(self.settings.notify_backoff_ms / 1000.0 * (2 ** (attempts - 1)))
