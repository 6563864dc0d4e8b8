"""The second-tenant cases of the admin's businesses page, its mapping requests and the messages export,
for test_tenant_isolation.ISOLATION_CASES (each takes the isolation test's World)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Awaitable, Callable
from typing import Any

from tests.api.helpers import ADMIN_PASSWORD

Case = Callable[[Any], Awaitable[None]]
UNKNOWN = "00000000-0000-0000-0000-000000000000"


def _unknown_alike(foreign: Any, unknown: Any, a_id: str) -> None:
    assert foreign.status == 404, foreign.text[:300]
    assert (foreign.status, foreign.text.replace(a_id, UNKNOWN)) == (unknown.status, unknown.text)


async def _a_businesses(w: Any) -> list[tuple[str, str, str | None]]:
    return [(b.name, b.traffic_class.value, b.callback_url)
            for b in await w.stack.platform.services.businesses.of_tenant(w.a.tenant_id)]


async def _admin_businesses(w: Any) -> None:
    a, b = await w.admins()
    page = await b.get("/businesses")
    assert page.status == 200
    assert re.findall(r'data-business="([^"]+)"', page.text) == [w.b.business_id]
    assert w.a.business_id not in page.text
    page = await a.get("/businesses")  # control
    assert re.findall(r'data-business="([^"]+)"', page.text) == [w.a.business_id]


async def _admin_business_add(w: Any) -> None:
    a, b = await w.admins()
    before = await _a_businesses(w)
    page = await b.submit("/businesses", "/businesses", {"name": "B 的业务", "traffic_class": "marketing"})
    assert page.status == 200, page.text[:300]
    assert await _a_businesses(w) == before
    assert "B 的业务" in {v.name for v in await w.stack.platform.services.businesses.of_tenant(w.b.tenant_id)}
    page = await a.submit("/businesses", "/businesses", {"name": "A 的新业务", "traffic_class": "service"})
    assert page.status == 200, page.text[:300]
    assert "A 的新业务" in {name for name, _, _ in await _a_businesses(w)}


def _admin_business_change(suffix: str, fields: dict[str, str]) -> Case:
    async def case(w: Any) -> None:
        a, b = await w.admins()
        before = await _a_businesses(w)
        foreign = await b.submit("/businesses", f"/businesses/{w.a.business_id}{suffix}", fields)
        unknown = await b.submit("/businesses", f"/businesses/{UNKNOWN}{suffix}", fields)
        _unknown_alike(foreign, unknown, w.a.business_id)
        assert await _a_businesses(w) == before
        secret = (await w.stack.platform.services.directory.business_callback(w.a.tenant_id, w.a.business_id)).secret
        page = await a.submit("/businesses", f"/businesses/{w.a.business_id}{suffix}", fields)  # control
        assert page.status == 200, page.text[:300]
        w.stack.platform.services.directory.forget()
        after = (await w.stack.platform.services.directory.business_callback(w.a.tenant_id, w.a.business_id)).secret
        assert await _a_businesses(w) != before or after != secret

    return case


async def _admin_mapping_request(w: Any) -> None:
    """B's operator asks for nothing of A's: A's chatbot and business are unknown to B, as missing ones."""
    a, b = await w.admins()
    page = await b.get("/mappings")
    assert w.a.chatbot_id not in page.text
    for fields in ({"business_id": w.b.business_id, "resource": f"chatbot:{w.a.chatbot_id}"},
                   {"business_id": w.a.business_id, "resource": f"chatbot:{w.b.chatbot_id}"}):
        answer = await b.submit("/mappings", "/mappings", fields)
        assert answer.status in {404, 422}, answer.text[:300]
        assert w.a.chatbot_id not in answer.text.replace(fields["resource"], "")
    assert await w.stack.platform.services.grants.of_tenant(w.a.tenant_id) == []
    assert await w.stack.platform.services.grants.of_tenant(w.b.tenant_id) == []
    services = w.stack.platform.services
    from msg5g.domain.messages import TrafficClass

    second, _ = await services.provisioning.create_business(w.a.tenant_id, "A 营销", TrafficClass.MARKETING)
    page = await a.submit("/mappings", "/mappings", {"business_id": second,
                                                     "resource": f"chatbot:{w.a.chatbot_id}"})  # control
    assert page.status == 200, page.text[:300]
    assert len(await services.grants.of_tenant(w.a.tenant_id)) == 1


async def _admin_messages_export(w: Any) -> None:
    a, b = await w.admins()
    for query in ("", "?reveal=1", f"?chatbot={w.a.chatbot_id}", f"?business={w.a.business_id}"):
        page = await b.get(f"/messages/export{query}")
        assert page.status == 200
        rows = list(csv.DictReader(io.StringIO(page.text.removeprefix("\ufeff"))))
        assert w.a_message["id"] not in page.text, query
        assert all(r["message_id"] != w.a_message["id"] for r in rows)
    page = await a.get("/messages/export")  # control
    assert w.a_message["id"] in page.text


ADMIN_CASES: dict[tuple[str, str], Case] = {
    ("GET", "/admin/businesses"): _admin_businesses,
    ("POST", "/admin/businesses"): _admin_business_add,
    ("POST", "/admin/businesses/{business_id}"): _admin_business_change(
        "", {"name": "B 改名", "traffic_class": "marketing", "callback_url": ""}),
    ("POST", "/admin/businesses/{business_id}/rotate-secret"): _admin_business_change("/rotate-secret", {}),
    ("POST", "/admin/mappings"): _admin_mapping_request,
    ("GET", "/admin/messages/export"): _admin_messages_export,
}


async def _admin_tenant_create(w: Any) -> None:
    """A tenant's admin adds no tenant (it would be beyond their tenant); a platform admin does."""
    a, b = await w.admins()
    before = await w.stack.platform.services.provisioning.tenants()
    for browser in (a, b):
        page = await browser.submit("/", "/tenants", {"name": "越权租户", "traffic_class": "marketing"})
        assert page.status == 403, page.text[:300]
    assert await w.stack.platform.services.provisioning.tenants() == before
    await w.stack.platform.services.admins.create("root@isolation.example", ADMIN_PASSWORD, tenant_id=None,
                                                  display_name="root")
    root = w.anonymous
    await root.login("root@isolation.example")
    page = await root.submit("/tenant", "/tenants", {"name": "运营新租户", "traffic_class": "service"})
    assert page.status == 200, page.text[:300]
    assert len(await w.stack.platform.services.provisioning.tenants()) == len(before) + 1


ADMIN_CASES[("POST", "/admin/tenants")] = _admin_tenant_create
