"""Templates end to end: authored through the API, reviewed by someone else, taken to every chatbot
(waiting for their materials, audited by the carriers that audit templates), versioned, previewed
through each adapter, and sent with per-recipient parameters through the carrier simulators."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import ServeFn, Stack
from tests.e2e.channels import aggregator_channel, chatbot_json_channel
from tests.e2e.library import (
    Api,
    approved_template,
    card_template,
    channel_states,
    reviewer,
    settled,
    settled_syncs,
    upload,
)
from tests.media_samples import png

pytestmark = pytest.mark.asyncio

ALICE, BOB = "+8613900139111", "+8613900139222"


async def test_a_template_is_reviewed_audited_per_channel_and_sent_with_each_recipients_params(
        stack: Stack, serve: ServeFn) -> None:
    ctcc = await chatbot_json_channel(stack, serve, "ctcc", "106598858810000006")
    aggregator = await aggregator_channel(stack, serve)
    status, material = await upload(stack, png())
    assert status == 201, material
    await settled_syncs(stack, material["id"], 3)
    view = await approved_template(stack, card_template(material["id"]))
    states = await channel_states(stack, view["id"], 1, settled)
    # China Mobile and the aggregator audit templates and name them; CT/CU have no template audit.
    assert {k: s["state"] for k, s in states.items()} == {
        stack.tenant.chatbot_id: "approved", ctcc.chatbot_id: "approved", aggregator.chatbot_id: "approved"}
    assert states[stack.tenant.chatbot_id]["carrier_template_id"]
    assert states[aggregator.chatbot_id]["carrier_template_id"]
    assert states[ctcc.chatbot_id]["carrier_template_id"] is None

    status, answer = await stack.send({
        "chatbot_id": ctcc.chatbot_id, "recipients": [ALICE, BOB], "template": view["id"],
        "params": {"amount": "88.00", "due": "2027-01-05", "account": "4321"},
        "recipient_params": {ALICE: {"name": "李雷", "vip": "yes"}, "13900139222": {"name": "韩梅梅"}}})
    assert status == 202, answer
    for accepted in answer["messages"]:
        await stack.wait_status(accepted["id"], "displayed")
    async with stack.http.get(f"{ctcc.simulator_url}/_sim/requests") as r:
        bodies = (await r.json())["requests"]
    cards = {b["destinationAddress"][0]: b["messageList"][0]["contentText"] for b in bodies}
    alice = cards[f"tel:{ALICE}"]["message"]["generalPurposeCard"]["content"]
    bob = cards[f"tel:{BOB}"]["message"]["generalPurposeCard"]["content"]
    assert alice["title"] == "李雷，您的账单"
    assert alice["description"] == "应还 88.00元，2027年1月5日前（尊享）"
    assert bob["title"] == "韩梅梅，您的账单"
    assert bob["description"] == "应还 88.00元，2027年1月5日前"
    ctcc_url = (await settled_syncs(stack, material["id"], 3))[ctcc.chatbot_id]["url"]
    assert alice["media"]["mediaUrl"] == ctcc_url
    fallbacks = {b["destinationAddress"][0]: b.get("smsContent") for b in bodies}
    assert fallbacks[f"tel:{BOB}"] == "韩梅梅您好，您应还88.00元"


async def test_parameters_are_checked_before_anything_is_accepted(stack: Stack) -> None:
    status, material = await upload(stack, png())
    assert status == 201, material
    await settled_syncs(stack, material["id"], 1)
    view = await approved_template(stack, card_template(material["id"]))
    await channel_states(stack, view["id"], 1, settled)
    for params, complaint in [({"amount": "1.234", "due": "2027-01-05", "account": "1"}, "amount"),
                              ({"name": "x", "amount": "1", "due": "someday", "account": "1234"}, "due"),
                              ({"name": "x", "amount": "1", "due": "2027-01-05"}, "account: missing")]:
        status, answer = await stack.send({"chatbot_id": stack.tenant.chatbot_id, "recipients": [ALICE],
                                           "template": view["id"], "params": {"name": "李雷", **params}})
        assert status == 422, answer
        assert answer["error"]["code"] == "invalid_params", answer
        assert complaint in answer["error"]["message"], answer
    status, answer = await stack.send({"chatbot_id": stack.tenant.chatbot_id, "recipients": [ALICE],
                                       "template": "no-such-template", "params": {}})
    assert (status, answer["error"]["code"]) == (404, "template_not_found")


async def test_a_new_version_is_audited_while_the_old_one_stays_in_use(stack: Stack, serve: ServeFn) -> None:
    aggregator = await aggregator_channel(stack, serve)
    status, material = await upload(stack, png())
    assert status == 201, material
    await settled_syncs(stack, material["id"], 2)
    view = await approved_template(stack, card_template(material["id"]))
    await channel_states(stack, view["id"], 1, settled)
    author, checker = Api(stack, stack.tenant.api_key), await reviewer(stack)
    async with stack.http.put(f"{aggregator.simulator_url}/_sim/audit", json={"templates": "hold"}) as r:
        assert r.status == 200
    status, edited = await author.call("PUT", f"/v1/templates/{view['id']}", {
        "definition": card_template(material["id"], title="{{ name }}：新账单")["definition"]})
    assert status == 200, edited
    assert [v["review_state"] for v in edited["versions"]] == ["approved", "draft"]
    await author.call("POST", f"/v1/templates/{view['id']}/versions/2/submit")
    status, _ = await checker.call("POST", f"/v1/templates/{view['id']}/versions/2/review", {"approved": True})
    assert status == 200
    states = await channel_states(stack, view["id"], 2, lambda s: s.get(aggregator.chatbot_id) == "submitted")
    assert states[aggregator.chatbot_id]["state"] == "submitted"
    params = {"name": "李雷", "amount": "1", "due": "2027-01-05", "account": "1234"}

    async def sent_title(chatbot_id: str, sim_url: str) -> str:
        status, answer = await stack.send({"chatbot_id": chatbot_id, "recipients": ["+8613900139333"],
                                           "template": view["id"], "params": params})
        assert status == 202, answer
        await stack.wait_status(answer["messages"][0]["id"], "displayed")
        async with stack.http.get(f"{sim_url}/_sim/handsets/+8613900139333/inbox") as r:
            return str((await r.json())[-1]["card"])
    assert "李雷，您的账单" in await sent_title(aggregator.chatbot_id, aggregator.simulator_url)  # still v1 there
    async with stack.http.get(f"{aggregator.simulator_url}/_sim/templates") as r:
        held = [t for t in (await r.json())["templates"] if t["state"] == "pending"]
    async with stack.http.post(f"{aggregator.simulator_url}/_sim/templates/{held[-1]['id']}/audit",
                               json={"approved": True}) as r:
        assert r.status == 200, await r.text()
    await channel_states(stack, view["id"], 2, lambda s: s.get(aggregator.chatbot_id) == "approved")
    v1 = await channel_states(stack, view["id"], 1, lambda s: s.get(aggregator.chatbot_id) == "superseded")
    assert "version 2" in v1[aggregator.chatbot_id]["reason"]
    await asyncio.sleep(5.1)  # a process keeps which version is approved where for 5 s
    assert "李雷：新账单" in await sent_title(aggregator.chatbot_id, aggregator.simulator_url)


async def test_a_carrier_rejection_and_the_sandbox_and_sensitive_words(stack: Stack, serve: ServeFn) -> None:
    aggregator = await aggregator_channel(stack, serve)
    author = Api(stack, stack.tenant.api_key)
    status, answer = await author.call("POST", "/v1/templates", {"name": "escape", "definition": {
        "layout": {"kind": "text", "text": "{{ ''.__class__.__mro__ }}"}, "parameters": []}})
    assert (status, answer["error"]["code"]) == (422, "template_unsafe"), answer
    status, answer = await author.call("POST", "/v1/templates", {"name": "broken", "definition": {
        "layout": {"kind": "text", "text": "{% if x %}"}, "parameters": []}})
    assert (status, answer["error"]["code"]) == (422, "template_invalid"), answer
    status, answer = await author.call("POST", "/v1/sensitive-words", {"words": [
        {"word": "保本", "action": "block"}, {"word": "稳赚", "action": "mask"}]})
    assert status == 200, answer
    status, answer = await author.call("POST", "/v1/templates", {"name": "ad", "definition": {
        "layout": {"kind": "text", "text": "保本理财，{{ name }}"},
        "parameters": [{"name": "name", "type": "string", "sample": "x"}]}})
    assert (status, answer["error"]["code"]) == (422, "sensitive_words"), answer
    assert "保本" in answer["error"]["message"]
    # The aggregator's own audit refuses what it refuses (here: its forbidden word).
    view = await approved_template(stack, {"name": "forbidden", "definition": {
        "layout": {"kind": "text", "text": "违禁 {{ name }}"},
        "parameters": [{"name": "name", "type": "string", "sample": "x"}]}})
    states = await channel_states(stack, view["id"], 1, settled)
    assert states[aggregator.chatbot_id]["state"] == "rejected"
    assert "违禁" in states[aggregator.chatbot_id]["reason"]
    # A masked word in a parameter goes out masked.
    view = await approved_template(stack, {"name": "masked", "definition": {
        "layout": {"kind": "text", "text": "您好 {{ name }}"},
        "parameters": [{"name": "name", "type": "string", "sample": "x"}]}})
    await channel_states(stack, view["id"], 1, settled)
    status, answer = await stack.send({"chatbot_id": aggregator.chatbot_id, "recipients": [ALICE],
                                       "template": view["id"], "params": {"name": "稳赚客户"}})
    assert status == 202, answer
    await stack.wait_status(answer["messages"][0]["id"], "displayed")
    async with stack.http.get(f"{aggregator.simulator_url}/_sim/handsets/{ALICE}/inbox") as r:
        assert (await r.json())[-1]["text"] == "您好 **客户"
    status, answer = await stack.send({"chatbot_id": aggregator.chatbot_id, "recipients": [ALICE],
                                       "content": {"kind": "text", "text": "保本收益"}})
    assert (status, answer["error"]["code"]) == (422, "sensitive_words"), answer


async def test_the_preview_is_what_the_carrier_receives(stack: Stack, serve: ServeFn) -> None:
    ctcc = await chatbot_json_channel(stack, serve, "ctcc", "106598858810000006")
    status, material = await upload(stack, png())
    assert status == 201, material
    await settled_syncs(stack, material["id"], 2)
    view = await approved_template(stack, card_template(material["id"]))
    await channel_states(stack, view["id"], 1, settled)
    author = Api(stack, stack.tenant.api_key)
    samples = {"name": "张三", "amount": "1234.50", "due": "2026-12-15", "vip": "yes", "account": "0001"}
    status, previews = await author.call("POST", f"/v1/templates/{view['id']}/preview", {"params": samples})
    assert status == 200, previews
    preview = next(p for p in previews if p["chatbot_id"] == ctcc.chatbot_id)
    status, answer = await stack.send({"chatbot_id": ctcc.chatbot_id, "recipients": [ALICE],
                                       "template": view["id"], "params": samples})
    assert status == 202, answer
    await stack.wait_status(answer["messages"][0]["id"], "displayed")
    async with stack.http.get(f"{ctcc.simulator_url}/_sim/requests") as r:
        received = (await r.json())["requests"][-1]
    import json

    previewed = json.loads(preview["payload"])
    # Ids, addresses and conversation ids differ between a preview and a send; the content does not.
    varying = {"messageId", "destinationAddress", "conversationId", "contributionId"}
    assert {k: v for k, v in previewed.items() if k not in varying} == \
        {k: v for k, v in received.items() if k not in varying}
