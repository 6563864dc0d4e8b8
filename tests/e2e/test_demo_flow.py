"""The demo's "check my repayment" flow, end to end through the China Mobile simulator: the seed that
`make run` plants answers a simulated handset's menu request, tap and second tap, keeps the conversation's
state and tags the contact, and hands the customer to a person on request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from msg5g.services.demo import DEMO_CUSTOMER, seed_demo
from tests.conftest import Stack
from tests.e2e.library import wait_for

pytestmark = pytest.mark.asyncio


async def test_the_demo_repayment_flow(stack: Stack, tmp_path: Path) -> None:
    account = await seed_demo(stack.platform.services, simulator_url=stack.simulator_url,
                              state_file=tmp_path / "demo.json")
    notify = f"{stack.base_url}/webhooks/cmcc/{account.channel_id}"
    status, answer = await stack.sim("PUT", f"/_sim/chatbots/{account.carrier_chatbot_id}", {
        "app_id": account.carrier_app_id, "password": account.carrier_password, "notify_url": notify})
    assert status < 300, answer

    async def tap(**body: Any) -> None:
        status, answer = await stack.sim("POST", f"/_sim/handsets/{DEMO_CUSTOMER}/uplink",
                                         {"chatbot_id": account.carrier_chatbot_id, **body})
        assert status == 200, answer

    async def shown(needle: str) -> str:
        async def check() -> str | None:
            _, entries = await stack.sim("GET", f"/_sim/handsets/{DEMO_CUSTOMER}/inbox")
            found = [json.dumps(e, ensure_ascii=False) for e in entries]
            return next((e for e in found if needle in e), None)
        return str(await wait_for(check, f"{needle!r} on the handset"))

    async def conversation() -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {account.api_key}"}
        async with stack.http.get(f"{stack.base_url}/v1/conversations?number={quote(DEMO_CUSTOMER)}",
                                  headers=headers) as r:
            [found] = await r.json()
        return dict(found)

    await tap(text="菜单")
    menu = await shown("请选择")
    assert "李雷好" in menu, menu
    assert "repay:check" in menu, menu
    await tap(postback={"data": "repay:check", "display_text": "查询还款"})
    card = await shown("本期应还")
    for expected in ("1,288.00", "12月15日", "https://pay.example.com/repay"):
        assert expected in card, card
    assert (await conversation())["state"] == "repayment"
    await tap(postback={"data": "repay:later", "display_text": "稍后提醒"})
    await shown("前一天提醒您")
    contact = await stack.platform.services.conversations.contact(account.tenant_id, DEMO_CUSTOMER)
    assert "remind_me" in contact.tags
    await tap(postback={"data": "agent", "display_text": "人工客服"})
    await shown("正在为您转接人工客服")

    async def handed_over() -> dict[str, Any] | None:
        found = await conversation()
        return found if found["mode"] == "waiting" else None
    await wait_for(handed_over, "the conversation handed to people")
