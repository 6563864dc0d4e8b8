"""Tenant isolation, route by route: tenant B never reads or changes tenant A's data.

For the API the credential is tenant B's API key; for the admin it is a signed-in admin user of
tenant B (and B's API key, which must not open the admin at all).

`test_every_route_has_a_second_tenant_case` lists the app's routes (walking included routers and
mounted sub-applications) and fails for any route that has no case in ISOLATION_CASES and is not
exempt. A new route therefore needs a case here before the suite passes again.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import pytest_asyncio
from starlette.routing import BaseRoute, Mount

from msg5g.pipeline.queue import NewJob
from msg5g.platform import Platform
from tests.api.helpers import (
    ADMIN_PASSWORD,
    AdminBrowser,
    admin_http,
    assert_error,
    delivery_notification,
    get_json,
    hold_message,
    message_ids,
    notify_url,
    post_messages,
    post_webhook,
    signed_headers,
    text_body,
    wait_status,
)
from tests.conftest import CARRIER_CHATBOT_ID, Stack, Tenant, make_settings

TENANT_B_CARRIER_ID = "125200401111529"
NUMBER_A = "+8613800138000"
NUMBER_B = "+8613900139000"
UPLINK_USER_A = "+8613700137000"
UPLINK_USER_B = "+8613600136000"
MASKED_A = "+86138****8000"  # how the admin shows NUMBER_A
ADMIN_A = "ops@tenant-a.example"
ADMIN_B = "ops@tenant-b.example"

Route = tuple[str, str]  # (method, path as the app declares it)

# Routes that hold no tenant data, by name. HEAD is Starlette's automatic twin of GET and is not listed.
EXEMPT_PATHS = {
    "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs",
    "/docs/oauth2-redirect",  # part of /docs: the Swagger UI OAuth2 redirect page
    "/admin/static",  # the admin's static assets (CSS, images), the same for everyone
}


# ---- route discovery -----------------------------------------------------------------------------------


def _route_contexts(routes: Iterable[BaseRoute]) -> Iterator[tuple[BaseRoute, str | None, set[str] | None]]:
    """(original route, effective path, methods), through FastAPI's included routers when it has them."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before included-router contexts: include_router copies routes
        for route in routes:
            yield route, getattr(route, "path", None), getattr(route, "methods", None)
        return
    for context in iter_route_contexts(list(routes)):
        yield context.original_route, context.path, context.methods


def app_routes(routes: Iterable[BaseRoute], prefix: str = "") -> set[Route]:
    found: set[Route] = set()
    for original, path, methods in _route_contexts(routes):
        if isinstance(original, Mount):
            mounted = prefix + original.path
            children = list(original.routes or [])
            if children:
                found |= app_routes(children, mounted)
            else:  # an opaque ASGI app (static files, another framework): every method, every subpath
                found.add(("*", mounted))
            continue
        if path is None:
            continue
        for method in sorted(methods or {"*"}):
            if method != "HEAD":
                found.add((method, prefix + path))
    return found


# ---- the scenario: two tenants with data everywhere ----------------------------------------------------


@dataclass
class World:
    stack: Stack
    http: aiohttp.ClientSession
    a: Tenant
    b: Tenant
    a_message: dict[str, Any]  # GET /v1/messages/{id} of A's delivered message
    b_message_id: str
    a_client_message_id: str
    a_admin: AdminBrowser  # tenant A's admin user (signed in by `admins()`)
    b_admin: AdminBrowser  # tenant B's admin user
    anonymous: AdminBrowser  # nobody signed in

    async def admins(self) -> tuple[AdminBrowser, AdminBrowser]:
        for browser, tenant, email in ((self.a_admin, self.a, ADMIN_A), (self.b_admin, self.b, ADMIN_B)):
            await self.stack.platform.services.admins.create(email, ADMIN_PASSWORD, tenant_id=tenant.tenant_id,
                                                             display_name=email.split("@")[0])
            page = await browser.login(email)
            assert page.status == 200, page.text[:300]
            assert "/admin/login" not in page.url, page.url
        return self.a_admin, self.b_admin


async def _uplink(stack: Stack, user: str, carrier_chatbot_id: str, text: str) -> None:
    code, answer = await stack.sim("POST", f"/_sim/handsets/{user}/uplink",
                                   {"chatbot_id": carrier_chatbot_id, "text": text})
    assert code == 200, answer
    assert answer["status"] == 204, answer


async def _wait_listed(world_http: aiohttp.ClientSession, stack: Stack, path: str, tenant: Tenant,
                       predicate: Callable[[Any], bool]) -> Any:
    for _ in range(200):
        code, body = await get_json(world_http, stack, path, tenant)
        assert code == 200, body
        if predicate(body):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never satisfied the condition: {body}")


@pytest_asyncio.fixture
async def world(stack: Stack) -> AsyncIterator[World]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http, \
            admin_http() as a_http, admin_http() as b_http, admin_http() as nobody_http:
        b = await stack.add_tenant("Tenant B", TENANT_B_CARRIER_ID)
        status, sent_a, _ = await post_messages(http, stack, json_body={
            **text_body(stack.tenant.chatbot_id, "A 的消息", client_message_id="shared-key"), "recipients": [NUMBER_A]})
        assert status == 202, sent_a
        status, sent_b, _ = await post_messages(http, stack, tenant=b, json_body={
            **text_body(b.chatbot_id, "B 的消息"), "recipients": [NUMBER_B]})
        assert status == 202, sent_b
        a_message = await stack.wait_status(sent_a["messages"][0]["id"], "displayed")
        await wait_status(http, stack, sent_b["messages"][0]["id"], "displayed", b)
        await _uplink(stack, UPLINK_USER_A, CARRIER_CHATBOT_ID, "给 A")
        await _uplink(stack, UPLINK_USER_B, TENANT_B_CARRIER_ID, "给 B")
        yield World(stack=stack, http=http, a=stack.tenant, b=b, a_message=a_message,
                    b_message_id=sent_b["messages"][0]["id"], a_client_message_id="shared-key",
                    a_admin=AdminBrowser(stack, a_http), b_admin=AdminBrowser(stack, b_http),
                    anonymous=AdminBrowser(stack, nobody_http))


# ---- one case per route --------------------------------------------------------------------------------


async def _send_with_foreign_chatbot(w: World) -> None:
    before_a, before_b = await message_ids(w.http, w.stack, w.a), await message_ids(w.http, w.stack, w.b)
    status, body, _ = await post_messages(w.http, w.stack, tenant=w.b, json_body=text_body(w.a.chatbot_id))
    assert status == 404, body
    assert_error(body, "chatbot_not_found", "chatbot_id")
    # A's idempotency key is A's alone: B using it neither replays nor conflicts with A's submission.
    status, body, _ = await post_messages(w.http, w.stack, tenant=w.b, json_body={
        **text_body(w.a.chatbot_id, "A 的消息", client_message_id=w.a_client_message_id), "recipients": [NUMBER_A]})
    assert status == 404, body
    assert_error(body, "chatbot_not_found", "chatbot_id")
    status, body, _ = await post_messages(w.http, w.stack, tenant=w.b, json_body={
        **text_body(w.b.chatbot_id, "A 的消息", client_message_id=w.a_client_message_id), "recipients": [NUMBER_A]})
    assert status == 202, body
    assert body["replayed"] is False
    assert body["messages"][0]["id"] != w.a_message["id"]
    assert await message_ids(w.http, w.stack, w.a) == before_a
    assert await message_ids(w.http, w.stack, w.b) == before_b | {body["messages"][0]["id"]}


async def _read_foreign_message(w: World) -> None:
    a_id = w.a_message["id"]
    status, body = await get_json(w.http, w.stack, f"/v1/messages/{a_id}", w.b)
    assert status == 404, body
    assert_error(body, "message_not_found", ...)
    assert a_id not in str(body)
    assert NUMBER_A not in str(body)
    status, body = await get_json(w.http, w.stack, f"/v1/messages/{w.b_message_id}", w.b)
    assert status == 200, body
    assert body["id"] == w.b_message_id, body
    status, body = await get_json(w.http, w.stack, f"/v1/messages/{a_id}", w.a)
    assert status == 200, body
    assert body["id"] == a_id, body


async def _list_messages(w: World) -> None:
    a_id = w.a_message["id"]
    queries: list[dict[str, str]] = [
        {"limit": "500"}, {"status": "displayed"}, {"recipient": NUMBER_A}, {"before": "ffffffff"},
        {"before": a_id}, {"limit": "1"},
    ]
    for params in queries:
        status, page = await get_json(w.http, w.stack, "/v1/messages", w.b, params=params)
        assert status == 200, (params, page)
        assert a_id not in {m["id"] for m in page["data"]}, params
        assert all(m["chatbot_id"] == w.b.chatbot_id for m in page["data"]), params
    status, page = await get_json(w.http, w.stack, "/v1/messages", w.b, params={"recipient": NUMBER_A})
    assert page["data"] == [], page
    status, page = await get_json(w.http, w.stack, "/v1/messages", w.b)
    assert [m["id"] for m in page["data"]] == [w.b_message_id], page


async def _list_inbound(w: World) -> None:
    page = await _wait_listed(w.http, w.stack, "/v1/inbound", w.a, lambda p: len(p["data"]) >= 1)
    a_ids = {i["id"] for i in page["data"]}
    b_page = await _wait_listed(w.http, w.stack, "/v1/inbound", w.b, lambda p: len(p["data"]) >= 1)
    assert not a_ids & {i["id"] for i in b_page["data"]}
    assert {i["sender"] for i in b_page["data"]} == {UPLINK_USER_B}
    assert {i["chatbot_id"] for i in b_page["data"]} == {w.b.chatbot_id}


async def _list_callbacks(w: World) -> None:
    a_list = await _wait_listed(w.http, w.stack, "/v1/callbacks", w.a, lambda c: len(c) >= 1)
    b_list = await _wait_listed(w.http, w.stack, "/v1/callbacks", w.b, lambda c: len(c) >= 1)
    assert not {c["id"] for c in a_list} & {c["id"] for c in b_list}
    for state in ("pending", "delivered", "failed"):
        status, listed = await get_json(w.http, w.stack, "/v1/callbacks", w.b, params={"state": state})
        assert status == 200, listed
        assert not {c["id"] for c in a_list} & {c["id"] for c in listed}, state


async def _bury_job(stack: Stack, tenant: Tenant, marker: str) -> None:
    """A dead-lettered job of the tenant's, made through the queue interface (no worker takes this topic)."""
    ctx = stack.platform.services.ctx
    topic = f"isolation-probe-{marker}"
    async with ctx.db.transaction() as session:
        await ctx.queue.enqueue(session, [NewJob(topic=topic, payload={"tenant_id": tenant.tenant_id,
                                                                         "marker": marker},
                                                 tenant_id=tenant.tenant_id)])
    [job] = await ctx.queue.claim(topic, 1)
    await ctx.queue.dead(job, f"probe for {marker}")


async def _list_dead_letters(w: World) -> None:
    await _bury_job(w.stack, w.a, "tenant-a")
    await _bury_job(w.stack, w.b, "tenant-b")
    status, a_list = await get_json(w.http, w.stack, "/v1/dead-letters", w.a)
    assert status == 200, a_list
    status, b_list = await get_json(w.http, w.stack, "/v1/dead-letters", w.b)
    assert status == 200, b_list
    assert [d["payload"]["marker"] for d in a_list if "marker" in d["payload"]] == ["tenant-a"]
    assert [d["payload"]["marker"] for d in b_list if "marker" in d["payload"]] == ["tenant-b"]
    assert not {d["id"] for d in a_list} & {d["id"] for d in b_list}
    assert w.a.tenant_id not in str(b_list)


async def _webhook_to_other_tenants_chatbot(w: World) -> None:
    held = await hold_message(w.stack, "+8613800138006")
    carrier_id = held["attempts"][0]["carrier_message_id"]
    report = delivery_notification(carrier_id, "+8613800138006", "MessageDisplayed")
    # Properly signed by B's chatbot, addressed to B's chatbot, about A's message.
    status, body = await post_webhook(w.http, notify_url(w.stack, TENANT_B_CARRIER_ID), report,
                                      signed_headers(TENANT_B_CARRIER_ID))
    assert status in {204, 404}, body
    status, after = await get_json(w.http, w.stack, f"/v1/messages/{held['id']}", w.a)
    assert status == 200, after
    assert after["status"] == "sent", after
    assert after["history"] == held["history"], after
    # Control: the same report addressed to A's own chatbot does move it.
    status, body = await post_webhook(w.http, notify_url(w.stack, CARRIER_CHATBOT_ID), report,
                                      signed_headers(CARRIER_CHATBOT_ID))
    assert status == 204, body
    await w.stack.wait_status(held["id"], "displayed", timeout=5)


async def _webhook_handshake_with_other_tenants_credentials(w: World) -> None:
    # A GET handshake addressed to B's chatbot but signed with A's chatbot credentials is refused:
    # each tenant's chatbot is authenticated with its own secrets, never another tenant's.
    url = notify_url(w.stack, TENANT_B_CARRIER_ID, kind="notifyPath")
    async with w.http.get(url, headers=signed_headers(CARRIER_CHATBOT_ID)) as response:
        assert response.status == 401, await response.text()
    # Control: B's own signature passes authentication (the China Mobile dialect then has no GET
    # notification to read, which is a 400, not a 401).
    async with w.http.get(url, headers=signed_headers(TENANT_B_CARRIER_ID)) as response:
        assert response.status == 400, await response.text()


async def _routes_of_other_tenants_chatbot(w: World) -> None:
    url = f"{w.stack.base_url}/v1/chatbots/{w.a.chatbot_id}/routes"
    async with w.http.put(url, headers=w.stack.auth(w.b),
                          json={"routes": [{"carrier": "*", "via_chatbot_id": w.b.chatbot_id}]}) as r:
        assert r.status == 404, await r.text()
    async with w.http.get(url, headers=w.stack.auth(w.b)) as r:
        assert r.status == 404, await r.text()
    # Nor can A route through B's chatbot account.
    async with w.http.put(url, headers=w.stack.auth(w.a),
                          json={"routes": [{"carrier": "*", "via_chatbot_id": w.b.chatbot_id}]}) as r:
        assert r.status == 422, await r.text()
    async with w.http.get(url, headers=w.stack.auth(w.a)) as r:
        assert (await r.json()) == {"routes": []}


async def _h5_page(w: World) -> None:
    # The page is public by design (a capability URL in an SMS): it opens by its unguessable token
    # only, shows only its own message, and names no tenant, business or number.
    link = await w.stack.platform.services.h5.link_for(w.a.tenant_id, w.a_message["id"])
    async with w.http.get(link) as r:
        page = await r.text()
        assert r.status == 200, page
    for secret in (w.a.tenant_id, w.b.tenant_id, w.a.business_id, w.a.chatbot_id, NUMBER_A, MASKED_A):
        assert secret not in page, secret
    async with w.http.get(f"{w.stack.base_url}/h/{w.b_message_id.replace('-', '')[:16]}") as r:
        assert r.status == 404, await r.text()


async def _revoke_other_tenants_message(w: World) -> None:
    held = await hold_message(w.stack, "+8613800138031")
    async with w.http.delete(f"{w.stack.base_url}/v1/messages/{held['id']}", headers=w.stack.auth(w.b)) as r:
        assert r.status == 404, await r.text()
        assert (await r.json())["error"]["code"] == "message_not_found"
    status, after = await get_json(w.http, w.stack, f"/v1/messages/{held['id']}", w.a)
    assert status == 200, after
    assert after["status"] == "sent"
    assert after["attempts"][0]["revoke_requested_at"] is None
    # Control: A itself may revoke it.
    async with w.http.delete(f"{w.stack.base_url}/v1/messages/{held['id']}", headers=w.stack.auth(w.a)) as r:
        assert r.status == 202, await r.text()


async def _bulk_revoke_other_tenants_message(w: World) -> None:
    held = await hold_message(w.stack, "+8613800138032")
    async with w.http.post(f"{w.stack.base_url}/v1/messages/revoke", headers=w.stack.auth(w.b),
                           json={"message_ids": [held["id"], w.b_message_id]}) as r:
        body = await r.json()
        assert r.status == 200, body
    assert body["results"][0] == {"message_id": held["id"], "outcome": None,
                                  "error": {"code": "message_not_found", "message": "no such message", "field": None}}
    status, after = await get_json(w.http, w.stack, f"/v1/messages/{held['id']}", w.a)
    assert status == 200, after
    assert after["attempts"][0]["revoke_requested_at"] is None


def _platform_case(method: str, path: str, body: dict[str, Any] | None = None) -> Callable[[World], Awaitable[None]]:
    """/v1/platform holds no tenant's data, and a tenant's API key does not open it: neither B's nor A's."""

    async def case(w: World) -> None:
        url = f"{w.stack.base_url}{path.replace('{channel_id}', w.stack.channel_id).replace('{number}', NUMBER_A)}"
        for tenant in (w.b, w.a):
            async with w.http.request(method, url, json=body, headers=w.stack.auth(tenant)) as response:
                assert response.status == 401, await response.text()
                assert (await response.json())["error"]["code"] == "invalid_operator_key"
        _, operator_key = await w.stack.platform.services.operator_keys.create("isolation test")
        if method == "DELETE" and "/numbers/" in path:
            await w.stack.platform.services.router.set_fact(NUMBER_A, carrier="ctcc", ttl_days=None)
        async with w.http.request(method, url, json=body,
                                  headers={"Authorization": f"Bearer {operator_key}"}) as response:
            text = await response.text()
            assert response.status in {200, 201, 204}, text
        echoed = NUMBER_A if "/numbers/" in path else None  # the operator's own path parameter
        for secret in (w.a.tenant_id, w.b.tenant_id, w.a.business_id, w.a.chatbot_id, NUMBER_A):
            if secret != echoed:
                assert secret not in text, secret

    return case


# ---- the admin: tenant B's admin user (and B's API key) against tenant A's data ------------------------


def assert_no_a_data(w: World, page_text: str, *, echoed: tuple[str, ...] = ()) -> None:
    """No trace of tenant A on a page B sees, but for what B itself typed (a filter value, a `next` path)."""
    for value in echoed:
        page_text = page_text.replace(value, "").replace(quote(value, safe=""), "")
    for secret in (w.a_message["id"], MASKED_A, NUMBER_A, w.a.chatbot_id, w.a.business_id, w.a.tenant_id,
                   "Tenant A", "A 的消息"):
        assert secret not in page_text, secret


async def _admin_dashboard(w: World) -> None:
    _, b = await w.admins()
    for _ in range(3):  # A now has four messages, B one: the totals tell whose were counted
        status, body = await w.stack.text([NUMBER_A], "再来一条")
        assert status == 202, body
    page = await b.get("/")
    assert page.status == 200
    total = re.search(r'<li class="tile total">.*?<span class="count">(\d+)</span>', page.text, re.S)
    assert total is not None, page.text[:500]
    assert int(total.group(1)) == 1
    assert_no_a_data(w, page.text)
    page = await w.a_admin.get("/")
    total = re.search(r'<li class="tile total">.*?<span class="count">(\d+)</span>', page.text, re.S)
    assert total is not None
    assert int(total.group(1)) == 4  # the control: A's own dashboard counts A's


async def _admin_messages(w: World) -> None:
    a, b = await w.admins()
    queries: list[tuple[str, tuple[str, ...]]] = [
        ("", ()), ("?status=displayed", ()), (f"?chatbot={w.a.chatbot_id}", (w.a.chatbot_id,)),
        (f"?recipient={NUMBER_A}", (NUMBER_A,)), ("?before=ffffffff", ()),
        (f"?before={w.a_message['id']}", (w.a_message["id"],)),
    ]
    for query, typed in queries:
        page = await b.get(f"/messages{query}")
        assert page.status == 200, query
        assert_no_a_data(w, page.text, echoed=typed)
    assert w.b_message_id in (await b.get("/messages")).text
    assert w.a_message["id"] in (await a.get("/messages")).text
    # Tenant B's API key is no admin credential.
    page = await w.anonymous.get("/messages", headers=w.stack.auth(w.b))
    assert "/admin/login" in page.url
    assert_no_a_data(w, page.text)


async def _admin_message_detail(w: World) -> None:
    a, b = await w.admins()
    page = await b.get(f"/messages/{w.a_message['id']}")
    assert page.status == 404
    assert_no_a_data(w, page.text, echoed=(w.a_message["id"],))  # a 404 may name what it did not find
    assert (await b.get(f"/messages/{w.b_message_id}")).status == 200
    assert (await a.get(f"/messages/{w.a_message['id']}")).status == 200


async def _admin_send_form(w: World) -> None:
    _, b = await w.admins()
    page = await b.get("/send")
    assert page.status == 200
    assert_no_a_data(w, page.text)
    assert w.b.chatbot_id in page.text


async def _admin_send(w: World) -> None:
    _, b = await w.admins()
    before_a, before_b = await message_ids(w.http, w.stack, w.a), await message_ids(w.http, w.stack, w.b)
    for business_id, chatbot_id in ((w.a.business_id, w.a.chatbot_id), (w.b.business_id, w.a.chatbot_id),
                                    (w.a.business_id, w.b.chatbot_id)):
        page = await b.submit("/send", "/send", {"business_id": business_id, "chatbot_id": chatbot_id,
                                                 "recipients": "13800138000", "kind": "text", "text": "越权发送"})
        assert page.status == 422, (business_id, chatbot_id)
    assert await message_ids(w.http, w.stack, w.a) == before_a
    assert await message_ids(w.http, w.stack, w.b) == before_b
    page = await b.submit("/send", "/send", {"business_id": w.b.business_id, "chatbot_id": w.b.chatbot_id,
                                             "recipients": "13900139001", "kind": "text", "text": "自己的"})
    assert page.status == 200  # the control: B's own business and chatbot work
    assert len(await message_ids(w.http, w.stack, w.b)) == len(before_b) + 1
    assert await message_ids(w.http, w.stack, w.a) == before_a


async def _admin_tenant_picker(w: World) -> None:
    _, b = await w.admins()
    page = await b.get(f"/tenant?next=/admin/messages/{w.a_message['id']}")
    assert page.status == 404  # a tenant admin is sent on to `next`, which is A's message: not found
    assert_no_a_data(w, page.text, echoed=(w.a_message["id"],))


async def _admin_choose_tenant(w: World) -> None:
    _, b = await w.admins()
    page = await b.submit("/", "/tenant", {"tenant_id": w.a.tenant_id, "next": "/admin/messages"})
    assert page.status == 200
    assert_no_a_data(w, page.text)
    assert w.b_message_id in (await b.get("/messages")).text
    assert (await b.get(f"/messages/{w.a_message['id']}")).status == 404


async def _admin_login_form(w: World) -> None:
    _, b = await w.admins()
    page = await b.get(f"/login?next=/admin/messages/{w.a_message['id']}")
    assert page.status == 404
    assert_no_a_data(w, page.text, echoed=(w.a_message["id"],))


async def _admin_login(w: World) -> None:
    await w.admins()
    page = await w.anonymous.login(ADMIN_A, password="not A's password")
    assert page.status == 401
    assert_no_a_data(w, page.text)
    page = await w.anonymous.get("/messages")
    assert "/admin/login" in page.url
    page = await w.anonymous.login(ADMIN_B, next_path=f"/admin/messages/{w.a_message['id']}")
    assert page.status == 404
    assert_no_a_data(w, page.text, echoed=(w.a_message["id"],))


async def _admin_logout(w: World) -> None:
    _, b = await w.admins()
    page = await b.submit("/", "/logout", {})
    assert "/admin/login" in page.url
    page = await b.get("/messages")
    assert "/admin/login" in page.url
    assert_no_a_data(w, page.text)
    assert w.b_message_id not in page.text


async def _admin_language(w: World) -> None:
    _, b = await w.admins()
    page = await b.get(f"/language/en?next=/admin/messages/{w.a_message['id']}")
    assert page.status == 404
    assert_no_a_data(w, page.text, echoed=(w.a_message["id"],))


def _admin_platform_page(method: str, path: str,
                         fields: dict[str, str] | None = None) -> Callable[[World], Awaitable[None]]:
    """A platform-only admin page (Channels): refused to B's admin user and to A's alike, served to a
    platform admin, and neither tenant's data is on it."""

    async def case(w: World) -> None:
        a, b = await w.admins()
        channels = w.stack.platform.services.channel_admin
        target = path.replace("{channel_id}", w.stack.channel_id)
        before = [(c.id, c.name, c.base_url, c.enabled) for c in await channels.all()]
        for browser in (b, a):  # A's own admin is refused too: channels belong to no tenant
            page = await (browser.get(target) if method == "GET" else browser.submit("/", target, fields or {}))
            assert page.status == 403, (target, page.text[:300])
            assert w.stack.simulator_url not in page.text
            if browser is b:
                assert_no_a_data(w, page.text)
        assert [(c.id, c.name, c.base_url, c.enabled) for c in await channels.all()] == before
        async with admin_http() as root_http:
            root = AdminBrowser(w.stack, root_http)
            await w.stack.platform.services.admins.create("root@platform.example", ADMIN_PASSWORD, tenant_id=None,
                                                          display_name="root")
            assert (await root.login("root@platform.example")).status == 200
            page = await (root.get(target) if method == "GET" else root.submit("/channels", target, fields or {}))
            assert page.status == 200, (target, page.text[:300])
            assert "/admin/channels" in page.url
        assert_no_a_data(w, page.text)
        for secret in (w.b.tenant_id, w.b.business_id, w.b.chatbot_id, "Tenant B", "B 的消息", NUMBER_B):
            assert secret not in page.text, secret

    return case


Case = Callable[[World], Awaitable[None]]

ISOLATION_CASES: dict[Route, Case] = {
    ("POST", "/v1/messages"): _send_with_foreign_chatbot,
    ("GET", "/v1/messages/{message_id}"): _read_foreign_message,
    ("GET", "/v1/messages"): _list_messages,
    ("GET", "/v1/inbound"): _list_inbound,
    ("GET", "/v1/callbacks"): _list_callbacks,
    ("GET", "/v1/dead-letters"): _list_dead_letters,
    ("POST", "/webhooks/{channel_type}/{channel_id}/{subpath:path}"): _webhook_to_other_tenants_chatbot,
    ("GET", "/webhooks/{channel_type}/{channel_id}/{subpath:path}"): _webhook_handshake_with_other_tenants_credentials,
    ("DELETE", "/v1/messages/{message_id}"): _revoke_other_tenants_message,
    ("GET", "/h/{token}"): _h5_page,
    ("GET", "/v1/chatbots/{chatbot_id}/routes"): _routes_of_other_tenants_chatbot,
    ("PUT", "/v1/chatbots/{chatbot_id}/routes"): _routes_of_other_tenants_chatbot,
    ("GET", "/v1/platform/numbers/{number}"): _platform_case("GET", "/v1/platform/numbers/{number}"),
    ("PUT", "/v1/platform/numbers/{number}"): _platform_case("PUT", "/v1/platform/numbers/{number}",
                                                             {"carrier": "ctcc"}),
    ("DELETE", "/v1/platform/numbers/{number}"): _platform_case("DELETE", "/v1/platform/numbers/{number}"),
    ("POST", "/v1/messages/revoke"): _bulk_revoke_other_tenants_message,
    ("GET", "/v1/platform/channel-types"): _platform_case("GET", "/v1/platform/channel-types"),
    ("GET", "/v1/platform/channels"): _platform_case("GET", "/v1/platform/channels"),
    ("POST", "/v1/platform/channels"): _platform_case("POST", "/v1/platform/channels", {
        "type": "cmcc", "name": "second CMCC line", "base_url": "https://maap.example.com"}),
    ("GET", "/v1/platform/channels/{channel_id}"): _platform_case("GET", "/v1/platform/channels/{channel_id}"),
    ("PATCH", "/v1/platform/channels/{channel_id}"): _platform_case("PATCH", "/v1/platform/channels/{channel_id}",
                                                                    {"name": "China Mobile (renamed)"}),
    ("GET", "/admin/"): _admin_dashboard,
    ("GET", "/admin/messages"): _admin_messages,
    ("GET", "/admin/messages/{message_id}"): _admin_message_detail,
    ("GET", "/admin/send"): _admin_send_form,
    ("POST", "/admin/send"): _admin_send,
    ("GET", "/admin/tenant"): _admin_tenant_picker,
    ("POST", "/admin/tenant"): _admin_choose_tenant,
    ("GET", "/admin/login"): _admin_login_form,
    ("POST", "/admin/login"): _admin_login,
    ("POST", "/admin/logout"): _admin_logout,
    ("GET", "/admin/language/{code}"): _admin_language,
    ("GET", "/admin/channels"): _admin_platform_page("GET", "/channels"),
    ("GET", "/admin/channels/new"): _admin_platform_page("GET", "/channels/new?type=smpp"),
    ("POST", "/admin/channels"): _admin_platform_page("POST", "/channels", {
        "type": "cmcc", "name": "second CMCC line", "base_url": "https://maap.example.com", "enabled": "true"}),
    ("GET", "/admin/channels/{channel_id}"): _admin_platform_page("GET", "/channels/{channel_id}"),
    ("POST", "/admin/channels/{channel_id}"): _admin_platform_page("POST", "/channels/{channel_id}", {
        "name": "China Mobile (renamed)", "base_url": "https://maap.example.com"}),
    ("POST", "/admin/channels/{channel_id}/enabled"): _admin_platform_page(
        "POST", "/channels/{channel_id}/enabled", {"enabled": "false"}),
}


# ---- the tests -----------------------------------------------------------------------------------------


def test_every_route_has_a_second_tenant_case(tmp_path: Path) -> None:
    platform = Platform(make_settings(f"sqlite+aiosqlite:///{tmp_path / 'routes.db'}", tmp_path, 8000))
    routes = app_routes(platform.app.routes)
    assert ("POST", "/v1/messages") in routes, routes  # the walk found the API at all
    uncovered = sorted(r for r in routes if r not in ISOLATION_CASES and r[1] not in EXEMPT_PATHS)
    assert not uncovered, f"routes without a second-tenant case in ISOLATION_CASES: {uncovered}"
    stale = sorted(set(ISOLATION_CASES) - routes)
    assert not stale, f"ISOLATION_CASES names routes the app no longer has: {stale}"


@pytest.mark.asyncio
async def test_openapi_lists_only_routes_we_walked(stack: Stack) -> None:
    """A cross-check of the walk: every operation in /openapi.json is a route we found."""
    async with stack.http.get(f"{stack.base_url}/openapi.json") as response:
        document = await response.json()
    walked = {(method, path.replace("{subpath:path}", "{subpath}")) for method, path in
              app_routes(stack.platform.app.routes)}
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert documented <= walked, sorted(documented - walked)


@pytest.mark.asyncio
@pytest.mark.parametrize("route", sorted(ISOLATION_CASES), ids=lambda r: f"{r[0]} {r[1]}")
async def test_tenant_b_never_sees_or_changes_tenant_a(world: World, route: Route) -> None:
    await ISOLATION_CASES[route](world)
