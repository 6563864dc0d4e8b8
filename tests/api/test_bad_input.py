"""Bad input over real HTTP: every refusal has the documented status, code and field, and accepts nothing.

The rules come from the gateway's error catalogue (`msg5g.gateway.errors.ERROR_CODES`), the content
limits of the GSMA chatbot message schema (protocols.md §2.1, §2.2, encoded in
`msg5g.domain.content`), `SendRequest` and the carrier callback rules of protocols.md §1.3/§1.8.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from msg5g.domain.messages import TrafficClass
from tests.api.helpers import (
    VALID_NUMBER,
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
)
from tests.conftest import CARRIER_CHATBOT_ID, CARRIER_PASSWORD, Stack, Tenant

pytestmark = pytest.mark.asyncio

TENANT_B_CARRIER_ID = "125200401111529"


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client of its own that never reuses a connection: a 500 makes uvicorn drop the connection."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        yield session


@pytest_asyncio.fixture
async def seeded(stack: Stack) -> Stack:
    """The stack with one accepted message, so that "nothing new was listed" compares a non-empty list."""
    status, body = await stack.text(["13800138099"], "已有的消息")
    assert status == 202, body
    return stack


def _reply(text: str = "好的") -> dict[str, Any]:
    return {"type": "reply", "text": text, "postback_data": "ok"}


def _card(title: str = "卡片") -> dict[str, Any]:
    return {"title": title, "description": "描述"}


def _text(text: str = "你好", suggestions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"kind": "text", "text": text}
    if suggestions is not None:
        content["suggestions"] = suggestions
    return content


@dataclass(frozen=True)
class BadBody:
    """A request body that must be refused; `field` ending in `*` is a prefix."""

    build: Callable[[str], dict[str, Any]]  # chatbot id -> body
    status: int
    code: str
    field: str | None


def _with(**overrides: Any) -> Callable[[str], dict[str, Any]]:
    def build(chatbot_id: str) -> dict[str, Any]:
        body = text_body(chatbot_id)
        body.update(overrides)
        return body

    return build


def _content(content: dict[str, Any]) -> Callable[[str], dict[str, Any]]:
    return _with(content=content)


_CALENDAR_NAIVE_START = {
    "type": "create_calendar_event", "text": "加入日历", "title": "会议",
    "start_time": "2030-01-01T10:00:00", "end_time": "2030-01-01T11:00:00Z",
}

BAD_BODIES: list[Any] = [
    pytest.param(BadBody(_with(recipients=["12345"]), 422, "invalid_request", "recipients.0"), id="number-12345"),
    pytest.param(BadBody(_with(recipients=["abc"]), 422, "invalid_request", "recipients.0"), id="number-abc"),
    pytest.param(BadBody(_with(recipients=[VALID_NUMBER, "01012345678"]), 422, "invalid_request", "recipients.1"),
                 id="beijing-landline-national"),
    pytest.param(BadBody(_with(recipients=["+861012345678"]), 422, "invalid_request", "recipients.0"),
                 id="beijing-landline-e164"),
    pytest.param(BadBody(_with(recipients=[]), 422, "invalid_request", "recipients"), id="no-recipients"),
    pytest.param(BadBody(_with(recipients=[f"138{i:08d}" for i in range(1001)]), 422, "invalid_request",
                         "recipients"), id="1001-recipients"),
    pytest.param(BadBody(_with(chatbot_id="no-such-chatbot"), 404, "chatbot_not_found", "chatbot_id"),
                 id="unknown-chatbot"),
    pytest.param(BadBody(_content(_text("")), 422, "invalid_request", "content.text.text"), id="empty-text"),
    pytest.param(BadBody(_content(_text("长" * 3073)), 422, "invalid_request", "content.text.text"),
                 id="text-3073-chars"),
    pytest.param(BadBody(_content({"kind": "carousel", "cards": [_card()]}), 422, "invalid_request",
                         "content.carousel.cards"), id="carousel-1-card"),
    pytest.param(BadBody(_content({"kind": "carousel", "cards": [_card(f"卡{i}") for i in range(13)]}), 422,
                         "invalid_request", "content.carousel.cards"), id="carousel-13-cards"),
    pytest.param(BadBody(_content({"kind": "rich_card", "card": {}}), 422, "invalid_request",
                         "content.rich_card.card"), id="card-with-nothing-to-show"),
    pytest.param(BadBody(_content(_text(suggestions=[{"type": "reply", "postback_data": "x"}])), 422,
                         "invalid_request", "content.text.suggestions.0.reply.text"), id="suggestion-without-text"),
    pytest.param(BadBody(_content(_text(suggestions=[_reply("字" * 26)])), 422, "invalid_request",
                         "content.text.suggestions.0.reply.text"), id="display-text-26-chars"),
    pytest.param(BadBody(_content(_text(suggestions=[_reply(f"选项{i}") for i in range(12)])), 422,
                         "invalid_request", "content.text.suggestions"), id="12-chips"),
    pytest.param(BadBody(_content({"kind": "rich_card", "card": {**_card(), "suggestions": [_reply()] * 5}}), 422,
                         "invalid_request", "content.rich_card.card.suggestions"), id="5-card-suggestions"),
    pytest.param(BadBody(_content({"kind": "sticker", "text": "x"}), 422, "invalid_request", "content*"),
                 id="unknown-content-kind"),
    pytest.param(BadBody(_with(expires_at="2020-01-01T00:00:00Z"), 422, "already_expired", "expires_at"),
                 id="expires-at-in-the-past"),
    pytest.param(BadBody(_with(priority="high"), 422, "invalid_request", "priority"), id="unknown-field"),
    pytest.param(BadBody(_with(traffic_class="urgent"), 422, "invalid_request", "traffic_class"),
                 id="unknown-traffic-class"),
    pytest.param(
        BadBody(_content(_text(suggestions=[_CALENDAR_NAIVE_START])), 422, "invalid_request",
                "content.text.suggestions.0*"),
        id="calendar-naive-start-aware-end"),
    pytest.param(
        BadBody(_content(_text("账单\x01已出")), 422, "invalid_request", "content.text.text"),
        id="text-with-control-character"),
]


@pytest.mark.parametrize("case", BAD_BODIES)
async def test_bad_body_is_refused_and_nothing_is_accepted(seeded: Stack, http: aiohttp.ClientSession,
                                                           case: BadBody) -> None:
    stack = seeded
    before = await message_ids(http, stack)
    status, body, _ = await post_messages(http, stack, json_body=case.build(stack.tenant.chatbot_id))
    assert status == case.status, body
    assert_error(body, case.code, case.field)
    assert await message_ids(http, stack) == before


async def test_boundary_values_are_accepted(stack: Stack, http: aiohttp.ClientSession) -> None:
    """The other side of each limit above: the largest legal value is accepted."""
    bot = stack.tenant.chatbot_id
    accepted = [
        _text("长" * 3072),
        {"kind": "carousel", "cards": [_card(f"卡{i}") for i in range(2)]},
        {"kind": "carousel", "cards": [_card(f"卡{i}") for i in range(12)]},
        _text(suggestions=[_reply("字" * 25)]),
        _text(suggestions=[_reply(f"选项{i}") for i in range(11)]),
        {"kind": "rich_card", "card": {**_card(), "suggestions": [_reply()] * 4}},
    ]
    for content in accepted:
        status, body, _ = await post_messages(http, stack, json_body=text_body(bot, content=content))
        assert status == 202, (content, body)
    status, body, _ = await post_messages(http, stack, json_body=text_body(bot, recipients=[
        f"138{i:08d}" for i in range(1000)]))
    assert status == 202, body
    assert len(body["messages"]) == 1000


async def test_other_tenants_chatbot_is_not_found(seeded: Stack, http: aiohttp.ClientSession) -> None:
    stack = seeded
    tenant_b = await stack.add_tenant("Tenant B", TENANT_B_CARRIER_ID)
    before_a, before_b = await message_ids(http, stack), await message_ids(http, stack, tenant_b)
    status, body, _ = await post_messages(http, stack, json_body=text_body(tenant_b.chatbot_id))
    assert status == 404, body
    assert_error(body, "chatbot_not_found", "chatbot_id")
    assert await message_ids(http, stack) == before_a
    assert await message_ids(http, stack, tenant_b) == before_b


async def test_unicode_digits_are_normalised_or_refused(stack: Stack, http: aiohttp.ClientSession) -> None:
    """Recipients leave as E.164 (ASCII digits): the same handset must not get two spellings."""
    for spelling in ["１３８００１３８０００", "1380013800０", "1٣٨٠٠١٣٨٠٠٠"]:
        status, body, _ = await post_messages(http, stack, json_body=text_body(
            stack.tenant.chatbot_id, recipients=[spelling]))
        if status == 422:
            assert_error(body, "invalid_request", "recipients.0")
            continue
        assert status == 202, body
        assert [m["recipient"] for m in body["messages"]] == ["+8613800138000"], (spelling, body)


# ---- whole-request problems ----------------------------------------------------------------------------


async def test_malformed_json_is_400(seeded: Stack, http: aiohttp.ClientSession) -> None:
    before = await message_ids(http, seeded)
    status, body, _ = await post_messages(http, seeded, data=b'{"chatbot_id": "x", "recipients": [',
                                          headers={"Content-Type": "application/json"})
    assert status == 400, body
    assert_error(body, "malformed_json", None)
    assert await message_ids(http, seeded) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_json_with_the_wrong_content_type_is_refused(seeded: Stack, http: aiohttp.ClientSession,
                                                           content_type: str) -> None:
    before = await message_ids(http, seeded)
    raw = json.dumps(text_body(seeded.tenant.chatbot_id)).encode()
    status, body, _ = await post_messages(http, seeded, data=raw, headers={"Content-Type": content_type})
    assert status == 422, body
    assert_error(body, "invalid_request", None)
    assert await message_ids(http, seeded) == before


@pytest.mark.parametrize(("headers", "code"), [
    pytest.param({"Authorization": ""}, "missing_api_key", id="no-key"),
    pytest.param({"Authorization": "Bearer "}, "missing_api_key", id="empty-bearer"),
    pytest.param({"Authorization": "Bearer not-a-key"}, "invalid_api_key", id="not-a-key"),
    pytest.param({"Authorization": "Bearer m5g_000000000000_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, "invalid_api_key",
                 id="unknown-prefix"),
    pytest.param({"Authorization": "", "X-API-Key": "m5g_000000000000_bbbb"}, "invalid_api_key",
                 id="wrong-x-api-key"),
    pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, "missing_api_key", id="basic-instead-of-bearer"),
])
async def test_missing_or_wrong_api_key_is_401(seeded: Stack, http: aiohttp.ClientSession, headers: dict[str, str],
                                               code: str) -> None:
    before = await message_ids(http, seeded)
    status, body, _ = await post_messages(http, seeded, json_body=text_body(seeded.tenant.chatbot_id),
                                          headers=headers)
    assert status == 401, body
    assert_error(body, code, None)
    assert await message_ids(http, seeded) == before


async def test_right_key_prefix_with_wrong_secret_is_401(seeded: Stack, http: aiohttp.ClientSession) -> None:
    key = seeded.tenant.api_key
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    before = await message_ids(http, seeded)
    for headers in ({"Authorization": f"Bearer {forged}"}, {"Authorization": "", "X-API-Key": forged}):
        status, body, _ = await post_messages(http, seeded, json_body=text_body(seeded.tenant.chatbot_id),
                                              headers=headers)
        assert status == 401, body
        assert_error(body, "invalid_api_key", None)
    assert await message_ids(http, seeded) == before


# ---- idempotency ---------------------------------------------------------------------------------------


async def test_client_message_id_reused_with_other_content_is_409(stack: Stack, http: aiohttp.ClientSession) -> None:
    bot = stack.tenant.chatbot_id
    status, first, _ = await post_messages(http, stack,
                                           json_body=text_body(bot, "第一条", client_message_id="order-42"))
    assert status == 202, first
    before = await message_ids(http, stack)
    for changed in (text_body(bot, "第二条", client_message_id="order-42"),
                    {**text_body(bot, "第一条", client_message_id="order-42"), "recipients": ["13800138001"]},
                    text_body(bot, "第一条", client_message_id="order-42", fallback_text="短信")):
        status, body, _ = await post_messages(http, stack, json_body=changed)
        assert status == 409, body
        assert_error(body, "idempotency_conflict", "client_message_id")
    assert await message_ids(http, stack) == before


async def test_client_message_id_reused_with_same_content_replays(stack: Stack, http: aiohttp.ClientSession) -> None:
    request = {**text_body(stack.tenant.chatbot_id, "只发一次", client_message_id="order-43"),
               "recipients": [VALID_NUMBER, "13800138001"]}
    status, first, headers = await post_messages(http, stack, json_body=request)
    assert status == 202, first
    assert first["replayed"] is False
    assert "Idempotent-Replayed" not in headers
    ids = [m["id"] for m in first["messages"]]
    for message_id in ids:
        await stack.wait_status(message_id, "displayed")
    before = await message_ids(http, stack)

    # The same request again, recipients spelt differently (normalised to the same E.164 numbers).
    again_request = {**request, "recipients": ["+8613800138000", "+86 138 0013 8001"]}
    for body_to_send in (request, again_request):
        status, again, headers = await post_messages(http, stack, json_body=body_to_send)
        assert status == 202, again
        assert again["replayed"] is True
        assert headers.get("Idempotent-Replayed") == "true"
        assert again["submission_id"] == first["submission_id"]
        assert again["client_message_id"] == "order-43"
        assert [(m["id"], m["recipient"]) for m in again["messages"]] == [
            (m["id"], m["recipient"]) for m in first["messages"]]

    await asyncio.sleep(1.0)  # time for a wrongly enqueued resend to reach the carrier
    carrier_ids = set()
    for message_id in ids:  # the two recipients went out as one group send, under one messageId
        _, message = await stack.message(message_id)
        carrier_ids.add(message["attempts"][0]["carrier_message_id"])
    assert len(carrier_ids) == 1
    code, record = await stack.sim("GET", f"/_sim/messages/{carrier_ids.pop()}")
    assert code == 200, record
    assert record["received"] == 1, record
    assert record["delivered"] == 2, record
    assert await message_ids(http, stack) == before


async def test_replay_lists_the_messages_in_the_first_answers_order(stack: Stack,
                                                                    http: aiohttp.ClientSession) -> None:
    """A replay is the first answer, order included (ids minted within one millisecond do not sort in order)."""
    request = {**text_body(stack.tenant.chatbot_id, "顺序", client_message_id="order-44"),
               "recipients": [f"1390013{i:04d}" for i in range(20)]}
    status, first, _ = await post_messages(http, stack, json_body=request)
    assert status == 202, first
    status, again, _ = await post_messages(http, stack, json_body=request)
    assert status == 202, again
    assert again["replayed"] is True, again
    assert [m["id"] for m in again["messages"]] == [m["id"] for m in first["messages"]]


# ---- traffic class and expiry --------------------------------------------------------------------------


async def test_traffic_class_may_not_be_raised(stack: Stack, http: aiohttp.ClientSession) -> None:
    services = stack.platform.services
    tenant_id = stack.tenant.tenant_id
    business_id, secret = await services.provisioning.create_business(
        tenant_id, "Tenant A marketing", TrafficClass.MARKETING, callback_url=stack.receiver.url)
    chatbot_id = await services.provisioning.create_chatbot(
        tenant_id, channel_id=stack.channel_id, business_id=business_id, name="Tenant A marketing bot",
        carrier_chatbot_id="125200401111530", address="sip:125200401111530@botplatform.rcs.chinamobile.com",
        credentials={"app_id": "125200401111530", "password": CARRIER_PASSWORD})
    _, key = await services.api_keys.create(tenant_id, business_id, "marketing")
    marketing = Tenant(tenant_id=tenant_id, business_id=business_id, chatbot_id=chatbot_id, api_key=key,
                       callback_secret=secret)
    before_marketing, before_a = await message_ids(http, stack, marketing), await message_ids(http, stack)
    for raised in ("notification", "customer_service", "service"):
        status, body, _ = await post_messages(http, stack, tenant=marketing,
                                              json_body=text_body(chatbot_id, traffic_class=raised))
        assert status == 422, body
        assert_error(body, "traffic_class_not_allowed", "traffic_class")
    assert await message_ids(http, stack, marketing) == before_marketing
    assert await message_ids(http, stack) == before_a

    # Lowering is allowed: the notification business may send one message as marketing.
    status, body, _ = await post_messages(http, stack, json_body=text_body(stack.tenant.chatbot_id,
                                                                           traffic_class="marketing"))
    assert status == 202, body
    code, message = await get_json(http, stack, f"/v1/messages/{body['messages'][0]['id']}")
    assert code == 200, message
    assert message["traffic_class"] == "marketing", message


async def test_expiry_given_twice_is_refused(seeded: Stack, http: aiohttp.ClientSession) -> None:
    before = await message_ids(http, seeded)
    status, body, _ = await post_messages(http, seeded, json_body=text_body(
        seeded.tenant.chatbot_id, expires_at="2099-01-01T00:00:00Z", ttl_seconds=60))
    assert status == 422, body
    assert_error(body, "invalid_request", ...)
    assert await message_ids(http, seeded) == before


# ---- carrier callbacks ---------------------------------------------------------------------------------

HELD_NUMBER = "+8613800138005"


@dataclass(frozen=True)
class BadCallback:
    headers: Callable[[], dict[str, str]]
    body: Callable[[str], bytes]  # carrier message id -> body
    status: int


def _displayed(carrier_message_id: str) -> bytes:
    return delivery_notification(carrier_message_id, HELD_NUMBER, "MessageDisplayed")


def _good_headers() -> dict[str, str]:
    return signed_headers(CARRIER_CHATBOT_ID)


_BOMB = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
         b'<msg:deliveryInfoNotification xmlns:msg="urn:oma:xml:rest:netapi:messaging:1"><deliveryInfo>'
         b"<messageId>&lol2;</messageId><deliveryStatus>MessageDisplayed</deliveryStatus></deliveryInfo>"
         b"</msg:deliveryInfoNotification>")

BAD_CALLBACKS: list[Any] = [
    pytest.param(BadCallback(lambda: signed_headers(CARRIER_CHATBOT_ID, password="not-the-password"), _displayed,
                             401), id="wrong-signature"),
    pytest.param(BadCallback(lambda: {k: v for k, v in _good_headers().items() if k != "Authorization"},
                             _displayed, 401), id="no-authorization"),
    pytest.param(BadCallback(lambda: signed_headers("125200401111999"), _displayed, 401), id="wrong-app-id"),
    pytest.param(BadCallback(lambda: signed_headers(CARRIER_CHATBOT_ID, skew=timedelta(minutes=-10)), _displayed,
                             401), id="stale-date"),
    pytest.param(BadCallback(lambda: signed_headers(CARRIER_CHATBOT_ID, skew=timedelta(minutes=10)), _displayed,
                             401), id="future-date"),
    pytest.param(BadCallback(lambda: {k: v for k, v in _good_headers().items() if k != "Date"}, _displayed, 401),
                 id="no-date"),
    pytest.param(BadCallback(_good_headers, lambda _id: b"<msg:deliveryInfoNotification><deliveryInfo>", 400),
                 id="malformed-xml"),
    pytest.param(BadCallback(_good_headers, lambda _id: b"not xml at all", 400), id="not-xml"),
    pytest.param(BadCallback(_good_headers, lambda _id: (
        b'<msg:deliveryInfoNotification xmlns:msg="urn:oma:xml:rest:netapi:messaging:1"/>'), 400),
        id="no-delivery-info"),
    pytest.param(BadCallback(_good_headers, lambda _id: _BOMB, 400), id="xml-entities"),
    pytest.param(BadCallback(lambda: signed_headers(CARRIER_CHATBOT_ID, content_type="application/json"),
                             lambda _id: b'{"deliveryInfo": ', 400), id="malformed-json"),
]


@pytest.mark.parametrize("case", BAD_CALLBACKS)
async def test_bad_carrier_callback_is_refused_and_changes_nothing(stack: Stack, http: aiohttp.ClientSession,
                                                                   case: BadCallback) -> None:
    held = await hold_message(stack, HELD_NUMBER)
    carrier_id = held["attempts"][0]["carrier_message_id"]
    status, body = await post_webhook(http, notify_url(stack, CARRIER_CHATBOT_ID), case.body(carrier_id),
                                      case.headers())
    assert status == case.status, body
    assert_error(body, "webhook_rejected", ...)
    code, after = await get_json(http, stack, f"/v1/messages/{held['id']}")
    assert code == 200, after
    assert after["status"] == "sent"
    assert after["history"] == held["history"]
    assert after["attempts"][0]["state"] == held["attempts"][0]["state"]


async def test_good_carrier_callback_is_applied(stack: Stack, http: aiohttp.ClientSession) -> None:
    """The control for the refusals above: the same notification, properly signed, moves the message."""
    held = await hold_message(stack, HELD_NUMBER)
    carrier_id = held["attempts"][0]["carrier_message_id"]
    status, body = await post_webhook(http, notify_url(stack, CARRIER_CHATBOT_ID), _displayed(carrier_id),
                                      _good_headers())
    assert status == 204, body
    after = await stack.wait_status(held["id"], "displayed", timeout=5)
    assert after["history"][-1]["carrier_status"] == "MessageDisplayed"


async def test_callback_for_unknown_chatbot_is_404(stack: Stack, http: aiohttp.ClientSession) -> None:
    held = await hold_message(stack, HELD_NUMBER)
    carrier_id = held["attempts"][0]["carrier_message_id"]
    status, body = await post_webhook(http, notify_url(stack, "125200401111999"), _displayed(carrier_id),
                                      signed_headers("125200401111999"))
    assert status == 404, body
    assert_error(body, "chatbot_not_found", ...)
    code, after = await get_json(http, stack, f"/v1/messages/{held['id']}")
    assert code == 200, after
    assert after["status"] == "sent", after
