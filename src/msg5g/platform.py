"""The composition root, and the embeddable entry point.

    async with Platform(Settings(database_url=...)) as platform:
        await platform.serve()          # HTTP API + admin + workers, in this event loop
        # or: app = platform.app        # mount the ASGI app in your own server

`Platform` is the only place that picks concrete storage, queue and channel classes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from msg5g.admin.app import mount_admin
from msg5g.channels import ChannelRegistry
from msg5g.channels.http import make_http_session
from msg5g.config import Settings, get_settings
from msg5g.domain.messages import TrafficClass
from msg5g.gateway.app import create_api
from msg5g.kit import metrics
from msg5g.kit.secrets import SecretBox
from msg5g.pipeline.queue import TOPIC_CALLBACK, TOPIC_SEND, TOPIC_UPLINK, TOPIC_UPLINK_FILE
from msg5g.pipeline.sql_queue import SqlQueue
from msg5g.pipeline.worker import Worker
from msg5g.services.alerts import TOPIC_ALERT_NOTIFY
from msg5g.services.applications import TOPIC_APPLICATION
from msg5g.services.bundle import Services
from msg5g.services.chatbots import TOPIC_CHATBOT_INFO, TOPIC_DIRECTORY
from msg5g.services.context import ServiceContext
from msg5g.services.early_reports import TOPIC_EARLY_REPORTS
from msg5g.services.materials import TOPIC_MATERIAL_REFRESH, TOPIC_MATERIAL_SYNC
from msg5g.services.revoke import TOPIC_REVOKE
from msg5g.services.templates import TOPIC_TEMPLATE_SYNC
from msg5g.storage.database import Database
from msg5g.storage.migrate import upgrade_async

log = logging.getLogger(__name__)

LANES = {traffic_class.rank: traffic_class.value for traffic_class in TrafficClass}


class Platform:
    def __init__(self, settings: Settings | None = None, *, registry: ChannelRegistry | None = None) -> None:
        self.settings = settings or get_settings()
        self.settings.check_production_safety()
        self._registry = registry or ChannelRegistry.from_entry_points()
        self._services: Services | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._worker_topics: list[str] = []
        self._app: FastAPI | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the platform is not started")
        return self._services

    @property
    def app(self) -> FastAPI:
        """The ASGI app (API, carrier webhooks, admin). Its lifespan starts and stops the platform."""
        if self._app is None:
            self._app = create_api(lambda: self.services, lifespan=self._lifespan, settings=self.settings)
            mount_admin(self._app, lambda: self.services, self.settings)
        return self._app

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        started_here = self._services is None
        if started_here:
            await self.start()
        try:
            yield
        finally:
            if started_here:
                await self.stop()

    def _secret_box(self) -> SecretBox:
        return SecretBox.from_settings(self.settings.credentials_keys, self.settings.secret_key)

    async def migrate(self) -> None:
        await upgrade_async(self.settings.resolved_database_url(), secret_box=self._secret_box())

    async def start(self, *, migrate: bool = True, workers: bool | None = None) -> None:
        if self._services is not None:
            return
        if migrate:
            await self.migrate()
        database = Database(self.settings.resolved_database_url())
        queue = SqlQueue(database, visibility_timeout=self.settings.visibility_timeout_seconds)
        http = make_http_session(self.settings.http_connection_limit)
        ctx = ServiceContext(settings=self.settings, db=database, queue=queue, registry=self._registry, http=http,
                             secrets=self._secret_box())
        self._services = Services.build(ctx)
        self._stop = asyncio.Event()
        if self.settings.run_workers if workers is None else workers:
            self._start_workers()
            await self._services.channel_sessions.open_all(self._services.directory)
            self._services.channel_sessions.active = True
        log.info("platform started", extra={"database": database.engine.url.render_as_string(hide_password=True)})

    def _start_workers(self) -> None:
        services = self.services
        settings = self.settings
        workers = [
            Worker(services.ctx.queue, TOPIC_SEND, services.sender, concurrency=8,
                   max_attempts=settings.carrier_max_attempts * 4, idle_poll_seconds=0.2),
            Worker(services.ctx.queue, TOPIC_CALLBACK, services.callback_sender,
                   concurrency=settings.callback_concurrency, max_attempts=settings.callback_max_attempts + 2,
                   idle_poll_seconds=0.2),
            Worker(services.ctx.queue, TOPIC_EARLY_REPORTS, services.early_reports, concurrency=1,
                   max_attempts=5, idle_poll_seconds=1.0),
            Worker(services.ctx.queue, TOPIC_REVOKE, services.revoker, concurrency=4,
                   max_attempts=settings.carrier_max_attempts, idle_poll_seconds=0.5),
            Worker(services.ctx.queue, TOPIC_MATERIAL_SYNC, services.materials.run_sync, concurrency=16,
                   max_attempts=12, idle_poll_seconds=0.5),
            Worker(services.ctx.queue, TOPIC_MATERIAL_REFRESH, services.materials.run_refresh, concurrency=2,
                   max_attempts=5, idle_poll_seconds=1.0),
            # A version waiting for its materials is looked at again until they settle, however long
            # the carriers' audits take: many tries, spaced out.
            Worker(services.ctx.queue, TOPIC_TEMPLATE_SYNC, services.templates.run_sync, concurrency=4,
                   max_attempts=500, idle_poll_seconds=0.5),
            Worker(services.ctx.queue, TOPIC_CHATBOT_INFO, services.chatbots.run_submit, concurrency=2,
                   max_attempts=200, idle_poll_seconds=0.5),
            # A step waiting on the carrier's audit is asked again on every try, for as long as it takes.
            Worker(services.ctx.queue, TOPIC_APPLICATION, services.applications.run, concurrency=4,
                   max_attempts=10_000, idle_poll_seconds=0.5),
            Worker(services.ctx.queue, TOPIC_DIRECTORY, services.chatbots.run_reindex, concurrency=1,
                   max_attempts=10, idle_poll_seconds=0.5),
            Worker(services.ctx.queue, TOPIC_UPLINK, services.auto_reply.run, concurrency=16, max_attempts=8,
                   idle_poll_seconds=0.2),
            Worker(services.ctx.queue, TOPIC_UPLINK_FILE, services.conversations.fetch_file, concurrency=4,
                   max_attempts=8, idle_poll_seconds=0.5),
            Worker(services.ctx.queue, TOPIC_ALERT_NOTIFY, services.alerts.run_notification, concurrency=8,
                   max_attempts=20, idle_poll_seconds=0.5),
        ]
        self._tasks = [asyncio.create_task(w.run(self._stop), name=f"worker-{w.topic}") for w in workers]
        self._worker_topics = [w.topic for w in workers]
        self._tasks.append(asyncio.create_task(self._sample_queue_depth(), name="queue-depth"))
        self._tasks.append(asyncio.create_task(self._purge_periodically(), name="retention"))
        self._tasks.append(asyncio.create_task(self._evaluate_alerts(), name="alerts"))
        self._tasks.append(asyncio.create_task(self._tend_inbox(), name="inbox"))

    async def _sample_queue_depth(self) -> None:
        while not self._stop.is_set():
            try:
                depth = await self.services.ctx.queue.depth()
                metrics.QUEUE_DEPTH.clear()
                for (topic, lane, state), count in depth.items():
                    metrics.QUEUE_DEPTH.labels(topic, LANES.get(lane, str(lane)), state).set(count)
            except Exception:
                log.exception("sampling queue depth failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 5.0)

    async def _purge_periodically(self) -> None:
        """Each tenant's retention purge, hourly (every worker process runs it; a purge is idempotent)."""
        while not self._stop.is_set():
            try:
                await self.services.retention.purge_all()
            except Exception:
                log.exception("retention purge failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 3600.0)

    async def _evaluate_alerts(self) -> None:
        """Every alert rule, every `alert_eval_seconds` (every worker process runs it: services/alerts.py
        says why that raises each alert once)."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.alert_eval_seconds)
            if self._stop.is_set():
                return
            try:
                await self.services.alerts.evaluate()
            except Exception:
                log.exception("alert evaluation failed")

    async def _tend_inbox(self) -> None:
        """Every few seconds, per tenant: hand waiting conversations to free agents, close idle ones."""
        idle = timedelta(minutes=self.settings.inbox_idle_minutes)
        tick = min(5.0, idle.total_seconds() / 4)
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), tick)
            if self._stop.is_set():
                return
            try:
                for tenant_id, _name, _created in await self.services.provisioning.tenants():
                    await self.services.inbox.assign_waiting(tenant_id)
                    await self.services.inbox.close_idle(tenant_id, idle)
            except Exception:
                log.exception("tending the inbox failed")

    async def run_workers_until_stopped(self) -> None:
        """`msg5g worker`: only the workers, no HTTP."""
        await self.start(workers=True)
        try:
            await self._stop.wait()
        finally:
            await self.stop()

    def request_stop(self) -> None:
        self._stop.set()

    async def stop(self) -> None:
        if self._services is None:
            return
        self._stop.set()
        for topic in self._worker_topics:  # idle workers wake to see the stop at once
            self._services.ctx.queue.notify(topic)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        services, self._services = self._services, None
        await services.audit.flush()
        await services.channel_sessions.close_all()
        await services.webhooks.close()
        await services.submitter.close()
        await services.ctx.http.close()
        await services.ctx.db.dispose()
        log.info("platform stopped")

    async def serve(self, host: str | None = None, port: int | None = None) -> None:
        """Serve HTTP in the running event loop until cancelled or signalled."""
        config = uvicorn.Config(self.app, host=host or self.settings.host, port=port or self.settings.port,
                                log_config=None, access_log=False, lifespan="on")
        await uvicorn.Server(config).serve()

    async def __aenter__(self) -> Platform:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()
