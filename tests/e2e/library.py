"""What the materials and templates tests share: uploads through the API, waiting for syncs and
template states to settle, a second API key to review with."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from tests.conftest import Stack


async def upload(stack: Stack, data: bytes, file_name: str = "banner.png", **fields: str) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=file_name, content_type="application/octet-stream")
    for name, value in fields.items():
        form.add_field(name, value)
    async with stack.http.post(f"{stack.base_url}/v1/materials", data=form, headers=stack.auth()) as r:
        return r.status, await r.json()


async def material(stack: Stack, material_id: str) -> dict[str, Any]:
    async with stack.http.get(f"{stack.base_url}/v1/materials/{material_id}", headers=stack.auth()) as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())


async def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} never happened; last seen: {last}")


async def settled_syncs(stack: Stack, material_id: str, count: int) -> dict[str, dict[str, Any]]:
    async def check() -> dict[str, dict[str, Any]] | None:
        syncs = (await material(stack, material_id))["syncs"]
        done = [s for s in syncs if s["state"] not in {"uploading", "pending_audit"} and not s["refreshing"]]
        return {s["chatbot_id"]: s for s in syncs} if len(done) == count == len(syncs) else None
    return dict(await wait_for(check, f"{count} settled syncs of {material_id}"))


async def sim_media(http: aiohttp.ClientSession, sim_url: str) -> list[dict[str, Any]]:
    async with http.get(f"{sim_url}/_sim/media") as r:
        assert r.status == 200, await r.text()
        return list((await r.json())["media"])


def card_template(material_id: str, *, title: str = "{{ name }}，您的账单") -> dict[str, Any]:
    return {"name": "repayment", "definition": {
        "layout": {"kind": "rich_card", "card": {
            "title": title, "description": "应还 {{ amount|yuan }}，{{ due|cn_date }}前{% if vip %}（尊享）{% endif %}",
            "media": {"file": {"material_id": material_id}},
            "suggestions": [{"type": "reply", "text": "已还款", "postback_data": "paid:{{ name }}"},
                            {"type": "open_url", "text": "去还款", "url": "https://pay.example.com/{{ account }}"}]}},
        "fallback_text": "{{ name }}您好，您应还{{ amount|yuan }}",
        "parameters": [
            {"name": "name", "type": "string", "max_length": 10, "sample": "张三"},
            {"name": "amount", "type": "money", "sample": "1234.50"},
            {"name": "due", "type": "date", "sample": "2026-12-15"},
            {"name": "vip", "type": "enum", "values": ["", "yes"], "required": False, "sample": "yes"},
            {"name": "account", "type": "string", "pattern": "[0-9]{4}", "sample": "0001"}]}}


class Api:
    def __init__(self, stack: Stack, key: str) -> None:
        self.stack, self.headers = stack, {"Authorization": f"Bearer {key}"}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.stack.http.request(method, f"{self.stack.base_url}{path}", json=body,
                                           headers=self.headers) as r:
            return r.status, await r.json()


async def reviewer(stack: Stack) -> Api:
    _, key = await stack.platform.services.api_keys.create(stack.tenant.tenant_id, stack.tenant.business_id,
                                                          "reviewer")
    return Api(stack, key)


async def approved_template(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    author, checker = Api(stack, stack.tenant.api_key), await reviewer(stack)
    status, created = await author.call("POST", "/v1/templates", body)
    assert status == 201, created
    template_id = created["id"]
    status, answer = await author.call("POST", f"/v1/templates/{template_id}/versions/1/submit")
    assert status == 200, answer
    status, answer = await author.call("POST", f"/v1/templates/{template_id}/versions/1/review", {"approved": True})
    assert (status, answer["error"]["code"]) == (403, "same_reviewer"), answer
    status, answer = await checker.call("POST", f"/v1/templates/{template_id}/versions/1/review",
                                        {"approved": True, "note": "ok"})
    assert status == 200, answer
    return dict(answer)


async def channel_states(stack: Stack, template_id: str, version: int,
                         done: Callable[[dict[str, str]], bool]) -> dict[str, dict[str, Any]]:
    api = Api(stack, stack.tenant.api_key)

    async def check() -> dict[str, dict[str, Any]] | None:
        _, view = await api.call("GET", f"/v1/templates/{template_id}")
        states = {s["chatbot_id"]: s for s in next(v for v in view["versions"] if v["version"] == version)["channels"]}
        return states if done({k: s["state"] for k, s in states.items()}) else None
    return dict(await wait_for(check, f"template {template_id} v{version} states"))


def settled(states: dict[str, str]) -> bool:
    return bool(states) and all(s not in {"waiting_materials", "submitted"} for s in states.values())
