"""Uplinks: what a user types or taps on the simulated handset reaches the business, signed."""

from __future__ import annotations

from typing import Any

import pytest

from msg5g.services.signing import verify_callback
from tests.conftest import CARRIER_CHATBOT_ID, Stack

pytestmark = pytest.mark.asyncio

USER = "+8613900139000"


async def _uplink(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = await stack.sim("POST", f"/_sim/handsets/{USER}/uplink",
                                     {"chatbot_id": CARRIER_CHATBOT_ID, **body})
    assert status == 200, answer
    assert answer["status"] == 204, answer  # what our webhook answered the simulated carrier
    return dict(answer)


async def _inbound(stack: Stack, count: int) -> list[dict[str, Any]]:
    await stack.receiver.wait_for(lambda events: len([e for e in events if e["type"] == "message.inbound"]) >= count)
    return [e["data"] for e in stack.receiver.events("message.inbound")]


@pytest.mark.parametrize("base64_encoded", [False, True])
async def test_text_uplink_reaches_the_business(stack: Stack, base64_encoded: bool) -> None:
    await _uplink(stack, {"text": "我想查询账单", "base64": base64_encoded})
    [event] = await _inbound(stack, 1)
    assert event["sender"] == USER
    assert event["content"] == {"kind": "text", "text": "我想查询账单"}
    request = next(r for r in stack.receiver.requests if r.json()["type"] == "message.inbound")
    assert verify_callback(stack.tenant.callback_secret, request.body, request.headers)


async def test_button_postback_reaches_the_business(stack: Stack) -> None:
    await _uplink(stack, {"postback": {"data": "pay_now", "display_text": "立即还款"}})
    [event] = await _inbound(stack, 1)
    assert event["content"] == {"kind": "suggestion_response", "response_type": "reply", "text": "立即还款",
                                "postback_data": "pay_now"}


async def test_other_uplink_kinds_are_normalised(stack: Stack) -> None:
    await _uplink(stack, {"geo": {"lat": 39.9042, "lon": 116.4074, "label": "天安门"}})
    await _uplink(stack, {"file": {"url": "https://ft.example.com/s/abcFD.jpg", "content_type": "image/jpeg",
                                   "size": 52239, "name": "photo.jpg"}})
    await _uplink(stack, {"action": {"display_text": "立即问医"}})
    await _uplink(stack, {"shared_data": {"deviceModel": "P60", "platformVersion": "12"}})
    await _uplink(stack, {"spam_report": {"free_text": "天天骚扰"}})
    events = await _inbound(stack, 5)
    by_kind = {e["content"]["kind"]: e["content"] for e in events}
    assert by_kind["location"]["latitude"] == pytest.approx(39.9042)
    assert by_kind["location"]["label"] == "天安门"
    assert by_kind["file"]["file"]["size"] == 52239
    assert by_kind["file"]["file"]["content_type"] == "image/jpeg"
    assert by_kind["suggestion_response"]["response_type"] == "action"
    assert by_kind["shared_data"]["device_specifics"]["deviceModel"] == "P60"
    assert by_kind["spam_report"]["free_text"] == "天天骚扰"

    async with stack.http.get(f"{stack.base_url}/v1/inbound", headers=stack.auth()) as response:
        stored = (await response.json())["data"]
    assert {row["kind"] for row in stored} == set(by_kind)
