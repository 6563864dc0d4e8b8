"""The customer-service inbox, over HTTP against the real server and the China Mobile simulator: a rule
hands a conversation over; it waits in the queue with its wait time until an online agent with room gets
it (the longest waiting first, never beyond an agent's limit); the agent sees the customer's text, image,
file and location, replies (a canned reply here) and the handset gets it; transfers go to another agent
within their limit or to a team's queue; closing sends the satisfaction card, whose tap is kept; an idle
conversation is closed by itself; and the page's event stream names a conversation when it changes."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from msg5g.domain.roles import Role
from tests.admin.conftest import PASSWORD, AdminClient
from tests.conftest import CARRIER_CHATBOT_ID, CallbackReceiver, ServeFn, Stack, build_stack, free_port
from tests.e2e.library import wait_for

pytestmark = pytest.mark.asyncio
FIRST, SECOND = "+8613700138001", "+8613700138002"


@pytest_asyncio.fixture
async def stack(sqlite_url: str, tmp_path: Path, serve: ServeFn,
                callback_receiver: CallbackReceiver) -> AsyncIterator[Stack]:
    # Idle conversations close after 3 s here, so that the test of it does not wait half an hour.
    async for built in build_stack(sqlite_url, tmp_path, serve, callback_receiver, inbox_idle_minutes=0.05):
        yield built


async def _api(stack: Stack, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with stack.http.request(method, f"{stack.base_url}{path}", json=body, headers=stack.auth()) as r:
        return r.status, await r.json() if r.content_type == "application/json" else None


async def _handover_rule(stack: Stack) -> None:
    status, answer = await _api(stack, "POST", f"/v1/chatbots/{stack.tenant.chatbot_id}/auto-reply-rules", {
        "name": "people", "conditions": {"match": "contains", "keywords": ["人工"]},
        "actions": [{"kind": "reply", "content": {"kind": "text", "text": "正在转接人工"}}, {"kind": "handover"}]})
    assert status == 201, answer
    status, answer = await _api(stack, "POST", f"/v1/chatbots/{stack.tenant.chatbot_id}/auto-reply-rules", {
        "name": "bot", "default": True, "actions": [{"kind": "reply", "content": {"kind": "text",
                                                                                  "text": "机器人：{{ text }}"}}]})
    assert status == 201, answer


async def _uplink(stack: Stack, number: str, **body: Any) -> None:
    status, answer = await stack.sim("POST", f"/_sim/handsets/{number}/uplink",
                                     {"chatbot_id": CARRIER_CHATBOT_ID, **body})
    assert status == 200, answer


async def _conversation(stack: Stack, number: str, mode: str | None = None) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        status, listed = await _api(stack, "GET", f"/v1/conversations?number={quote(number)}")
        assert status == 200, listed
        return listed[0] if listed and (mode is None or listed[0]["mode"] == mode) else None
    return dict(await wait_for(check, f"the conversation with {number} ({mode})"))


async def _on_handset(stack: Stack, number: str, needle: str) -> str:
    async def check() -> str | None:
        _, entries = await stack.sim("GET", f"/_sim/handsets/{number}/inbox")
        return next((e for e in map(lambda x: json.dumps(x, ensure_ascii=False), entries) if needle in e), None)
    return str(await wait_for(check, f"{needle!r} on {number}"))


async def _agent(stack: Stack, email: str, role: Role = Role.OPERATOR) -> str:
    return await stack.platform.services.admins.create(email, PASSWORD, tenant_id=stack.tenant.tenant_id,
                                                       display_name=email.split("@")[0], role=role)


def _queue_ids(text: str) -> list[str]:
    return re.findall(r'<tr data-conversation="([^"]+)"', text)


async def test_the_queue_hands_conversations_to_free_agents_within_their_limit(
        stack: Stack, browser_session: AdminClient, second_session: AdminClient) -> None:
    await _handover_rule(stack)
    alice = await _agent(stack, "alice@tenant-a.example")
    bob = await _agent(stack, "bob@tenant-a.example")
    await _uplink(stack, FIRST, text="转人工")
    first = await _conversation(stack, FIRST, "waiting")
    await asyncio.sleep(0.05)
    await _uplink(stack, SECOND, text="我要人工服务")
    second = await _conversation(stack, SECOND, "waiting")

    await browser_session.login("alice@tenant-a.example")
    page = await browser_session.get("/inbox")
    assert page.status == 200, page.text
    assert _queue_ids(page.text) == [first["id"], second["id"]]  # the longest waiting first
    assert 'class="number waited"' in page.text

    # Alice comes online and takes one at a time: she gets the first, the second keeps waiting.
    await browser_session.submit("/inbox", "/inbox/agent", {"status": "online", "max_open": "1"})
    assert (await _conversation(stack, FIRST, "agent"))["agent_id"] == alice
    assert (await _conversation(stack, SECOND))["mode"] == "waiting"
    refused = await browser_session.submit(f"/inbox/{second['id']}", f"/inbox/{second['id']}/take", {})
    assert refused.status == 409, refused.text  # beyond her limit
    # Bob comes online: the second is his.
    await second_session.login("bob@tenant-a.example")
    await second_session.submit("/inbox", "/inbox/agent", {"status": "online", "max_open": "2", "team": "vip"})
    assert (await _conversation(stack, SECOND, "agent"))["agent_id"] == bob
    mine = await second_session.get("/inbox?view=mine")
    assert _queue_ids(mine.text) == [second["id"]]

    # Rules stay silent while people have it.
    await _uplink(stack, FIRST, text="你好")
    await asyncio.sleep(0.5)
    _, entries = await stack.sim("GET", f"/_sim/handsets/{FIRST}/inbox")
    assert not any("机器人" in json.dumps(e, ensure_ascii=False) for e in entries)

    # Alice cannot be given a second one; Bob transfers his to the vip team's queue, and back to himself.
    refused = await second_session.submit(f"/inbox/{second['id']}", f"/inbox/{second['id']}/transfer",
                                          {"agent": alice})
    assert refused.status == 409, refused.text
    moved = await second_session.submit(f"/inbox/{second['id']}", f"/inbox/{second['id']}/transfer",
                                        {"team": "vip"})
    assert moved.status == 200, moved.text
    assert (await _conversation(stack, SECOND, "agent"))["agent_id"] == bob  # the vip team's free agent


@pytest_asyncio.fixture
async def carrier_files() -> AsyncIterator[str]:
    """Where the carrier keeps what customers send (a real HTTP server)."""
    async def photo(_: web.Request) -> web.Response:
        return web.Response(body=JPEG, content_type="image/jpeg")

    async def invoice(_: web.Request) -> web.Response:
        return web.Response(body=PDF, content_type="application/pdf")

    app = web.Application()
    app.router.add_get("/photo.jpg", photo)
    app.router.add_get("/invoice.pdf", invoice)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 2044
PDF = b"%PDF-1.4\n" + b"0" * 4087


async def test_an_agent_sees_what_the_customer_sent_replies_and_closes_with_the_satisfaction_card(
        stack: Stack, browser_session: AdminClient, carrier_files: str) -> None:
    await _handover_rule(stack)
    await _agent(stack, "alice@tenant-a.example")
    await browser_session.login("alice@tenant-a.example")
    await browser_session.submit("/inbox", "/inbox/agent", {"status": "online", "max_open": "5"})
    await browser_session.submit("/inbox", "/inbox/canned", {"title": "问候",
                                                             "text": "您好，我是客服小王，请问有什么可以帮您？"})
    await _uplink(stack, FIRST, text="转人工")
    conversation = await _conversation(stack, FIRST, "agent")
    await _uplink(stack, FIRST, file={"url": f"{carrier_files}/photo.jpg", "content_type": "image/jpeg",
                                      "size": 2048, "name": "photo.jpg"})
    await _uplink(stack, FIRST, file={"url": f"{carrier_files}/invoice.pdf", "content_type": "application/pdf",
                                      "size": 4096, "name": "invoice.pdf"})
    await _uplink(stack, FIRST, geo={"lat": 22.5431, "lon": 114.0579, "label": "深圳市民中心"})

    async def everything() -> str | None:
        page = await browser_session.get(f"/inbox/{conversation['id']}")
        text = page.text
        stored = len(re.findall(r'href="/admin/inbox/files/', text)) == 2
        shown = all(n in text for n in ("photo.jpg", "invoice.pdf", "深圳市民中心", "转人工"))
        return text if stored and shown else None
    page_text = await wait_for(everything, "the customer's text, image, file and location on the agent's page")
    assert "22.5431" in page_text
    # Fetched from the carrier and kept: served from the platform, the image inline, the rest a download.
    [image] = re.findall(r'<img src="/admin/inbox/files/([^"]+)"', page_text)
    links = re.findall(r'href="/admin/inbox/files/([^"]+)"', page_text)
    for file_id in links:
        async with browser_session.http.get(f"{browser_session.root}/inbox/files/{file_id}") as r:
            body = await r.read()
            assert r.status == 200
            if file_id == image:
                assert (body, r.headers["content-type"]) == (JPEG, "image/jpeg")
            else:
                assert body == PDF
                assert r.headers["content-disposition"].startswith("attachment")

    page = await browser_session.get(f"/inbox/{conversation['id']}")
    [canned] = re.findall(r'<option value="([^"]+)">问候</option>', page.text)
    sent = await browser_session.submit(f"/inbox/{conversation['id']}", f"/inbox/{conversation['id']}/reply",
                                        {"canned": canned})
    assert sent.status == 200, sent.text
    await _on_handset(stack, FIRST, "我是客服小王")
    _, page_of = await _api(stack, "GET", f"/v1/messages?recipient={quote(FIRST)}")
    agent_messages = [m for m in page_of["data"] if m["traffic_class"] == "customer_service"]
    assert len(agent_messages) >= 2  # the rule's and the agent's

    closed = await browser_session.submit(f"/inbox/{conversation['id']}", f"/inbox/{conversation['id']}/close", {})
    assert closed.status == 200, closed.text
    card = await _on_handset(stack, FIRST, "请为我们的服务打分")
    assert f"csat:{conversation['id']}:5" in card
    assert (await _conversation(stack, FIRST))["mode"] == "bot"
    await _uplink(stack, FIRST, postback={"data": f"csat:{conversation['id']}:5", "display_text": "非常满意"})
    await _on_handset(stack, FIRST, "感谢您的评价")
    _, full = await _api(stack, "GET", f"/v1/conversations/{conversation['id']}")
    [rating] = [h for h in full["history"] if h["kind"] == "satisfaction"]
    assert "5 of 5" in rating["text"]
    await _uplink(stack, FIRST, text="在吗")  # back with the rules
    await _on_handset(stack, FIRST, "机器人：在吗")


async def test_an_idle_conversation_closes_itself(stack: Stack, browser_session: AdminClient) -> None:
    await _handover_rule(stack)
    await _agent(stack, "alice@tenant-a.example")
    await browser_session.login("alice@tenant-a.example")
    await browser_session.submit("/inbox", "/inbox/agent", {"status": "online", "max_open": "5"})
    await _uplink(stack, FIRST, text="转人工")
    conversation = await _conversation(stack, FIRST, "agent")
    await _conversation(stack, FIRST, "bot")  # nobody wrote for 3 s
    await _on_handset(stack, FIRST, "请为我们的服务打分")
    _, full = await _api(stack, "GET", f"/v1/conversations/{conversation['id']}")
    assert any(h["kind"] == "closed" and "idle" in h["text"] for h in full["history"]), full["history"]


async def test_the_event_stream_names_a_conversation_when_it_changes(stack: Stack,
                                                                    browser_session: AdminClient) -> None:
    await _agent(stack, "alice@tenant-a.example")
    await browser_session.login("alice@tenant-a.example")
    received: list[str] = []

    async def listen() -> None:
        async with browser_session.http.get(f"{browser_session.root}/inbox/events",
                                            timeout=aiohttp.ClientTimeout(total=20)) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.content:
                received.append(line.decode())
                if line.startswith(b"data:"):
                    return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.3)
    await _uplink(stack, FIRST, text="你好")
    await asyncio.wait_for(listener, 15)
    conversation = await _conversation(stack, FIRST)
    data = next(line for line in received if line.startswith("data:"))
    assert conversation["id"] in json.loads(data.removeprefix("data:"))["ids"]
