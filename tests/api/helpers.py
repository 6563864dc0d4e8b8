"""Helpers shared by the API suites: raw HTTP against the live stack, CMCC callback signing.

The carrier signature is computed here from protocols.md §1.8, not with the adapter's own function,
so that a mistake in the adapter cannot hide itself in the test.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import EllipsisType
from typing import Any

import aiohttp
from multidict import CIMultiDict

from tests.conftest import CARRIER_PASSWORD, Stack, Tenant

VALID_NUMBER = "13800138000"
MESSAGING_NS = "urn:oma:xml:rest:netapi:messaging:1"


def text_body(chatbot_id: str, text: str = "你好", **extra: Any) -> dict[str, Any]:
    return {"chatbot_id": chatbot_id, "recipients": [VALID_NUMBER], "content": {"kind": "text", "text": text},
            **extra}


async def post_messages(http: aiohttp.ClientSession, stack: Stack, *, json_body: Any = None, data: bytes | None = None,
                        headers: dict[str, str] | None = None,
                        tenant: Tenant | None = None) -> tuple[int, Any, CIMultiDict[str]]:
    """POST /v1/messages; `headers` replace the default auth header when they name Authorization."""
    sent = stack.auth(tenant)
    sent.update(headers or {})
    sent = {k: v for k, v in sent.items() if v is not None and v != ""}
    kwargs: dict[str, Any] = {"data": data} if data is not None else {"json": json_body}
    async with http.post(f"{stack.base_url}/v1/messages", headers=sent, **kwargs) as response:
        return response.status, await _body(response), CIMultiDict(response.headers)


async def get_json(http: aiohttp.ClientSession, stack: Stack, path: str, tenant: Tenant | None = None,
                   params: dict[str, str] | None = None) -> tuple[int, Any]:
    async with http.get(f"{stack.base_url}{path}", headers=stack.auth(tenant), params=params) as response:
        return response.status, await _body(response)


async def _body(response: aiohttp.ClientResponse) -> Any:
    text = await response.text()
    try:
        return await response.json(content_type=None)
    except ValueError:
        return text


async def message_ids(http: aiohttp.ClientSession, stack: Stack, tenant: Tenant | None = None) -> set[str]:
    """Every message id the key's business can list (the stacks in these tests hold far fewer than 500)."""
    status, page = await get_json(http, stack, "/v1/messages", tenant, params={"limit": "500"})
    assert status == 200, page
    return {m["id"] for m in page["data"]}


def assert_error(body: Any, code: str, field: str | EllipsisType | None = ...) -> None:
    """The error envelope is exactly {"error": {"code", "message", "field"}}; `...` skips the field check.

    A field ending in `*` is matched as a prefix.
    """
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "field"}, error
    assert isinstance(error["message"], str), error
    assert error["message"], error
    assert error["code"] == code, error
    if field is ...:
        return
    if isinstance(field, str) and field.endswith("*"):
        assert isinstance(error["field"], str), error
        assert error["field"].startswith(field[:-1]), error
    else:
        assert error["field"] == field, error


# ---- China Mobile callbacks (protocols.md §1.3, §1.8) ---------------------------------------------------


def http_date(moment: datetime | None = None) -> str:
    return format_datetime(moment or datetime.now(UTC), usegmt=True)


def cmcc_authorization(app_id: str, password: str, date: str) -> str:
    """§1.8: Basic base64(appId ":" hex(sha256(hex(sha256(password)) + Date)))."""
    token = hashlib.sha256(password.encode()).hexdigest()
    signature = hashlib.sha256((token + date).encode()).hexdigest()
    return "Basic " + base64.b64encode(f"{app_id}:{signature}".encode()).decode()


def signed_headers(app_id: str, *, password: str = CARRIER_PASSWORD, skew: timedelta = timedelta(0),
                   content_type: str = "application/xml") -> dict[str, str]:
    date = http_date(datetime.now(UTC) + skew)
    return {"Date": date, "Authorization": cmcc_authorization(app_id, password, date), "Content-Type": content_type}


def delivery_notification(carrier_message_id: str, recipient: str, status: str = "MessageDisplayed") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<msg:deliveryInfoNotification xmlns:msg="{MESSAGING_NS}">'
        f"<deliveryInfo><address>tel:{recipient}</address><messageId>{carrier_message_id}</messageId>"
        f"<deliveryStatus>{status}</deliveryStatus><description>SVC1000</description></deliveryInfo>"
        "</msg:deliveryInfoNotification>"
    ).encode()


def notify_url(stack: Stack, carrier_chatbot_id: str, kind: str = "DeliveryInfoNotification") -> str:
    return f"{stack.base_url}/webhooks/cmcc/{stack.channel_id}/{kind}/{carrier_chatbot_id}"


async def post_webhook(http: aiohttp.ClientSession, url: str, body: bytes,
                       headers: dict[str, str]) -> tuple[int, Any]:
    async with http.post(url, data=body, headers=headers) as response:
        return response.status, await _body(response)


async def hold_message(stack: Stack, number: str) -> dict[str, Any]:
    """Send to a handset the simulator holds (offline): the message sits at `sent`, no report will come."""
    code, answer = await stack.sim("PUT", f"/_sim/handsets/{number}", {"capability": "offline"})
    assert code == 200, answer
    status, body = await stack.text([number], "等待回执")
    assert status == 202, body
    return await stack.wait_status(body["messages"][0]["id"], "sent")


async def wait_status(http: aiohttp.ClientSession, stack: Stack, message_id: str, status: str,
                      tenant: Tenant | None = None, timeout: float = 15.0) -> dict[str, Any]:
    """Stack.wait_status, for any tenant's key."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    body: Any = None
    while loop.time() < deadline:
        code, body = await get_json(http, stack, f"/v1/messages/{message_id}", tenant)
        if code == 200 and body.get("status") == status:
            return dict(body)
        await asyncio.sleep(0.05)
    raise AssertionError(f"message {message_id} never reached {status}: {body}")


# ---- the admin, as a browser with its own cookie jar ---------------------------------------------------

ADMIN_PASSWORD = "correct horse battery staple"
_HIDDEN = re.compile(r'<input type="hidden" name="(?P<name>[\w-]+)" value="(?P<value>[^"]*)">')


@dataclass
class AdminPage:
    status: int
    url: str
    text: str

    def hidden(self) -> dict[str, str]:
        """The hidden fields of the page's forms (CSRF token, next, form key); the last one wins."""
        return {m["name"]: html.unescape(m["value"]) for m in _HIDDEN.finditer(self.text)}


@dataclass
class AdminBrowser:
    stack: Stack
    http: aiohttp.ClientSession  # with a cookie jar that keeps cookies for 127.0.0.1

    async def get(self, path: str, *, headers: dict[str, str] | None = None) -> AdminPage:
        async with self.http.get(f"{self.stack.base_url}/admin{path}", headers=headers) as response:
            return AdminPage(response.status, str(response.url), await response.text())

    async def post(self, path: str, data: dict[str, str]) -> AdminPage:
        async with self.http.post(f"{self.stack.base_url}/admin{path}", data=data) as response:
            return AdminPage(response.status, str(response.url), await response.text())

    async def submit(self, form_page: str, action: str, fields: dict[str, str]) -> AdminPage:
        page = await self.get(form_page)
        assert page.status == 200, page.text[:500]
        return await self.post(action, {**page.hidden(), **fields})

    async def login(self, email: str, password: str = ADMIN_PASSWORD, next_path: str = "") -> AdminPage:
        return await self.submit("/login", "/login", {"email": email, "password": password, "next": next_path})


def admin_http() -> aiohttp.ClientSession:
    # unsafe=True: aiohttp's default jar keeps no cookies for an IP address such as 127.0.0.1.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
