"""The second-tenant cases of the customer-service inbox's admin pages, for
test_tenant_isolation.ISOLATION_CASES (each takes the isolation test's World, whose tenant A has a
conversation with UPLINK_USER_A from the world's uplink)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from tests.api.isolation_conversations import A_NUMBER
from tests.e2e.library import wait_for

Case = Callable[[Any], Awaitable[None]]
UNKNOWN = "00000000-0000-0000-0000-000000000000"


async def _a_conversation(w: Any) -> str:
    async def found() -> str | None:
        rows = await w.stack.platform.services.conversations.conversations(w.a.tenant_id)
        return rows[0].id if rows else None
    return str(await wait_for(found, "A's conversation"))


async def _a_state(w: Any, conversation_id: str) -> tuple[str, str | None]:
    view = await w.stack.platform.services.conversations.conversation(w.a.tenant_id, conversation_id)
    return view.mode.value, view.agent_id


def _unknown_alike(foreign: Any, unknown: Any, a_id: str) -> None:
    assert foreign.status == 404, foreign.text[:300]
    assert (foreign.status, foreign.text.replace(a_id, UNKNOWN)) == (unknown.status, unknown.text)


async def _admin_inbox(w: Any) -> None:
    a, b = await w.admins()
    conversation = await _a_conversation(w)
    await w.stack.platform.services.inbox.take(w.a.tenant_id, conversation, "someone-of-a")
    for view in ("", "?view=waiting", "?view=mine", "?view=open"):
        page = await b.get(f"/inbox{view}")
        assert page.status == 200, page.text[:300]
        assert conversation not in page.text, view
    page = await a.get("/inbox?view=open")  # control
    assert conversation in page.text


async def _admin_conversation(w: Any) -> None:
    a, b = await w.admins()
    conversation = await _a_conversation(w)
    _unknown_alike(await b.get(f"/inbox/{conversation}"), await b.get(f"/inbox/{UNKNOWN}"), conversation)
    page = await a.get(f"/inbox/{conversation}")
    assert page.status == 200
    assert "给 A" in page.text  # the world's uplink


def _admin_action(action: str, fields: dict[str, str]) -> Case:
    async def case(w: Any) -> None:
        a, b = await w.admins()
        conversation = await _a_conversation(w)
        if action in {"transfer", "close"}:
            await w.stack.platform.services.inbox.take(w.a.tenant_id, conversation, "someone-of-a")
        before = await _a_state(w, conversation)
        foreign = await b.submit("/inbox", f"/inbox/{conversation}/{action}", fields)
        unknown = await b.submit("/inbox", f"/inbox/{UNKNOWN}/{action}", fields)
        _unknown_alike(foreign, unknown, conversation)
        assert await _a_state(w, conversation) == before
        _, inbox = await w.stack.sim("GET", f"/_sim/handsets/{quote(A_NUMBER)}/inbox")
        assert "B 的回复" not in json.dumps(inbox, ensure_ascii=False)
        page = await a.submit("/inbox", f"/inbox/{conversation}/{action}", fields)  # control
        assert page.status == 200, page.text[:300]

    return case


async def _admin_agent(w: Any) -> None:
    """An agent's status is theirs, in their tenant: B's admin going online takes none of A's queue."""
    a, b = await w.admins()
    conversation = await _a_conversation(w)
    async with w.stack.platform.services.ctx.db.transaction() as session:
        from msg5g.storage.conversation_repository import ConversationRepository

        row = await ConversationRepository(session, w.a.tenant_id).conversation(conversation, for_update=True)
        assert row is not None
        row.mode = "waiting"
    page = await b.submit("/inbox", "/inbox/agent", {"status": "online", "max_open": "5"})
    assert page.status == 200, page.text[:300]
    assert (await _a_state(w, conversation))[0] == "waiting"
    assert await w.stack.platform.services.inbox.agents(w.a.tenant_id) == []
    page = await a.submit("/inbox", "/inbox/agent", {"status": "online", "max_open": "5"})  # control
    assert page.status == 200
    assert (await _a_state(w, conversation))[0] == "agent"


async def _admin_lookup(w: Any) -> None:
    a, b = await w.admins()
    conversation = await _a_conversation(w)
    page = await b.get(f"/inbox/lookup?number={quote(A_NUMBER)}")
    assert page.status == 200
    assert conversation not in page.text
    page = await a.get(f"/inbox/lookup?number={quote(A_NUMBER)}")
    assert conversation in page.text


async def _listen(browser: Any, seconds: float) -> list[str]:
    ids: list[str] = []

    async def read() -> None:
        async with browser.http.get(f"{browser.stack.base_url}/admin/inbox/events") as response:
            async for line in response.content:
                if line.startswith(b"data:"):
                    ids.extend(json.loads(line[5:])["ids"])

    task = asyncio.create_task(read())
    await asyncio.sleep(seconds)
    task.cancel()
    return ids


async def _admin_events(w: Any) -> None:
    """B's stream never names A's conversations; A's does (the control)."""
    a, b = await w.admins()
    conversation = await _a_conversation(w)
    listening_b = asyncio.create_task(_listen(b, 3.0))
    listening_a = asyncio.create_task(_listen(a, 3.0))
    await asyncio.sleep(0.5)
    await w.stack.platform.services.inbox.take(w.a.tenant_id, conversation, "someone-of-a")
    assert conversation not in await listening_b
    assert conversation in await listening_a


async def _admin_canned_add(w: Any) -> None:
    a, b = await w.admins()
    page = await b.submit("/inbox", "/inbox/canned", {"title": "B 的", "text": "B 的快捷回复"})
    assert page.status == 200, page.text[:300]
    assert await w.stack.platform.services.inbox.canned_replies(w.a.tenant_id) == []
    page = await a.submit("/inbox", "/inbox/canned", {"title": "A 的", "text": "A 的快捷回复"})
    assert page.status == 200
    assert [c.title for c in await w.stack.platform.services.inbox.canned_replies(w.a.tenant_id)] == ["A 的"]


async def _admin_canned_delete(w: Any) -> None:
    a, b = await w.admins()
    reply = await w.stack.platform.services.inbox.add_canned_reply(w.a.tenant_id, "A 的", "A 的快捷回复")
    foreign = await b.submit("/inbox", f"/inbox/canned/{reply.id}/delete", {})
    unknown = await b.submit("/inbox", f"/inbox/canned/{UNKNOWN}/delete", {})
    _unknown_alike(foreign, unknown, reply.id)
    assert len(await w.stack.platform.services.inbox.canned_replies(w.a.tenant_id)) == 1
    page = await a.submit("/inbox", f"/inbox/canned/{reply.id}/delete", {})
    assert page.status == 200
    assert await w.stack.platform.services.inbox.canned_replies(w.a.tenant_id) == []


ADMIN_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/admin/inbox"): _admin_inbox,
    ("POST", "/admin/inbox/agent"): _admin_agent,
    ("GET", "/admin/inbox/lookup"): _admin_lookup,
    ("GET", "/admin/inbox/events"): _admin_events,
    ("POST", "/admin/inbox/canned"): _admin_canned_add,
    ("POST", "/admin/inbox/canned/{reply_id}/delete"): _admin_canned_delete,
    ("GET", "/admin/inbox/{conversation_id}"): _admin_conversation,
    ("POST", "/admin/inbox/{conversation_id}/take"): _admin_action("take", {}),
    ("POST", "/admin/inbox/{conversation_id}/reply"): _admin_action("reply", {"text": "B 的回复"}),
    ("POST", "/admin/inbox/{conversation_id}/transfer"): _admin_action("transfer", {"team": "vip"}),
    ("POST", "/admin/inbox/{conversation_id}/close"): _admin_action("close", {}),
}


async def _admin_file(w: Any) -> None:
    """A file A's customer sent is A's: B's admin gets a missing file for it."""
    from msg5g.kit.clock import utcnow
    from msg5g.kit.ids import new_id
    from msg5g.storage.files import LocalFileStore
    from msg5g.storage.repositories import InboundRepository
    from msg5g.storage.tables import InboundMessageRow

    a, b = await w.admins()
    inbound_id = new_id()
    key = f"uplinks/{w.a.tenant_id}/{inbound_id}"
    await LocalFileStore(w.stack.platform.settings.data_dir / "uplink-files").put(key, b"A's photo")
    async with w.stack.platform.services.ctx.db.transaction() as session:
        await InboundRepository(session, w.a.tenant_id).add(InboundMessageRow(
            id=inbound_id, tenant_id=w.a.tenant_id, chatbot_id=w.a.chatbot_id, business_id=w.a.business_id,
            sender=A_NUMBER, carrier_message_id=None, kind="file", conversation_id=None, in_reply_to=None,
            content={"kind": "file", "file": {"url": "http://carrier.example/a.jpg", "content_type": "image/jpeg",
                                              "size": 9}, "stored": {"key": key, "size": 9}},
            received_at=utcnow()))
    _unknown_alike(await b.get(f"/inbox/files/{inbound_id}"), await b.get(f"/inbox/files/{UNKNOWN}"), inbound_id)
    async with a.http.get(f"{w.stack.base_url}/admin/inbox/files/{inbound_id}") as response:  # control
        assert response.status == 200
        assert await response.read() == b"A's photo"


ADMIN_CASES[("GET", "/admin/inbox/files/{inbound_id}")] = _admin_file
