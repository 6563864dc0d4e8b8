"""Shared fixtures: real servers on loopback, a real database, the China Mobile simulator."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import uvicorn
from aiohttp import web

from msg5g.config import Settings
from msg5g.domain.messages import TrafficClass
from msg5g.platform import Platform
from msg5g.simulators.cmcc import ChatbotAccount, Faults, SimulatorSettings, create_app

POSTGRES_ADMIN_URL = os.environ.get("MSG5G_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

CARRIER_CHATBOT_ID = "125200401111528"
CARRIER_APP_ID = "125200401111528"
CARRIER_PASSWORD = "test-carrier-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


ServeFn = Callable[[Any, int | None], Awaitable[str]]


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[ServeFn]:
    """Serve ASGI apps with uvicorn in this event loop; returns their base URL."""
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(app: Any, port: int | None = None) -> str:
        port = port or free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on",
                                               access_log=False))
        task = asyncio.create_task(server.serve())
        for _ in range(400):
            if server.started:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        else:
            raise RuntimeError("server did not start")
        servers.append((server, task))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, task in reversed(servers):
        server.should_exit = True
        with suppress(Exception):
            await asyncio.wait_for(task, 15)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class CallbackReceiver:
    """A business's callback endpoint, as a real HTTP server."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(Received(headers=dict(request.headers), body=await request.read()))
        self.arrived.set()
        return web.Response(status=self.status)

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        found = [r.json() for r in self.requests if r.body]
        return [e for e in found if event_type is None or e["type"] == event_type]

    async def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate(self.events()):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"callback condition not met; got {self.events()}")
            self.arrived.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), min(remaining, 0.2))


@pytest_asyncio.fixture
async def callback_receiver() -> AsyncIterator[CallbackReceiver]:
    receiver = CallbackReceiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    receiver.url = f"http://127.0.0.1:{port}/hook"
    yield receiver
    await runner.cleanup()


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database at the newest migration, made once per test process: running the migrations
    for every test's database cost about two seconds each."""
    from msg5g.storage.migrate import upgrade

    path = tmp_path_factory.mktemp("migrated") / "msg5g.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, _migrated_sqlite: Path) -> str:
    """A database of this test's own, a copy of the migrated one (the platform's own migrate step then finds
    it at head, as a deployed one would be)."""
    import sqlite3

    target = tmp_path / "msg5g.db"
    with sqlite3.connect(_migrated_sqlite) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    return f"sqlite+aiosqlite:///{target}"


async def _postgres_available() -> bool:
    try:
        import asyncpg

        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
    except Exception:
        return False
    await connection.close()
    return True


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A database of its own on the local PostgreSQL, dropped afterwards (skips where absent)."""
    import asyncpg

    if not await _postgres_available():
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}")
    name = f"msg5g_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest_asyncio.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with postgres_database() as url:
        yield url


@dataclass
class Tenant:
    tenant_id: str
    business_id: str
    chatbot_id: str
    api_key: str
    callback_secret: str


@dataclass
class Stack:
    """The platform, served on loopback, with the China Mobile simulator beside it."""

    platform: Platform
    base_url: str
    simulator_url: str
    channel_id: str
    tenant: Tenant
    http: aiohttp.ClientSession
    receiver: CallbackReceiver

    def auth(self, tenant: Tenant | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {(tenant or self.tenant).api_key}"}

    async def send(self, body: dict[str, Any], tenant: Tenant | None = None) -> tuple[int, Any]:
        async with self.http.post(f"{self.base_url}/v1/messages", json=body, headers=self.auth(tenant)) as r:
            return r.status, await r.json()

    async def text(self, recipients: list[str], text: str = "你好", **extra: Any) -> tuple[int, Any]:
        return await self.send({"chatbot_id": self.tenant.chatbot_id, "recipients": recipients,
                                "content": {"kind": "text", "text": text}, **extra})

    async def message(self, message_id: str, tenant: Tenant | None = None) -> tuple[int, Any]:
        async with self.http.get(f"{self.base_url}/v1/messages/{message_id}", headers=self.auth(tenant)) as r:
            return r.status, await r.json()

    async def wait_status(self, message_id: str, status: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        body: Any = None
        while asyncio.get_running_loop().time() < deadline:
            _, body = await self.message(message_id)
            if body.get("status") == status:
                return dict(body)
            await asyncio.sleep(0.05)
        raise AssertionError(f"message {message_id} never reached {status}: {body}")

    async def sim(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, f"{self.simulator_url}{path}", json=body) as r:
            text = await r.text()
            try:
                import json

                return r.status, json.loads(text)
            except ValueError:
                return r.status, text

    async def add_tenant(self, name: str, carrier_chatbot_id: str) -> Tenant:
        return await _provision(self.platform, self.channel_id, name, carrier_chatbot_id, self.receiver.url,
                                self.simulator_url)


async def _provision(platform: Platform, channel_id: str, name: str, carrier_chatbot_id: str,
                     callback_url: str | None, simulator_url: str | None) -> Tenant:
    services = platform.services
    tenant_id = await services.provisioning.create_tenant(name)
    business_id, secret = await services.provisioning.create_business(
        tenant_id, f"{name} notifications", TrafficClass.NOTIFICATION, callback_url=callback_url)
    chatbot_id = await services.provisioning.create_chatbot(
        tenant_id, channel_id=channel_id, business_id=business_id, name=f"{name} bot",
        carrier_chatbot_id=carrier_chatbot_id, address=f"sip:{carrier_chatbot_id}@botplatform.rcs.chinamobile.com",
        credentials={"app_id": carrier_chatbot_id, "password": CARRIER_PASSWORD},
    )
    _, key = await services.api_keys.create(tenant_id, business_id, "test")
    if simulator_url:
        notify = f"{platform.settings.resolved_public_base_url()}/webhooks/cmcc/{channel_id}"
        async with aiohttp.ClientSession() as http, http.put(
            f"{simulator_url}/_sim/chatbots/{carrier_chatbot_id}",
            json={"app_id": carrier_chatbot_id, "password": CARRIER_PASSWORD, "notify_url": notify},
        ) as response:
            assert response.status < 300, await response.text()
    return Tenant(tenant_id=tenant_id, business_id=business_id, chatbot_id=chatbot_id, api_key=key,
                  callback_secret=secret)


def make_settings(database_url: str, tmp_path: Path, port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url, "data_dir": tmp_path, "host": "127.0.0.1", "port": port,
        "visibility_timeout_seconds": 5.0, "carrier_timeout_seconds": 3.0, "callback_timeout_seconds": 2.0,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)


async def build_stack(database_url: str, tmp_path: Path, serve: ServeFn, receiver: CallbackReceiver,
                      **overrides: Any) -> AsyncIterator[Stack]:
    port = free_port()
    platform = Platform(make_settings(database_url, tmp_path, port, **overrides))
    base_url = await serve(platform.app, port)
    simulator_url = await serve(create_app(SimulatorSettings(
        chatbots=[], faults=Faults(delivered_delay_ms=10, displayed_delay_ms=10), notify_backoff_ms=20,
    )), None)
    channel_id = await platform.services.provisioning.create_channel("cmcc", "China Mobile (sim)", simulator_url)
    tenant = await _provision(platform, channel_id, "Tenant A", CARRIER_CHATBOT_ID, receiver.url, simulator_url)
    async with aiohttp.ClientSession() as http:
        yield Stack(platform=platform, base_url=base_url, simulator_url=simulator_url, channel_id=channel_id,
                    tenant=tenant, http=http, receiver=receiver)


@pytest_asyncio.fixture
async def stack(sqlite_url: str, tmp_path: Path, serve: ServeFn,
                callback_receiver: CallbackReceiver) -> AsyncIterator[Stack]:
    async for built in build_stack(sqlite_url, tmp_path, serve, callback_receiver):
        yield built


__all__ = ["CARRIER_APP_ID", "ChatbotAccount"]
