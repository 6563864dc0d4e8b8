"""Tenant isolation, route by route: tenant B never reads or changes tenant A's data.

For the API the credential is tenant B's API key; for the admin it is a signed-in admin user of
tenant B (and B's API key, which must not open the admin at all).

`test_every_route_has_a_second_tenant_case` lists the app's routes (walking included routers and
mounted sub-applications) and fails for any route that has no case in ISOLATION_CASES and is not
exempt. A new route therefore needs a case here before the suite passes again.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import select
from starlette.routing import BaseRoute, Mount

from msg5g.domain.messages import TrafficClass
from msg5g.gateway.audit import is_change
from msg5g.pipeline.queue import NewJob
from msg5g.platform import Platform
from msg5g.services.words import WordEntry
from msg5g.storage.repositories import ChatbotRepository
from msg5g.storage.tables import AuditEntry
from tests.admin.test_applications_pages import KINDS as DOCUMENT_KINDS
from tests.admin.test_applications_pages import (
    csp_channel,
    document_file,
    enterprise_fields,
    mark_failed,
    record_body,
)
from tests.api.helpers import (
    ADMIN_PASSWORD,
    AdminBrowser,
    AdminPage,
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
from tests.api.isolation_alerts import ADMIN_CASES as ALERT_ADMIN_CASES
from tests.api.isolation_alerts import API_CASES as ALERT_API_CASES
from tests.api.isolation_businesses import ADMIN_CASES as BUSINESS_ADMIN_CASES
from tests.api.isolation_conversations import ADMIN_CASES as CONVERSATION_ADMIN_CASES
from tests.api.isolation_conversations import API_CASES as CONVERSATION_API_CASES
from tests.api.isolation_inbox import ADMIN_CASES as INBOX_ADMIN_CASES
from tests.conftest import CARRIER_CHATBOT_ID, CARRIER_PASSWORD, Stack, Tenant, make_settings
from tests.media_samples import png

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
    # Control: A sets its own chatbot's routes.
    async with w.http.put(url, headers=w.stack.auth(w.a), json={"routes": []}) as r:
        assert r.status == 200, await r.text()


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


# ---- materials, templates and sensitive words over the API ---------------------------------------------

MATERIAL_A = "A 的素材"
TEMPLATE_A = "A 的模板"
TEMPLATE_TEXT_A = "A 的模板正文"
WORD_A = "甲方禁词"
WORD_B = "乙方禁词"
PLATFORM_WORD = "平台禁词"
PNG_A_COLOR, PNG_B_COLOR = (200, 30, 30), (30, 200, 30)


def _definition(text: str = "您好 {{ name }}", sample: str = "x") -> dict[str, Any]:
    return {"layout": {"kind": "text", "text": text},
            "parameters": [{"name": "name", "type": "string", "sample": sample}]}


def _file_definition(material_id: str) -> dict[str, Any]:
    return {"layout": {"kind": "file", "file": {"material_id": material_id}}, "fallback_text": "请查看附件"}


async def _call(w: World, method: str, path: str, tenant: Tenant, body: Any = None) -> tuple[int, Any]:
    async with w.http.request(method, f"{w.stack.base_url}{path}", json=body, headers=w.stack.auth(tenant)) as r:
        text = await r.text()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text


async def _fetch(w: World, path: str, tenant: Tenant) -> tuple[int, str, bytes]:
    async with w.http.get(f"{w.stack.base_url}{path}", headers=w.stack.auth(tenant)) as r:
        return r.status, r.headers.get("content-type", ""), await r.read()


def _assert_clean(w: World, body: Any, *also: str) -> None:
    """Nothing of tenant A's in an API answer B got."""
    text = json.dumps(body, ensure_ascii=False) if not isinstance(body, str) else body
    for secret in (w.a.tenant_id, w.a.business_id, w.a.chatbot_id, w.a_message["id"], NUMBER_A, *also):
        assert secret not in text, secret


async def _upload(w: World, tenant: Tenant, name: str, color: tuple[int, int, int] = PNG_A_COLOR) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("file", png(64, 48, color), filename="banner.png", content_type="application/octet-stream")
    form.add_field("name", name)
    async with w.http.post(f"{w.stack.base_url}/v1/materials", data=form, headers=w.stack.auth(tenant)) as r:
        body = await r.json()
        assert r.status == 201, body
    return dict(body)


async def _create_template(w: World, tenant: Tenant, name: str = TEMPLATE_A,
                           definition: dict[str, Any] | None = None) -> dict[str, Any]:
    status, body = await _call(w, "POST", "/v1/templates", tenant, {
        "name": name, "definition": definition or _definition(f"{TEMPLATE_TEXT_A} {{{{ name }}}}", "甲方样例")})
    assert status == 201, body
    return dict(body)


async def _material_ids(w: World, tenant: Tenant) -> list[str]:
    status, listed = await get_json(w.http, w.stack, "/v1/materials", tenant, params={"limit": "500"})
    assert status == 200, listed
    return [m["id"] for m in listed]


async def _template_ids(w: World, tenant: Tenant) -> list[str]:
    status, listed = await get_json(w.http, w.stack, "/v1/templates", tenant)
    assert status == 200, listed
    return [t["id"] for t in listed]


async def _template_state(w: World, template_id: str) -> tuple[Any, ...]:
    """What B must not change of A's template: its name, whether it is disabled, and its versions."""
    status, body = await get_json(w.http, w.stack, f"/v1/templates/{template_id}", w.a)
    assert status == 200, body
    return (body["name"], body["disabled"], [(v["version"], v["review_state"], v["definition"], v["created_by"],
                                              v["reviewed_by"], v["review_note"]) for v in body["versions"]])


async def _words(w: World, tenant: Tenant) -> dict[str, str]:
    status, body = await get_json(w.http, w.stack, "/v1/sensitive-words", tenant)
    assert status == 200, body
    return {entry["word"]: entry["action"] for entry in body["words"]}


async def _platform_words(w: World) -> Any:
    return await w.stack.platform.services.words.platform_list()


async def _upload_material(w: World) -> None:
    a_material = await _upload(w, w.a, MATERIAL_A)
    # The very same bytes from B make B's own material, taken to B's chatbot only.
    b_material = await _upload(w, w.b, "B 的素材")
    assert b_material["id"] != a_material["id"]
    assert b_material["business_id"] == w.b.business_id
    assert {s["chatbot_id"] for s in b_material["syncs"]} == {w.b.chatbot_id}
    _assert_clean(w, b_material, a_material["id"], MATERIAL_A)
    assert await _material_ids(w, w.a) == [a_material["id"]]
    assert await _material_ids(w, w.b) == [b_material["id"]]
    status, body = await get_json(w.http, w.stack, f"/v1/materials/{b_material['id']}", w.a)
    assert status == 404, body
    assert_error(body, "material_not_found", "material_id")
    status, body = await get_json(w.http, w.stack, f"/v1/materials/{a_material['id']}", w.a)
    assert status == 200, body
    assert {s["chatbot_id"] for s in body["syncs"]} == {w.a.chatbot_id}


async def _list_materials(w: World) -> None:
    a_material = await _upload(w, w.a, MATERIAL_A)
    b_material = await _upload(w, w.b, "B 的素材", PNG_B_COLOR)
    for params in ({}, {"kind": "image"}, {"limit": "500"}, {"limit": "1"}):
        status, listed = await get_json(w.http, w.stack, "/v1/materials", w.b, params=params)
        assert status == 200, (params, listed)
        assert [m["id"] for m in listed] == [b_material["id"]], params
        _assert_clean(w, listed, a_material["id"], a_material["sha256"], MATERIAL_A)
    status, listed = await get_json(w.http, w.stack, "/v1/materials", w.b, params={"kind": "audio"})
    assert status == 200, listed
    assert listed == []
    assert await _material_ids(w, w.a) == [a_material["id"]]


async def _read_foreign_material(w: World) -> None:
    a_material = await _upload(w, w.a, MATERIAL_A)
    status, body = await get_json(w.http, w.stack, f"/v1/materials/{a_material['id']}", w.b)
    assert status == 404, body
    assert_error(body, "material_not_found", "material_id")
    _assert_clean(w, body, a_material["id"], a_material["sha256"], MATERIAL_A)
    status, body = await get_json(w.http, w.stack, f"/v1/materials/{a_material['id']}", w.a)
    assert status == 200, body
    assert body["name"] == MATERIAL_A


def _foreign_material_bytes(part: str) -> Callable[[World], Awaitable[None]]:
    """GET /v1/materials/{id}/file or /thumbnail: B gets neither A's file nor its thumbnail."""

    async def case(w: World) -> None:
        a_material = await _upload(w, w.a, MATERIAL_A)
        b_material = await _upload(w, w.b, "B 的素材", PNG_B_COLOR)
        status, content_type, data = await _fetch(w, f"/v1/materials/{a_material['id']}/{part}", w.b)
        assert status == 404, data
        assert content_type.startswith("application/json"), content_type
        assert_error(json.loads(data), "material_not_found", ...)
        _assert_clean(w, data.decode(), a_material["id"], MATERIAL_A)
        status, content_type, a_data = await _fetch(w, f"/v1/materials/{a_material['id']}/{part}", w.a)
        assert status == 200, a_data
        status, _, b_data = await _fetch(w, f"/v1/materials/{b_material['id']}/{part}", w.b)
        assert status == 200, b_data
        assert a_data != b_data  # B's own id gives B's own bytes
        if part == "file":
            assert a_data == png(64, 48, PNG_A_COLOR)
            assert b_data == png(64, 48, PNG_B_COLOR)
        else:
            assert content_type == "image/jpeg"
            assert a_data[:2] == b_data[:2] == b"\xff\xd8"

    return case


async def _delete_foreign_material(w: World) -> None:
    a_material = await _upload(w, w.a, MATERIAL_A)
    b_material = await _upload(w, w.b, "B 的素材")
    status, body = await _call(w, "DELETE", f"/v1/materials/{a_material['id']}", w.b)
    assert status == 404, body
    assert_error(body, "material_not_found", "material_id")
    _assert_clean(w, body, a_material["id"], MATERIAL_A)
    assert await _material_ids(w, w.a) == [a_material["id"]]
    status, body = await get_json(w.http, w.stack, f"/v1/materials/{a_material['id']}", w.a)
    assert status == 200, body
    # Still A's to use: a template may name it.
    await _create_template(w, w.a, definition=_file_definition(a_material["id"]))
    # Control: each deletes its own.
    status, body = await _call(w, "DELETE", f"/v1/materials/{b_material['id']}", w.b)
    assert status == 204, body
    assert await _material_ids(w, w.b) == []
    assert await _material_ids(w, w.a) == [a_material["id"]]


async def _sync_of_foreign_chatbot(w: World) -> None:
    await _upload(w, w.a, MATERIAL_A)
    status, body = await get_json(w.http, w.stack, f"/v1/chatbots/{w.a.chatbot_id}/sync", w.b)
    assert status == 404, body
    assert_error(body, "chatbot_not_found", ...)
    _assert_clean(w, body, MATERIAL_A)
    status, body = await get_json(w.http, w.stack, f"/v1/chatbots/{w.b.chatbot_id}/sync", w.a)
    assert status == 404, body
    assert_error(body, "chatbot_not_found", ...)
    # B's own chatbot counts B's materials (none), A's counts A's.
    status, body = await get_json(w.http, w.stack, f"/v1/chatbots/{w.b.chatbot_id}/sync", w.b)
    assert status == 200, body
    assert (body["chatbot_id"], body["materials_total"], body["templates"]) == (w.b.chatbot_id, 0, {})
    status, body = await get_json(w.http, w.stack, f"/v1/chatbots/{w.a.chatbot_id}/sync", w.a)
    assert status == 200, body
    assert body["materials_total"] == 1, body


async def _create_template_in_own_space(w: World) -> None:
    a_material = await _upload(w, w.a, MATERIAL_A)
    a_template = await _create_template(w, w.a)
    # B's template cannot name A's material: to B it does not exist.
    status, body = await _call(w, "POST", "/v1/templates", w.b,
                               {"name": "B 的模板", "definition": _file_definition(a_material["id"])})
    assert status == 404, body
    assert_error(body, "material_not_found", ...)
    _assert_clean(w, body, MATERIAL_A, a_template["id"])
    assert await _template_ids(w, w.b) == []
    b_template = await _create_template(w, w.b, "B 的模板", _definition())
    assert b_template["business_id"] == w.b.business_id
    assert b_template["id"] != a_template["id"]
    _assert_clean(w, b_template, a_template["id"], TEMPLATE_A, TEMPLATE_TEXT_A)
    assert await _template_ids(w, w.b) == [b_template["id"]]
    assert await _template_ids(w, w.a) == [a_template["id"]]
    status, body = await get_json(w.http, w.stack, f"/v1/templates/{b_template['id']}", w.a)
    assert status == 404, body
    assert_error(body, "template_not_found", "template")


async def _list_templates(w: World) -> None:
    a_template = await _create_template(w, w.a)
    b_template = await _create_template(w, w.b, "B 的模板", _definition())
    status, listed = await get_json(w.http, w.stack, "/v1/templates", w.b)
    assert status == 200, listed
    assert [t["id"] for t in listed] == [b_template["id"]]
    assert all(t["business_id"] == w.b.business_id for t in listed)
    _assert_clean(w, listed, a_template["id"], TEMPLATE_A, TEMPLATE_TEXT_A)
    assert await _template_ids(w, w.a) == [a_template["id"]]


async def _read_foreign_template(w: World) -> None:
    a_template = await _create_template(w, w.a)
    status, body = await get_json(w.http, w.stack, f"/v1/templates/{a_template['id']}", w.b)
    assert status == 404, body
    assert_error(body, "template_not_found", "template")
    _assert_clean(w, body, a_template["id"], TEMPLATE_A, TEMPLATE_TEXT_A)
    status, body = await get_json(w.http, w.stack, f"/v1/templates/{a_template['id']}", w.a)
    assert status == 200, body
    assert body["name"] == TEMPLATE_A


async def _edit_foreign_template(w: World) -> None:
    a_template = await _create_template(w, w.a)
    before = await _template_state(w, a_template["id"])
    status, body = await _call(w, "PUT", f"/v1/templates/{a_template['id']}", w.b,
                               {"definition": _definition("B 改过的 {{ name }}")})
    assert status == 404, body
    assert_error(body, "template_not_found", "template")
    _assert_clean(w, body, TEMPLATE_A, TEMPLATE_TEXT_A)
    assert await _template_state(w, a_template["id"]) == before
    # Control: A's own edit goes through.
    status, body = await _call(w, "PUT", f"/v1/templates/{a_template['id']}", w.a,
                               {"definition": _definition("A 改过的 {{ name }}")})
    assert status == 200, body
    assert body["versions"][-1]["definition"]["layout"]["text"] == "A 改过的 {{ name }}"


async def _submit_foreign_version(w: World) -> None:
    a_template = await _create_template(w, w.a)
    before = await _template_state(w, a_template["id"])
    # Even a version A's template does not have is "no such template" to B, not "no such version".
    for version in (1, 2):
        status, body = await _call(w, "POST", f"/v1/templates/{a_template['id']}/versions/{version}/submit", w.b)
        assert status == 404, (version, body)
        assert_error(body, "template_not_found", "template")
        _assert_clean(w, body, TEMPLATE_A, TEMPLATE_TEXT_A)
    assert await _template_state(w, a_template["id"]) == before
    assert before[2][0][1] == "draft"
    status, body = await _call(w, "POST", f"/v1/templates/{a_template['id']}/versions/1/submit", w.a)
    assert status == 200, body
    assert body["versions"][0]["review_state"] == "in_review"


async def _review_foreign_version(w: World) -> None:
    a_template = await _create_template(w, w.a)
    status, body = await _call(w, "POST", f"/v1/templates/{a_template['id']}/versions/1/submit", w.a)
    assert status == 200, body
    before = await _template_state(w, a_template["id"])
    # B's key is not the version's author, so only isolation stands between B and approving it.
    for decision in (True, False):
        status, body = await _call(w, "POST", f"/v1/templates/{a_template['id']}/versions/1/review", w.b,
                                   {"approved": decision, "note": "B 的审核"})
        assert status == 404, (decision, body)
        assert_error(body, "template_not_found", "template")
        _assert_clean(w, body, TEMPLATE_A, TEMPLATE_TEXT_A)
    assert await _template_state(w, a_template["id"]) == before
    assert (before[2][0][1], before[2][0][4]) == ("in_review", None)
    # Control: a second key of A's approves it, and the approval reaches A's chatbot, not B's.
    _, second_key = await w.stack.platform.services.api_keys.create(w.a.tenant_id, w.a.business_id, "reviewer")
    async with w.http.post(f"{w.stack.base_url}/v1/templates/{a_template['id']}/versions/1/review",
                           json={"approved": True}, headers={"Authorization": f"Bearer {second_key}"}) as r:
        body = await r.json()
        assert r.status == 200, body
    assert body["versions"][0]["review_state"] == "approved"
    assert {c["chatbot_id"] for c in body["versions"][0]["channels"]} == {w.a.chatbot_id}
    status, progress = await get_json(w.http, w.stack, f"/v1/chatbots/{w.b.chatbot_id}/sync", w.b)
    assert status == 200, progress
    assert progress["templates"] == {}


async def _disable_foreign_template(w: World) -> None:
    a_template = await _create_template(w, w.a)
    before = await _template_state(w, a_template["id"])
    status, body = await _call(w, "POST", f"/v1/templates/{a_template['id']}/disable", w.b)
    assert status == 404, body
    assert_error(body, "template_not_found", "template")
    _assert_clean(w, body, TEMPLATE_A, TEMPLATE_TEXT_A)
    assert await _template_state(w, a_template["id"]) == before
    assert before[1] is False
    status, body = await _call(w, "POST", f"/v1/templates/{a_template['id']}/disable", w.a)
    assert status == 200, body
    assert body["disabled"] is True


async def _preview_foreign_template(w: World) -> None:
    a_template = await _create_template(w, w.a)
    b_template = await _create_template(w, w.b, "B 的模板", _definition("B 的正文 {{ name }}"))
    for request in ({}, {"version": 1}, {"version": 1, "params": {"name": "乙"}}):
        status, body = await _call(w, "POST", f"/v1/templates/{a_template['id']}/preview", w.b, request)
        assert status == 404, (request, body)
        assert_error(body, "template_not_found", "template")
        _assert_clean(w, body, TEMPLATE_A, TEMPLATE_TEXT_A, "甲方样例")
    # B's own preview goes through B's chatbot only; A's through A's.
    status, previews = await _call(w, "POST", f"/v1/templates/{b_template['id']}/preview", w.b, {})
    assert status == 200, previews
    assert [p["chatbot_id"] for p in previews] == [w.b.chatbot_id]
    _assert_clean(w, previews, TEMPLATE_TEXT_A, CARRIER_CHATBOT_ID)
    status, previews = await _call(w, "POST", f"/v1/templates/{a_template['id']}/preview", w.a, {})
    assert status == 200, previews
    assert [p["chatbot_id"] for p in previews] == [w.a.chatbot_id]
    assert previews[0]["content"]["text"] == f"{TEMPLATE_TEXT_A} 甲方样例"


async def _template_with(w: World, tenant: Tenant, word: str) -> tuple[int, Any]:
    return await _call(w, "POST", "/v1/templates", tenant,
                       {"name": f"含{word}", "definition": _definition(f"{word} {{{{ name }}}}")})


async def _list_tenant_words(w: World) -> None:
    status, body = await _call(w, "POST", "/v1/sensitive-words", w.a, {"words": [{"word": WORD_A}]})
    assert status == 200, body
    status, body = await get_json(w.http, w.stack, "/v1/sensitive-words", w.b)
    assert status == 200, body
    assert body == {"words": []}
    assert await _words(w, w.a) == {WORD_A: "block"}
    status, body = await _call(w, "POST", "/v1/sensitive-words", w.b, {"words": [{"word": WORD_B}]})
    assert status == 200, body
    assert await _words(w, w.b) == {WORD_B: "block"}
    assert await _words(w, w.a) == {WORD_A: "block"}


async def _add_tenant_words(w: World) -> None:
    status, body = await _call(w, "POST", "/v1/sensitive-words", w.a, {"words": [{"word": WORD_A}]})
    assert status == 200, body
    # B adds its own word, and A's word with another action: both land on B's list only.
    status, body = await _call(w, "POST", "/v1/sensitive-words", w.b,
                               {"words": [{"word": WORD_B}, {"word": WORD_A, "action": "mask"}]})
    assert status == 200, body
    assert {e["word"]: e["action"] for e in body["words"]} == {WORD_B: "block", WORD_A: "mask"}
    assert await _words(w, w.a) == {WORD_A: "block"}
    # B's word blocks B, not A; A's blocks A, not B.
    status, body = await _template_with(w, w.b, WORD_B)
    assert status == 422, body
    assert_error(body, "sensitive_words", ...)
    status, body = await _template_with(w, w.a, WORD_B)
    assert status == 201, body
    status, body, _ = await post_messages(w.http, w.stack, json_body=text_body(w.a.chatbot_id, f"A 说{WORD_B}"))
    assert status == 202, body
    status, body = await _template_with(w, w.a, WORD_A)
    assert status == 422, body
    assert_error(body, "sensitive_words", ...)
    status, body = await _call(w, "POST", "/v1/sensitive-words", w.b, {"words": [{"word": WORD_A, "action": "block"}]})
    assert status == 200, body
    status, body = await _call(w, "DELETE", f"/v1/sensitive-words/{quote(WORD_A, safe='')}", w.b)
    assert status == 204, body
    status, body = await _template_with(w, w.b, WORD_A)  # B's copy of the word is gone; A's stays
    assert status == 201, body
    status, body = await _template_with(w, w.a, WORD_A)
    assert status == 422, body


async def _remove_tenant_word(w: World) -> None:
    status, body = await _call(w, "POST", "/v1/sensitive-words", w.a, {"words": [{"word": WORD_A}]})
    assert status == 200, body
    status, body = await _call(w, "DELETE", f"/v1/sensitive-words/{quote(WORD_A, safe='')}", w.b)
    assert status == 404, body
    assert_error(body, "word_not_found", ...)
    assert await _words(w, w.a) == {WORD_A: "block"}
    status, body = await _template_with(w, w.a, WORD_A)
    assert status == 422, body  # still blocks A
    assert_error(body, "sensitive_words", ...)
    # Control: A removes its own word, and then may use it.
    status, body = await _call(w, "DELETE", f"/v1/sensitive-words/{quote(WORD_A, safe='')}", w.a)
    assert status == 204, body
    status, body = await _template_with(w, w.a, WORD_A)
    assert status == 201, body


def _platform_case(method: str, path: str, body: dict[str, Any] | None = None, *,
                   state: Callable[[World], Awaitable[Any]] | None = None) -> Callable[[World], Awaitable[None]]:
    """/v1/platform holds no tenant's data, and a tenant's API key does not open it: neither B's nor A's.
    `state`, when given, reads what the route would change: a refused tenant's request leaves it as it was."""

    async def case(w: World) -> None:
        url = (f"{w.stack.base_url}{path.replace('{channel_id}', w.stack.channel_id).replace('{number}', NUMBER_A)}"
               .replace("{word}", quote(PLATFORM_WORD, safe="")))
        if method == "DELETE" and "/sensitive-words/" in path:
            await w.stack.platform.services.words.add_platform_words([WordEntry(word=PLATFORM_WORD)])
        before = await state(w) if state else None
        for tenant in (w.b, w.a):
            async with w.http.request(method, url, json=body, headers=w.stack.auth(tenant)) as response:
                assert response.status == 401, await response.text()
                assert (await response.json())["error"]["code"] == "invalid_operator_key"
        if state:
            assert await state(w) == before
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


# ---- chatbot accounts and profiles over the API --------------------------------------------------------

PROFILE_A = {"service_name": "A银行", "description": "A 的服务号", "category": "银行"}
PROFILE_B = {"service_name": "B银行", "description": "B 的服务号", "category": "银行"}
CARRIER_ID_A2 = "125200401111600"  # a second China Mobile account of A's, registered through A's key
CARRIER_ID_B2 = "125200401111700"
BOT_NAME_A2 = "A 的第二个机器人"
APP_ID_A2, PASSWORD_A2 = "a-app-1600", "a-secret-3f9c1e"
APP_ID_B2, PASSWORD_B2 = "b-app-1700", "b-secret-8d27aa"
CREDENTIAL_VALUES = (PASSWORD_A2, PASSWORD_B2, APP_ID_A2, APP_ID_B2, CARRIER_PASSWORD)


def _dumped(body: Any) -> str:
    return body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)


def _assert_no_credentials(*bodies: Any) -> None:
    """No chatbot credentials, anyone's, in an answer: not A's, not B's, not the stack's."""
    for body in bodies:
        text = _dumped(body)
        assert '"credentials"' not in text, text
        for value in CREDENTIAL_VALUES:
            assert value not in text, value


async def _register_chatbot(w: World, tenant: Tenant, carrier_chatbot_id: str, name: str, app_id: str,
                            password: str, **extra: Any) -> tuple[int, Any]:
    status, body = await _call(w, "POST", "/v1/chatbots", tenant, {
        "channel_id": w.stack.channel_id, "name": name, "carrier_chatbot_id": carrier_chatbot_id,
        "credentials": {"app_id": app_id, "password": password}, **extra})
    _assert_no_credentials(body)
    return status, body


async def _a_second_chatbot(w: World) -> dict[str, Any]:
    """A's second China Mobile account, registered through A's key and known to the simulator (so it sends)."""
    notify = f"{w.stack.platform.settings.resolved_public_base_url()}/webhooks/cmcc/{w.stack.channel_id}"
    code, answer = await w.stack.sim("PUT", f"/_sim/chatbots/{CARRIER_ID_A2}",
                                     {"app_id": APP_ID_A2, "password": PASSWORD_A2, "notify_url": notify})
    assert code < 300, answer
    status, body = await _register_chatbot(w, w.a, CARRIER_ID_A2, BOT_NAME_A2, APP_ID_A2, PASSWORD_A2)
    assert status == 201, body
    assert (body["business_id"], body["carrier_chatbot_id"], body["sendable"]) == (
        w.a.business_id, CARRIER_ID_A2, True), body
    return dict(body)


async def _create_profile(w: World, tenant: Tenant, body: dict[str, Any] = PROFILE_A) -> dict[str, Any]:
    status, created = await _call(w, "POST", "/v1/chatbot-profiles", tenant, body)
    assert status == 201, created
    return dict(created)


async def _chatbot_ids(w: World, tenant: Tenant) -> set[str]:
    status, listed = await get_json(w.http, w.stack, "/v1/chatbots", tenant)
    assert status == 200, listed
    _assert_no_credentials(listed)
    return {c["id"] for c in listed}


async def _profile_ids(w: World, tenant: Tenant) -> list[str]:
    status, listed = await get_json(w.http, w.stack, "/v1/chatbot-profiles", tenant)
    assert status == 200, listed
    _assert_no_credentials(listed)
    return [p["id"] for p in listed]


async def _chatbot(w: World, tenant: Tenant, chatbot_id: str) -> dict[str, Any]:
    status, body = await get_json(w.http, w.stack, f"/v1/chatbots/{chatbot_id}", tenant)
    assert status == 200, body
    _assert_no_credentials(body)
    return dict(body)


async def _profile_state(w: World, profile_id: str) -> tuple[Any, ...]:
    """What B must not change of A's profile: its version, its information and the accounts publishing it."""
    status, body = await get_json(w.http, w.stack, f"/v1/chatbot-profiles/{profile_id}", w.a)
    assert status == 200, body
    _assert_no_credentials(body)
    return body["version"], body["profile"], body["updated_at"], [(a["id"], a["info_state"]) for a in body["accounts"]]


async def _sealed_credentials(w: World, tenant: Tenant, chatbot_id: str) -> Any:
    async with w.stack.platform.services.ctx.db.reader() as session:
        row = await ChatbotRepository(session, tenant.tenant_id).get(chatbot_id)
    assert row is not None
    return row.credentials_sealed


async def _sends(w: World, tenant: Tenant, chatbot_id: str, number: str) -> None:
    """The chatbot's credentials still work: a message through it reaches the handset and is read."""
    status, body, _ = await post_messages(w.http, w.stack, tenant=tenant, json_body={
        **text_body(chatbot_id, "凭证仍然有效"), "recipients": [number]})
    assert status == 202, body
    await wait_status(w.http, w.stack, body["messages"][0]["id"], "displayed", tenant)


def _a_chatbot_secrets(a2: dict[str, Any]) -> tuple[str, ...]:
    return a2["id"], BOT_NAME_A2, a2["address"]


def _a_profile_secrets(profile: dict[str, Any]) -> tuple[str, ...]:
    return profile["id"], PROFILE_A["service_name"], PROFILE_A["description"]


async def _register_chatbot_in_own_space(w: World) -> None:
    a2 = await _a_second_chatbot(w)
    a_profile = await _create_profile(w, w.a)
    secrets = (*_a_chatbot_secrets(a2), *_a_profile_secrets(a_profile))
    # A carrier chatbot id A holds on this channel (A's second account, and A's first) is refused to B,
    # without a word of whose it is.
    for carrier_id in (CARRIER_ID_A2, CARRIER_CHATBOT_ID):
        status, body = await _register_chatbot(w, w.b, carrier_id, "B 抢注", APP_ID_B2, PASSWORD_B2)
        assert status == 422, (carrier_id, body)
        assert_error(body, "chatbot_exists", "carrier_chatbot_id")
        assert_no_a_data(w, _dumped(body), echoed=(carrier_id,), also=secrets)
    # Nor may B's account publish A's profile: to B it does not exist, and nothing is registered.
    status, body = await _register_chatbot(w, w.b, CARRIER_ID_B2, "B 的第二个机器人", APP_ID_B2, PASSWORD_B2,
                                           profile_id=a_profile["id"])
    assert status == 404, body
    assert_error(body, "profile_not_found", "profile_id")
    assert_no_a_data(w, _dumped(body), echoed=(a_profile["id"],), also=secrets[:3])
    assert await _chatbot_ids(w, w.b) == {w.b.chatbot_id}
    # A's accounts are still A's, as they were.
    assert await _chatbot_ids(w, w.a) == {w.a.chatbot_id, a2["id"]}
    assert await _chatbot(w, w.a, a2["id"]) == a2
    assert (await _profile_state(w, a_profile["id"]))[3] == []
    # Control: B registers a carrier id of its own (the one the refused request named: it was not taken).
    status, b2 = await _register_chatbot(w, w.b, CARRIER_ID_B2, "B 的第二个机器人", APP_ID_B2, PASSWORD_B2)
    assert status == 201, b2
    assert (b2["business_id"], b2["profile_id"]) == (w.b.business_id, None)
    assert_no_a_data(w, _dumped(b2), also=secrets)
    assert await _chatbot_ids(w, w.b) == {w.b.chatbot_id, b2["id"]}
    assert await _chatbot_ids(w, w.a) == {w.a.chatbot_id, a2["id"]}
    status, body = await get_json(w.http, w.stack, f"/v1/chatbots/{b2['id']}", w.a)
    assert status == 404, body
    assert_error(body, "chatbot_not_found", "chatbot_id")


async def _list_chatbots(w: World) -> None:
    a2 = await _a_second_chatbot(w)
    status, listed = await get_json(w.http, w.stack, "/v1/chatbots", w.b)
    assert status == 200, listed
    assert [c["id"] for c in listed] == [w.b.chatbot_id]
    assert {(c["business_id"], c["carrier_chatbot_id"]) for c in listed} == {(w.b.business_id, TENANT_B_CARRIER_ID)}
    assert_no_a_data(w, _dumped(listed), also=(*_a_chatbot_secrets(a2), CARRIER_ID_A2, CARRIER_CHATBOT_ID))
    _assert_no_credentials(listed)
    assert await _chatbot_ids(w, w.a) == {w.a.chatbot_id, a2["id"]}


async def _read_foreign_chatbot(w: World) -> None:
    a2 = await _a_second_chatbot(w)
    for chatbot_id in (w.a.chatbot_id, a2["id"]):
        status, body = await get_json(w.http, w.stack, f"/v1/chatbots/{chatbot_id}", w.b)
        assert status == 404, body
        assert_error(body, "chatbot_not_found", "chatbot_id")
        assert_no_a_data(w, _dumped(body), echoed=(chatbot_id,),
                         also=(*_a_chatbot_secrets(a2), CARRIER_ID_A2, CARRIER_CHATBOT_ID))
    status, body = await get_json(w.http, w.stack, f"/v1/chatbots/{w.b.chatbot_id}", w.a)
    assert status == 404, body
    assert_error(body, "chatbot_not_found", "chatbot_id")
    assert TENANT_B_CARRIER_ID not in _dumped(body)
    # Control: each reads its own.
    assert (await _chatbot(w, w.a, a2["id"]))["name"] == BOT_NAME_A2
    assert (await _chatbot(w, w.b, w.b.chatbot_id))["carrier_chatbot_id"] == TENANT_B_CARRIER_ID


async def _rotate_foreign_credentials(w: World) -> None:
    a2 = await _a_second_chatbot(w)
    before = {c: await _sealed_credentials(w, w.a, c) for c in (w.a.chatbot_id, a2["id"])}
    # Even credentials the channel type would refuse are "no such chatbot" to B, not a hint of its channel.
    for chatbot_id in (w.a.chatbot_id, a2["id"]):
        for credentials in ({"app_id": APP_ID_B2, "password": PASSWORD_B2}, {}):
            status, body = await _call(w, "PUT", f"/v1/chatbots/{chatbot_id}/credentials", w.b,
                                       {"credentials": credentials})
            assert status == 404, (chatbot_id, body)
            assert_error(body, "chatbot_not_found", "chatbot_id")
            assert_no_a_data(w, _dumped(body), echoed=(chatbot_id,), also=_a_chatbot_secrets(a2))
            _assert_no_credentials(body)
    assert {c: await _sealed_credentials(w, w.a, c) for c in before} == before
    # A's credentials still work: both of A's accounts still send, and neither is marked failing.
    await _sends(w, w.a, a2["id"], "+8613800138041")
    await _sends(w, w.a, w.a.chatbot_id, "+8613800138042")
    assert await _chatbot(w, w.a, a2["id"]) == a2
    # Nor may A rotate B's.
    b_before = await _sealed_credentials(w, w.b, w.b.chatbot_id)
    status, body = await _call(w, "PUT", f"/v1/chatbots/{w.b.chatbot_id}/credentials", w.a,
                               {"credentials": {"app_id": APP_ID_A2, "password": PASSWORD_A2}})
    assert status == 404, body
    assert_error(body, "chatbot_not_found", "chatbot_id")
    assert await _sealed_credentials(w, w.b, w.b.chatbot_id) == b_before
    # Control: B rotates its own (to the simulator's password, so it keeps sending); nothing of it is echoed.
    status, body = await _call(w, "PUT", f"/v1/chatbots/{w.b.chatbot_id}/credentials", w.b,
                               {"credentials": {"app_id": TENANT_B_CARRIER_ID, "password": CARRIER_PASSWORD}})
    assert status == 200, body
    assert (body["id"], body["credential_error"]) == (w.b.chatbot_id, None)
    _assert_no_credentials(body)
    assert await _sealed_credentials(w, w.b, w.b.chatbot_id) != b_before
    await _sends(w, w.b, w.b.chatbot_id, "+8613900139041")
    assert {c: await _sealed_credentials(w, w.a, c) for c in before} == before


async def _create_profile_in_own_space(w: World) -> None:
    a_material = await _upload(w, w.a, MATERIAL_A)
    a_profile = await _create_profile(w, w.a)
    secrets = (*_a_profile_secrets(a_profile), MATERIAL_A)
    # B's profile cannot take A's material for its logo or banner: to B it does not exist.
    for field in ("logo_material_id", "banner_material_id"):
        status, body = await _call(w, "POST", "/v1/chatbot-profiles", w.b, {**PROFILE_B, field: a_material["id"]})
        assert status == 404, (field, body)
        assert_error(body, "material_not_found", ...)
        assert_no_a_data(w, _dumped(body), echoed=(a_material["id"],), also=secrets)
    assert await _profile_ids(w, w.b) == []
    # Control: B's own profile lands in B's business, with B's accounts only (none yet).
    b_profile = await _create_profile(w, w.b, PROFILE_B)
    assert (b_profile["business_id"], b_profile["version"], b_profile["accounts"]) == (w.b.business_id, 1, [])
    assert b_profile["id"] != a_profile["id"]
    assert_no_a_data(w, _dumped(b_profile), also=(*secrets, a_material["id"]))
    assert await _profile_ids(w, w.b) == [b_profile["id"]]
    assert await _profile_ids(w, w.a) == [a_profile["id"]]
    assert (await _profile_state(w, a_profile["id"]))[:2] == (1, {**a_profile["profile"]})
    status, body = await get_json(w.http, w.stack, f"/v1/chatbot-profiles/{b_profile['id']}", w.a)
    assert status == 404, body
    assert_error(body, "profile_not_found", "profile_id")


async def _list_profiles(w: World) -> None:
    a2 = await _a_second_chatbot(w)
    a_profile = await _create_profile(w, w.a)
    status, body = await _call(w, "POST", f"/v1/chatbot-profiles/{a_profile['id']}/accounts", w.a,
                               {"chatbot_id": a2["id"]})
    assert status == 200, body
    b_profile = await _create_profile(w, w.b, PROFILE_B)
    status, listed = await get_json(w.http, w.stack, "/v1/chatbot-profiles", w.b)
    assert status == 200, listed
    assert [p["id"] for p in listed] == [b_profile["id"]]
    assert [(p["business_id"], p["accounts"]) for p in listed] == [(w.b.business_id, [])]
    assert_no_a_data(w, _dumped(listed), also=(*_a_profile_secrets(a_profile), *_a_chatbot_secrets(a2)))
    _assert_no_credentials(listed)
    # A's lists its own, with the account publishing it, and nothing of B's.
    status, listed = await get_json(w.http, w.stack, "/v1/chatbot-profiles", w.a)
    assert status == 200, listed
    assert [(p["id"], [a["id"] for a in p["accounts"]]) for p in listed] == [(a_profile["id"], [a2["id"]])]
    assert b_profile["id"] not in _dumped(listed)
    _assert_no_credentials(listed)


async def _read_foreign_profile(w: World) -> None:
    a2 = await _a_second_chatbot(w)
    a_profile = await _create_profile(w, w.a)
    status, body = await _call(w, "POST", f"/v1/chatbot-profiles/{a_profile['id']}/accounts", w.a,
                               {"chatbot_id": a2["id"]})
    assert status == 200, body
    b_profile = await _create_profile(w, w.b, PROFILE_B)
    status, body = await get_json(w.http, w.stack, f"/v1/chatbot-profiles/{a_profile['id']}", w.b)
    assert status == 404, body
    assert_error(body, "profile_not_found", "profile_id")
    assert_no_a_data(w, _dumped(body), echoed=(a_profile["id"],),
                     also=(*_a_profile_secrets(a_profile)[1:], *_a_chatbot_secrets(a2)))
    status, body = await get_json(w.http, w.stack, f"/v1/chatbot-profiles/{b_profile['id']}", w.a)
    assert status == 404, body
    assert_error(body, "profile_not_found", "profile_id")
    assert PROFILE_B["service_name"] not in _dumped(body)
    # Control: A reads its own, with its account.
    status, body = await get_json(w.http, w.stack, f"/v1/chatbot-profiles/{a_profile['id']}", w.a)
    assert status == 200, body
    assert body["profile"]["service_name"] == PROFILE_A["service_name"]
    assert [a["id"] for a in body["accounts"]] == [a2["id"]]
    _assert_no_credentials(body)


async def _edit_foreign_profile(w: World) -> None:
    a_profile = await _create_profile(w, w.a)
    status, body = await _call(w, "POST", f"/v1/chatbot-profiles/{a_profile['id']}/accounts", w.a,
                               {"chatbot_id": w.a.chatbot_id})
    assert status == 200, body
    # China Mobile's information is kept in its own console: A's account settles as `manual`.
    await _wait_listed(w.http, w.stack, f"/v1/chatbots/{w.a.chatbot_id}", w.a,
                       lambda c: c["info_state"] == "manual")
    before = await _profile_state(w, a_profile["id"])
    assert (before[0], before[3]) == (1, [(w.a.chatbot_id, "manual")])
    for body in ({**PROFILE_B}, {**PROFILE_A, "description": "B 改过的介绍"}):
        status, answer = await _call(w, "PUT", f"/v1/chatbot-profiles/{a_profile['id']}", w.b, body)
        assert status == 404, (body, answer)
        assert_error(answer, "profile_not_found", "profile_id")
        assert_no_a_data(w, _dumped(answer), echoed=(a_profile["id"],), also=_a_profile_secrets(a_profile)[1:])
    # Same version, same information, and the account was not sent back to draft.
    assert await _profile_state(w, a_profile["id"]) == before
    assert (await _chatbot(w, w.a, w.a.chatbot_id))["info_state"] == "manual"
    # Control: A's own edit makes version 2.
    status, body = await _call(w, "PUT", f"/v1/chatbot-profiles/{a_profile['id']}", w.a,
                               {**PROFILE_A, "description": "A 改过的介绍"})
    assert status == 200, body
    assert (body["version"], body["profile"]["description"]) == (2, "A 改过的介绍")


async def _attach_across_tenants(w: World) -> None:
    a2 = await _a_second_chatbot(w)
    a_profile = await _create_profile(w, w.a)
    b_profile = await _create_profile(w, w.b, PROFILE_B)
    secrets = (*_a_profile_secrets(a_profile)[1:], *_a_chatbot_secrets(a2)[1:])

    async def refused(profile_id: str, chatbot_id: str, tenant: Tenant, code: str, field: str) -> None:
        status, body = await _call(w, "POST", f"/v1/chatbot-profiles/{profile_id}/accounts", tenant,
                                   {"chatbot_id": chatbot_id})
        assert status == 404, (profile_id, chatbot_id, body)
        assert_error(body, code, field)
        _assert_no_credentials(body)
        if tenant is w.b:
            assert_no_a_data(w, _dumped(body), echoed=(profile_id, chatbot_id), also=secrets)

    async def b_refused() -> None:
        await refused(a_profile["id"], w.b.chatbot_id, w.b, "profile_not_found", "profile_id")  # B's onto A's
        await refused(a_profile["id"], a2["id"], w.b, "profile_not_found", "profile_id")  # A's onto A's, by B
        for chatbot_id in (a2["id"], w.a.chatbot_id):  # A's onto B's
            await refused(b_profile["id"], chatbot_id, w.b, "chatbot_not_found", "chatbot_id")

    await b_refused()
    await refused(a_profile["id"], w.b.chatbot_id, w.a, "chatbot_not_found", "chatbot_id")  # A takes B's
    # Nothing moved: A's accounts publish nothing, and both profiles are bare.
    for chatbot_id in (a2["id"], w.a.chatbot_id):
        view = await _chatbot(w, w.a, chatbot_id)
        assert (view["profile_id"], view["info_state"], view["sendable"]) == (None, None, True), view
    assert (await _chatbot(w, w.b, w.b.chatbot_id))["profile_id"] is None
    assert (await _profile_state(w, a_profile["id"]))[3] == []
    status, body = await get_json(w.http, w.stack, f"/v1/chatbot-profiles/{b_profile['id']}", w.b)
    assert (status, body["accounts"]) == (200, []), body
    await _sends(w, w.a, a2["id"], "+8613800138043")  # still sendable: not waiting on any carrier's audit
    # Once A's account publishes A's profile, B still cannot take it (not "it has a profile": no such chatbot).
    status, body = await _call(w, "POST", f"/v1/chatbot-profiles/{a_profile['id']}/accounts", w.a,
                               {"chatbot_id": a2["id"]})
    assert status == 200, body
    assert [a["id"] for a in body["accounts"]] == [a2["id"]]
    await b_refused()
    assert [a[0] for a in (await _profile_state(w, a_profile["id"]))[3]] == [a2["id"]]
    assert (await _chatbot(w, w.a, a2["id"]))["profile_id"] == a_profile["id"]
    # Control: B publishes its own profile on its own account.
    status, body = await _call(w, "POST", f"/v1/chatbot-profiles/{b_profile['id']}/accounts", w.b,
                               {"chatbot_id": w.b.chatbot_id})
    assert status == 200, body
    assert [a["id"] for a in body["accounts"]] == [w.b.chatbot_id]
    assert_no_a_data(w, _dumped(body), also=secrets)
    _assert_no_credentials(body)


async def _record_foreign_chatbot_state(w: World) -> None:
    """/v1/platform/chatbots/{id}/state is an operator's: neither B's key nor A's records A's chatbot's audit."""
    a_profile = await _create_profile(w, w.a)
    status, body = await _call(w, "POST", f"/v1/chatbot-profiles/{a_profile['id']}/accounts", w.a,
                               {"chatbot_id": w.a.chatbot_id})
    assert status == 200, body
    before = await _wait_listed(w.http, w.stack, f"/v1/chatbots/{w.a.chatbot_id}", w.a,
                                lambda c: c["info_state"] == "manual")
    assert before["sendable"] is False
    url = f"{w.stack.base_url}/v1/platform/chatbots/{w.a.chatbot_id}/state"
    for tenant in (w.b, w.a):
        for body in ({"state": "live", "reason": "B 说已通过"}, {"state": "offline"}):
            async with w.http.put(url, json=body, headers=w.stack.auth(tenant)) as response:
                text = await response.text()
                assert response.status == 401, text
            assert_error(json.loads(text), "invalid_operator_key", ...)
            assert_no_a_data(w, text, also=_a_profile_secrets(a_profile))
    assert await _chatbot(w, w.a, w.a.chatbot_id) == before
    status, body, _ = await post_messages(w.http, w.stack, json_body=text_body(w.a.chatbot_id, "未上线"))
    assert status == 409, body
    assert_error(body, "chatbot_not_live", ...)
    # Control: an operator records it live, and it sends; B's chatbot is untouched.
    _, operator_key = await w.stack.platform.services.operator_keys.create("isolation test")
    async with w.http.put(url, json={"state": "live", "reason": "approved in the CMCC console"},
                          headers={"Authorization": f"Bearer {operator_key}"}) as response:
        view = await response.json()
        assert response.status == 200, view
    assert (view["id"], view["business_id"], view["info_state"], view["sendable"]) == (
        w.a.chatbot_id, w.a.business_id, "live", True)
    _assert_no_credentials(view)
    for secret in (w.b.tenant_id, w.b.business_id, w.b.chatbot_id, TENANT_B_CARRIER_ID):
        assert secret not in _dumped(view), secret
    await _sends(w, w.a, w.a.chatbot_id, "+8613800138044")
    b_view = await _chatbot(w, w.b, w.b.chatbot_id)
    assert (b_view["profile_id"], b_view["info_state"], b_view["sendable"]) == (None, None, True)


# ---- the chatbot directory -----------------------------------------------------------------------------

HIDDEN_A = {"service_name": "A银行内测", "description": "A 的服务号", "category": "银行"}  # on no account
TRIAL_A = {"service_name": "A银行试运营", "description": "A 的试运营说明", "category": "银行"}  # on A's second account
# B's searches: one term and several, whole names, a description, a Latin word, and every filter.
DIRECTORY_QUERIES: tuple[dict[str, str], ...] = (
    {"q": "银行"}, {"q": "A银行"}, {"q": "a"}, {"q": HIDDEN_A["service_name"]}, {"q": "内测"},
    {"q": TRIAL_A["service_name"]}, {"q": "试运营"}, {"q": "服务号"}, {"q": "银行", "category": "银行"},
    {"q": "银行", "carrier": "cmcc"}, {"q": "银行", "status": "draft"}, {"q": "银行", "status": "manual"},
    {"q": "银行", "limit": "50"},
)
PAGE_QUERIES = tuple(params["q"] for params in DIRECTORY_QUERIES if len(params) == 1)
NOT_PUBLIC_FIELDS = {"tenant_id", "business_id", "chatbot_id", "owner_tenant_id", "credentials"}


@dataclass
class Unpublished:
    """A's chatbots that are live nowhere: `hidden` on no account, `trial` on A's second account (which
    China Mobile keeps in its own console: `manual`, not live)."""

    a2: dict[str, Any]
    hidden: dict[str, Any]
    trial: dict[str, Any]

    @property
    def ids(self) -> set[str]:
        return {self.hidden["id"], self.trial["id"]}

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.hidden["id"], HIDDEN_A["service_name"], self.trial["id"], TRIAL_A["service_name"],
                TRIAL_A["description"], *_a_chatbot_secrets(self.a2), CARRIER_ID_A2)


def _hit_ids(hits: list[dict[str, Any]]) -> set[str]:
    return {hit["profile_id"] for hit in hits}


async def _directory(w: World, path: str, params: dict[str, str], headers: dict[str, str]) -> list[dict[str, Any]]:
    async with w.http.get(f"{w.stack.base_url}{path}", params=params, headers=headers) as r:
        body = await r.json()
        assert r.status == 200, (path, params, body)
    assert isinstance(body, list), body
    return body


async def _searched(w: World, path: str, params: dict[str, str], headers: dict[str, str],
                    predicate: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    """The search once the index has caught up (it is written after the change it follows, and from
    carrier callbacks by the `directory-index` job)."""
    for _ in range(200):
        hits = await _directory(w, path, params, headers)
        if predicate(hits):
            return hits
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} {params} never satisfied the condition: {hits}")


async def _a_unpublished(w: World) -> Unpublished:
    a2 = await _a_second_chatbot(w)
    hidden = await _create_profile(w, w.a, HIDDEN_A)
    trial = await _create_profile(w, w.a, TRIAL_A)
    status, body = await _call(w, "POST", f"/v1/chatbot-profiles/{trial['id']}/accounts", w.a,
                               {"chatbot_id": a2["id"]})
    assert status == 200, body
    view = await _wait_listed(w.http, w.stack, f"/v1/chatbots/{a2['id']}", w.a, lambda c: c["info_state"] == "manual")
    assert view["sendable"] is False
    # Indexed, as A's own search shows them: both found, neither published.
    wanted = {(hidden["id"], "draft", False), (trial["id"], "manual", False)}
    await _searched(w, "/v1/directory", {"q": "A银行"}, w.stack.auth(w.a),
                    lambda hits: {(h["profile_id"], h["status"], h["published"]) for h in hits} == wanted)
    return Unpublished(a2=a2, hidden=hidden, trial=trial)


async def _publish(w: World) -> tuple[dict[str, Any], str]:
    """A publishes one more profile (PROFILE_A) on its China Mobile account, recorded live by an
    operator; (the profile, the account's chatbot URI) once the public directory lists it."""
    live = await _create_profile(w, w.a, PROFILE_A)
    status, body = await _call(w, "POST", f"/v1/chatbot-profiles/{live['id']}/accounts", w.a,
                               {"chatbot_id": w.a.chatbot_id})
    assert status == 200, body
    # Settled as `manual` and indexed so, before the operator's record (which a late index write would undo).
    await _searched(w, "/v1/directory", {"q": "A银行"}, w.stack.auth(w.a),
                    lambda hits: {(h["profile_id"], h["status"]) for h in hits} >= {(live["id"], "manual")})
    _, operator_key = await w.stack.platform.services.operator_keys.create("isolation test")
    async with w.http.put(f"{w.stack.base_url}/v1/platform/chatbots/{w.a.chatbot_id}/state",
                          json={"state": "live", "reason": "approved in the CMCC console"},
                          headers={"Authorization": f"Bearer {operator_key}"}) as response:
        view = await response.json()
        assert response.status == 200, view
    assert (view["id"], view["info_state"], view["sendable"]) == (w.a.chatbot_id, "live", True), view
    await _searched(w, "/public/directory", {"q": "A银行"}, {}, lambda hits: live["id"] in _hit_ids(hits))
    return live, view["address"]


def _assert_public(w: World, hits: list[dict[str, Any]], unpublished: Unpublished) -> None:
    """Search results as someone other than A gets them: none of A's unpublished chatbots, no credentials,
    and no tenant, business or account id of A's, neither as a field nor as a value."""
    assert not unpublished.ids & _hit_ids(hits), hits
    for hit in hits:
        assert not NOT_PUBLIC_FIELDS & set(hit), hit
    assert_no_a_data(w, _dumped(hits), also=unpublished.secrets)
    _assert_no_credentials(hits)


def _assert_live_hit(hit: dict[str, Any], live: dict[str, Any], address: str) -> None:
    # The hit names the profile by its id, the one A's own API and admin use for it (reported, not settled here).
    assert hit["profile_id"] == live["id"], hit
    assert (hit["name"], hit["description"], hit["category"], hit["published"], hit["status"], hit["carriers"],
            hit["chatbot_uri"]) == (PROFILE_A["service_name"], PROFILE_A["description"], PROFILE_A["category"],
                                    True, "live", ["cmcc"], address), hit


async def _search_directory(w: World) -> None:
    unpublished = await _a_unpublished(w)
    b_profile = await _create_profile(w, w.b, PROFILE_B)
    b_key, a_key = w.stack.auth(w.b), w.stack.auth(w.a)
    await _searched(w, "/v1/directory", {"q": "银行"}, b_key, lambda hits: b_profile["id"] in _hit_ids(hits))
    for params in DIRECTORY_QUERIES:
        hits = await _directory(w, "/v1/directory", params, b_key)
        assert _hit_ids(hits) <= {b_profile["id"]}, (params, hits)
        _assert_public(w, hits, unpublished)
    # Each tenant finds its own unpublished chatbots, and only its own.
    assert _hit_ids(await _directory(w, "/v1/directory", {"q": "银行"}, b_key)) == {b_profile["id"]}
    assert _hit_ids(await _directory(w, "/v1/directory", {"q": "银行"}, a_key)) == unpublished.ids
    live, address = await _publish(w)
    hits = await _searched(w, "/v1/directory", {"q": "银行"}, b_key, lambda found: live["id"] in _hit_ids(found))
    assert _hit_ids(hits) == {b_profile["id"], live["id"]}
    for params in DIRECTORY_QUERIES:
        hits = await _directory(w, "/v1/directory", params, b_key)
        assert _hit_ids(hits) <= {b_profile["id"], live["id"]}, (params, hits)
        _assert_public(w, hits, unpublished)
    # "A银行" starts all three of A's names: B gets the published one only.
    hits = await _directory(w, "/v1/directory", {"q": "A银行"}, b_key)
    assert len(hits) == 1, hits
    _assert_live_hit(hits[0], live, address)
    for params in ({"q": HIDDEN_A["service_name"]}, {"q": "试运营"}, {"q": "银行", "status": "manual"}):
        assert await _directory(w, "/v1/directory", params, b_key) == [], params
    # Control: A still finds all three of its own, and nothing of B's unpublished one.
    assert _hit_ids(await _directory(w, "/v1/directory", {"q": "A银行"}, a_key)) == {*unpublished.ids, live["id"]}
    hits = await _directory(w, "/v1/directory", {"q": "银行"}, a_key)
    assert _hit_ids(hits) == {*unpublished.ids, live["id"]}
    assert PROFILE_B["service_name"] not in _dumped(hits)


async def _public_directory(w: World) -> None:
    unpublished = await _a_unpublished(w)
    b_profile = await _create_profile(w, w.b, PROFILE_B)
    await _searched(w, "/v1/directory", {"q": "银行"}, w.stack.auth(w.b),
                    lambda hits: b_profile["id"] in _hit_ids(hits))
    # No key, B's key, even A's own key: the public listing is the same, and nothing is published yet.
    callers = ({}, w.stack.auth(w.b), w.stack.auth(w.a))
    for headers in callers:
        for params in DIRECTORY_QUERIES:
            assert await _directory(w, "/public/directory", params, headers) == [], (headers, params)
    live, address = await _publish(w)
    for headers in callers:
        for params in DIRECTORY_QUERIES:
            hits = await _directory(w, "/public/directory", params, headers)
            assert _hit_ids(hits) <= {live["id"]}, (params, hits)
            _assert_public(w, hits, unpublished)
            assert PROFILE_B["service_name"] not in _dumped(hits)
        hits = await _directory(w, "/public/directory", {"q": "银行"}, headers)
        assert len(hits) == 1, hits
        _assert_live_hit(hits[0], live, address)
        assert await _directory(w, "/public/directory", {"q": HIDDEN_A["service_name"]}, headers) == []


async def _page_results(w: World, q: str, headers: dict[str, str]) -> tuple[str, str]:
    """The public /directory page for `q`: (the whole page, which echoes `q` in its form; its results)."""
    async with w.http.get(f"{w.stack.base_url}/directory", params={"q": q}, headers=headers) as r:
        page = await r.text()
        assert r.status == 200, page
    results = re.search(r"<main>(.*)</main>", page, re.S)
    assert results is not None, page
    return page, results.group(1)


async def _public_directory_page(w: World) -> None:
    unpublished = await _a_unpublished(w)
    b_profile = await _create_profile(w, w.b, PROFILE_B)
    await _searched(w, "/v1/directory", {"q": "银行"}, w.stack.auth(w.b),
                    lambda hits: b_profile["id"] in _hit_ids(hits))
    ids = (*sorted(unpublished.ids), unpublished.a2["id"], b_profile["id"])
    callers = ({}, w.stack.auth(w.a))  # A's key shows A nothing more here
    for headers in callers:
        for q in PAGE_QUERIES:
            page, results = await _page_results(w, q, headers)
            assert "<article" not in results, (q, results)
            assert "没有找到相关的 Chatbot" in results, (q, results)
            assert_no_a_data(w, results, also=(*unpublished.secrets, PROFILE_B["service_name"]))
            assert_no_a_data(w, page, echoed=(q,), also=ids)
    live, address = await _publish(w)
    for headers in callers:
        for q in PAGE_QUERIES:
            page, results = await _page_results(w, q, headers)
            assert_no_a_data(w, results, also=(*unpublished.secrets, PROFILE_B["service_name"]))
            assert_no_a_data(w, page, echoed=(q,), also=(*ids, live["id"]))
            _assert_no_credentials(page)
        _, results = await _page_results(w, "银行", headers)
        assert results.count("<article") == 1, results
        assert f"<h2>{PROFILE_A['service_name']}</h2><p>{PROFILE_A['description']}</p>" in results
        assert f'href="{address}"' in results
        _, results = await _page_results(w, HIDDEN_A["service_name"], headers)
        assert "<article" not in results, results


# ---- the admin: tenant B's admin user (and B's API key) against tenant A's data ------------------------


def assert_no_a_data(w: World, page_text: str, *, echoed: tuple[str, ...] = (), also: Iterable[str] = ()) -> None:
    """No trace of tenant A on a page B sees, but for what B itself typed (a filter value, a `next` path).
    `also` names more of A's that must not show (a material's or a template's id, name or text)."""
    for value in echoed:
        page_text = page_text.replace(value, "").replace(quote(value, safe=""), "")
    for secret in (w.a_message["id"], MASKED_A, NUMBER_A, w.a.chatbot_id, w.a.business_id, w.a.tenant_id,
                   "Tenant A", "A 的消息", *also):
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


# ---- the admin's materials and templates ---------------------------------------------------------------


async def _admin_upload(browser: AdminBrowser, fields: dict[str, str], data: bytes) -> AdminPage:
    """The materials page's upload form as a browser posts it: multipart, with the page's hidden fields."""
    form_page = await browser.get("/materials")
    assert form_page.status == 200, form_page.text[:300]
    form = aiohttp.FormData()
    for name, value in {**form_page.hidden(), **fields}.items():
        form.add_field(name, value)
    form.add_field("file", data, filename="banner.png", content_type="application/octet-stream")
    async with browser.http.post(f"{browser.stack.base_url}/admin/materials", data=form) as response:
        return AdminPage(response.status, str(response.url), await response.text())


async def _admin_fetch(browser: AdminBrowser, path: str) -> tuple[int, str, bytes]:
    async with browser.http.get(f"{browser.stack.base_url}/admin{path}") as response:
        return response.status, response.headers.get("content-type", ""), await response.read()


def _template_fields(business_id: str, layout: dict[str, Any], **extra: str) -> dict[str, str]:
    return {"business_id": business_id, "layout": json.dumps(layout, ensure_ascii=False),
            "parameters": json.dumps([{"name": "name", "type": "string", "sample": "x"}]), **extra}


def _a_template_secrets(template: dict[str, Any]) -> tuple[str, ...]:
    return template["id"], TEMPLATE_A, TEMPLATE_TEXT_A, "甲方样例"


async def _admin_materials(w: World) -> None:
    a, b = await w.admins()
    a_material = await _upload(w, w.a, MATERIAL_A)
    b_material = await _upload(w, w.b, "B 的素材")
    page = await b.get("/materials")
    assert page.status == 200
    assert b_material["id"] in page.text
    assert_no_a_data(w, page.text, also=(a_material["id"], MATERIAL_A))
    # B naming A's business: no such business in B's tenant.
    page = await b.get(f"/materials?business={w.a.business_id}")
    assert page.status == 404
    assert_no_a_data(w, page.text, echoed=(w.a.business_id,), also=(a_material["id"], MATERIAL_A))
    page = await a.get("/materials")
    assert a_material["id"] in page.text
    assert b_material["id"] not in page.text


async def _admin_material_detail(w: World) -> None:
    a, b = await w.admins()
    a_material = await _upload(w, w.a, MATERIAL_A)
    for query in ("", f"?business={w.a.business_id}", f"?business={w.b.business_id}"):
        page = await b.get(f"/materials/{a_material['id']}{query}")
        assert page.status == 404, query
        assert_no_a_data(w, page.text, echoed=(a_material["id"], w.a.business_id), also=(MATERIAL_A,))
        assert "/thumbnail" not in page.text
    page = await a.get(f"/materials/{a_material['id']}")
    assert page.status == 200
    assert MATERIAL_A in page.text


def _admin_material_bytes(part: str) -> Callable[[World], Awaitable[None]]:
    """/admin/materials/{id}/file or /thumbnail: B's admin gets an error page, never A's bytes."""

    async def case(w: World) -> None:
        a, b = await w.admins()
        a_material = await _upload(w, w.a, MATERIAL_A)
        for query in ("", f"?business={w.a.business_id}"):
            status, content_type, data = await _admin_fetch(b, f"/materials/{a_material['id']}/{part}{query}")
            assert status == 404, query
            assert content_type.startswith("text/html"), content_type
            assert_no_a_data(w, data.decode(), echoed=(a_material["id"], w.a.business_id), also=(MATERIAL_A,))
        status, content_type, data = await _admin_fetch(a, f"/materials/{a_material['id']}/{part}")
        assert status == 200
        if part == "file":
            assert data == png(64, 48, PNG_A_COLOR)
        else:
            assert (content_type, data[:2]) == ("image/jpeg", b"\xff\xd8")

    return case


async def _admin_material_upload(w: World) -> None:
    _, b = await w.admins()
    a_material = await _upload(w, w.a, MATERIAL_A)
    page = await _admin_upload(b, {"business_id": w.a.business_id, "name": "越权上传"}, png(64, 48))
    assert page.status == 422
    assert_no_a_data(w, page.text, also=(a_material["id"], MATERIAL_A))
    assert await _material_ids(w, w.a) == [a_material["id"]]
    assert await _material_ids(w, w.b) == []
    # Control: into B's own business it works, and lands in B's library only.
    page = await _admin_upload(b, {"business_id": w.b.business_id, "name": "B 的上传"}, png(64, 48))
    assert page.status == 200
    assert "done=uploaded" in page.url
    assert_no_a_data(w, page.text, also=(a_material["id"], MATERIAL_A))
    [b_id] = await _material_ids(w, w.b)
    assert await _material_ids(w, w.a) == [a_material["id"]]
    status, body = await get_json(w.http, w.stack, f"/v1/materials/{b_id}", w.b)
    assert (status, body["name"], body["business_id"]) == (200, "B 的上传", w.b.business_id)


async def _admin_material_delete(w: World) -> None:
    _, b = await w.admins()
    a_material = await _upload(w, w.a, MATERIAL_A)
    b_material = await _upload(w, w.b, "B 的素材")
    for business_id in (w.a.business_id, w.b.business_id, ""):
        page = await b.submit("/materials", f"/materials/{a_material['id']}/delete", {"business_id": business_id})
        assert page.status == 404, business_id
        assert_no_a_data(w, page.text, echoed=(a_material["id"],), also=(MATERIAL_A,))
    assert await _material_ids(w, w.a) == [a_material["id"]]
    page = await b.submit("/materials", f"/materials/{b_material['id']}/delete", {"business_id": w.b.business_id})
    assert page.status == 200
    assert "done=deleted" in page.url
    assert await _material_ids(w, w.b) == []
    assert await _material_ids(w, w.a) == [a_material["id"]]


async def _admin_templates(w: World) -> None:
    a, b = await w.admins()
    a_template = await _create_template(w, w.a)
    b_template = await _create_template(w, w.b, "B 的模板", _definition())
    page = await b.get("/templates")
    assert page.status == 200
    assert b_template["id"] in page.text
    assert_no_a_data(w, page.text, also=_a_template_secrets(a_template))
    page = await b.get(f"/templates?business={w.a.business_id}")
    assert page.status == 404
    assert_no_a_data(w, page.text, echoed=(w.a.business_id,), also=_a_template_secrets(a_template))
    page = await a.get("/templates")
    assert a_template["id"] in page.text
    assert b_template["id"] not in page.text


async def _admin_template_new(w: World) -> None:
    _, b = await w.admins()
    a_template = await _create_template(w, w.a)
    page = await b.get("/templates/new")
    assert page.status == 200
    assert f'value="{w.b.business_id}"' in page.text
    assert_no_a_data(w, page.text, also=_a_template_secrets(a_template))
    page = await b.get(f"/templates/new?business={w.a.business_id}")
    assert page.status == 404
    assert_no_a_data(w, page.text, echoed=(w.a.business_id,), also=_a_template_secrets(a_template))


async def _admin_template_create(w: World) -> None:
    _, b = await w.admins()
    a_material = await _upload(w, w.a, MATERIAL_A)
    a_template = await _create_template(w, w.a)
    secrets = (*_a_template_secrets(a_template), MATERIAL_A, f"/materials/{a_material['id']}/thumbnail")
    # Into A's business: refused, nothing made.
    page = await b.submit("/templates/new", "/templates", {
        **_template_fields(w.a.business_id, {"kind": "text", "text": "越权 {{ name }}"}), "name": "越权模板"})
    assert page.status == 422
    assert_no_a_data(w, page.text, echoed=(w.a.business_id,), also=secrets)  # the form shows what B typed
    # Naming A's material from B's business: to B it does not exist.
    page = await b.submit("/templates/new", "/templates", {
        **_template_fields(w.b.business_id, {"kind": "file", "file": {"material_id": a_material["id"]}}),
        "name": "借用素材", "fallback_text": "请查看附件"})
    assert page.status == 404
    assert "material_not_found" in page.text
    assert_no_a_data(w, page.text, echoed=(a_material["id"],), also=secrets)
    assert await _template_ids(w, w.a) == [a_template["id"]]
    assert await _template_ids(w, w.b) == []
    # Control: B's own template lands in B's business only.
    page = await b.submit("/templates/new", "/templates", {
        **_template_fields(w.b.business_id, {"kind": "text", "text": "B 的 {{ name }}"}), "name": "B 的模板"})
    assert page.status == 200
    assert "done=created" in page.url
    [b_id] = await _template_ids(w, w.b)
    assert b_id in page.url
    assert await _template_ids(w, w.a) == [a_template["id"]]


async def _admin_template_preview(w: World) -> None:
    a, b = await w.admins()
    a_material = await _upload(w, w.a, MATERIAL_A)
    draft = _template_fields(w.b.business_id, {"kind": "file", "file": {"material_id": a_material["id"]}},
                             fallback_text="请查看附件")
    thumbnail = f"/admin/materials/{a_material['id']}/thumbnail"
    for business_id in (w.b.business_id, w.a.business_id):
        page = await b.submit("/templates/new", "/templates/preview", {**draft, "business_id": business_id})
        assert page.status == 200, business_id
        assert 'data-preview-state="ok"' in page.text
        assert_no_a_data(w, page.text, echoed=(a_material["id"],), also=(MATERIAL_A, thumbnail))
    # Control: A's admin previewing the same draft sees A's material by name and picture.
    page = await a.submit("/templates/new", "/templates/preview", {**draft, "business_id": w.a.business_id})
    assert page.status == 200
    assert MATERIAL_A in page.text
    assert thumbnail in page.text


async def _admin_template_detail(w: World) -> None:
    a, b = await w.admins()
    a_template = await _create_template(w, w.a)
    for query in ("", f"?business={w.a.business_id}", "?version=1", f"?business={w.b.business_id}&version=1"):
        page = await b.get(f"/templates/{a_template['id']}{query}")
        assert page.status == 404, query
        assert_no_a_data(w, page.text, echoed=(a_template["id"], w.a.business_id),
                         also=_a_template_secrets(a_template)[1:])
    page = await a.get(f"/templates/{a_template['id']}")
    assert page.status == 200
    assert TEMPLATE_A in page.text


async def _admin_template_edit_form(w: World) -> None:
    a, b = await w.admins()
    a_template = await _create_template(w, w.a)
    for query in ("", f"?business={w.a.business_id}"):
        page = await b.get(f"/templates/{a_template['id']}/edit{query}")
        assert page.status == 404, query
        assert_no_a_data(w, page.text, echoed=(a_template["id"], w.a.business_id),
                         also=_a_template_secrets(a_template)[1:])
    page = await a.get(f"/templates/{a_template['id']}/edit")
    assert page.status == 200
    assert TEMPLATE_TEXT_A in page.text


async def _admin_template_update(w: World) -> None:
    a, b = await w.admins()
    a_template = await _create_template(w, w.a)
    before = await _template_state(w, a_template["id"])
    for business_id in (w.a.business_id, w.b.business_id):
        page = await b.submit("/templates", f"/templates/{a_template['id']}/edit",
                              _template_fields(business_id, {"kind": "text", "text": "B 改过的 {{ name }}"}))
        assert page.status == 404, business_id
        assert_no_a_data(w, page.text, echoed=(a_template["id"],), also=_a_template_secrets(a_template)[1:])
    assert await _template_state(w, a_template["id"]) == before
    # Control: A's admin edits it.
    page = await a.submit("/templates", f"/templates/{a_template['id']}/edit",
                          _template_fields(w.a.business_id, {"kind": "text", "text": "A 改过的 {{ name }}"}))
    assert page.status == 200, page.text[:300]
    assert await _template_state(w, a_template["id"]) != before


async def _admin_template_submit(w: World) -> None:
    a, b = await w.admins()
    a_template = await _create_template(w, w.a)
    before = await _template_state(w, a_template["id"])
    for version, business_id in ((1, w.a.business_id), (1, w.b.business_id), (2, "")):
        page = await b.submit("/templates", f"/templates/{a_template['id']}/versions/{version}/submit",
                              {"business_id": business_id})
        assert page.status == 404, (version, business_id)
        assert_no_a_data(w, page.text, echoed=(a_template["id"],), also=_a_template_secrets(a_template)[1:])
    assert await _template_state(w, a_template["id"]) == before
    assert before[2][0][1] == "draft"
    # Control: A's admin submits it.
    page = await a.submit("/templates", f"/templates/{a_template['id']}/versions/1/submit",
                          {"business_id": w.a.business_id})
    assert page.status == 200, page.text[:300]
    assert (await _template_state(w, a_template["id"]))[2][0][1] == "in_review"


async def _admin_template_review(w: World) -> None:
    a, b = await w.admins()
    a_template = await _create_template(w, w.a)
    status, body = await _call(w, "POST", f"/v1/templates/{a_template['id']}/versions/1/submit", w.a)
    assert status == 200, body
    before = await _template_state(w, a_template["id"])
    for decision, business_id in (("approve", w.a.business_id), ("approve", w.b.business_id),
                                  ("reject", w.a.business_id)):
        page = await b.submit("/templates", f"/templates/{a_template['id']}/versions/1/review",
                              {"business_id": business_id, "decision": decision, "note": "B 的审核"})
        assert page.status == 404, (decision, business_id)
        assert_no_a_data(w, page.text, echoed=(a_template["id"],), also=_a_template_secrets(a_template)[1:])
    assert await _template_state(w, a_template["id"]) == before
    assert (before[2][0][1], before[2][0][4]) == ("in_review", None)
    # Control: A's admin (not the key that submitted it) reviews it.
    page = await a.submit("/templates", f"/templates/{a_template['id']}/versions/1/review",
                          {"business_id": w.a.business_id, "decision": "reject", "note": "A 的审核"})
    assert page.status == 200, page.text[:300]
    assert (await _template_state(w, a_template["id"]))[2][0][1] != "in_review"


async def _admin_template_disable(w: World) -> None:
    a, b = await w.admins()
    a_template = await _create_template(w, w.a)
    before = await _template_state(w, a_template["id"])
    for business_id in (w.a.business_id, w.b.business_id):
        page = await b.submit("/templates", f"/templates/{a_template['id']}/disable", {"business_id": business_id})
        assert page.status == 404, business_id
        assert_no_a_data(w, page.text, echoed=(a_template["id"],), also=_a_template_secrets(a_template)[1:])
    assert await _template_state(w, a_template["id"]) == before
    assert before[1] is False
    page = await a.submit("/templates", f"/templates/{a_template['id']}/disable", {"business_id": w.a.business_id})
    assert page.status == 200
    assert "done=disabled" in page.url
    assert (await _template_state(w, a_template["id"]))[1] is True


# ---- the admin's chatbot accounts, profiles and directory search ---------------------------------------

PLATFORM_ADMIN = "root@platform.example"


def _admin_chatbot_secrets(unpublished: Unpublished) -> tuple[str, ...]:
    """What of A's chatbots no page of B's shows: A's accounts and profiles, and A's first account's carrier
    id (named on no public listing until one of A's profiles is published on it)."""
    return (*unpublished.secrets, HIDDEN_A["description"], CARRIER_CHATBOT_ID)


def _credential_fields(app_id: str, password: str) -> dict[str, str]:
    return {"credentials.cmcc.app_id": app_id, "credentials.cmcc.password": password}


async def _platform_admin(w: World, http: aiohttp.ClientSession, tenant: Tenant, next_path: str) -> AdminPage:
    """A platform admin signed in, working in `tenant`: the page at `next_path`."""
    root = AdminBrowser(w.stack, http)
    await w.stack.platform.services.admins.create(PLATFORM_ADMIN, ADMIN_PASSWORD, tenant_id=None, display_name="root")
    assert (await root.login(PLATFORM_ADMIN)).status == 200
    page = await root.submit("/tenant", "/tenant", {"tenant_id": tenant.tenant_id, "next": next_path})
    assert page.status == 200, page.text[:300]
    return page


async def _admin_chatbots(w: World) -> None:
    a, b = await w.admins()
    unpublished = await _a_unpublished(w)
    secrets = _admin_chatbot_secrets(unpublished)
    page = await b.get("/chatbots")
    assert page.status == 200
    assert f'href="/admin/chatbots/{w.b.chatbot_id}?' in page.text
    assert TENANT_B_CARRIER_ID in page.text
    assert_no_a_data(w, page.text, also=secrets)
    page = await b.get(f"/chatbots?business={w.a.business_id}")
    assert page.status == 404
    assert_no_a_data(w, page.text, echoed=(w.a.business_id,), also=secrets)
    # Control: A's list has both of A's accounts, with the profile the second one publishes, and not B's.
    page = await a.get("/chatbots")
    assert page.status == 200
    for chatbot_id in (w.a.chatbot_id, unpublished.a2["id"]):
        assert f'href="/admin/chatbots/{chatbot_id}?' in page.text
    assert TRIAL_A["service_name"] in page.text
    assert w.b.chatbot_id not in page.text
    assert TENANT_B_CARRIER_ID not in page.text


async def _admin_chatbot_new(w: World) -> None:
    _, b = await w.admins()
    unpublished = await _a_unpublished(w)
    b_profile = await _create_profile(w, w.b, PROFILE_B)
    page = await b.get("/chatbots/new")
    assert page.status == 200
    assert f'value="{w.b.business_id}"' in page.text
    assert f'<option value="{b_profile["id"]}">{PROFILE_B["service_name"]}</option>' in page.text
    assert_no_a_data(w, page.text, also=_admin_chatbot_secrets(unpublished))
    for value in CREDENTIAL_VALUES:  # a page has credential inputs, always empty
        assert value not in page.text, value
    page = await b.get(f"/chatbots/new?business={w.a.business_id}")
    assert page.status == 404
    assert_no_a_data(w, page.text, echoed=(w.a.business_id,), also=_admin_chatbot_secrets(unpublished))


async def _admin_chatbot_register(w: World) -> None:
    _, b = await w.admins()
    unpublished = await _a_unpublished(w)
    secrets = _admin_chatbot_secrets(unpublished)
    before_a, before_b = await _chatbot_ids(w, w.a), await _chatbot_ids(w, w.b)

    async def register(**changes: str) -> AdminPage:
        page = await b.submit("/chatbots/new", "/chatbots", {
            "business_id": w.b.business_id, "channel_id": w.stack.channel_id, "name": "B 的第二个机器人",
            "carrier_chatbot_id": CARRIER_ID_B2, "profile_id": "", **_credential_fields(APP_ID_B2, PASSWORD_B2),
            **changes})
        for password in (PASSWORD_B2, PASSWORD_A2, CARRIER_PASSWORD):
            assert password not in page.text
        return page

    # Into A's business: no such business for B.
    page = await register(business_id=w.a.business_id)
    assert page.status == 422
    assert_no_a_data(w, page.text, echoed=(w.a.business_id,), also=secrets)
    # A carrier id A holds on this channel: taken, without a word of whose it is.
    for carrier_id in (CARRIER_ID_A2, CARRIER_CHATBOT_ID):
        page = await register(carrier_chatbot_id=carrier_id)
        assert page.status == 422, carrier_id
        assert "chatbot_exists" in page.text
        assert_no_a_data(w, page.text, echoed=(carrier_id,), also=secrets)
    # Publishing A's profile on B's new account: to B it does not exist.
    for profile_id in sorted(unpublished.ids):
        page = await register(profile_id=profile_id)
        assert page.status == 404, profile_id
        assert "profile_not_found" in page.text
        assert_no_a_data(w, page.text, echoed=(profile_id,), also=secrets)
    assert await _chatbot_ids(w, w.a) == before_a
    assert await _chatbot_ids(w, w.b) == before_b
    # Control: B's own account lands in B's business only (the carrier id the refusals named was not taken).
    page = await register()
    assert page.status == 200, page.text[:300]
    assert "done=registered" in page.url
    [b2] = await _chatbot_ids(w, w.b) - before_b
    assert f"/admin/chatbots/{b2}?" in page.url
    assert_no_a_data(w, page.text, also=secrets)
    assert (await _chatbot(w, w.b, b2))["business_id"] == w.b.business_id
    assert await _chatbot_ids(w, w.a) == before_a


async def _admin_chatbot_detail(w: World) -> None:
    a, b = await w.admins()
    unpublished = await _a_unpublished(w)
    for chatbot_id in (w.a.chatbot_id, unpublished.a2["id"]):
        for query in ("", f"?business={w.a.business_id}", f"?business={w.b.business_id}"):
            page = await b.get(f"/chatbots/{chatbot_id}{query}")
            assert page.status == 404, (chatbot_id, query)
            assert_no_a_data(w, page.text, echoed=(chatbot_id, w.a.business_id),
                             also=_admin_chatbot_secrets(unpublished))
            assert "/credentials" not in page.text
    # Control: each reads its own.
    page = await a.get(f"/chatbots/{unpublished.a2['id']}")
    assert page.status == 200
    assert BOT_NAME_A2 in page.text
    assert TRIAL_A["service_name"] in page.text
    page = await b.get(f"/chatbots/{w.b.chatbot_id}")
    assert page.status == 200
    assert TENANT_B_CARRIER_ID in page.text


async def _admin_chatbot_rotate(w: World) -> None:
    _, b = await w.admins()
    unpublished = await _a_unpublished(w)
    a_chatbots = (w.a.chatbot_id, unpublished.a2["id"])
    before = {c: await _sealed_credentials(w, w.a, c) for c in a_chatbots}
    views = {c: await _chatbot(w, w.a, c) for c in a_chatbots}
    for chatbot_id in a_chatbots:
        for business_id in (w.a.business_id, w.b.business_id, ""):
            page = await b.submit("/chatbots", f"/chatbots/{chatbot_id}/credentials",
                                  {"business_id": business_id, **_credential_fields(APP_ID_B2, PASSWORD_B2)})
            assert page.status == 404, (chatbot_id, business_id)
            assert_no_a_data(w, page.text, echoed=(chatbot_id,), also=_admin_chatbot_secrets(unpublished))
            assert PASSWORD_B2 not in page.text
    assert {c: await _sealed_credentials(w, w.a, c) for c in a_chatbots} == before
    assert {c: await _chatbot(w, w.a, c) for c in a_chatbots} == views
    await _sends(w, w.a, w.a.chatbot_id, "+8613800138051")  # A's credentials still work
    # Control: B rotates its own (to the simulator's password, so that it keeps sending).
    b_before = await _sealed_credentials(w, w.b, w.b.chatbot_id)
    page = await b.submit(f"/chatbots/{w.b.chatbot_id}", f"/chatbots/{w.b.chatbot_id}/credentials", {
        "business_id": w.b.business_id, **_credential_fields(TENANT_B_CARRIER_ID, CARRIER_PASSWORD)})
    assert page.status == 200, page.text[:300]
    assert "done=rotated" in page.url
    assert CARRIER_PASSWORD not in page.text
    assert await _sealed_credentials(w, w.b, w.b.chatbot_id) != b_before
    assert {c: await _sealed_credentials(w, w.a, c) for c in a_chatbots} == before


async def _admin_chatbot_state(w: World) -> None:
    """Recording the carrier console's result is a platform admin's: refused to B's admin and to A's own."""
    a, b = await w.admins()
    unpublished = await _a_unpublished(w)
    a2 = unpublished.a2["id"]
    before = {c: await _chatbot(w, w.a, c) for c in (w.a.chatbot_id, a2)}
    assert (before[a2]["info_state"], before[a2]["sendable"]) == ("manual", False)
    for browser in (b, a):
        for chatbot_id in (a2, w.a.chatbot_id):
            for state in ("live", "offline"):
                page = await browser.submit("/chatbots", f"/chatbots/{chatbot_id}/state",
                                            {"business_id": w.a.business_id, "state": state, "reason": "租户说已通过"})
                assert page.status == 403, (chatbot_id, state)
                if browser is b:  # the page names the path B asked for, no more
                    assert_no_a_data(w, page.text, echoed=(chatbot_id,), also=_admin_chatbot_secrets(unpublished))
    assert {c: await _chatbot(w, w.a, c) for c in before} == before
    status, body, _ = await post_messages(w.http, w.stack, json_body={**text_body(a2, "未上线"),
                                                                      "recipients": ["+8613800138052"]})
    assert status == 409, body
    assert_error(body, "chatbot_not_live", ...)
    page = await a.get(f"/chatbots/{a2}")
    assert 'name="state"' not in page.text  # nor is A's own admin offered the form
    async with admin_http() as root_http:
        # A platform admin working in tenant B does not reach A's account from there either.
        page = await _platform_admin(w, root_http, w.b, "/admin/chatbots")
        assert f'href="/admin/chatbots/{w.b.chatbot_id}?' in page.text
        root = AdminBrowser(w.stack, root_http)
        for business_id in (w.a.business_id, w.b.business_id):
            page = await root.submit("/chatbots", f"/chatbots/{a2}/state",
                                     {"business_id": business_id, "state": "live"})
            assert page.status == 404, business_id
            for secret in (BOT_NAME_A2, TRIAL_A["service_name"], CARRIER_ID_A2, w.a.business_id):
                assert secret not in page.text, secret
        assert {c: await _chatbot(w, w.a, c) for c in before} == before
        # Control: working in tenant A, the platform admin records it.
        page = await root.submit("/tenant", "/tenant", {"tenant_id": w.a.tenant_id, "next": f"/admin/chatbots/{a2}"})
        assert page.status == 200, page.text[:300]
        assert '<input type="radio" name="state" value="live"' in page.text
        page = await root.post(f"/chatbots/{a2}/state", {**page.hidden(), "state": "live", "reason": "后台审核通过"})
        assert page.status == 200, page.text[:300]
        assert "done=recorded" in page.url
    after = await _chatbot(w, w.a, a2)
    assert (after["info_state"], after["sendable"]) == ("live", True)
    assert await _chatbot(w, w.a, w.a.chatbot_id) == before[w.a.chatbot_id]
    b_view = await _chatbot(w, w.b, w.b.chatbot_id)
    assert (b_view["profile_id"], b_view["info_state"], b_view["sendable"]) == (None, None, True)


async def _admin_profiles(w: World) -> None:
    a, b = await w.admins()
    unpublished = await _a_unpublished(w)
    b_profile = await _create_profile(w, w.b, PROFILE_B)
    secrets = _admin_chatbot_secrets(unpublished)
    page = await b.get("/chatbot-profiles")
    assert page.status == 200
    assert f'href="/admin/chatbot-profiles/{b_profile["id"]}?' in page.text
    assert_no_a_data(w, page.text, also=secrets)
    page = await b.get(f"/chatbot-profiles?business={w.a.business_id}")
    assert page.status == 404
    assert_no_a_data(w, page.text, echoed=(w.a.business_id,), also=secrets)
    # Control: A's list has both of A's, the trial with the account it is on, and nothing of B's.
    page = await a.get("/chatbot-profiles")
    assert page.status == 200
    for profile_id in unpublished.ids:
        assert f'href="/admin/chatbot-profiles/{profile_id}?' in page.text
    assert BOT_NAME_A2 in page.text
    assert b_profile["id"] not in page.text
    assert PROFILE_B["service_name"] not in page.text


async def _admin_profile_new(w: World) -> None:
    _, b = await w.admins()
    unpublished = await _a_unpublished(w)
    a_material = await _upload(w, w.a, MATERIAL_A)
    b_material = await _upload(w, w.b, "B 的素材", PNG_B_COLOR)
    secrets = (*_admin_chatbot_secrets(unpublished), a_material["id"], MATERIAL_A)
    page = await b.get("/chatbot-profiles/new")
    assert page.status == 200
    assert page.text.count(f'<option value="{b_material["id"]}">B 的素材') == 2  # logo and banner
    assert_no_a_data(w, page.text, also=secrets)
    page = await b.get(f"/chatbot-profiles/new?business={w.a.business_id}")
    assert page.status == 404
    assert_no_a_data(w, page.text, echoed=(w.a.business_id,), also=secrets)


async def _admin_profile_create(w: World) -> None:
    _, b = await w.admins()
    unpublished = await _a_unpublished(w)
    a_material = await _upload(w, w.a, MATERIAL_A)
    secrets = (*_admin_chatbot_secrets(unpublished), MATERIAL_A)
    before_a = await _profile_ids(w, w.a)
    fields = {"business_id": w.b.business_id, **PROFILE_B}
    # Into A's business: refused, nothing made.
    page = await b.submit("/chatbot-profiles/new", "/chatbot-profiles", {**fields, "business_id": w.a.business_id})
    assert page.status == 422
    assert_no_a_data(w, page.text, echoed=(w.a.business_id,), also=secrets)
    # A's material as B's logo or banner: to B it does not exist.
    for field in ("logo_material_id", "banner_material_id"):
        page = await b.submit("/chatbot-profiles/new", "/chatbot-profiles", {**fields, field: a_material["id"]})
        assert page.status == 404, field
        assert "material_not_found" in page.text
        assert_no_a_data(w, page.text, echoed=(a_material["id"],), also=secrets)
    assert await _profile_ids(w, w.b) == []
    assert await _profile_ids(w, w.a) == before_a
    # Control: B's own profile lands in B's business only.
    page = await b.submit("/chatbot-profiles/new", "/chatbot-profiles", fields)
    assert page.status == 200, page.text[:300]
    assert "done=created" in page.url
    [b_id] = await _profile_ids(w, w.b)
    assert f"/admin/chatbot-profiles/{b_id}?" in page.url
    assert_no_a_data(w, page.text, also=(*secrets, a_material["id"]))
    assert await _profile_ids(w, w.a) == before_a


async def _admin_profile_detail(w: World) -> None:
    a, b = await w.admins()
    unpublished = await _a_unpublished(w)
    for profile_id in sorted(unpublished.ids):
        for query in ("", f"?business={w.a.business_id}", f"?business={w.b.business_id}"):
            page = await b.get(f"/chatbot-profiles/{profile_id}{query}")
            assert page.status == 404, (profile_id, query)
            assert_no_a_data(w, page.text, echoed=(profile_id, w.a.business_id),
                             also=_admin_chatbot_secrets(unpublished))
    page = await a.get(f"/chatbot-profiles/{unpublished.trial['id']}")
    assert page.status == 200
    assert TRIAL_A["description"] in page.text
    assert BOT_NAME_A2 in page.text


async def _admin_profile_edit_form(w: World) -> None:
    a, b = await w.admins()
    unpublished = await _a_unpublished(w)
    for profile_id in sorted(unpublished.ids):
        for query in ("", f"?business={w.a.business_id}"):
            page = await b.get(f"/chatbot-profiles/{profile_id}/edit{query}")
            assert page.status == 404, (profile_id, query)
            assert_no_a_data(w, page.text, echoed=(profile_id, w.a.business_id),
                             also=_admin_chatbot_secrets(unpublished))
    page = await a.get(f"/chatbot-profiles/{unpublished.hidden['id']}/edit")
    assert page.status == 200
    assert f'value="{HIDDEN_A["service_name"]}"' in page.text


async def _admin_profile_update(w: World) -> None:
    a, b = await w.admins()
    unpublished = await _a_unpublished(w)
    before = {profile_id: await _profile_state(w, profile_id) for profile_id in sorted(unpublished.ids)}
    assert before[unpublished.trial["id"]][3] == [(unpublished.a2["id"], "manual")]
    for profile_id in before:
        for business_id in (w.a.business_id, w.b.business_id):
            page = await b.submit("/chatbot-profiles", f"/chatbot-profiles/{profile_id}/edit",
                                  {"business_id": business_id, **PROFILE_B, "description": "B 改过的介绍"})
            assert page.status == 404, (profile_id, business_id)
            assert_no_a_data(w, page.text, echoed=(profile_id,), also=_admin_chatbot_secrets(unpublished))
    # Same version, same information, and A's account was not sent back to draft.
    assert {profile_id: await _profile_state(w, profile_id) for profile_id in before} == before
    assert (await _chatbot(w, w.a, unpublished.a2["id"]))["info_state"] == "manual"
    # Control: A's admin's edit makes version 2.
    edit = f"/chatbot-profiles/{unpublished.hidden['id']}/edit"
    page = await a.submit(edit, edit, {"business_id": w.a.business_id, **HIDDEN_A, "description": "A 改过的介绍"})
    assert page.status == 200, page.text[:300]
    assert "done=saved" in page.url
    version, profile, *_ = await _profile_state(w, unpublished.hidden["id"])
    assert (version, profile["description"]) == (2, "A 改过的介绍")


async def _admin_profile_attach(w: World) -> None:
    _, b = await w.admins()
    unpublished = await _a_unpublished(w)
    b_profile = await _create_profile(w, w.b, PROFILE_B)
    secrets = _admin_chatbot_secrets(unpublished)

    async def refused(profile_id: str, chatbot_id: str, business_id: str) -> AdminPage:
        page = await b.submit("/chatbot-profiles", f"/chatbot-profiles/{profile_id}/accounts",
                              {"business_id": business_id, "chatbot_id": chatbot_id})
        assert page.status == 404, (profile_id, chatbot_id, business_id)
        assert_no_a_data(w, page.text, echoed=(profile_id, chatbot_id), also=secrets)
        return page

    for profile_id in sorted(unpublished.ids):  # B's account, or A's, onto A's profile
        for chatbot_id in (w.b.chatbot_id, unpublished.a2["id"], w.a.chatbot_id):
            await refused(profile_id, chatbot_id, w.a.business_id)
            await refused(profile_id, chatbot_id, w.b.business_id)
    for chatbot_id in (unpublished.a2["id"], w.a.chatbot_id):  # A's account onto B's profile
        page = await refused(b_profile["id"], chatbot_id, w.b.business_id)
        assert "chatbot_not_found" in page.text
    # Nothing moved.
    assert (await _chatbot(w, w.a, w.a.chatbot_id))["profile_id"] is None
    assert (await _chatbot(w, w.a, unpublished.a2["id"]))["profile_id"] == unpublished.trial["id"]
    assert (await _profile_state(w, unpublished.hidden["id"]))[3] == []
    assert (await _profile_state(w, unpublished.trial["id"]))[3] == [(unpublished.a2["id"], "manual")]
    assert (await _chatbot(w, w.b, w.b.chatbot_id))["profile_id"] is None
    # Control: B publishes its own profile on its own account.
    profile_page = f"/chatbot-profiles/{b_profile['id']}"
    page = await b.submit(profile_page, f"{profile_page}/accounts",
                          {"business_id": w.b.business_id, "chatbot_id": w.b.chatbot_id})
    assert page.status == 200, page.text[:300]
    assert "done=attached" in page.url
    assert_no_a_data(w, page.text, also=secrets)
    assert (await _chatbot(w, w.b, w.b.chatbot_id))["profile_id"] == b_profile["id"]


def _admin_results(page: AdminPage) -> str:
    """The admin directory search's results: the page after its search form (which echoes the query)."""
    assert page.status == 200, page.text[:300]
    _, _, after = page.text.partition('role="search"')
    _, found, results = after.partition("</form>")
    assert found, page.text[:300]
    return results


async def _admin_directory(w: World) -> None:
    a, b = await w.admins()
    unpublished = await _a_unpublished(w)
    b_profile = await _create_profile(w, w.b, PROFILE_B)
    await _searched(w, "/v1/directory", {"q": "银行"}, w.stack.auth(w.b),
                    lambda hits: b_profile["id"] in _hit_ids(hits))
    ids = (*sorted(unpublished.ids), unpublished.a2["id"])
    for q in PAGE_QUERIES:
        page = await b.get(f"/directory?q={quote(q)}")
        assert_no_a_data(w, _admin_results(page), also=_admin_chatbot_secrets(unpublished))
        assert_no_a_data(w, page.text, echoed=(q,), also=ids)
    results = _admin_results(await b.get(f"/directory?q={quote('银行')}"))
    assert f'href="/admin/chatbot-profiles/{b_profile["id"]}?' in results  # B's own, unpublished, linked
    assert results.count('class="status status-disabled"') == 1
    # Control: A's admin finds A's own unpublished ones, linked, and not B's.
    results = _admin_results(await a.get(f"/directory?q={quote('银行')}"))
    for profile_id in unpublished.ids:
        assert f'href="/admin/chatbot-profiles/{profile_id}?' in results
    assert PROFILE_B["service_name"] not in results
    # Once A publishes one, B finds that one (unlinked: not B's), still none of A's unpublished ones.
    live, address = await _publish(w)
    for q in PAGE_QUERIES:
        page = await b.get(f"/directory?q={quote(q)}")
        assert_no_a_data(w, _admin_results(page), also=(*unpublished.secrets, live["id"]))
        assert_no_a_data(w, page.text, echoed=(q,), also=(*ids, live["id"]))
    results = _admin_results(await b.get(f"/directory?q={quote('A银行')}"))
    assert f">{PROFILE_A['service_name']}" in results
    assert address in results
    assert results.count('class="status status-enabled"') == 1
    assert "status-disabled" not in results
    results = _admin_results(await b.get(f"/directory?q={quote('银行')}"))
    assert (results.count('class="status status-enabled"'), results.count('class="status status-disabled"')) == (1, 1)


# ---- carrier applications: documents, the enterprise record, registrations, chatbot applications ---------------
# A's records are made on a China Telecom channel whose CSP management API does not answer (CLOSED_CSP): the
# registration and the application exist at once (submitting, waiting) and go no further, which is all that
# isolation needs; a failure is recorded by hand where a case needs one.

ENTERPRISE_A, ENTERPRISE_B = "甲方企业有限公司", "乙方企业有限公司"
CHATBOT_NUMBER_A, CHATBOT_NUMBER_B = "10659885881000011", "10659885881000022"
UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"


@dataclass
class Filed:
    """A's enterprise entered with its documents and a chatbot applied for on `channel_id`."""

    channel_id: str
    documents: dict[str, str]  # by kind
    profile: dict[str, Any]
    registration: dict[str, Any]
    application: dict[str, Any]

    @property
    def secrets(self) -> tuple[str, ...]:
        return (*self.documents.values(), self.registration["id"], self.application["id"], self.profile["id"],
                ENTERPRISE_A, PROFILE_A["service_name"], CHATBOT_NUMBER_A)


async def _upload_documents(w: World, tenant: Tenant) -> dict[str, str]:
    """The five documents of an enterprise, through the tenant's key (A and B upload the very same bytes)."""
    ids = {}
    for kind in DOCUMENT_KINDS:
        data, file_name = document_file(kind)
        form = aiohttp.FormData()
        form.add_field("kind", kind)
        form.add_field("file", data, filename=file_name, content_type="application/octet-stream")
        async with w.http.post(f"{w.stack.base_url}/v1/enterprise/documents", data=form,
                               headers=w.stack.auth(tenant)) as r:
            body = await r.json()
            assert r.status == 201, body
        ids[kind] = body["id"]
    return ids


async def _document_ids(w: World, tenant: Tenant) -> set[str]:
    status, listed = await get_json(w.http, w.stack, "/v1/enterprise/documents", tenant)
    assert status == 200, listed
    return {d["id"] for d in listed}


async def _enterprise(w: World, tenant: Tenant) -> dict[str, Any]:
    status, body = await get_json(w.http, w.stack, "/v1/enterprise", tenant)
    assert status == 200, body
    return dict(body)


async def _enter(w: World, tenant: Tenant, documents: dict[str, str], name: str) -> dict[str, Any]:
    status, body = await _call(w, "PUT", "/v1/enterprise", tenant, record_body(documents, name))
    assert status == 200, body
    return dict(body)


async def _registration_ids(w: World, tenant: Tenant) -> list[str]:
    status, listed = await get_json(w.http, w.stack, "/v1/enterprise/registrations", tenant)
    assert status == 200, listed
    return [r["id"] for r in listed]


async def _application_ids(w: World, tenant: Tenant) -> list[str]:
    status, listed = await get_json(w.http, w.stack, "/v1/chatbot-applications", tenant)
    assert status == 200, listed
    return [a["id"] for a in listed]


def _application_body(channel_id: str, profile_id: str, number: str) -> dict[str, Any]:
    return {"channel_id": channel_id, "profile_id": profile_id, "chatbot_number": number, "signature": "测试银行"}


async def _a_filed(w: World) -> Filed:
    channel_id = await csp_channel(w.stack)
    documents = await _upload_documents(w, w.a)
    entered = await _enter(w, w.a, documents, ENTERPRISE_A)
    assert entered["version"] == 1
    profile = await _create_profile(w, w.a)
    status, application = await _call(w, "POST", "/v1/chatbot-applications", w.a,
                                      _application_body(channel_id, profile["id"], CHATBOT_NUMBER_A))
    assert status == 202, application
    assert (application["state"], application["business_id"]) == ("waiting", w.a.business_id), application
    status, registrations = await get_json(w.http, w.stack, "/v1/enterprise/registrations", w.a)
    assert status == 200, registrations
    [registration] = registrations
    assert (registration["channel_id"], registration["record_version"]) == (channel_id, 1), registration
    return Filed(channel_id=channel_id, documents=documents, profile=profile, registration=registration,
                 application=application)


async def _b_entered(w: World) -> dict[str, str]:
    """B's own enterprise, entered with B's own documents; its documents by kind."""
    documents = await _upload_documents(w, w.b)
    await _enter(w, w.b, documents, ENTERPRISE_B)
    return documents


def _standing(registration: dict[str, Any]) -> tuple[Any, ...]:
    """What B must not change of A's registration (its state may move on in the background, on its own)."""
    return registration["id"], registration["channel_id"], registration["record_version"], registration["carrier_ref"]


async def _a_registration(w: World, filed: Filed) -> tuple[Any, ...]:
    status, body = await get_json(w.http, w.stack, f"/v1/enterprise/registrations/{filed.registration['id']}", w.a)
    assert status == 200, body
    return _standing(body)


async def _application(w: World, tenant: Tenant, application_id: str) -> dict[str, Any]:
    status, body = await get_json(w.http, w.stack, f"/v1/chatbot-applications/{application_id}", tenant)
    assert status == 200, body
    return dict(body)


async def _upload_enterprise_document(w: World) -> None:
    filed = await _a_filed(w)
    b_documents = await _upload_documents(w, w.b)  # the very same bytes make B's own documents
    assert set(b_documents.values()).isdisjoint(filed.documents.values())
    assert await _document_ids(w, w.b) == set(b_documents.values())
    assert await _document_ids(w, w.a) == set(filed.documents.values())
    # B's upload is nothing of A's: A cannot file it in its record either.
    status, body = await _call(w, "PUT", "/v1/enterprise", w.a,
                               record_body({**filed.documents, "licence": b_documents["licence"]}, ENTERPRISE_A))
    assert status == 404, body
    assert_error(body, "document_not_found", "licence_document_id")
    assert (await _enterprise(w, w.a))["version"] == 1
    # Control: B files its own.
    assert (await _enter(w, w.b, b_documents, ENTERPRISE_B))["version"] == 1


async def _list_enterprise_documents(w: World) -> None:
    filed = await _a_filed(w)
    status, listed = await get_json(w.http, w.stack, "/v1/enterprise/documents", w.b)
    assert (status, listed) == (200, []), listed
    b_documents = await _upload_documents(w, w.b)
    status, listed = await get_json(w.http, w.stack, "/v1/enterprise/documents", w.b)
    assert status == 200, listed
    assert {d["id"] for d in listed} == set(b_documents.values())
    _assert_clean(w, listed, *filed.secrets)
    # Control: A lists its own five, none of B's.
    assert await _document_ids(w, w.a) == set(filed.documents.values())


async def _put_foreign_enterprise(w: World) -> None:
    filed = await _a_filed(w)
    before = await _enterprise(w, w.a)
    b_documents = await _upload_documents(w, w.b)
    # A's documents in B's record: to B they do not exist, whichever kind.
    for kind, document_id in filed.documents.items():
        status, body = await _call(w, "PUT", "/v1/enterprise", w.b,
                                   record_body({**b_documents, kind: document_id}, ENTERPRISE_B))
        assert status == 404, (kind, body)
        assert_error(body, "document_not_found", f"{kind}_document_id")
        _assert_clean(w, _dumped(body).replace(document_id, ""), *filed.secrets)
    status, body = await get_json(w.http, w.stack, "/v1/enterprise", w.b)
    assert status == 404, body  # nothing stored for B
    assert_error(body, "enterprise_not_found", None)
    # B's own record is B's: A's stays as it was.
    entered = await _enter(w, w.b, b_documents, ENTERPRISE_B)
    assert (entered["version"], entered["record"]["name"]) == (1, ENTERPRISE_B)
    _assert_clean(w, entered, *filed.secrets)
    assert await _enterprise(w, w.a) == before
    # Control: A's own correction makes A's version 2, and B's stays at 1.
    assert (await _enter(w, w.a, filed.documents, ENTERPRISE_A))["version"] == 2
    assert (await _enterprise(w, w.b))["version"] == 1


async def _read_foreign_enterprise(w: World) -> None:
    filed = await _a_filed(w)
    status, body = await get_json(w.http, w.stack, "/v1/enterprise", w.b)
    assert status == 404, body
    assert_error(body, "enterprise_not_found", None)
    _assert_clean(w, body, *filed.secrets)
    # Control: A reads its own; once B enters one, each reads its own.
    assert (await _enterprise(w, w.a))["record"]["name"] == ENTERPRISE_A
    b_documents = await _b_entered(w)
    b_view = await _enterprise(w, w.b)
    assert (b_view["record"]["name"], b_view["record"]["licence_document_id"]) == (ENTERPRISE_B,
                                                                                    b_documents["licence"])
    _assert_clean(w, b_view, *filed.secrets)
    assert (await _enterprise(w, w.a))["record"]["licence_document_id"] == filed.documents["licence"]


async def _register_in_own_space(w: World) -> None:
    filed = await _a_filed(w)
    before = await _a_registration(w, filed)
    # A's record is not B's: B has none to register.
    status, body = await _call(w, "POST", "/v1/enterprise/registrations", w.b, {"channel_id": filed.channel_id})
    assert status == 409, body
    assert_error(body, "enterprise_not_found", None)
    _assert_clean(w, body, *filed.secrets)
    assert await _registration_ids(w, w.b) == []
    # A being registered on the channel does not make B "already registered" there: B's standing is its own.
    await _b_entered(w)
    status, b_registration = await _call(w, "POST", "/v1/enterprise/registrations", w.b,
                                         {"channel_id": filed.channel_id})
    assert status == 202, b_registration
    assert (b_registration["state"], b_registration["record_version"]) == ("submitting", 1), b_registration
    assert b_registration["id"] != filed.registration["id"]
    _assert_clean(w, b_registration, *filed.secrets)
    status, body = await _call(w, "POST", "/v1/enterprise/registrations", w.b, {"channel_id": filed.channel_id})
    assert status == 409, body
    assert_error(body, "already_registered", None)
    assert await _registration_ids(w, w.b) == [b_registration["id"]]
    # Control: A's registration is A's alone, as it was.
    assert await _registration_ids(w, w.a) == [filed.registration["id"]]
    assert await _a_registration(w, filed) == before


async def _list_registrations(w: World) -> None:
    filed = await _a_filed(w)
    status, listed = await get_json(w.http, w.stack, "/v1/enterprise/registrations", w.b)
    assert (status, listed) == (200, []), listed
    await _b_entered(w)
    status, b_registration = await _call(w, "POST", "/v1/enterprise/registrations", w.b,
                                         {"channel_id": filed.channel_id})
    assert status == 202, b_registration
    status, listed = await get_json(w.http, w.stack, "/v1/enterprise/registrations", w.b)
    assert status == 200, listed
    assert [r["id"] for r in listed] == [b_registration["id"]]
    _assert_clean(w, listed, *filed.secrets)
    # Control: A lists its own, not B's.
    assert await _registration_ids(w, w.a) == [filed.registration["id"]]


async def _read_foreign_registration(w: World) -> None:
    filed = await _a_filed(w)
    a_id = filed.registration["id"]
    status, unknown = await get_json(w.http, w.stack, f"/v1/enterprise/registrations/{UNKNOWN_ID}", w.b)
    assert status == 404, unknown
    assert_error(unknown, "registration_not_found", ...)
    status, body = await get_json(w.http, w.stack, f"/v1/enterprise/registrations/{a_id}", w.b)
    assert (status, body) == (404, unknown)  # not a word more than for an id that does not exist
    _assert_clean(w, body, *filed.secrets)
    await _b_entered(w)
    status, b_registration = await _call(w, "POST", "/v1/enterprise/registrations", w.b,
                                         {"channel_id": filed.channel_id})
    assert status == 202, b_registration
    status, body = await get_json(w.http, w.stack, f"/v1/enterprise/registrations/{b_registration['id']}", w.a)
    assert status == 404, body
    # Control: each reads its own.
    assert (await _a_registration(w, filed))[0] == a_id
    status, body = await get_json(w.http, w.stack, f"/v1/enterprise/registrations/{b_registration['id']}", w.b)
    assert (status, body["id"]) == (200, b_registration["id"]), body


async def _apply_in_own_space(w: World) -> None:
    filed = await _a_filed(w)
    await _b_entered(w)
    # A's profile for B's chatbot: to B it does not exist, and nothing is made (not even B's registration).
    status, body = await _call(w, "POST", "/v1/chatbot-applications", w.b,
                               _application_body(filed.channel_id, filed.profile["id"], CHATBOT_NUMBER_B))
    assert status == 404, body
    assert_error(body, "profile_not_found", "profile_id")
    _assert_clean(w, _dumped(body).replace(filed.profile["id"], ""), *filed.secrets)
    assert await _application_ids(w, w.b) == []
    assert await _registration_ids(w, w.b) == []
    assert await _application_ids(w, w.a) == [filed.application["id"]]
    # Control: B applies with its own profile; the application and its registration are B's only.
    b_profile = await _create_profile(w, w.b, PROFILE_B)
    status, b_application = await _call(w, "POST", "/v1/chatbot-applications", w.b,
                                        _application_body(filed.channel_id, b_profile["id"], CHATBOT_NUMBER_B))
    assert status == 202, b_application
    assert (b_application["business_id"], b_application["state"]) == (w.b.business_id, "waiting"), b_application
    _assert_clean(w, b_application, *filed.secrets)
    assert await _application_ids(w, w.b) == [b_application["id"]]
    assert len(await _registration_ids(w, w.b)) == 1
    assert await _application_ids(w, w.a) == [filed.application["id"]]
    assert await _registration_ids(w, w.a) == [filed.registration["id"]]


async def _list_applications(w: World) -> None:
    filed = await _a_filed(w)
    status, listed = await get_json(w.http, w.stack, "/v1/chatbot-applications", w.b)
    assert (status, listed) == (200, []), listed
    await _b_entered(w)
    b_profile = await _create_profile(w, w.b, PROFILE_B)
    status, b_application = await _call(w, "POST", "/v1/chatbot-applications", w.b,
                                        _application_body(filed.channel_id, b_profile["id"], CHATBOT_NUMBER_B))
    assert status == 202, b_application
    status, listed = await get_json(w.http, w.stack, "/v1/chatbot-applications", w.b)
    assert status == 200, listed
    assert [a["id"] for a in listed] == [b_application["id"]]
    _assert_clean(w, listed, *filed.secrets)
    # Control: A lists its own.
    status, listed = await get_json(w.http, w.stack, "/v1/chatbot-applications", w.a)
    assert [(a["id"], a["request"]["chatbot_number"]) for a in listed] == [(filed.application["id"],
                                                                           CHATBOT_NUMBER_A)]


async def _read_foreign_application(w: World) -> None:
    filed = await _a_filed(w)
    a_id = filed.application["id"]
    status, unknown = await get_json(w.http, w.stack, f"/v1/chatbot-applications/{UNKNOWN_ID}", w.b)
    assert status == 404, unknown
    assert_error(unknown, "application_not_found", ...)
    status, body = await get_json(w.http, w.stack, f"/v1/chatbot-applications/{a_id}", w.b)
    assert (status, body) == (404, unknown)
    _assert_clean(w, body, *filed.secrets)
    # Control: A reads its own.
    view = await _application(w, w.a, a_id)
    assert (view["profile_id"], view["request"]["chatbot_number"]) == (filed.profile["id"], CHATBOT_NUMBER_A)


async def _retry_foreign_application(w: World) -> None:
    filed = await _a_filed(w)
    a_id = filed.application["id"]
    await mark_failed(w.stack, w.a, "chatbot", a_id, "the carrier kept failing: isolation")
    before = await _application(w, w.a, a_id)
    assert before["state"] == "failed"
    status, unknown = await _call(w, "POST", f"/v1/chatbot-applications/{UNKNOWN_ID}/retry", w.b)
    assert status == 404, unknown
    assert_error(unknown, "application_not_found", ...)
    status, body = await _call(w, "POST", f"/v1/chatbot-applications/{a_id}/retry", w.b)
    assert (status, body) == (404, unknown)
    _assert_clean(w, body, *filed.secrets)
    assert await _application(w, w.a, a_id) == before  # still failed, its history as it was
    # Control: A's own retry takes it up again (it waits for A's enterprise on that carrier).
    status, body = await _call(w, "POST", f"/v1/chatbot-applications/{a_id}/retry", w.a)
    assert (status, body["state"]) == (200, "waiting"), body


# ---- the admin's carrier applications --------------------------------------------------------------------------

APPLICATIONS_PAGE = "/carrier-applications"


async def _admin_applications(w: World) -> None:
    a, b = await w.admins()
    filed = await _a_filed(w)
    page = await b.get(APPLICATIONS_PAGE)
    assert page.status == 200
    assert "企业尚未在任何运营商处入驻" in page.text
    assert_no_a_data(w, page.text, also=filed.secrets)
    page = await b.get(f"{APPLICATIONS_PAGE}?business={w.a.business_id}")
    assert page.status == 404
    assert_no_a_data(w, page.text, echoed=(w.a.business_id,), also=filed.secrets)
    # Control: A's page has A's record, documents, registration and application.
    page = await a.get(APPLICATIONS_PAGE)
    assert page.status == 200
    for value in (ENTERPRISE_A, *filed.documents.values(), filed.registration["id"], filed.application["id"],
                  CHATBOT_NUMBER_A):
        assert value in page.text, value


async def _admin_application_document_upload(w: World) -> None:
    _, b = await w.admins()
    filed = await _a_filed(w)

    async def upload(business_id: str) -> AdminPage:
        form_page = await b.get(APPLICATIONS_PAGE)
        form = aiohttp.FormData()
        for name, value in {**form_page.hidden(), "kind": "licence", "business_id": business_id}.items():
            form.add_field(name, value)
        form.add_field("file", png(320, 200), filename="licence.png", content_type="application/octet-stream")
        async with b.http.post(f"{w.stack.base_url}/admin{APPLICATIONS_PAGE}/documents", data=form) as response:
            return AdminPage(response.status, str(response.url), await response.text())

    # Naming A's business changes nothing of whose the document is: B's tenant's, always.
    uploaded: set[str] = set()
    for business_id in (w.a.business_id, w.b.business_id):
        page = await upload(business_id)
        assert page.status == 200, page.text[:300]
        assert "done=uploaded" in page.url
        assert_no_a_data(w, page.text, also=filed.secrets)
        assert len(await _document_ids(w, w.b)) == len(uploaded) + 1
        uploaded = await _document_ids(w, w.b)
    assert await _document_ids(w, w.a) == set(filed.documents.values())


async def _admin_application_enterprise_save(w: World) -> None:
    _, b = await w.admins()
    filed = await _a_filed(w)
    before = await _enterprise(w, w.a)
    b_documents = await _upload_documents(w, w.b)

    def fields(documents: dict[str, str]) -> dict[str, str]:
        return {**enterprise_fields(ENTERPRISE_B), "business_id": w.b.business_id,
                **{f"{kind}_document_id": document_id for kind, document_id in documents.items()}}

    for kind, document_id in filed.documents.items():
        page = await b.submit(APPLICATIONS_PAGE, f"{APPLICATIONS_PAGE}/enterprise",
                              fields({**b_documents, kind: document_id}))
        assert page.status == 404, kind
        assert "document_not_found" in page.text
        assert_no_a_data(w, page.text, echoed=(document_id,), also=filed.secrets)
    status, body = await get_json(w.http, w.stack, "/v1/enterprise", w.b)
    assert status == 404, body
    assert await _enterprise(w, w.a) == before
    # Control: B's own record is saved as B's; A's stays as it was.
    page = await b.submit(APPLICATIONS_PAGE, f"{APPLICATIONS_PAGE}/enterprise", fields(b_documents))
    assert page.status == 200, page.text[:300]
    assert "done=saved" in page.url
    assert_no_a_data(w, page.text, also=filed.secrets)
    b_view = await _enterprise(w, w.b)
    assert (b_view["version"], b_view["record"]["name"]) == (1, ENTERPRISE_B)
    assert await _enterprise(w, w.a) == before


async def _admin_application_register(w: World) -> None:
    _, b = await w.admins()
    filed = await _a_filed(w)
    before = await _a_registration(w, filed)
    action = f"{APPLICATIONS_PAGE}/registrations"
    page = await b.submit(APPLICATIONS_PAGE, action, {"channel_id": filed.channel_id})
    assert page.status == 409  # B has no record of its own: A's is not B's
    assert "enterprise_not_found" in page.text
    assert_no_a_data(w, page.text, also=filed.secrets)
    assert await _registration_ids(w, w.b) == []
    # Control: once B has entered its own, B registers on the channel A is registered on.
    await _b_entered(w)
    page = await b.submit(APPLICATIONS_PAGE, action, {"channel_id": filed.channel_id,
                                                      "business_id": w.b.business_id})
    assert page.status == 200, page.text[:300]
    assert "done=registered" in page.url
    assert_no_a_data(w, page.text, also=filed.secrets)
    [b_id] = await _registration_ids(w, w.b)
    assert b_id in page.text
    assert await _registration_ids(w, w.a) == [filed.registration["id"]]
    assert await _a_registration(w, filed) == before


async def _admin_application_apply(w: World) -> None:
    _, b = await w.admins()
    filed = await _a_filed(w)
    await _b_entered(w)
    b_profile = await _create_profile(w, w.b, PROFILE_B)
    action = f"{APPLICATIONS_PAGE}/chatbots"

    def fields(**changes: str) -> dict[str, str]:
        return {"business_id": w.b.business_id, "channel_id": filed.channel_id, "profile_id": b_profile["id"],
                "chatbot_number": CHATBOT_NUMBER_B, "signature": "乙方银行", **changes}

    page = await b.submit(APPLICATIONS_PAGE, action, fields(profile_id=filed.profile["id"]))
    assert page.status == 404
    assert "profile_not_found" in page.text
    assert_no_a_data(w, page.text, echoed=(filed.profile["id"],), also=filed.secrets)
    page = await b.submit(APPLICATIONS_PAGE, action, fields(business_id=w.a.business_id))
    assert page.status == 422  # no such business in B's tenant
    assert_no_a_data(w, page.text, also=filed.secrets)
    assert await _application_ids(w, w.b) == []
    assert await _registration_ids(w, w.b) == []
    # Control: B's own application lands in B's business only.
    page = await b.submit(APPLICATIONS_PAGE, action, fields())
    assert page.status == 200, page.text[:300]
    assert "done=applied" in page.url
    assert_no_a_data(w, page.text, also=filed.secrets)
    [b_id] = await _application_ids(w, w.b)
    assert f"/admin{APPLICATIONS_PAGE}/{b_id}?" in page.url
    assert (await _application(w, w.b, b_id))["business_id"] == w.b.business_id
    assert await _application_ids(w, w.a) == [filed.application["id"]]


async def _admin_application_detail(w: World) -> None:
    a, b = await w.admins()
    filed = await _a_filed(w)
    a_id = filed.application["id"]
    for query in ("", f"?business={w.a.business_id}", f"?business={w.b.business_id}"):
        page = await b.get(f"{APPLICATIONS_PAGE}/{a_id}{query}")
        assert page.status == 404, query
        assert_no_a_data(w, page.text, echoed=(a_id, w.a.business_id), also=filed.secrets)
        assert "/retry" not in page.text
    # Control: A's admin reads it.
    page = await a.get(f"{APPLICATIONS_PAGE}/{a_id}")
    assert page.status == 200
    assert CHATBOT_NUMBER_A in page.text
    assert PROFILE_A["service_name"] in page.text


async def _admin_application_retry(w: World) -> None:
    a, b = await w.admins()
    filed = await _a_filed(w)
    a_id = filed.application["id"]
    await mark_failed(w.stack, w.a, "chatbot", a_id, "the carrier kept failing: isolation")
    before = await _application(w, w.a, a_id)
    for business_id in (w.a.business_id, w.b.business_id, ""):
        page = await b.submit(APPLICATIONS_PAGE, f"{APPLICATIONS_PAGE}/{a_id}/retry", {"business_id": business_id})
        assert page.status == 404, business_id
        assert_no_a_data(w, page.text, echoed=(a_id,), also=filed.secrets)
    assert await _application(w, w.a, a_id) == before
    # Control: A's admin retries it.
    page = await a.submit(APPLICATIONS_PAGE, f"{APPLICATIONS_PAGE}/{a_id}/retry", {"business_id": w.a.business_id})
    assert page.status == 200, page.text[:300]
    assert "done=retried" in page.url
    assert (await _application(w, w.a, a_id))["state"] == "waiting"


# ---- capacity: caps and price plans ----------------------------------------------------------------------


async def _a_caps(w: World) -> list[Any]:
    return [c.model_dump(mode="json") for c in await w.stack.platform.services.capacity.caps(w.a.tenant_id)]


async def _give_a_caps(w: World) -> str:
    from msg5g.domain.capacity import CapSpec, PriceSpec

    capacity = w.stack.platform.services.capacity
    await capacity.set_prices(w.a.tenant_id, [PriceSpec(content_kind="text", price_fen=7)])
    created = await capacity.add_cap(w.a.tenant_id, CapSpec(scope="business", scope_id=w.a.business_id,
                                                          metric="count", period="day", limit=99, name="A 的上限"))
    return created.id


async def _business_caps(w: World) -> None:
    """B's caps are B's: none of A's, by id or name; A sees its own (the control)."""
    a_cap = await _give_a_caps(w)
    status, body = await get_json(w.http, w.stack, "/v1/caps", w.b)
    assert (status, body) == (200, []), body
    status, body = await get_json(w.http, w.stack, "/v1/caps", w.a)
    assert status == 200, body
    assert [c["id"] for c in body] == [a_cap]


def _platform_tenant_case(method: str, path: str, body: dict[str, Any] | None = None) -> Case:
    """A tenant's caps and prices are set by operators only: neither B's key nor A's own reads or changes A's."""

    async def case(w: World) -> None:
        a_cap = await _give_a_caps(w)
        url = f"{w.stack.base_url}{path.replace('{tenant_id}', w.a.tenant_id).replace('{cap_id}', a_cap)}"
        before = (await _a_caps(w), await w.stack.platform.services.capacity.prices(w.a.tenant_id))
        for tenant in (w.b, w.a):
            async with w.http.request(method, url, json=body, headers=w.stack.auth(tenant)) as response:
                assert response.status == 401, await response.text()
                answer = await response.json()
                assert answer["error"]["code"] == "invalid_operator_key"
                assert "A 的上限" not in json.dumps(answer, ensure_ascii=False)
        assert (await _a_caps(w), await w.stack.platform.services.capacity.prices(w.a.tenant_id)) == before
        _, operator_key = await w.stack.platform.services.operator_keys.create("isolation test")
        async with w.http.request(method, url, json=body,
                                  headers={"Authorization": f"Bearer {operator_key}"}) as response:
            assert response.status in {200, 201, 204}, await response.text()
        # The operator's change went to A, and B's ledger stayed empty.
        assert await w.stack.platform.services.capacity.caps(w.b.tenant_id) == []
        assert await w.stack.platform.services.capacity.prices(w.b.tenant_id) == []

    return case


# ---- business mappings -----------------------------------------------------------------------------------


async def _a_mapping(w: World) -> tuple[dict[str, Any], dict[str, str]]:
    """A grant asked by a second business of tenant A for A's chatbot: (the grant, that business's auth)."""
    services = w.stack.platform.services
    business_id, _ = await services.provisioning.create_business(w.a.tenant_id, "A 营销", TrafficClass.MARKETING)
    _, key = await services.api_keys.create(w.a.tenant_id, business_id, "a marketing")
    auth = {"Authorization": f"Bearer {key}"}
    async with w.http.post(f"{w.stack.base_url}/v1/mappings", headers=auth, json={
            "resource_type": "chatbot", "resource_id": w.a.chatbot_id, "note": "A 的申请"}) as r:
        assert r.status == 201, await r.text()
        return await r.json(), auth


async def _apply_mapping(w: World) -> None:
    """B cannot ask for A's chatbot or template: unknown to it, as a missing one (the control: A's second
    business can)."""
    await _a_mapping(w)
    for body in ({"resource_type": "chatbot", "resource_id": w.a.chatbot_id},
                 {"resource_type": "template", "resource_id": w.a.chatbot_id}):
        status, answer = await _call(w, "POST", "/v1/mappings", w.b, body)
        missing = await _call(w, "POST", "/v1/mappings", w.b, {**body, "resource_id": "no-such-id"})
        assert status == 404, answer
        assert (status, answer) == missing
    status, listed = await get_json(w.http, w.stack, "/v1/mappings", w.b)
    assert (status, listed) == (200, [])


async def _list_mappings(w: World) -> None:
    grant, auth = await _a_mapping(w)
    status, listed = await get_json(w.http, w.stack, "/v1/mappings", w.b)
    assert (status, listed) == (200, [])
    async with w.http.get(f"{w.stack.base_url}/v1/mappings", headers=auth) as r:
        assert [g["id"] for g in await r.json()] == [grant["id"]]


async def _read_mapping(w: World) -> None:
    grant, auth = await _a_mapping(w)
    status, body = await get_json(w.http, w.stack, f"/v1/mappings/{grant['id']}", w.b)
    missing = await get_json(w.http, w.stack, "/v1/mappings/no-such-mapping", w.b)
    assert status == 404, body
    assert (status, body) == missing
    assert "A 的申请" not in json.dumps(body, ensure_ascii=False)
    async with w.http.get(f"{w.stack.base_url}/v1/mappings/{grant['id']}", headers=auth) as r:
        assert r.status == 200
        assert (await r.json())["note"] == "A 的申请"


# ---- the admin's users and roles, my account, API keys, mappings and capacity ---------------------------------

AUDITOR_A = "auditor@tenant-a.example"


def _like_unknown(foreign: AdminPage, unknown: AdminPage, a_id: str) -> None:
    """A's id from B answers as an id nobody has (the page names the path asked for, no more)."""
    assert foreign.status == 404, foreign.text[:300]
    assert (foreign.status, foreign.text.replace(a_id, UNKNOWN_ID)) == (unknown.status, unknown.text)


async def _a_user(w: World) -> str:
    from msg5g.domain.roles import Role

    return await w.stack.platform.services.admins.create(AUDITOR_A, ADMIN_PASSWORD, tenant_id=w.a.tenant_id,
                                                         display_name="A 审核", role=Role.AUDITOR)


async def _users_of(w: World, tenant: Tenant) -> list[tuple[str, str, list[str] | None, bool]]:
    return [(u.email, u.role.value, u.business_ids, u.disabled)
            for u in await w.stack.platform.services.admins.users(tenant.tenant_id)]


async def _admin_users(w: World) -> None:
    a, b = await w.admins()
    await _a_user(w)
    page = await b.get("/users")
    assert page.status == 200
    assert f"<code>{ADMIN_B}</code>" in page.text
    assert_no_a_data(w, page.text, also=(ADMIN_A, AUDITOR_A, "A 审核", "Tenant A notifications"))
    page = await a.get("/users")  # control: A's own
    for value in (ADMIN_A, AUDITOR_A, "A 审核"):
        assert value in page.text, value
    assert ADMIN_B not in page.text


async def _admin_user_create(w: World) -> None:
    a, b = await w.admins()
    before = await _users_of(w, w.a)
    fields = {"email": "new@tenant-b.example", "display_name": "B 新人", "password": ADMIN_PASSWORD,
              "role": "operator", "business_ids": w.a.business_id}
    page = await b.submit("/users", "/users", fields)  # limited to A's business: not B's to grant
    assert page.status == 422
    assert "business_not_found" in page.text
    assert_no_a_data(w, page.text, echoed=(w.a.business_id,))
    assert await _users_of(w, w.a) == before
    assert [u[0] for u in await _users_of(w, w.b)] == [ADMIN_B]
    # Control: B's user is B's, limited to B's business.
    page = await b.submit("/users", "/users", {**fields, "business_ids": w.b.business_id})
    assert page.status == 200, page.text[:300]
    assert "done=created" in page.url
    assert_no_a_data(w, page.text)
    assert await _users_of(w, w.b) == [(ADMIN_B, "tenant_admin", None, False),
                                       ("new@tenant-b.example", "operator", [w.b.business_id], False)]
    assert await _users_of(w, w.a) == before
    assert "new@tenant-b.example" not in (await a.get("/users")).text


async def _admin_user_set_role(w: World) -> None:
    a, b = await w.admins()
    a_user = await _a_user(w)
    before = await _users_of(w, w.a)
    foreign = await b.submit("/users", f"/users/{a_user}/role", {"role": "viewer"})
    unknown = await b.submit("/users", f"/users/{UNKNOWN_ID}/role", {"role": "viewer"})
    _like_unknown(foreign, unknown, a_user)
    assert_no_a_data(w, foreign.text, echoed=(a_user,), also=(AUDITOR_A,))
    async with admin_http() as root_http:
        # A platform admin working in tenant B does not reach A's users from there either.
        page = await _platform_admin(w, root_http, w.b, "/admin/users")
        assert f"<code>{ADMIN_B}</code>" in page.text
        root = AdminBrowser(w.stack, root_http)
        page = await root.submit("/users", f"/users/{a_user}/role", {"role": "viewer"})
        assert page.status == 404
        assert AUDITOR_A not in page.text
    assert await _users_of(w, w.a) == before
    # Control: A's admin changes A's user.
    page = await a.submit("/users", f"/users/{a_user}/role", {"role": "viewer", "business_ids": w.a.business_id})
    assert "done=changed" in page.url, page.text[:300]
    assert (AUDITOR_A, "viewer", [w.a.business_id], False) in await _users_of(w, w.a)


async def _admin_user_disable(w: World) -> None:
    a, b = await w.admins()
    a_user = await _a_user(w)
    a_admin_id = next(u.id for u in await w.stack.platform.services.admins.users(w.a.tenant_id)
                      if u.email == ADMIN_A)
    for a_id in (a_user, a_admin_id):
        foreign = await b.submit("/users", f"/users/{a_id}/disable", {})
        unknown = await b.submit("/users", f"/users/{UNKNOWN_ID}/disable", {})
        _like_unknown(foreign, unknown, a_id)
        assert_no_a_data(w, foreign.text, echoed=(a_id,), also=(AUDITOR_A, ADMIN_A))
    assert not any(disabled for *_, disabled in await _users_of(w, w.a))
    assert (await a.get("/")).status == 200  # A's admin is still signed in
    # Control: A's admin disables A's user.
    page = await a.submit("/users", f"/users/{a_user}/disable", {})
    assert "done=disabled" in page.url
    assert (AUDITOR_A, "auditor", None, True) in await _users_of(w, w.a)


async def _admin_account(w: World) -> None:
    a, b = await w.admins()
    page = await b.get("/account")
    assert page.status == 200
    assert f"<code>{ADMIN_B}</code>" in page.text
    assert w.b.tenant_id in page.text
    assert_no_a_data(w, page.text, also=(ADMIN_A,))
    page = await a.get("/account")  # control
    assert f"<code>{ADMIN_A}</code>" in page.text
    assert ADMIN_B not in page.text


_TOTP_SECRET = re.compile(r'<code class="totp-secret">([A-Z2-7]+)</code>')


async def _totp_enabled(w: World, tenant: Tenant, email: str) -> bool:
    return next(u.totp_enabled for u in await w.stack.platform.services.admins.users(tenant.tenant_id)
                if u.email == email)


async def _admin_account_totp_start(w: World) -> None:
    """B's set-up is B's: it neither shows nor changes A's two-factor sign-in."""
    a, b = await w.admins()
    page = await b.submit("/account", "/account/totp", {})
    assert page.status == 200, page.text[:300]
    assert _TOTP_SECRET.search(page.text) is not None
    assert f"otpauth://totp/msg5g:{quote(ADMIN_B)}" in html.unescape(page.text)
    assert_no_a_data(w, page.text, also=(ADMIN_A, quote(ADMIN_A)))
    assert not await _totp_enabled(w, w.a, ADMIN_A)
    async with admin_http() as http:  # A still signs in with the password alone
        assert "/admin/login" not in (await AdminBrowser(w.stack, http).login(ADMIN_A)).url
    # Control: A's own set-up names A.
    page = await a.submit("/account", "/account/totp", {})
    assert f"otpauth://totp/msg5g:{quote(ADMIN_A)}" in html.unescape(page.text)


async def _admin_account_totp_confirm(w: World) -> None:
    """A code from A's secret turns on nothing for B, nor anything for A when B sends it."""
    import pyotp

    a, b = await w.admins()
    page = await a.submit("/account", "/account/totp", {})
    found = _TOTP_SECRET.search(page.text)
    assert found is not None
    a_code = pyotp.TOTP(found[1]).now()
    page = await b.submit("/account", "/account/totp/confirm", {"code": a_code})
    assert page.status == 409  # B started no set-up
    assert "totp_not_started" in page.text
    assert_no_a_data(w, page.text, also=(ADMIN_A, found[1]))
    page = await b.submit("/account", "/account/totp", {})
    page = await b.post("/account/totp/confirm", {**page.hidden(), "code": a_code})
    assert page.status == 422  # A's code is not B's
    assert not await _totp_enabled(w, w.b, ADMIN_B)
    assert not await _totp_enabled(w, w.a, ADMIN_A)
    # Control: A's code turns on A's.
    page = await a.submit("/account", "/account/totp/confirm", {"code": pyotp.TOTP(found[1]).now()})
    assert "done=totp_on" in page.url, page.text[:300]
    assert await _totp_enabled(w, w.a, ADMIN_A)
    assert not await _totp_enabled(w, w.b, ADMIN_B)


async def _key_ids(w: World, tenant: Tenant) -> list[tuple[str, bool]]:
    return [(k.id, k.revoked_at is not None) for k in await w.stack.platform.services.api_keys.keys(tenant.tenant_id)]


async def _a_key_works(w: World) -> None:
    status, body = await get_json(w.http, w.stack, "/v1/messages", w.a)
    assert status == 200, body


async def _admin_api_keys(w: World) -> None:
    a, b = await w.admins()
    [a_key] = await w.stack.platform.services.api_keys.keys(w.a.tenant_id)
    [b_key] = await w.stack.platform.services.api_keys.keys(w.b.tenant_id)
    page = await b.get("/api-keys")
    assert page.status == 200
    assert f'data-key="{b_key.id}"' in page.text
    assert_no_a_data(w, page.text, also=(a_key.id, a_key.prefix, w.a.api_key))
    page = await b.get(f"/api-keys?business={w.a.business_id}")
    assert page.status == 404
    assert_no_a_data(w, page.text, echoed=(w.a.business_id,), also=(a_key.id, a_key.prefix))
    page = await a.get("/api-keys")  # control
    assert f'data-key="{a_key.id}"' in page.text
    assert a_key.prefix in page.text
    assert b_key.prefix not in page.text


async def _admin_api_key_create(w: World) -> None:
    _, b = await w.admins()
    before = await _key_ids(w, w.a)
    fields = {"business_id": w.a.business_id, "name": "B 的新密钥", "scopes": "read_status"}
    page = await b.submit("/api-keys", "/api-keys", fields)
    assert page.status == 422  # not B's business: no key is made for it
    assert_no_a_data(w, page.text, echoed=(w.a.business_id,))
    assert await _key_ids(w, w.a) == before
    assert len(await _key_ids(w, w.b)) == 1
    # Control: B's key, for B's business, opens B's messages only.
    page = await b.submit("/api-keys", "/api-keys", {**fields, "business_id": w.b.business_id})
    assert page.status == 200, page.text[:300]
    found = re.search(r'<code class="api-key-secret">([^<]+)</code>', page.text)
    assert found is not None
    assert_no_a_data(w, page.text)
    assert await _key_ids(w, w.a) == before
    async with w.http.get(f"{w.stack.base_url}/v1/messages",
                          headers={"Authorization": f"Bearer {found[1]}"}) as response:
        assert response.status == 200
        listed = await response.json()
    assert w.a_message["id"] not in json.dumps(listed)
    assert w.b_message_id in json.dumps(listed)


async def _admin_api_key_rotate(w: World) -> None:
    a, b = await w.admins()
    [a_key] = await w.stack.platform.services.api_keys.keys(w.a.tenant_id)
    before = await _key_ids(w, w.a)
    foreign = await b.submit("/api-keys", f"/api-keys/{a_key.id}/rotate", {})
    unknown = await b.submit("/api-keys", f"/api-keys/{UNKNOWN_ID}/rotate", {})
    _like_unknown(foreign, unknown, a_key.id)
    assert "api-key-secret" not in foreign.text
    assert_no_a_data(w, foreign.text, echoed=(a_key.id,), also=(a_key.prefix,))
    assert await _key_ids(w, w.a) == before
    await _a_key_works(w)
    # Control: A's admin rotates A's key.
    page = await a.submit("/api-keys", f"/api-keys/{a_key.id}/rotate", {})
    assert page.status == 200, page.text[:300]
    assert "api-key-secret" in page.text
    assert len(await _key_ids(w, w.a)) == 2


async def _admin_api_key_revoke(w: World) -> None:
    a, b = await w.admins()
    [a_key] = await w.stack.platform.services.api_keys.keys(w.a.tenant_id)
    foreign = await b.submit("/api-keys", f"/api-keys/{a_key.id}/revoke", {})
    unknown = await b.submit("/api-keys", f"/api-keys/{UNKNOWN_ID}/revoke", {})
    _like_unknown(foreign, unknown, a_key.id)
    assert_no_a_data(w, foreign.text, echoed=(a_key.id,), also=(a_key.prefix,))
    assert await _key_ids(w, w.a) == [(a_key.id, False)]
    await _a_key_works(w)
    # Control: A's admin revokes it.
    page = await a.submit("/api-keys", f"/api-keys/{a_key.id}/revoke", {})
    assert "done=revoked" in page.url
    assert await _key_ids(w, w.a) == [(a_key.id, True)]


async def _grant_states(w: World, tenant: Tenant) -> list[tuple[str, str, int]]:
    return [(g.id, g.state.value, len(g.history))
            for g in await w.stack.platform.services.grants.of_tenant(tenant.tenant_id)]


async def _admin_mappings(w: World) -> None:
    a, b = await w.admins()
    grant, _ = await _a_mapping(w)
    for state in ("", "?state=all", "?state=pending"):
        page = await b.get(f"/mappings{state}")
        assert page.status == 200
        assert "data-mapping" not in page.text
        assert_no_a_data(w, page.text, also=(grant["id"], "A 的申请", "A 营销"))
    page = await a.get("/mappings")  # control
    assert f'data-mapping="{grant["id"]}"' in page.text
    assert "A 的申请" in page.text


async def _admin_mapping_decide(w: World) -> None:
    a, b = await w.admins()
    grant, _ = await _a_mapping(w)
    before = await _grant_states(w, w.a)
    for decision in ("approve", "reject"):
        fields = {"decision": decision, "reason": "B 的决定"}
        foreign = await b.submit("/mappings", f"/mappings/{grant['id']}/decide", fields)
        unknown = await b.submit("/mappings", f"/mappings/{UNKNOWN_ID}/decide", fields)
        _like_unknown(foreign, unknown, grant["id"])
        assert_no_a_data(w, foreign.text, echoed=(grant["id"],), also=("A 的申请",))
    assert await _grant_states(w, w.a) == before == [(grant["id"], "pending", 1)]
    # Control: A's admin approves it.
    page = await a.submit("/mappings", f"/mappings/{grant['id']}/decide", {"decision": "approve"})
    assert "state=approved" in page.url, page.text[:300]
    assert await _grant_states(w, w.a) == [(grant["id"], "approved", 2)]


async def _admin_mapping_revoke(w: World) -> None:
    a, b = await w.admins()
    grant, _ = await _a_mapping(w)
    await w.stack.platform.services.grants.decide(w.a.tenant_id, grant["id"], approve=True, by="admin:checker")
    foreign = await b.submit("/mappings", f"/mappings/{grant['id']}/revoke", {"reason": "B 撤销"})
    unknown = await b.submit("/mappings", f"/mappings/{UNKNOWN_ID}/revoke", {"reason": "B 撤销"})
    _like_unknown(foreign, unknown, grant["id"])
    assert_no_a_data(w, foreign.text, echoed=(grant["id"],), also=("A 的申请",))
    assert await _grant_states(w, w.a) == [(grant["id"], "approved", 2)]
    # Control: A's admin revokes it.
    page = await a.submit("/mappings?state=approved", f"/mappings/{grant['id']}/revoke", {"reason": "活动结束"})
    assert "state=revoked" in page.url, page.text[:300]
    assert await _grant_states(w, w.a) == [(grant["id"], "revoked", 3)]


async def _a_prices(w: World) -> list[Any]:
    return [p.model_dump(mode="json") for p in await w.stack.platform.services.capacity.prices(w.a.tenant_id)]


async def _admin_capacity(w: World) -> None:
    a, b = await w.admins()
    a_cap = await _give_a_caps(w)
    page = await b.get("/capacity")
    assert page.status == 200
    assert "data-cap" not in page.text
    assert "没有价格方案" in page.text
    assert_no_a_data(w, page.text, also=(a_cap, "A 的上限"))
    page = await a.get("/capacity")  # control: A's cap, with its ledger, and A's price
    assert f'data-cap="{a_cap}"' in page.text
    assert "A 的上限" in page.text
    assert '<td class="number">7</td>' in page.text


async def _admin_capacity_cap_add(w: World) -> None:
    """Caps are set by platform admins: refused to B's admin (and A's); a platform admin working in B
    reaches neither A's caps nor A's businesses from there."""
    a, b = await w.admins()
    await _give_a_caps(w)
    before = await _a_caps(w)
    fields = {"scope": "business", "business_id": w.a.business_id, "metric": "count", "period": "day", "limit": "1"}
    for browser in (b, a):  # A's own admin too: caps are not a tenant's to set
        page = await browser.submit("/capacity", "/capacity/caps", fields)
        assert page.status == 403
        if browser is b:
            assert_no_a_data(w, page.text, also=("A 的上限",))
    async with admin_http() as root_http:
        page = await _platform_admin(w, root_http, w.b, "/admin/capacity")
        root = AdminBrowser(w.stack, root_http)
        page = await root.submit("/capacity", "/capacity/caps", fields)
        assert page.status == 404
        assert "business_not_found" in page.text
        assert_no_a_data(w, page.text, echoed=(w.a.business_id,), also=("A 的上限",))
        assert await w.stack.platform.services.capacity.caps(w.b.tenant_id) == []
        # Control: the cap asked for B's business is B's.
        page = await root.submit("/capacity", "/capacity/caps", {**fields, "business_id": w.b.business_id})
        assert "done=added" in page.url, page.text[:300]
        assert_no_a_data(w, page.text, also=("A 的上限",))
    [b_cap] = await w.stack.platform.services.capacity.caps(w.b.tenant_id)
    assert (b_cap.scope_id, b_cap.limit) == (w.b.business_id, 1)
    assert await _a_caps(w) == before


async def _admin_capacity_cap_delete(w: World) -> None:
    a, b = await w.admins()
    a_cap = await _give_a_caps(w)
    before = await _a_caps(w)
    for browser in (b, a):
        page = await browser.submit("/capacity", f"/capacity/caps/{a_cap}/delete", {})
        assert page.status == 403
    async with admin_http() as root_http:
        await _platform_admin(w, root_http, w.b, "/admin/capacity")
        root = AdminBrowser(w.stack, root_http)
        foreign = await root.submit("/capacity", f"/capacity/caps/{a_cap}/delete", {})
        unknown = await root.submit("/capacity", f"/capacity/caps/{UNKNOWN_ID}/delete", {})
        _like_unknown(foreign, unknown, a_cap)
        assert "A 的上限" not in foreign.text
        assert await _a_caps(w) == before
        # Control: working in tenant A, the platform admin deletes it.
        page = await root.submit("/tenant", "/tenant", {"tenant_id": w.a.tenant_id, "next": "/admin/capacity"})
        assert f'data-cap="{a_cap}"' in page.text
        page = await root.post(f"/capacity/caps/{a_cap}/delete", page.hidden())
        assert "done=deleted" in page.url, page.text[:300]
    assert await _a_caps(w) == []


async def _admin_capacity_prices(w: World) -> None:
    a, b = await w.admins()
    await _give_a_caps(w)
    before = await _a_prices(w)
    fields = {"content_kind": "text", "channel_type": "*", "price_fen": "1"}
    for browser in (b, a):
        page = await browser.submit("/capacity", "/capacity/prices", fields)
        assert page.status == 403
    async with admin_http() as root_http:
        page = await _platform_admin(w, root_http, w.b, "/admin/capacity")
        assert 'name="price_fen" value="7"' not in page.text  # A's price is not B's plan
        root = AdminBrowser(w.stack, root_http)
        page = await root.submit("/capacity", "/capacity/prices", {**fields, "price_fen": "3"})
        assert "done=priced" in page.url, page.text[:300]
        assert_no_a_data(w, page.text, also=("A 的上限",))
    assert [(p.content_kind.value, p.price_fen) for p in
            await w.stack.platform.services.capacity.prices(w.b.tenant_id)] == [("text", 3)]
    assert await _a_prices(w) == before == [{"content_kind": "text", "channel_type": "*", "price_fen": 7}]


async def _admin_audit(w: World) -> None:
    """B's admin reads B's audit log only: none of A's lines (A's cap, its actor); A reads its own."""
    a, b = await w.admins()
    a_cap = await _give_a_caps(w)
    page = await b.get("/audit")
    assert page.status == 200, page.text[:300]
    assert_no_a_data(w, page.text, also=(a_cap, "A 的上限"))
    page = await b.get(f"/audit?target={a_cap}")
    assert_no_a_data(w, page.text, echoed=(a_cap,), also=("A 的上限",))
    page = await a.get(f"/audit?target={a_cap}")  # control
    assert "cap.add" in page.text
    assert "A 的上限" in page.text


def _operator_tenants_case(method: str, path: str, body: dict[str, Any] | None = None) -> Case:
    """Tenants and businesses are made by operators: no tenant's key lists or creates them (not even its own);
    an operator's listing of A's businesses shows A's and nothing of B's."""

    async def case(w: World) -> None:
        url = f"{w.stack.base_url}{path.replace('{tenant_id}', w.a.tenant_id)}"
        before = await w.stack.platform.services.provisioning.business_rows(w.a.tenant_id)
        for tenant in (w.b, w.a):
            async with w.http.request(method, url, json=body, headers=w.stack.auth(tenant)) as response:
                assert response.status == 401, await response.text()
                answer = await response.json()
                assert answer["error"]["code"] == "invalid_operator_key"
                assert w.a.business_id not in json.dumps(answer)
        assert await w.stack.platform.services.provisioning.business_rows(w.a.tenant_id) == before
        _, operator_key = await w.stack.platform.services.operator_keys.create("isolation test")
        async with w.http.request(method, url, json=body, headers={"Authorization": f"Bearer {operator_key}"}) as r:
            assert r.status in {200, 201}, await r.text()
            answer = await r.json()
        if path.endswith("/businesses") and method == "GET":
            assert w.a.business_id in json.dumps(answer)
            assert w.b.business_id not in json.dumps(answer)
        b_after = await w.stack.platform.services.provisioning.business_rows(w.b.tenant_id)
        assert all(name != "运营创建" for _, name, _, _ in b_after)

    return case


Case = Callable[[World], Awaitable[None]]

ISOLATION_CASES: dict[Route, Case] = {
    **ALERT_API_CASES,
    **ALERT_ADMIN_CASES,
    **BUSINESS_ADMIN_CASES,
    **CONVERSATION_API_CASES,
    **CONVERSATION_ADMIN_CASES,
    **INBOX_ADMIN_CASES,
    ("GET", "/v1/platform/tenants"): _operator_tenants_case("GET", "/v1/platform/tenants"),
    ("POST", "/v1/platform/tenants"): _operator_tenants_case("POST", "/v1/platform/tenants", {"name": "运营创建"}),
    ("GET", "/v1/platform/tenants/{tenant_id}/businesses"): _operator_tenants_case(
        "GET", "/v1/platform/tenants/{tenant_id}/businesses"),
    ("POST", "/v1/platform/tenants/{tenant_id}/businesses"): _operator_tenants_case(
        "POST", "/v1/platform/tenants/{tenant_id}/businesses", {"name": "运营创建", "type": "marketing"}),
    ("GET", "/admin/audit"): _admin_audit,
    ("GET", "/v1/caps"): _business_caps,
    ("POST", "/v1/mappings"): _apply_mapping,
    ("GET", "/v1/mappings"): _list_mappings,
    ("GET", "/v1/mappings/{mapping_id}"): _read_mapping,
    ("GET", "/v1/platform/tenants/{tenant_id}/caps"): _platform_tenant_case(
        "GET", "/v1/platform/tenants/{tenant_id}/caps"),
    ("POST", "/v1/platform/tenants/{tenant_id}/caps"): _platform_tenant_case(
        "POST", "/v1/platform/tenants/{tenant_id}/caps", {"scope": "tenant", "metric": "cost", "period": "month",
                                                          "limit": 1000}),
    ("DELETE", "/v1/platform/tenants/{tenant_id}/caps/{cap_id}"): _platform_tenant_case(
        "DELETE", "/v1/platform/tenants/{tenant_id}/caps/{cap_id}"),
    ("PUT", "/v1/platform/tenants/{tenant_id}/retention"): _platform_tenant_case(
        "PUT", "/v1/platform/tenants/{tenant_id}/retention", {"days": 90}),
    ("GET", "/v1/platform/tenants/{tenant_id}/prices"): _platform_tenant_case(
        "GET", "/v1/platform/tenants/{tenant_id}/prices"),
    ("PUT", "/v1/platform/tenants/{tenant_id}/prices"): _platform_tenant_case(
        "PUT", "/v1/platform/tenants/{tenant_id}/prices", {"prices": [{"content_kind": "rich_card", "price_fen": 9}]}),
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
    ("POST", "/v1/materials"): _upload_material,
    ("GET", "/v1/materials"): _list_materials,
    ("GET", "/v1/materials/{material_id}"): _read_foreign_material,
    ("GET", "/v1/materials/{material_id}/file"): _foreign_material_bytes("file"),
    ("GET", "/v1/materials/{material_id}/thumbnail"): _foreign_material_bytes("thumbnail"),
    ("DELETE", "/v1/materials/{material_id}"): _delete_foreign_material,
    ("GET", "/v1/chatbots/{chatbot_id}/sync"): _sync_of_foreign_chatbot,
    ("POST", "/v1/templates"): _create_template_in_own_space,
    ("GET", "/v1/templates"): _list_templates,
    ("GET", "/v1/templates/{template_id}"): _read_foreign_template,
    ("PUT", "/v1/templates/{template_id}"): _edit_foreign_template,
    ("POST", "/v1/templates/{template_id}/versions/{version}/submit"): _submit_foreign_version,
    ("POST", "/v1/templates/{template_id}/versions/{version}/review"): _review_foreign_version,
    ("POST", "/v1/templates/{template_id}/disable"): _disable_foreign_template,
    ("POST", "/v1/templates/{template_id}/preview"): _preview_foreign_template,
    ("GET", "/v1/sensitive-words"): _list_tenant_words,
    ("POST", "/v1/sensitive-words"): _add_tenant_words,
    ("DELETE", "/v1/sensitive-words/{word}"): _remove_tenant_word,
    ("GET", "/v1/platform/sensitive-words"): _platform_case("GET", "/v1/platform/sensitive-words"),
    ("POST", "/v1/platform/sensitive-words"): _platform_case(
        "POST", "/v1/platform/sensitive-words", {"words": [{"word": PLATFORM_WORD}]}, state=_platform_words),
    ("DELETE", "/v1/platform/sensitive-words/{word}"): _platform_case(
        "DELETE", "/v1/platform/sensitive-words/{word}", state=_platform_words),
    ("POST", "/v1/chatbots"): _register_chatbot_in_own_space,
    ("GET", "/v1/chatbots"): _list_chatbots,
    ("GET", "/v1/chatbots/{chatbot_id}"): _read_foreign_chatbot,
    ("PUT", "/v1/chatbots/{chatbot_id}/credentials"): _rotate_foreign_credentials,
    ("POST", "/v1/chatbot-profiles"): _create_profile_in_own_space,
    ("GET", "/v1/chatbot-profiles"): _list_profiles,
    ("GET", "/v1/chatbot-profiles/{profile_id}"): _read_foreign_profile,
    ("PUT", "/v1/chatbot-profiles/{profile_id}"): _edit_foreign_profile,
    ("POST", "/v1/chatbot-profiles/{profile_id}/accounts"): _attach_across_tenants,
    ("PUT", "/v1/platform/chatbots/{chatbot_id}/state"): _record_foreign_chatbot_state,
    ("GET", "/v1/directory"): _search_directory,
    ("GET", "/public/directory"): _public_directory,
    ("GET", "/directory"): _public_directory_page,
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
    ("GET", "/admin/materials"): _admin_materials,
    ("POST", "/admin/materials"): _admin_material_upload,
    ("GET", "/admin/materials/{material_id}"): _admin_material_detail,
    ("GET", "/admin/materials/{material_id}/file"): _admin_material_bytes("file"),
    ("GET", "/admin/materials/{material_id}/thumbnail"): _admin_material_bytes("thumbnail"),
    ("POST", "/admin/materials/{material_id}/delete"): _admin_material_delete,
    ("GET", "/admin/templates"): _admin_templates,
    ("GET", "/admin/templates/new"): _admin_template_new,
    ("POST", "/admin/templates"): _admin_template_create,
    ("POST", "/admin/templates/preview"): _admin_template_preview,
    ("GET", "/admin/templates/{template_id}"): _admin_template_detail,
    ("GET", "/admin/templates/{template_id}/edit"): _admin_template_edit_form,
    ("POST", "/admin/templates/{template_id}/edit"): _admin_template_update,
    ("POST", "/admin/templates/{template_id}/versions/{version}/submit"): _admin_template_submit,
    ("POST", "/admin/templates/{template_id}/versions/{version}/review"): _admin_template_review,
    ("POST", "/admin/templates/{template_id}/disable"): _admin_template_disable,
    ("GET", "/admin/chatbots"): _admin_chatbots,
    ("GET", "/admin/chatbots/new"): _admin_chatbot_new,
    ("POST", "/admin/chatbots"): _admin_chatbot_register,
    ("GET", "/admin/chatbots/{chatbot_id}"): _admin_chatbot_detail,
    ("POST", "/admin/chatbots/{chatbot_id}/credentials"): _admin_chatbot_rotate,
    ("POST", "/admin/chatbots/{chatbot_id}/state"): _admin_chatbot_state,
    ("GET", "/admin/chatbot-profiles"): _admin_profiles,
    ("GET", "/admin/chatbot-profiles/new"): _admin_profile_new,
    ("POST", "/admin/chatbot-profiles"): _admin_profile_create,
    ("GET", "/admin/chatbot-profiles/{profile_id}"): _admin_profile_detail,
    ("GET", "/admin/chatbot-profiles/{profile_id}/edit"): _admin_profile_edit_form,
    ("POST", "/admin/chatbot-profiles/{profile_id}/edit"): _admin_profile_update,
    ("POST", "/admin/chatbot-profiles/{profile_id}/accounts"): _admin_profile_attach,
    ("GET", "/admin/directory"): _admin_directory,
    ("POST", "/v1/enterprise/documents"): _upload_enterprise_document,
    ("GET", "/v1/enterprise/documents"): _list_enterprise_documents,
    ("PUT", "/v1/enterprise"): _put_foreign_enterprise,
    ("GET", "/v1/enterprise"): _read_foreign_enterprise,
    ("POST", "/v1/enterprise/registrations"): _register_in_own_space,
    ("GET", "/v1/enterprise/registrations"): _list_registrations,
    ("GET", "/v1/enterprise/registrations/{registration_id}"): _read_foreign_registration,
    ("POST", "/v1/chatbot-applications"): _apply_in_own_space,
    ("GET", "/v1/chatbot-applications"): _list_applications,
    ("GET", "/v1/chatbot-applications/{application_id}"): _read_foreign_application,
    ("POST", "/v1/chatbot-applications/{application_id}/retry"): _retry_foreign_application,
    ("GET", "/admin/carrier-applications"): _admin_applications,
    ("POST", "/admin/carrier-applications/documents"): _admin_application_document_upload,
    ("POST", "/admin/carrier-applications/enterprise"): _admin_application_enterprise_save,
    ("POST", "/admin/carrier-applications/registrations"): _admin_application_register,
    ("POST", "/admin/carrier-applications/chatbots"): _admin_application_apply,
    ("GET", "/admin/carrier-applications/{application_id}"): _admin_application_detail,
    ("POST", "/admin/carrier-applications/{application_id}/retry"): _admin_application_retry,
    ("GET", "/admin/users"): _admin_users,
    ("POST", "/admin/users"): _admin_user_create,
    ("POST", "/admin/users/{user_id}/role"): _admin_user_set_role,
    ("POST", "/admin/users/{user_id}/disable"): _admin_user_disable,
    ("GET", "/admin/account"): _admin_account,
    ("POST", "/admin/account/totp"): _admin_account_totp_start,
    ("POST", "/admin/account/totp/confirm"): _admin_account_totp_confirm,
    ("GET", "/admin/api-keys"): _admin_api_keys,
    ("POST", "/admin/api-keys"): _admin_api_key_create,
    ("POST", "/admin/api-keys/{key_id}/rotate"): _admin_api_key_rotate,
    ("POST", "/admin/api-keys/{key_id}/revoke"): _admin_api_key_revoke,
    ("GET", "/admin/mappings"): _admin_mappings,
    ("POST", "/admin/mappings/{mapping_id}/decide"): _admin_mapping_decide,
    ("POST", "/admin/mappings/{mapping_id}/revoke"): _admin_mapping_revoke,
    ("GET", "/admin/capacity"): _admin_capacity,
    ("POST", "/admin/capacity/caps"): _admin_capacity_cap_add,
    ("POST", "/admin/capacity/caps/{cap_id}/delete"): _admin_capacity_cap_delete,
    ("POST", "/admin/capacity/prices"): _admin_capacity_prices,
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
    """Each case also shows the route, where it changes something, writing the audit log: its control
    (the owner's own successful call) leaves an audit line naming the route."""
    await ISOLATION_CASES[route](world)
    declared = f"{route[0]} {route[1]}"
    if route[0] != "*" and is_change(declared):
        async with world.stack.platform.services.ctx.db.reader() as session:
            lines = (await session.scalars(select(AuditEntry).where(AuditEntry.route == declared))).all()
        if not lines:
            async with world.stack.platform.services.ctx.db.reader() as session:
                every = [(e.route, e.action, e.actor) for e in (await session.scalars(select(AuditEntry))).all()]
            raise AssertionError(f"{declared} changed something and wrote no audit line; lines: {every}")
        assert all(line.actor != "anonymous" for line in lines), [line.actor for line in lines]
