"""An admin browser-in-a-session: aiohttp with its own cookie jar against the stack's real server."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest_asyncio

from tests.conftest import Stack

PASSWORD = "correct horse battery staple"
_HIDDEN = re.compile(r'<input type="hidden" name="(?P<name>[\w-]+)" value="(?P<value>[^"]*)">')


@dataclass
class Page:
    status: int
    url: str
    text: str
    headers: Any

    def hidden(self) -> dict[str, str]:
        """The hidden fields of the page's forms (the last form wins on a repeated name)."""
        return {m["name"]: html.unescape(m["value"]) for m in _HIDDEN.finditer(self.text)}


@dataclass
class AdminClient:
    stack: Stack
    http: aiohttp.ClientSession

    @property
    def root(self) -> str:
        return f"{self.stack.base_url}/admin"

    async def get(self, path: str, *, follow: bool = True, **kwargs: Any) -> Page:
        async with self.http.get(f"{self.root}{path}", allow_redirects=follow, **kwargs) as r:
            return Page(r.status, str(r.url), await r.text(), r.headers)

    async def post(self, path: str, data: dict[str, str], *, follow: bool = True) -> Page:
        async with self.http.post(f"{self.root}{path}", data=data, allow_redirects=follow) as r:
            return Page(r.status, str(r.url), await r.text(), r.headers)

    async def submit(self, form_page: str, action: str, fields: dict[str, str]) -> Page:
        """Load `form_page`, then post `fields` to `action` with the form's hidden fields (CSRF token...)."""
        page = await self.get(form_page)
        assert page.status == 200, page.text
        return await self.post(action, {**page.hidden(), **fields})

    async def login(self, email: str, password: str = PASSWORD) -> Page:
        return await self.submit("/login", "/login", {"email": email, "password": password})


@pytest_asyncio.fixture
async def browser_session(stack: Stack) -> AsyncIterator[AdminClient]:
    # unsafe=True: aiohttp keeps no cookies for an IP address (127.0.0.1) otherwise.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield AdminClient(stack, http)


@pytest_asyncio.fixture
async def second_session(stack: Stack) -> AsyncIterator[AdminClient]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield AdminClient(stack, http)


async def create_admin(stack: Stack, email: str, tenant_id: str | None, name: str = "Operator") -> str:
    return await stack.platform.services.admins.create(email, PASSWORD, tenant_id=tenant_id, display_name=name)


@pytest_asyncio.fixture
async def tenant_admin(stack: Stack) -> str:
    email = "ops@tenant-a.example"
    await create_admin(stack, email, stack.tenant.tenant_id, "A 运营")
    return email


async def wait_for_inbox(stack: Stack, number: str, needle: str, timeout: float = 30.0) -> list[Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    inbox: Any = []
    while asyncio.get_running_loop().time() < deadline:
        status, inbox = await stack.sim("GET", f"/_sim/handsets/{number}/inbox")
        if status == 200 and any(needle in str(entry) for entry in inbox):
            return list(inbox)
        await asyncio.sleep(0.05)
    raise AssertionError(f"{needle!r} never reached {number}: {inbox}")
