"""MaaP -> CSP HTTP: status reports through a queue and a sender pool; MO, spam, audit and notifyPath directly.

One aiohttp session (bounded connector) is shared by everything. Status reports for one recipient
form a chain: the next status is only scheduled once the previous one was sent or given up, so
`delivered` cannot overtake `displayed` unless the `out_of_order` fault asks for it, and a revoke
result queues behind what is already owed. Delays and retry backoffs are loop timers, not sleeping
tasks, so thousands of pending reports cost little.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from yarl import URL

from .constants import NOTIFY_PATH_METHOD, PATH_NOTIFY_PATH, PATH_STATUS
from .settings import SimulatorSettings
from .state import AccountEntry, MessageRecord, Notification, SimState
from .wire import new_nonce, signed_headers, status_body

log = logging.getLogger(__name__)

_JSON_HEADERS = {"Content-Type": "application/json;charset=UTF-8"}


@dataclass(slots=True)
class Step:
    status: str
    error: tuple[int, str] | None
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
        # One-off signed posts (audit results) that nobody awaits; cancelled on close.
        self._background: set[asyncio.Task[None]] = set()
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
            asyncio.create_task(self._worker(), name=f"maapjson-notifier-{i}")
            for i in range(max(1, self.settings.notify_workers))
        ]

    async def close(self) -> None:
        self._closed = True
        tasks = [*self._workers, *self._overflow, *self._background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers.clear()
        self._overflow.clear()
        self._background.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    # -- scheduling --

    def add_steps(self, record: MessageRecord, address: str, steps: list[Step]) -> None:
        """Queue statuses for one recipient behind whatever it is still owed."""
        if not steps:
            return
        chain = record.chains.get(address)
        if chain is None or chain.generation != self.state.generation:
            chain = Chain(record, address, generation=self.state.generation)
            record.chains[address] = chain
        chain.steps.extend(steps)
        if not chain.busy:
            chain.busy = True
            self._schedule(chain, chain.steps[chain.index].delay_s)

    def send_now(self, record: MessageRecord, address: str, step: Step) -> None:
        """A status that does not wait for the recipient's pending ones: a revoke result answers
        the CSP's request at once, while a read report may still be minutes away."""
        chain = Chain(record, address, generation=self.state.generation)
        chain.steps.append(step)
        chain.busy = True
        self._schedule(chain, step.delay_s)

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
        state = self.state
        if chain.generation != state.generation:
            return
        record = chain.record
        step = chain.steps[chain.index]
        entry = state.accounts.get(record.chatbot_id)
        if entry is None or not self.may_notify(entry):
            self._finish_step(chain, ok=False, http_status=None)
            return
        body = status_body(state.dialect, record.carrier_id, step.status, chain.address, entry.uri, step.error)
        status, _error = await self.post(self.url(entry, PATH_STATUS), entry, body)
        chain.attempt += 1
        ok = status is not None and 200 <= status < 300
        if not ok and chain.attempt <= self.settings.notify_retries:
            state.stats.notification_retries += 1
            self._schedule(chain, self.backoff(chain.attempt))
            return
        self._finish_step(chain, ok=ok, http_status=status)

    def _finish_step(self, chain: Chain, *, ok: bool, http_status: int | None) -> None:
        step = chain.steps[chain.index]
        stats = self.state.stats
        chain.record.notifications.append(
            Notification(
                chain.address,
                step.status,
                step.error[0] if step.error else None,
                ok,
                http_status,
                chain.attempt,
                time.time(),
            )
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

    def backoff(self, attempt: int) -> float:
        return float(self.settings.notify_backoff_ms / 1000.0 * 2 ** (attempt - 1))

    def may_notify(self, entry: AccountEntry) -> bool:
        return entry.verified is True or not self.settings.require_notify_path

    def url(self, entry: AccountEntry, template: str) -> URL:
        account = entry.account
        key = (account.notify_url, account.chatbot_id, template)
        url = self._urls.get(key)
        if url is None:
            url = URL(account.notify_url.rstrip("/") + template.format(id=account.chatbot_id))
            if len(self._urls) > 4096:
                self._urls.clear()
            self._urls[key] = url
        return url

    async def post(self, url: URL, entry: AccountEntry, body: bytes) -> tuple[int | None, str | None]:
        """One signed POST (choices "Notification signature"); (HTTP status, None) or (None, error)."""
        if self._session is None:
            return None, "notifier is not running"
        headers = signed_headers(entry.account.notify_token)
        headers.update(_JSON_HEADERS)
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                await response.read()
                return response.status, None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"{type(exc).__name__}: {exc}"

    async def post_with_retries(self, url: URL, entry: AccountEntry, body: bytes) -> tuple[int | None, str | None, int]:
        """Signed POST with the notification retry policy; returns (status, error, attempts)."""
        if not self.may_notify(entry):
            return None, "notifyPath of this chatbot is not verified", 0
        attempts = 0
        while True:
            status, error = await self.post(url, entry, body)
            attempts += 1
            if status is not None and 200 <= status < 300:
                return status, None, attempts
            if attempts > self.settings.notify_retries:
                return status, error, attempts
            self.state.stats.notification_retries += 1
            await asyncio.sleep(self.backoff(attempts))

    def post_later(
        self,
        url: URL,
        entry: AccountEntry,
        body: bytes,
        done: Callable[[int | None, str | None, int], None],
    ) -> None:
        """Signed POST with retries in the background; `done(status, error, attempts)` when settled."""
        if self._closed:
            return

        async def run() -> None:
            status, error, attempts = await self.post_with_retries(url, entry, body)
            done(status, error, attempts)

        task = asyncio.ensure_future(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def verify_notify_path(self, entry: AccountEntry) -> tuple[bool, str]:
        """choices "notifyPath handshake": call {root}/notifyPath, expect echoStr and appId back."""
        if self._session is None:
            return False, "notifier is not running"
        account = entry.account
        headers = signed_headers(account.notify_token)
        echo = new_nonce() + new_nonce()
        headers["echoStr"] = echo
        headers["chatbotId"] = account.chatbot_id
        method = NOTIFY_PATH_METHOD[self.state.dialect]
        url = self.url(entry, PATH_NOTIFY_PATH)
        try:
            async with self._session.request(method, url, headers=headers) as response:
                await response.read()
                status = response.status
                got_echo = response.headers.get("echoStr")
                got_app_id = response.headers.get("appId")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return False, f"{method} {url} failed: {type(exc).__name__}: {exc}"
        if status != 200:
            return False, f"{method} {url} answered HTTP {status}, expected 200"
        if got_echo is None:
            return False, "the answer has no echoStr header"
        if got_echo != echo:
            return False, f"echoStr header {got_echo!r} is not the {echo!r} that was sent"
        if got_app_id is None:
            return False, "the answer has no appId header"
        if got_app_id != account.app_id:
            return False, f"appId header {got_app_id!r} is not this chatbot's appId {account.app_id!r}"
        return True, "ok"
