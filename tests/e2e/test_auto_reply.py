"""Auto-reply end to end: rules set through the API answer uplinks sent by a simulated handset, through
the China Mobile simulator and back to it; the conversation keeps its history, state and notes; a
webhook action's answer is the reply, and a slow or failing webhook gets the fallback; a reply that
cannot be filled in is a note, not a silence; a handover silences the rules; and a sample uplink tells
what would happen without sending anything."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio
from aiohttp import web

from msg5g.services.signing import verify_callback
from tests.conftest import CARRIER_CHATBOT_ID, Stack, free_port
from tests.e2e.library import wait_for

pytestmark = pytest.mark.asyncio
USER = "+8613700137001"


async def api(stack: Stack, method: str, path: str, body: Any = None, key: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key or stack.tenant.api_key}"}
    async with stack.http.request(method, f"{stack.base_url}{path}", json=body, headers=headers) as r:
        return r.status, await r.json() if r.content_type == "application/json" else None


async def add_rule(stack: Stack, **spec: Any) -> dict[str, Any]:
    status, created = await api(stack, "POST", f"/v1/chatbots/{stack.tenant.chatbot_id}/auto-reply-rules", spec)
    assert status == 201, created
    return dict(created)


def text_reply(text: str) -> dict[str, Any]:
    return {"kind": "reply", "content": {"kind": "text", "text": text}}


async def uplink(stack: Stack, number: str = USER, **body: Any) -> None:
    status, answer = await stack.sim("POST", f"/_sim/handsets/{number}/uplink",
                                     {"chatbot_id": CARRIER_CHATBOT_ID, **body})
    assert status == 200, answer


async def inbox(stack: Stack, number: str = USER) -> list[str]:
    _, entries = await stack.sim("GET", f"/_sim/handsets/{number}/inbox")
    return [json.dumps(e, ensure_ascii=False) for e in entries]


async def replied(stack: Stack, needle: str, number: str = USER, count: int = 1) -> list[str]:
    async def check() -> list[str] | None:
        found = [e for e in await inbox(stack, number) if needle in e]
        return found if len(found) >= count else None
    return list(await wait_for(check, f"a reply with {needle!r} on {number}"))


async def conversation(stack: Stack, number: str = USER) -> dict[str, Any]:
    async def listed() -> list[dict[str, Any]] | None:
        status, found = await api(stack, "GET", f"/v1/conversations?number={quote(number)}")
        assert status == 200, found
        return list(found) or None
    [found] = await wait_for(listed, f"the conversation with {number}")
    status, full = await api(stack, "GET", f"/v1/conversations/{found['id']}")
    assert status == 200, full
    return dict(full)


async def test_rules_answer_keywords_patterns_and_taps_in_priority_order(stack: Stack) -> None:
    status, _ = await api(stack, "PUT", f"/v1/contacts/{USER}", {"attributes": {"name": "李雷", "balance": "88.50"},
                                                                  "tags": ["vip"]})
    assert status == 200
    await add_rule(stack, name="welcome", priority=1, continue_after=True, conditions={"first_message": True},
                   actions=[text_reply("欢迎使用演示服务")])
    await add_rule(stack, name="balance", priority=10, conditions={"match": "exact", "keywords": ["余额"]},
                   actions=[text_reply("{{ contact.name }}，您的余额是 {{ contact.balance }} 元")])
    await add_rule(stack, name="bill", priority=20,
                   conditions={"match": "regex", "pattern": r"查询(\d{1,2})月账单"},
                   actions=[text_reply("{{ groups[1] }}月账单已发送"), {"kind": "set", "state": "bill_sent",
                                                                     "add_tags": ["asked_bill"]}])
    await add_rule(stack, name="pay", priority=30, conditions={"postback": "pay_now"},
                   actions=[text_reply("正在为您跳转支付")])
    await add_rule(stack, name="vip", priority=40, conditions={"tag": "vip", "match": "contains",
                                                                "keywords": ["客服"]},
                   actions=[text_reply("尊敬的会员，专属客服马上联系您")])
    await add_rule(stack, name="otherwise", default=True, actions=[text_reply("抱歉，没听懂：{{ text }}")])

    await uplink(stack, text="余额")
    await replied(stack, "欢迎使用演示服务")  # first message, and the rule continues...
    await replied(stack, "李雷，您的余额是 88.50 元")  # ...to the keyword
    await uplink(stack, text="请查询11月账单")
    await replied(stack, "11月账单已发送")
    await uplink(stack, postback={"data": "pay_now", "display_text": "立即支付"})
    await replied(stack, "正在为您跳转支付")
    await uplink(stack, text="找客服")
    await replied(stack, "专属客服马上联系您")
    await uplink(stack, text="今天天气")
    await replied(stack, "抱歉，没听懂：今天天气")
    assert len([e for e in await inbox(stack) if "欢迎使用演示服务" in e]) == 1  # the first message only once

    view = await conversation(stack)
    assert view["state"] == "bill_sent"
    assert view["uplinks"] == 5
    ups = [h for h in view["history"] if h["direction"] == "up"]
    downs = [h for h in view["history"] if h["direction"] == "down"]
    assert (len(ups), len(downs)) == (5, 6), view["history"]
    assert any(h["direction"] == "note" and h["kind"] == "rules" for h in view["history"])
    status, contact = await api(stack, "GET", f"/v1/contacts/{USER}")
    assert contact["tags"] == ["asked_bill", "vip"], contact
    # Every reply went through the pipeline as the business's customer-service traffic.
    status, page = await api(stack, "GET", f"/v1/messages?recipient={quote(USER)}")
    assert {m["traffic_class"] for m in page["data"]} == {"customer_service"}, page


async def test_a_reply_that_cannot_be_filled_in_is_a_note_and_nothing_is_sent(stack: Stack) -> None:
    await add_rule(stack, name="needs a name", conditions={"match": "exact", "keywords": ["你好"]},
                   actions=[text_reply("{{ contact.name }}，您好"), {"kind": "set", "state": "greeted"}])
    await uplink(stack, text="你好")

    async def noted() -> dict[str, Any] | None:
        view = await conversation(stack)
        return view if any(h["kind"] == "reply_failed" for h in view["history"]) else None
    view = await wait_for(noted, "the failed reply noted")
    [note] = [h for h in view["history"] if h["kind"] == "reply_failed"]
    assert "name" in note["text"], note
    assert view["state"] == "greeted"  # the rest of the rule ran
    await asyncio.sleep(0.5)
    assert await inbox(stack) == []


@pytest_asyncio.fixture
async def business_webhook() -> AsyncIterator[dict[str, Any]]:
    """The business's own server: answers auto-reply requests, slowly or not at all when told to."""
    calls: list[web.Request] = []
    behaviour: dict[str, Any] = {"mode": "answer", "bodies": [], "headers": []}

    async def handle(request: web.Request) -> web.Response:
        calls.append(request)
        body = await request.read()
        behaviour["bodies"].append(body)
        behaviour["headers"].append(dict(request.headers))
        if behaviour["mode"] == "slow":
            await asyncio.sleep(3)
        if behaviour["mode"] == "fail":
            return web.Response(status=500)
        asked = json.loads(body)
        order = asked["uplink"]["content"]["text"]
        return web.json_response({"replies": [{"kind": "text", "text": f"订单 {order} 已发货"}],
                                  "state": "order_checked", "add_tags": ["ordered"]})

    app = web.Application()
    app.router.add_post("/rules", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    behaviour["url"] = f"http://127.0.0.1:{port}/rules"
    yield behaviour
    await runner.cleanup()


async def test_a_webhook_answers_or_its_fallback_goes(stack: Stack, business_webhook: dict[str, Any]) -> None:
    await add_rule(stack, name="orders", conditions={"match": "regex", "pattern": r"^\d{6}$"}, actions=[
        {"kind": "webhook", "url": business_webhook["url"], "timeout_seconds": 1,
         "fallback": [text_reply("查询繁忙，请稍后再试（{{ text }}）")]}])
    await uplink(stack, text="123456")
    await replied(stack, "订单 123456 已发货")
    body, headers = business_webhook["bodies"][0], business_webhook["headers"][0]
    secret = (await stack.platform.services.directory.business_callback(stack.tenant.tenant_id,
                                                                        stack.tenant.business_id)).secret
    assert verify_callback(secret, body, headers)  # signed like every business callback
    assert json.loads(body)["uplink"]["from"] == USER
    view = await conversation(stack)
    assert view["state"] == "order_checked"

    business_webhook["mode"] = "slow"
    await uplink(stack, text="654321")
    await replied(stack, "查询繁忙，请稍后再试（654321）")
    business_webhook["mode"] = "fail"
    await uplink(stack, text="111111")
    await replied(stack, "查询繁忙，请稍后再试（111111）")
    view = await conversation(stack)
    problems = [h["text"] for h in view["history"] if h["kind"] == "reply_failed"]
    assert any("within 1 s" in p for p in problems), problems
    assert any("HTTP 500" in p for p in problems), problems


async def test_a_handover_silences_the_rules(stack: Stack) -> None:
    await add_rule(stack, name="human", priority=1, conditions={"match": "any_of", "keywords": ["人工", "客服"]},
                   actions=[text_reply("正在为您转接人工客服"), {"kind": "handover"}])
    await add_rule(stack, name="echo", default=True, actions=[text_reply("自动回复：{{ text }}")])
    await uplink(stack, text="转人工")
    await replied(stack, "正在为您转接人工客服")
    view = await wait_for(lambda: _mode(stack, "waiting"), "the conversation handed over")
    assert any(h["kind"] == "handover" for h in view["history"])
    await uplink(stack, text="还在吗")

    async def seen() -> dict[str, Any] | None:
        view = await conversation(stack)
        return view if view["uplinks"] == 2 else None
    await wait_for(seen, "the second uplink counted")
    await asyncio.sleep(0.5)
    assert not any("自动回复" in e for e in await inbox(stack))


async def _mode(stack: Stack, mode: str) -> dict[str, Any] | None:
    view = await conversation(stack)
    return view if view["mode"] == mode else None


async def test_a_sample_uplink_tells_what_would_happen_and_bad_rules_are_refused(stack: Stack) -> None:
    rule = await add_rule(stack, name="bill", conditions={"match": "regex", "pattern": r"(\d+)月"},
                          actions=[text_reply("{{ groups[1] }}月账单"), {"kind": "set", "state": "bill"},
                                   {"kind": "webhook", "url": "http://127.0.0.1:9/never"}])
    path = f"/v1/chatbots/{stack.tenant.chatbot_id}/auto-reply-rules"
    status, outcome = await api(stack, "POST", f"{path}/test", {"text": "要3月的"})
    assert status == 200, outcome
    assert outcome["rules"] == [rule["id"]]
    assert outcome["replies"][0]["content"]["text"] == "3月账单"
    assert outcome["state"] == "bill"
    assert outcome["webhook_calls"] == ["http://127.0.0.1:9/never"]
    status, outcome = await api(stack, "POST", f"{path}/test", {"text": "你好"})
    assert (status, outcome["rules"], outcome["replies"]) == (200, [], [])
    assert await inbox(stack, "+8613800138000") == []  # a test sends nothing

    bad = [
        ({"conditions": {"match": "regex", "pattern": "(a+)+$"}}, "catastrophically slow"),
        ({"conditions": {"match": "regex", "pattern": "(unclosed"}}, "does not compile"),
        ({"conditions": {"match": "exact"}}, "keywords"),
        ({"actions": [{"kind": "reply", "content": {"kind": "text", "text": "{{ secret }}"}}]}, "has no secret"),
        ({"actions": [{"kind": "reply", "content": {"kind": "text", "text": "{{ ''.__class__ }}"}}]}, "not allowed"),
        ({"actions": []}, "actions"),
    ]
    for change, hint in bad:
        status, answer = await api(stack, "POST", path, {"name": "bad", "actions": [text_reply("x")], **change})
        assert status == 422, (change, answer)
        assert hint in json.dumps(answer, ensure_ascii=False), (change, answer)
    status, rules = await api(stack, "GET", path)
    assert [r["id"] for r in rules] == [rule["id"]]
    # Another tenant's chatbot is unknown.
    other = await stack.add_tenant("Tenant B", "125200401111531")
    status, answer = await api(stack, "GET", f"/v1/chatbots/{other.chatbot_id}/auto-reply-rules")
    assert (status, answer["error"]["code"]) == (404, "chatbot_not_found"), answer
    status, answer = await api(stack, "GET", path, key=other.api_key)
    assert (status, answer["error"]["code"]) == (404, "chatbot_not_found"), answer


async def test_an_unsubscribe_is_handled_before_any_rule_and_refuses_marketing(stack: Stack) -> None:
    from msg5g.domain.messages import TrafficClass
    from msg5g.services.grants import ResourceType

    await add_rule(stack, name="everything", default=True, actions=[text_reply("自动回复：{{ text }}")])
    services = stack.platform.services
    marketing, _ = await services.provisioning.create_business(stack.tenant.tenant_id, "活动", TrafficClass.MARKETING)
    _, marketing_key = await services.api_keys.create(stack.tenant.tenant_id, marketing, "marketing")
    grant = await services.grants.apply_for(stack.tenant.tenant_id, marketing, ResourceType.CHATBOT,
                                            stack.tenant.chatbot_id, None, "test")
    await services.grants.decide(stack.tenant.tenant_id, grant.id, approve=True, by="admin:checker")
    offer = {"chatbot_id": stack.tenant.chatbot_id, "recipients": [USER],
             "content": {"kind": "text", "text": "双十二大促"}}

    await uplink(stack, text=" TD ")
    await replied(stack, "您已退订")
    assert not any("自动回复" in e for e in await inbox(stack))  # no rule ran on it
    contact = await services.conversations.contact(stack.tenant.tenant_id, USER)
    assert contact.opted_out_at is not None
    status, answer = await api(stack, "POST", "/v1/messages", offer, key=marketing_key)
    assert (status, answer["error"]["code"]) == (409, "recipient_opted_out"), answer
    status, answer = await api(stack, "POST", "/v1/messages", {**offer, "recipients": [USER, "+8613700137999"]},
                               key=marketing_key)
    assert status == 202, answer
    assert [(r["recipient"], r["code"]) for r in answer["refused"]] == [(USER, "recipient_opted_out")]
    assert [m["recipient"] for m in answer["messages"]] == ["+8613700137999"]
    status, answer = await api(stack, "POST", "/v1/messages", {**offer, "content": {"kind": "text",
                                                                                  "text": "您的账单已出"}})
    assert status == 202, answer  # notifications still reach it

    await uplink(stack, text="订阅")
    await replied(stack, "您已重新订阅")
    status, answer = await api(stack, "POST", "/v1/messages", offer, key=marketing_key)
    assert (status, answer["refused"]) == (202, []), answer
    view = await conversation(stack)
    assert [h["kind"] for h in view["history"] if h["kind"] in {"opt_out", "opt_in"}] == ["opt_out", "opt_in"]
