"""Raw-HTTP tests of the China Telecom / China Unicom JSON MaaP simulator (protocols.md §3.3, choices.md).

Every request is built by hand (maapjson_wire.py) and every notification is checked by hand,
signature included, on a real aiohttp CSP; the simulator runs on real uvicorn over loopback.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import uvicorn
from aiohttp import web

from msg5g.simulators.maapjson import ChatbotAccount, ConfigError, Faults, SimulatorSettings, create_app
from msg5g.simulators.maapjson import __main__ as cli

from .maapjson_wire import (
    APP_ID,
    APP_KEY,
    BOT_ID,
    BOTMESSAGE,
    BOTSUGGESTION,
    FT,
    NOTIFY_TOKEN,
    OTHER_APP_ID,
    OTHER_APP_KEY,
    OTHER_BOT_ID,
    OTHER_TOKEN,
    SHARED_DATA,
    SUGGESTION_RESPONSE,
    USER,
    USER2,
    Carrier,
    CspReceiver,
    PromptServer,
    bot_uri,
    bound_socket,
    card_content,
    card_item,
    carousel_item,
    chips_item,
    expected_signature,
    file_item,
    media,
    reply,
    send_body,
    text_item,
)

CarrierFactory = Callable[..., Awaitable[Carrier]]
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
ALL_REPORTS = ["sent", "failed", "delivered", "displayed", "deliveredToNetwork"]


def code(dialect: str, value: int) -> int | str:
    """choices "errorCode type": CTCC strings, CUCC integers."""
    return str(value) if dialect == "ctcc" else value


async def settle(seconds: float = 0.12) -> None:
    """Give the simulator time to send anything it still (wrongly) owes."""
    await asyncio.sleep(seconds)


# ---------------------------------------------------------------- fixtures


@pytest_asyncio.fixture
async def csp() -> AsyncIterator[CspReceiver]:
    receiver = CspReceiver()
    app = web.Application()
    app.router.add_route("*", "/csp/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = bound_socket()
    await web.SockSite(runner, sock).start()
    receiver.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture
async def make_carrier(csp: CspReceiver) -> AsyncIterator[CarrierFactory]:
    """Start simulators on loopback; keyword arguments override SimulatorSettings."""
    started: list[tuple[PromptServer, asyncio.Task[None], aiohttp.ClientSession]] = []

    async def start(dialect: str = "ctcc", *, tps_limit: float | None = None, **overrides: Any) -> Carrier:
        faults = overrides.pop("faults", {})
        settings = SimulatorSettings(
            dialect=dialect,  # type: ignore[arg-type]
            chatbots=[
                ChatbotAccount(BOT_ID, APP_ID, APP_KEY, NOTIFY_TOKEN, csp.root, tps_limit),
                ChatbotAccount(OTHER_BOT_ID, OTHER_APP_ID, OTHER_APP_KEY, OTHER_TOKEN, csp.root),
            ],
            faults=Faults(delivered_delay_ms=5, displayed_delay_ms=5).updated(faults),
            notify_backoff_ms=5,
            notify_workers=8,
            **overrides,
        )
        app = create_app(settings)
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, ws="none", lifespan="on", timeout_graceful_shutdown=1
        )
        server = PromptServer(config)
        sock = bound_socket()
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("simulator did not start")
            await asyncio.sleep(0.005)
        session = aiohttp.ClientSession()
        started.append((server, task, session))
        return Carrier(dialect, f"http://127.0.0.1:{sock.getsockname()[1]}", session, app)

    try:
        yield start
    finally:
        for server, task, session in started:
            await session.close()
            server.should_exit = True
            server.stop_event.set()
            await task


@pytest.fixture(params=["ctcc", "cucc"])
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def carrier(make_carrier: CarrierFactory, dialect: str) -> Carrier:
    return await make_carrier(dialect)


async def send(carrier: Carrier, body: dict[str, Any], auth: str | None = None) -> tuple[int, Any]:
    status, answer, _ = await carrier.call("messages", body, authorization=auth or await carrier.authorization())
    return status, answer


async def send_ok(carrier: Carrier, body: dict[str, Any], auth: str | None = None) -> dict[str, Any]:
    status, answer = await send(carrier, body, auth)
    assert status == 200, answer
    assert answer["errorCode"] == code(carrier.dialect, 0), answer
    return dict(answer)


async def set_handset(carrier: Carrier, number: str, **state: Any) -> None:
    status, body = await carrier.control("PUT", f"/_sim/handsets/{number}", state)
    assert status == 200, body


# ---------------------------------------------------------------- token (§3.3.1)


@pytest.mark.asyncio
async def test_ctcc_token_already_carries_the_prefix_and_string_error_code(make_carrier: CarrierFactory) -> None:
    carrier = await make_carrier("ctcc")
    status, answer = await carrier.token_answer()
    assert status == 200
    assert set(answer) == {"accessToken", "expires", "url", "errorCode"}
    assert answer["errorCode"] == "0"
    assert answer["expires"] == 7200
    assert answer["url"] == carrier.base_url + "/"
    prefix, _, opaque = answer["accessToken"].partition(" ")
    assert prefix == "accessToken"
    decoded = base64.b64decode(opaque).decode()
    app_id, _, digest = decoded.partition(":")
    assert app_id == APP_ID
    assert re.fullmatch(r"[0-9a-f]{64}", digest)


@pytest.mark.asyncio
async def test_cucc_token_is_a_bare_uuid_with_integer_error_code(make_carrier: CarrierFactory) -> None:
    carrier = await make_carrier("cucc")
    status, answer = await carrier.token_answer()
    assert status == 200
    assert answer["errorCode"] == 0
    assert answer["errorMessage"] is None
    assert answer["expires"] == 7200
    assert answer["url"] == carrier.base_url
    assert str(uuid.UUID(answer["accessToken"])) == answer["accessToken"]


@pytest.mark.asyncio
async def test_token_ttl_is_configurable(make_carrier: CarrierFactory) -> None:
    carrier = await make_carrier("cucc", token_ttl_seconds=60)
    _, answer = await carrier.token_answer()
    assert answer["expires"] == 60


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("app_id", "app_key"), [(APP_ID, "wrong-key"), ("nobody", APP_KEY), (OTHER_APP_ID, OTHER_APP_KEY)]
)
async def test_token_refused_for_wrong_credentials(carrier: Carrier, app_id: str, app_key: str) -> None:
    status, answer = await carrier.token_answer(BOT_ID, app_id, app_key)
    assert status == 200
    assert answer["errorCode"] not in (0, "0")
    assert answer["errorCode"] == code(carrier.dialect, 40001)
    assert "accessToken" not in answer


@pytest.mark.asyncio
async def test_token_without_content_type_is_20002(carrier: Carrier) -> None:
    status, answer = await carrier.token_answer(Content_Type=None)
    assert status == 200
    assert answer == {
        "errorCode": code(carrier.dialect, 20002),
        "errorMessage": "参数异常(Http头域字段Content-Type  Null或缺失或不合法)",
    }
    status, answer = await carrier.token_answer(Content_Type="text/plain")
    assert answer["errorCode"] == code(carrier.dialect, 20002)


@pytest.mark.asyncio
async def test_token_call_needs_accept_and_date_too(carrier: Carrier) -> None:
    _, answer = await carrier.token_answer(Accept=None)
    assert answer == {"errorCode": code(carrier.dialect, 41001), "errorMessage": "请求头中Accept必须存在且有值"}
    _, answer = await carrier.token_answer(Date=None)
    assert answer == {"errorCode": code(carrier.dialect, 41001), "errorMessage": "请求头中Date必须存在且有值"}


@pytest.mark.asyncio
async def test_path_prefix_moves_the_api_and_the_token_url(make_carrier: CarrierFactory, dialect: str) -> None:
    carrier = await make_carrier(dialect, path_prefix="maap_message")
    status, _, _ = await carrier.raw(carrier.url("accessToken"), b"{}", carrier.headers())
    assert status == 404
    carrier.base_url += "/maap_message"
    _, answer = await carrier.token_answer()
    assert answer["url"] == carrier.base_url + ("/" if dialect == "ctcc" else "")
    await send_ok(carrier, send_body(dialect))


@pytest.mark.asyncio
async def test_token_for_unknown_chatbot_is_refused(carrier: Carrier) -> None:
    _, answer = await carrier.token_answer("106500000000000")
    assert answer["errorCode"] == code(carrier.dialect, 40001)


# ---------------------------------------------------------------- authorization and headers


@pytest.mark.asyncio
async def test_token_used_the_wrong_way_is_40014(carrier: Carrier) -> None:
    _, answer = await carrier.token_answer()
    issued = answer["accessToken"]
    # The other dialect's habit: CTCC clients must not add the prefix, CUCC clients must.
    wrong = f"accessToken {issued}" if carrier.dialect == "ctcc" else issued
    message = "不合法的accessToken" if carrier.dialect == "ctcc" else "不合法的Token"
    for authorization in (wrong, None, "accessToken 00000000-0000-0000-0000-000000000000", f"Bearer {issued}"):
        status, body, _ = await carrier.call("messages", send_body(carrier.dialect), authorization=authorization)
        assert status == 200
        # §3.3.2: on auth errors the ids are null.
        assert body["errorCode"] == code(carrier.dialect, 40014), authorization
        assert body["errorMessage"] == message
        assert body["messageId"] is None


@pytest.mark.asyncio
async def test_token_of_another_chatbot_is_40014(carrier: Carrier, csp: CspReceiver) -> None:
    other = await carrier.authorization(OTHER_BOT_ID, OTHER_APP_ID, OTHER_APP_KEY)
    _, body = await send(carrier, send_body(carrier.dialect), other)
    assert body["errorCode"] == code(carrier.dialect, 40014)
    await settle(0.05)
    assert csp.statuses() == []


@pytest.mark.asyncio
async def test_expired_token_is_40014(make_carrier: CarrierFactory, dialect: str) -> None:
    carrier = await make_carrier(dialect, token_ttl_seconds=1)
    auth = await carrier.authorization()
    await send_ok(carrier, send_body(dialect), auth)
    await asyncio.sleep(1.1)
    _, body = await send(carrier, send_body(dialect), auth)
    assert body["errorCode"] == code(dialect, 40014)
    await send_ok(carrier, send_body(dialect))  # a fresh token works


@pytest.mark.asyncio
async def test_tokens_expire_mid_run_on_request(carrier: Carrier) -> None:
    first = await carrier.authorization()
    await send_ok(carrier, send_body(carrier.dialect), first)
    status, answer = await carrier.control("POST", "/_sim/tokens/expire")
    assert (status, answer) == (200, {"expired": 1})
    _, body = await send(carrier, send_body(carrier.dialect), first)
    assert body["errorCode"] == code(carrier.dialect, 40014)

    second = await carrier.authorization()
    status, faults = await carrier.control("PUT", "/_sim/faults", {"expire_tokens": True})
    assert status == 200
    assert faults["expire_tokens"] is False  # one-shot
    _, body = await send(carrier, send_body(carrier.dialect), second)
    assert body["errorCode"] == code(carrier.dialect, 40014)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("header", "message"), [("Accept", "请求头中Accept必须存在且有值"), ("Date", "请求头中Date必须存在且有值")]
)
async def test_missing_accept_or_date_is_41001(carrier: Carrier, csp: CspReceiver, header: str, message: str) -> None:
    auth = await carrier.authorization()
    body = send_body(carrier.dialect)
    for action in ("messages", "revoke"):
        payload = body if action == "messages" else {"messageId": body["messageId"], "status": "RevokeRequested"}
        status, answer, _ = await carrier.call(action, payload, authorization=auth, headers={header: None})
        assert status == 200
        assert answer["errorCode"] == code(carrier.dialect, 41001)
        assert answer["errorMessage"] == message
        assert answer["messageId"] == body["messageId"]
        # An empty value is as bad as none ("必须存在且有值").
        _, answer, _ = await carrier.call(action, payload, authorization=auth, headers={header: ""})
        assert answer["errorCode"] == code(carrier.dialect, 41001)
    await settle(0.05)
    assert csp.statuses() == []


@pytest.mark.asyncio
async def test_missing_content_type_on_send_is_20002(carrier: Carrier) -> None:
    auth = await carrier.authorization()
    for content_type in (None, "text/plain", "application/xml"):
        _, answer, _ = await carrier.call(
            "messages", send_body(carrier.dialect), authorization=auth, headers={"Content-Type": content_type}
        )
        assert answer["errorCode"] == code(carrier.dialect, 20002)
        assert answer["errorMessage"] == "参数异常(Http头域字段Content-Type  Null或缺失或不合法)"
    _, answer, _ = await carrier.call(
        "messages",
        send_body(carrier.dialect),
        authorization=auth,
        headers={"Content-Type": "application/json;charset=UTF-8"},
    )
    assert answer["errorCode"] == code(carrier.dialect, 0)


@pytest.mark.asyncio
async def test_chatbot_uri_checks(carrier: Carrier, dialect: str) -> None:
    auth = await carrier.authorization()
    domain = "botplatform.rcs.vnet.cn" if dialect == "ctcc" else "botplatform.rcs.chinaunicom.cn"
    # Percent-encoded URI is accepted (choices "Paths").
    _, answer, _ = await carrier.call(
        "messages", send_body(dialect), authorization=auth, url=carrier.url("messages", encoded=True)
    )
    assert answer["errorCode"] == code(dialect, 0)
    other_domain = "botplatform.rcs.chinaunicom.cn" if dialect == "ctcc" else "botplatform.rcs.vnet.cn"
    for uri in (f"sip:{BOT_ID}@{other_domain}", f"{BOT_ID}@{domain}", BOT_ID):
        _, answer, _ = await carrier.call(
            "messages", send_body(dialect), authorization=auth, url=carrier.url("messages", uri=uri)
        )
        assert answer["errorCode"] == code(dialect, 20002), uri
        assert answer["errorMessage"] == f"sip:chatbotId格式错误,chatBotId=(csp接入码+自定义号码)@{domain}"
    _, answer, _ = await carrier.call(
        "messages", send_body(dialect), authorization=auth, url=carrier.url("messages", uri=f"sip:10659abc@{domain}")
    )
    assert answer == {**answer, "errorCode": code(dialect, 20002), "errorMessage": "chatbotId参数只能为数字"}


@pytest.mark.asyncio
async def test_unknown_path_and_wrong_method_answer_like_nginx(carrier: Carrier) -> None:
    status, body, _ = await carrier.raw(carrier.url("find/nothingHere"), b"{}", carrier.headers())
    assert status == 404
    assert b"<center>nginx</center>" in body
    async with carrier.session.get(carrier.url("messages")) as response:
        assert response.status == 405
        assert "nginx" in await response.text()


# ---------------------------------------------------------------- send: validation (§3.3.2, §2)


def _too_long_postback() -> dict[str, Any]:
    return chips_item(reply("ok", "x" * 2049))


SCHEMA_CASES: list[tuple[str, list[dict[str, Any]], int, str]] = [
    (
        "no contentText",
        [{"contentType": "text/plain", "contentEncoding": "utf8"}],
        83996,
        "二级必选节点contentText不存在",
    ),
    ("no contentType", [{"contentText": "hi"}], 83996, "二级必选节点contentType不存在"),
    ("empty text", [text_item("")], 40008, "JsonSchema解析json失败"),
    ("unknown type", [{"contentType": "text/html", "contentText": "<b>x</b>"}], 40008, "contentType"),
    ("xml file type", [{"contentType": "application/vnd.gsma.rcs-ft-http+xml", "contentText": "<file/>"}], 40008, ""),
    ("card as string", [{"contentType": BOTMESSAGE, "contentText": json.dumps(card_item()["contentText"])}], 40008, ""),
    (
        "5 card chips",
        [card_item(card_content(suggestions=[reply(f"r{i}", str(i)) for i in range(5)]))],
        40008,
        "suggestions",
    ),
    ("12 chips", [text_item(), chips_item(*[reply(f"r{i}", str(i)) for i in range(12)])], 40008, "suggestions"),
    ("long displayText", [text_item(), chips_item(reply("字" * 26, "x"))], 40008, "displayText"),
    ("long postback", [text_item(), _too_long_postback()], 40008, "postback"),
    ("carousel of 1", [carousel_item(1)], 40008, "content"),
    ("carousel of 13", [carousel_item(13)], 40008, "content"),
    ("carousel width", [carousel_item(2, "LARGE_WIDTH")], 40008, "cardWidth"),
    (
        "string file size",
        [card_item(card_content(media={**media(), "mediaFileSize": "178887"}))],
        40008,
        "mediaFileSize",
    ),
    (
        "card and carousel",
        [
            {
                "contentType": BOTMESSAGE,
                "contentText": {"message": {"generalPurposeCard": {}, "generalPurposeCardCarousel": {}}},
            }
        ],
        40008,
        "exactly one schema",
    ),
    ("chips alone", [chips_item()], 40008, BOTSUGGESTION),
    ("two chip lists", [text_item(), chips_item(), chips_item()], 40008, BOTSUGGESTION),
    ("three file entries", [file_item([*file_item()["contentText"], file_item()["contentText"][0]])], 40008, ""),
    ("thumbnail only", [file_item([file_item()["contentText"][1]])], 40008, "file"),
    ("file without url", [file_item([{"type": "file", "fileSize": 1, "contentType": "image/png"}])], 40008, "url"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("name", "items", "error", "fragment"), SCHEMA_CASES, ids=[c[0] for c in SCHEMA_CASES])
async def test_bad_message_list_is_refused(
    make_carrier: CarrierFactory, csp: CspReceiver, name: str, items: list[dict[str, Any]], error: int, fragment: str
) -> None:
    carrier = await make_carrier("ctcc")
    body = send_body("ctcc", items=items)
    status, answer = await send(carrier, body)
    assert status == 200
    assert answer["errorCode"] == str(error), answer
    assert fragment in answer["errorMessage"]
    if error == 40008:
        assert answer["errorMessage"].startswith("JsonSchema解析json失败")
    # §3.3.2: ids are echoed on non-auth errors.
    assert answer["messageId"] == body["messageId"]
    await settle(0.03)
    assert csp.statuses() == []
    _, record = await carrier.control("GET", f"/_sim/messages/{body['messageId']}")
    assert (record["received"], record["rejected"], record["accepted"]) == (1, 1, 0)


@pytest.mark.asyncio
async def test_rich_content_of_every_kind_is_accepted(carrier: Carrier, csp: CspReceiver) -> None:
    card = card_item(
        card_content(
            media=media(),
            suggestions=[
                reply(),
                {
                    "action": {
                        "urlAction": {
                            "openUrl": {"url": "www.baidu.com", "application": "webview", "viewMode": "half"}
                        },
                        "displayText": "百度一下",
                        "postback": {"data": "set_by_chatbot_open_url"},
                    }
                },
            ],
        )
    )
    for items in (
        [text_item(), chips_item(*[reply(f"r{i}", str(i)) for i in range(11)])],
        [card],
        [carousel_item(12)],
        [file_item()],
        [file_item([file_item()["contentText"][0]])],
    ):
        answer = await send_ok(carrier, send_body(carrier.dialect, items=items))
        assert answer["errorMessage"] == "success"
    await csp.wait_for("/status", 10)
    _, inbox = await carrier.control("GET", f"/_sim/handsets/{USER}/inbox")
    assert [e["delivered_as"] for e in inbox] == ["rcs"] * 5
    assert inbox[0]["text"] == "你好chatbot,下行文本消息"
    assert len(inbox[0]["chips"]["suggestions"]) == 11
    assert inbox[1]["card"]["message"]["generalPurposeCard"]["content"]["title"] == "This is a single rich card."
    assert inbox[3]["file"][0]["type"] == "file"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"messageId": None}, "messageId"),
        ({"messageList": None}, "messageList"),
        ({"messageList": []}, "messageList"),
        ({"destinationAddress": None}, "destinationAddress"),
        ({"destinationAddress": "tel:+8615300000001"}, "destinationAddress"),
        ({"destinationAddress": ["tel:15300000001"]}, "destinationAddress"),
        ({"destinationAddress": ["tel:+8612345"]}, "destinationAddress"),
        ({"destinationAddress": ["sip:+8615300000001@ims"]}, "destinationAddress"),
        ({"senderAddress": "sip:106500000000@botplatform.rcs.vnet.cn"}, "senderAddress"),
        ({"smsSupported": True}, "smsContent"),
        ({"smsSupported": True, "smsContent": "  "}, "smsContent"),
        ({"smsSupported": "true", "smsContent": "hi"}, "smsSupported"),
        ({"storeSupported": 1}, "storeSupported"),
        ({"reportRequest": ["Delivered"]}, "reportRequest"),
        ({"reportRequest": "sent"}, "reportRequest"),
    ],
)
async def test_bad_first_level_fields_are_20002(
    carrier: Carrier, csp: CspReceiver, change: dict[str, Any], fragment: str
) -> None:
    body = {k: v for k, v in {**send_body(carrier.dialect), **change}.items() if v is not None}
    status, answer = await send(carrier, body)
    assert status == 200
    assert answer["errorCode"] == code(carrier.dialect, 20002), answer
    assert fragment in answer["errorMessage"]
    assert answer["errorMessage"].startswith("参数异常(")
    await settle(0.03)
    assert csp.statuses() == []


@pytest.mark.asyncio
async def test_body_that_is_not_json_is_20002(carrier: Carrier) -> None:
    auth = await carrier.authorization()
    _, answer, _ = await carrier.call("messages", b"{not json", authorization=auth)
    assert answer["errorCode"] == code(carrier.dialect, 20002)


@pytest.mark.asyncio
async def test_group_send_is_limited_to_100_numbers(carrier: Carrier, csp: CspReceiver) -> None:
    numbers = [f"tel:+86153{i:08d}" for i in range(101)]
    _, answer = await send(carrier, send_body(carrier.dialect, destinations=numbers))
    assert answer["errorCode"] == code(carrier.dialect, 20002)
    assert "100" in answer["errorMessage"]
    answer = await send_ok(carrier, send_body(carrier.dialect, destinations=numbers[:100], reportRequest=["failed"]))
    _, record = await carrier.control("GET", f"/_sim/messages/{answer['messageId']}")
    assert len(record["recipients"]) == 100


# ---------------------------------------------------------------- send: answers and statuses


@pytest.mark.asyncio
async def test_ctcc_success_echoes_our_ids(make_carrier: CarrierFactory, csp: CspReceiver) -> None:
    carrier = await make_carrier("ctcc")
    body = send_body("ctcc")
    answer = await send_ok(carrier, body)
    assert answer == {
        "messageId": body["messageId"],
        "conversationId": body["conversationId"],
        "contributionId": body["contributionId"],
        "errorCode": "0",
        "errorMessage": "success",
    }
    reports = await csp.wait_for("/status", 2)
    assert {r.info["messageId"] for r in reports} == {body["messageId"]}


@pytest.mark.asyncio
async def test_cucc_success_answers_its_own_message_id(make_carrier: CarrierFactory, csp: CspReceiver) -> None:
    carrier = await make_carrier("cucc")
    body = send_body("cucc")
    answer = await send_ok(carrier, body)
    assert list(answer) == ["errorCode", "errorMessage", "messageId", "conversationId", "contributionId"]
    assert answer["errorCode"] == 0
    own = answer["messageId"]
    assert own != body["messageId"]
    assert uuid.UUID(own)
    assert answer["conversationId"] == body["conversationId"]
    reports = await csp.wait_for("/status", 2)
    assert {r.info["messageId"] for r in reports} == {own}
    # The control API finds the message under either id.
    for any_id in (own, body["messageId"]):
        _, record = await carrier.control("GET", f"/_sim/messages/{any_id}")
        assert (record["message_id"], record["carrier_message_id"]) == (body["messageId"], own)


@pytest.mark.asyncio
async def test_missing_conversation_ids_are_generated(carrier: Carrier) -> None:
    body = send_body(carrier.dialect)
    del body["conversationId"], body["contributionId"]
    answer = await send_ok(carrier, body)
    assert uuid.UUID(answer["conversationId"])
    assert uuid.UUID(answer["contributionId"])


@pytest.mark.asyncio
async def test_repeated_message_id_is_not_delivered_twice(carrier: Carrier, csp: CspReceiver) -> None:
    body = send_body(carrier.dialect)
    first = await send_ok(carrier, body)
    second = await send_ok(carrier, body)
    assert second == first  # same ids, CUCC's own id included
    await csp.wait_for("/status", 2)
    await settle()
    assert csp.status_names() == ["delivered", "displayed"]
    _, inbox = await carrier.control("GET", f"/_sim/handsets/{USER}/inbox")
    assert len(inbox) == 1
    _, record = await carrier.control("GET", f"/_sim/messages/{body['messageId']}")
    assert (record["received"], record["accepted"], record["duplicates"], record["delivered"]) == (2, 2, 1, 1)


@pytest.mark.asyncio
async def test_status_reports_in_order_signed_and_addressed_like_mo(carrier: Carrier, csp: CspReceiver) -> None:
    answer = await send_ok(carrier, send_body(carrier.dialect, reportRequest=ALL_REPORTS))
    reports = await csp.wait_for("/status", 3)
    assert csp.status_names() == ["sent", "delivered", "displayed"]
    for report in reports:
        assert report.method == "POST"
        assert report.path == f"/deliveryNotification/{BOT_ID}/status"
        assert report.headers["Content-Type"].startswith("application/json")
        assert report.signature_ok, report.headers
        # choices "Notification signature" once more, spelled out for one report.
        headers = report.headers
        assert headers["signature"] == expected_signature(NOTIFY_TOKEN, headers["timestamp"], headers["nonce"])
        info = report.info
        assert info["messageId"] == answer["messageId"]
        assert info["senderAddress"] == f"tel:{USER}"
        assert info["destinationAddress"] == bot_uri(carrier.dialect)
        assert ISO_Z.match(info["dateTime"])
        assert "errorCode" not in info


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (None, ["delivered", "displayed"]),
        ([], ["delivered", "displayed"]),
        (["displayed"], ["displayed"]),
        (["sent"], ["sent"]),
        (["deliveredToNetwork", "failed"], []),
    ],
)
async def test_report_request_filters_statuses(
    carrier: Carrier, csp: CspReceiver, requested: list[str] | None, expected: list[str]
) -> None:
    extra: dict[str, Any] = {} if requested is None else {"reportRequest": requested}
    answer = await send_ok(carrier, send_body(carrier.dialect, **extra))
    if expected:
        await csp.wait_for("/status", len(expected))
    await settle()
    assert csp.status_names() == expected
    _, record = await carrier.control("GET", f"/_sim/messages/{answer['messageId']}")
    assert record["recipient_states"] == {f"tel:{USER}": "delivered"}


@pytest.mark.asyncio
@pytest.mark.parametrize("capability", ["none", "up1"])
async def test_sms_fallback_reports_delivered_to_network(carrier: Carrier, csp: CspReceiver, capability: str) -> None:
    await set_handset(carrier, USER, capability=capability)
    sms = "【测试】您的验证码是1234"
    await send_ok(carrier, send_body(carrier.dialect, smsSupported=True, smsContent=sms, reportRequest=ALL_REPORTS))
    await csp.wait_for("/status", 1)
    await settle()
    assert csp.status_names() == ["deliveredToNetwork"]
    _, inbox = await carrier.control("GET", f"/_sim/handsets/{USER}/inbox")
    assert [(e["delivered_as"], e["sms"]) for e in inbox] == [("sms", sms)]


@pytest.mark.asyncio
async def test_up1_without_sms_still_gets_the_message(carrier: Carrier, csp: CspReceiver) -> None:
    await set_handset(carrier, USER, capability="up1")
    await send_ok(carrier, send_body(carrier.dialect))
    await csp.wait_for("/status", 2)
    _, inbox = await carrier.control("GET", f"/_sim/handsets/{USER}/inbox")
    assert [e["delivered_as"] for e in inbox] == ["up1"]


@pytest.mark.asyncio
async def test_not_capable_without_sms_fails_with_an_error_code(carrier: Carrier, csp: CspReceiver) -> None:
    await set_handset(carrier, USER, capability="none")
    answer = await send_ok(carrier, send_body(carrier.dialect))
    (report,) = await csp.wait_for("/status", 1)
    info = report.info
    assert info["status"] == "failed"
    assert info["messageId"] == answer["messageId"]
    assert info["errorCode"] == code(carrier.dialect, 45001)
    assert info["errorMessage"]
    _, inbox = await carrier.control("GET", f"/_sim/handsets/{USER}/inbox")
    assert inbox == []


@pytest.mark.asyncio
async def test_offline_handset_gets_the_message_when_it_comes_online(carrier: Carrier, csp: CspReceiver) -> None:
    await set_handset(carrier, USER, capability="offline")
    answer = await send_ok(carrier, send_body(carrier.dialect, reportRequest=ALL_REPORTS))
    await csp.wait_for("/status", 1)
    await settle()
    assert csp.status_names() == ["sent"]
    _, handset = await carrier.control("GET", f"/_sim/handsets/{USER}")
    assert handset["held_count"] == 1
    await set_handset(carrier, USER, capability="up2")
    await csp.wait_for("/status", 3)
    assert csp.status_names() == ["sent", "delivered", "displayed"]
    _, record = await carrier.control("GET", f"/_sim/messages/{answer['messageId']}")
    assert record["delivered"] == 1


@pytest.mark.asyncio
async def test_offline_without_store_fails(carrier: Carrier, csp: CspReceiver) -> None:
    await set_handset(carrier, USER, capability="offline")
    await send_ok(carrier, send_body(carrier.dialect, storeSupported=False))
    (report,) = await csp.wait_for("/status", 1)
    assert report.info["status"] == "failed"
    assert report.info["errorCode"] == code(carrier.dialect, 45002)
    await set_handset(carrier, USER, capability="up2")
    await settle()
    assert csp.status_names() == ["failed"]


@pytest.mark.asyncio
async def test_group_send_reports_per_recipient(carrier: Carrier, csp: CspReceiver) -> None:
    await set_handset(carrier, USER2, capability="none")
    await send_ok(carrier, send_body(carrier.dialect, destinations=[f"tel:{USER}", f"tel:{USER2}", f"tel:{USER}"]))
    await csp.wait_for("/status", 3)
    await settle()
    by_user: dict[str, list[str]] = {}
    for report in csp.statuses():
        by_user.setdefault(report.info["senderAddress"], []).append(report.info["status"])
    assert by_user == {f"tel:{USER}": ["delivered", "displayed"], f"tel:{USER2}": ["failed"]}


# ---------------------------------------------------------------- ported-out and rate limit (choices)


@pytest.mark.asyncio
async def test_ported_out_number_is_refused(carrier: Carrier, csp: CspReceiver) -> None:
    await set_handset(carrier, USER, ported_out=True)
    body = send_body(carrier.dialect)
    _, answer = await send(carrier, body)
    assert answer["errorCode"] == code(carrier.dialect, 40401)
    assert answer["errorMessage"] == "用户非本网用户"
    await settle(0.05)
    assert csp.statuses() == []
    _, inbox = await carrier.control("GET", f"/_sim/handsets/{USER}/inbox")
    assert inbox == []
    # Back on this carrier, the same message goes through.
    await set_handset(carrier, USER, ported_out=False)
    await send_ok(carrier, body)


@pytest.mark.asyncio
async def test_ported_out_numbers_from_settings(make_carrier: CarrierFactory) -> None:
    carrier = await make_carrier("cucc", ported_out=["15300000001"])
    _, answer = await send(carrier, send_body("cucc"))
    assert (answer["errorCode"], answer["errorMessage"]) == (40401, "用户非本网用户")


@pytest.mark.asyncio
async def test_ported_out_member_of_a_group_fails_alone(carrier: Carrier, csp: CspReceiver) -> None:
    await set_handset(carrier, USER2, ported_out=True)
    await send_ok(carrier, send_body(carrier.dialect, destinations=[f"tel:{USER}", f"tel:{USER2}"]))
    await csp.wait_for("/status", 3)
    failed = [r.info for r in csp.statuses() if r.info["status"] == "failed"]
    assert failed == [
        {
            **failed[0],
            "senderAddress": f"tel:{USER2}",
            "errorCode": code(carrier.dialect, 40401),
            "errorMessage": "用户非本网用户",
        }
    ]


@pytest.mark.asyncio
async def test_rate_limit_answers_429_with_31008(make_carrier: CarrierFactory, dialect: str) -> None:
    carrier = await make_carrier(dialect, tps_limit=2)
    auth = await carrier.authorization()
    results = [
        await carrier.call("messages", send_body(dialect, reportRequest=["failed"]), authorization=auth)
        for _ in range(3)
    ]
    assert [r[0] for r in results] == [200, 200, 429]
    status, answer, headers = results[2]
    assert headers["Content-Type"].startswith("application/json")
    assert answer["errorCode"] == code(dialect, 31008)
    await asyncio.sleep(0.55)
    status, answer, _ = await carrier.call("messages", send_body(dialect), authorization=auth)
    assert (status, answer["errorCode"]) == (200, code(dialect, 0))
    _, stats = await carrier.control("GET", "/_sim/stats")
    assert stats["rate_limited"] == 1


# ---------------------------------------------------------------- revoke (§3.3.3)


def revoke_body(message_id: str, *destinations: str) -> dict[str, Any]:
    body: dict[str, Any] = {"messageId": message_id, "status": "RevokeRequested"}
    if destinations:
        body["destinationAddress"] = list(destinations)
    return body


@pytest.mark.asyncio
async def test_revoke_before_delivery_is_revoke_ok_and_never_delivered(carrier: Carrier, csp: CspReceiver) -> None:
    await set_handset(carrier, USER, capability="offline")
    answer = await send_ok(carrier, send_body(carrier.dialect))
    auth = await carrier.authorization()
    status, ack, _ = await carrier.call("revoke", revoke_body(answer["messageId"], f"tel:{USER}"), authorization=auth)
    assert status == 200
    if carrier.dialect == "ctcc":
        assert ack == {"messageId": answer["messageId"], "errorCode": "0", "errorMessage": "success"}
    else:
        assert ack == {
            "errorCode": 0,
            "errorMessage": "success",
            "messageId": answer["messageId"],
            "conversationId": None,
            "contributionId": None,
        }
    (report,) = await csp.wait_for("/status", 1)
    assert report.info["status"] == "revokeOk"
    assert report.info["messageId"] == answer["messageId"]
    assert report.signature_ok
    await set_handset(carrier, USER, capability="up2")
    await settle()
    assert csp.status_names() == ["revokeOk"]
    _, inbox = await carrier.control("GET", f"/_sim/handsets/{USER}/inbox")
    assert inbox == []


@pytest.mark.asyncio
async def test_revoke_while_in_flight_wins(make_carrier: CarrierFactory, csp: CspReceiver, dialect: str) -> None:
    carrier = await make_carrier(dialect, faults={"delivered_delay_ms": 300})
    answer = await send_ok(carrier, send_body(dialect))
    auth = await carrier.authorization()
    # A revoke without destinationAddress covers every recipient.
    await carrier.call("revoke", revoke_body(answer["messageId"]), authorization=auth)
    await csp.wait_for("/status", 1)
    await asyncio.sleep(0.4)
    assert csp.status_names() == ["revokeOk"]
    _, record = await carrier.control("GET", f"/_sim/messages/{answer['messageId']}")
    assert record["recipient_states"] == {f"tel:{USER}": "revoked"}


@pytest.mark.asyncio
async def test_revoke_after_delivery_is_revoke_fail(carrier: Carrier, csp: CspReceiver) -> None:
    answer = await send_ok(carrier, send_body(carrier.dialect))
    await csp.wait_for("/status", 2)
    auth = await carrier.authorization()
    _, ack, _ = await carrier.call("revoke", revoke_body(answer["messageId"], f"tel:{USER}"), authorization=auth)
    assert ack["errorCode"] == code(carrier.dialect, 0)
    await csp.wait_for("/status", 3)
    info = csp.statuses()[-1].info
    assert info["status"] == "revokeFail"
    assert info["senderAddress"] == f"tel:{USER}"
    assert info["errorCode"] == code(carrier.dialect, 45003)


@pytest.mark.asyncio
async def test_revoke_of_unknown_id_is_acknowledged_then_fails(carrier: Carrier, csp: CspReceiver) -> None:
    auth = await carrier.authorization()
    unknown = str(uuid.uuid4())
    # §3.3.3: rcs-web sends destinationAddress as a plain string.
    _, ack, _ = await carrier.call(
        "revoke",
        {"messageId": unknown, "status": "RevokeRequested", "destinationAddress": f"tel:{USER}"},
        authorization=auth,
    )
    assert ack["errorCode"] == code(carrier.dialect, 0)
    (report,) = await csp.wait_for("/status", 1)
    assert (report.info["status"], report.info["messageId"]) == ("revokeFail", unknown)


@pytest.mark.asyncio
async def test_revoke_checks_token_and_status(carrier: Carrier) -> None:
    _, ack, _ = await carrier.call("revoke", revoke_body("x"), authorization="accessToken nope")
    assert ack["errorCode"] == code(carrier.dialect, 40014)
    assert ack["messageId"] is None
    auth = await carrier.authorization()
    _, ack, _ = await carrier.call("revoke", {"messageId": "x", "status": "Revoke"}, authorization=auth)
    assert ack["errorCode"] == code(carrier.dialect, 20002)


# ---------------------------------------------------------------- notification delivery


@pytest.mark.asyncio
async def test_notifications_are_retried_on_non_2xx(carrier: Carrier, csp: CspReceiver) -> None:
    csp.plan = [500, 503]
    await send_ok(carrier, send_body(carrier.dialect, reportRequest=["delivered"]))
    await csp.wait_for("/status", 3)
    await settle()
    assert csp.status_names() == ["delivered"] * 3
    _, stats = await carrier.control("GET", "/_sim/stats")
    assert stats["notification_retries"] == 2
    assert stats["notifications_sent"] == 1


@pytest.mark.asyncio
async def test_give_up_after_notify_retries(make_carrier: CarrierFactory, csp: CspReceiver) -> None:
    carrier = await make_carrier("ctcc", notify_retries=1)
    csp.plan = [500] * 5
    answer = await send_ok(carrier, send_body("ctcc", reportRequest=["delivered"]))
    await csp.wait_for("/status", 2)
    await settle()
    assert len(csp.statuses()) == 2
    _, record = await carrier.control("GET", f"/_sim/messages/{answer['messageId']}")
    assert [(n["status"], n["ok"], n["http_status"]) for n in record["notifications"]] == [("delivered", False, 500)]


# ---------------------------------------------------------------- notifyPath handshake (choices)


def account_json(csp: CspReceiver, **extra: Any) -> dict[str, Any]:
    return {"app_id": APP_ID, "app_key": APP_KEY, "notify_token": NOTIFY_TOKEN, "notify_url": csp.root, **extra}


@pytest.mark.asyncio
async def test_notify_path_handshake_succeeds(carrier: Carrier, csp: CspReceiver) -> None:
    status, body = await carrier.control("PUT", f"/_sim/chatbots/{BOT_ID}", account_json(csp))
    assert status == 200
    assert body["notify_path_verified"] is True
    (call,) = csp.at("/notifyPath")
    assert call.method == ("POST" if carrier.dialect == "ctcc" else "GET")
    lowered = {k.lower(): v for k, v in call.headers.items()}
    assert lowered["chatbotid"] == BOT_ID
    assert lowered["echostr"]
    assert call.signature_ok
    _, listing = await carrier.control("GET", "/_sim/chatbots")
    mine = next(b for b in listing if b["chatbot_id"] == BOT_ID)
    assert (mine["notify_path_verified"], mine["notify_path_checked"]) == (True, True)
    other = next(b for b in listing if b["chatbot_id"] == OTHER_BOT_ID)
    assert (other["notify_path_verified"], other["notify_path_checked"]) == (False, False)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("mode", "fragment"),
    [
        ("wrong_echo", "echoStr"),
        ("no_app_id", "appId"),
        ("wrong_app_id", "appId"),
        ("json_body", "echoStr"),
        (404, "404"),
        (500, "500"),
    ],
)
async def test_notify_path_handshake_failures(
    carrier: Carrier, csp: CspReceiver, mode: str | int, fragment: str
) -> None:
    csp.handshake = mode
    status, body = await carrier.control("PUT", f"/_sim/chatbots/{BOT_ID}", account_json(csp))
    assert status == 200
    assert body["notify_path_verified"] is False
    assert fragment in body["reason"]
    csp.handshake = "ok"
    status, body = await carrier.control("POST", f"/_sim/chatbots/{BOT_ID}/verify")
    assert (status, body["notify_path_verified"]) == (200, True)


@pytest.mark.asyncio
async def test_unreachable_notify_root_fails_the_handshake(carrier: Carrier) -> None:
    dead = "http://127.0.0.1:9/csp"
    status, body = await carrier.control(
        "PUT", "/_sim/chatbots/106500000000001", {**account_json(CspReceiver()), "notify_url": dead}
    )
    assert status == 201
    assert body["notify_path_verified"] is False
    assert body["reason"]


@pytest.mark.asyncio
async def test_handshake_can_be_required_before_notifying(make_carrier: CarrierFactory, csp: CspReceiver) -> None:
    carrier = await make_carrier("cucc", require_notify_path=True)
    await send_ok(carrier, send_body("cucc"))
    await settle()
    assert csp.statuses() == []
    await carrier.control("POST", f"/_sim/chatbots/{BOT_ID}/verify")
    await send_ok(carrier, send_body("cucc"))
    await csp.wait_for("/status", 2)


@pytest.mark.asyncio
async def test_put_chatbot_validates_and_can_skip_the_handshake(carrier: Carrier, csp: CspReceiver) -> None:
    status, body = await carrier.control("PUT", "/_sim/chatbots/abc", account_json(csp))
    assert status == 400
    status, body = await carrier.control("PUT", f"/_sim/chatbots/{BOT_ID}", account_json(csp, notify_token="x" * 17))
    assert status == 400
    status, body = await carrier.control("PUT", f"/_sim/chatbots/{BOT_ID}?verify=false", account_json(csp))
    assert (status, body["notify_path_checked"]) == (200, False)
    assert csp.at("/notifyPath") == []
    status, _ = await carrier.control("DELETE", f"/_sim/chatbots/{BOT_ID}")
    assert status == 204
    _, answer = await carrier.token_answer()
    assert answer["errorCode"] == code(carrier.dialect, 40001)


# ---------------------------------------------------------------- uplink (§3.3.6)


async def uplink(carrier: Carrier, payload: dict[str, Any]) -> dict[str, Any]:
    status, body = await carrier.control("POST", f"/_sim/handsets/{USER}/uplink", {"chatbot_id": BOT_ID, **payload})
    assert status == 200, body
    assert body["ok"] is True, body
    return dict(body)


UPLINK_CASES: list[tuple[dict[str, Any], str, Any]] = [
    ({"text": "你好"}, "text/plain", "你好"),
    (
        {"postback": {"display_text": "是的", "data": "yes"}},
        SUGGESTION_RESPONSE,
        {"response": {"reply": {"displayText": "是的", "postback": {"data": "yes"}, "type": "reply"}}},
    ),
    (
        {"action": {"display_text": "立即问医"}},
        SUGGESTION_RESPONSE,
        {"response": {"action": {"displayText": "立即问医"}}},
    ),
    (
        {"geo": {"lat": 22.5385, "lon": 114.0572, "label": "福田"}},
        "text/plain",
        "geo:22.5385,114.0572;crs=gcj02;rcs-l=%E7%A6%8F%E7%94%B0",
    ),
    (
        {"shared_data": {"deviceModel": "P40", "clientVendor": "HW"}},
        SHARED_DATA,
        {"sharedData": {"deviceSpecifics": {"deviceModel": "P40", "clientVendor": "HW"}}},
    ),
    (
        {
            "file": {
                "url": "https://httpserver01.ct5g.cn:10001/s/aFD.jpg",
                "content_type": "image/jpeg",
                "size": 52239,
                "name": "a.jpg",
                "until": "2031-01-07T14:15:40Z",
                "thumbnail_url": "https://httpserver01.ct5g.cn:10001/s/aTD",
                "thumbnail_size": 4045,
            }
        },
        FT,
        [
            {
                "type": "file",
                "fileSize": 52239,
                "fileName": "a.jpg",
                "contentType": "image/jpeg",
                "url": "https://httpserver01.ct5g.cn:10001/s/aFD.jpg",
                "until": "2031-01-07T14:15:40Z",
            },
            {
                "type": "thumbnail",
                "fileSize": 4045,
                "contentType": "image/jpeg",
                "url": "https://httpserver01.ct5g.cn:10001/s/aTD",
                "until": "2031-01-07T14:15:40Z",
            },
        ],
    ),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("payload", "content_type", "content_text"), UPLINK_CASES, ids=[next(iter(c[0])) for c in UPLINK_CASES]
)
async def test_uplink_kinds_reach_the_message_notification(
    carrier: Carrier, csp: CspReceiver, payload: dict[str, Any], content_type: str, content_text: Any
) -> None:
    result = await uplink(carrier, payload)
    (call,) = await csp.wait_for("/messages", 1)
    assert call.method == "POST"
    assert call.path == f"/messageNotification/{BOT_ID}/messages"
    assert call.signature_ok
    mo = call.json()
    assert mo["messageList"] == [{"contentType": content_type, "contentEncoding": "utf8", "contentText": content_text}]
    assert mo["senderAddress"] == f"tel:{USER}"
    assert mo["destinationAddress"] == bot_uri(carrier.dialect)
    assert ISO_Z.match(mo["dateTime"])
    for key in ("messageId", "conversationId", "contributionId"):
        assert uuid.UUID(mo[key])
    assert "inReplyTo" not in mo
    assert result["body"] == mo


@pytest.mark.asyncio
async def test_reply_joins_the_downlink_conversation(carrier: Carrier, csp: CspReceiver) -> None:
    body = send_body(carrier.dialect)
    answer = await send_ok(carrier, body)
    await uplink(carrier, {"text": "好的", "in_reply_to": answer["messageId"]})
    (call,) = await csp.wait_for("/messages", 1)
    mo = call.json()
    assert mo["conversationId"] == body["conversationId"]
    assert mo["inReplyTo"] == body["contributionId"]


@pytest.mark.asyncio
async def test_spam_report_goes_to_the_rcsspam_notice(carrier: Carrier, csp: CspReceiver) -> None:
    answer = await send_ok(carrier, send_body(carrier.dialect))
    await csp.wait_for("/status", 1)
    await uplink(carrier, {"spam_report": {"spam_type": "advertisement", "free_text": "骚扰"}})
    (call,) = await csp.wait_for("/rcsspam", 1)
    assert call.path == f"/notifyInfoNotification/{BOT_ID}/notice/rcsspam"
    assert call.signature_ok
    spam = call.json()
    assert spam["messageId"] == [answer["messageId"]]
    assert (spam["spamType"], spam["freeText"]) == ("advertisement", "骚扰")
    assert spam["senderAddress"] == f"tel:{USER}"


@pytest.mark.asyncio
async def test_uplink_control_errors(carrier: Carrier, csp: CspReceiver) -> None:
    path = f"/_sim/handsets/{USER}/uplink"
    assert (await carrier.control("POST", path, {"chatbot_id": "1", "text": "x"}))[0] == 404
    assert (await carrier.control("POST", path, {"chatbot_id": BOT_ID}))[0] == 400
    assert (await carrier.control("POST", path, {"chatbot_id": BOT_ID, "text": "a", "geo": {}}))[0] == 400
    assert (await carrier.control("POST", path, {"chatbot_id": BOT_ID, "text": "a", "in_reply_to": "nope"}))[0] == 404
    csp.plan = [500] * 10
    status, result = await carrier.control("POST", path, {"chatbot_id": BOT_ID, "text": "x"})
    assert (status, result["ok"], result["status"], result["attempts"]) == (200, False, 500, 4)


# ---------------------------------------------------------------- faults


@pytest.mark.asyncio
async def test_burst_5xx_answers_nginx_pages_and_delivers_nothing(carrier: Carrier, csp: CspReceiver) -> None:
    await carrier.control("PUT", "/_sim/faults", {"burst_5xx": 2})
    auth = await carrier.authorization()  # the token call is not faulted
    body = send_body(carrier.dialect)
    seen = []
    for _ in range(3):
        status, answer, headers = await carrier.call("messages", body, authorization=auth)
        seen.append(status)
        if status >= 500:
            assert headers["Content-Type"].startswith("text/html")
            assert "<center>nginx</center>" in answer
    assert seen == [500, 502, 200]
    await csp.wait_for("/status", 2)
    await settle()
    _, record = await carrier.control("GET", f"/_sim/messages/{body['messageId']}")
    assert (record["received"], record["faulted"], record["accepted"], record["delivered"]) == (3, 2, 1, 1)


@pytest.mark.asyncio
async def test_error_rate_answers_minus_one(make_carrier: CarrierFactory, csp: CspReceiver, dialect: str) -> None:
    carrier = await make_carrier(dialect, faults={"error_rate": 1.0})
    body = send_body(dialect)
    status, answer = await send(carrier, body)
    assert status == 200
    assert answer["errorCode"] == code(dialect, -1)
    assert answer["errorMessage"] == "系统遇到未知异常,请与相关人员联系"
    assert answer["messageId"] == body["messageId"]
    await settle(0.05)
    assert csp.statuses() == []


@pytest.mark.asyncio
async def test_timeout_next_hangs_one_call(make_carrier: CarrierFactory) -> None:
    carrier = await make_carrier("ctcc", faults={"timeout_next": 1, "hang_seconds": 0.6})
    auth = await carrier.authorization()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await carrier.call("messages", send_body("ctcc"), authorization=auth, timeout=0.2)
    assert time.monotonic() - started < 0.5
    await send_ok(carrier, send_body("ctcc"), auth)


@pytest.mark.asyncio
async def test_latency_delays_the_answer(make_carrier: CarrierFactory) -> None:
    carrier = await make_carrier("cucc", faults={"latency_ms": 150})
    auth = await carrier.authorization()
    started = time.monotonic()
    await send_ok(carrier, send_body("cucc"), auth)
    assert time.monotonic() - started >= 0.15


@pytest.mark.asyncio
async def test_duplicate_and_out_of_order_notifications(make_carrier: CarrierFactory, csp: CspReceiver) -> None:
    carrier = await make_carrier("ctcc", faults={"duplicate_notifications": True, "out_of_order": True})
    await send_ok(carrier, send_body("ctcc"))
    await csp.wait_for("/status", 4)
    await settle()
    assert csp.status_names() == ["displayed", "displayed", "delivered", "delivered"]


@pytest.mark.asyncio
async def test_faults_api_validates(carrier: Carrier) -> None:
    status, faults = await carrier.control("GET", "/_sim/faults")
    assert status == 200
    assert set(faults) >= {
        "error_rate",
        "latency_ms",
        "burst_5xx",
        "timeout_next",
        "hang_seconds",
        "duplicate_notifications",
        "out_of_order",
        "delivered_delay_ms",
        "displayed_delay_ms",
        "expire_tokens",
    }
    for bad in ({"nope": 1}, {"error_rate": 2}, {"burst_5xx": -1}, {"out_of_order": 1}):
        assert (await carrier.control("PUT", "/_sim/faults", bad))[0] == 400


# ---------------------------------------------------------------- control API, reset, CLI


@pytest.mark.asyncio
async def test_reset_clears_messages_but_keeps_tokens(carrier: Carrier, csp: CspReceiver) -> None:
    auth = await carrier.authorization()
    body = send_body(carrier.dialect)
    await send_ok(carrier, body, auth)
    await csp.wait_for("/status", 2)
    status, _ = await carrier.control("POST", "/_sim/reset", {})
    assert status == 200
    assert (await carrier.control("GET", f"/_sim/messages/{body['messageId']}"))[0] == 404
    _, stats = await carrier.control("GET", "/_sim/stats")
    assert (stats["accepted"], stats["tokens_valid"]) == (0, 1)
    await send_ok(carrier, body, auth)  # the same id is new again after a reset
    await carrier.control("POST", "/_sim/reset", {"tokens": True})
    _, answer = await send(carrier, send_body(carrier.dialect), auth)
    assert answer["errorCode"] == code(carrier.dialect, 40014)


@pytest.mark.asyncio
async def test_healthz_handset_and_page(carrier: Carrier, csp: CspReceiver) -> None:
    assert await carrier.control("GET", "/_sim/healthz") == (200, {"status": "ok", "dialect": carrier.dialect})
    assert (await carrier.control("PUT", f"/_sim/handsets/{USER}", {"capability": "up3"}))[0] == 400
    assert (await carrier.control("PUT", "/_sim/handsets/abc", {"capability": "up2"}))[0] == 400
    await set_handset(carrier, "15300000009", capability="none", ported_out=True)
    _, handset = await carrier.control("GET", "/_sim/handsets/+8615300000009")
    assert (handset["capability"], handset["ported_out"]) == ("none", True)
    await send_ok(carrier, send_body(carrier.dialect))
    await csp.wait_for("/status", 1)
    status, html = await carrier.control("GET", f"/_sim/?number={USER}")
    assert status == 200
    assert "你好chatbot" in html


def test_cli_builds_settings(tmp_path: Path) -> None:
    config = tmp_path / "sim.json"
    config.write_text(
        json.dumps({"dialect": "cucc", "faults": {"delivered_delay_ms": 1}, "ported_out": ["15300000001"]})
    )
    args = cli._parser().parse_args(
        [
            "--config",
            str(config),
            "--chatbot",
            f"{BOT_ID}:{APP_ID}:{APP_KEY}:{NOTIFY_TOKEN}:http://127.0.0.1:8080/cb",
            "--token-ttl",
            "60",
        ]
    )
    settings = cli.build_settings(args)
    assert settings.dialect == "cucc"
    assert settings.token_ttl_seconds == 60
    assert settings.faults.delivered_delay_ms == 1
    (bot,) = settings.chatbots
    assert (bot.chatbot_id, bot.app_id, bot.app_key, bot.notify_token, bot.notify_url) == (
        BOT_ID,
        APP_ID,
        APP_KEY,
        NOTIFY_TOKEN,
        "http://127.0.0.1:8080/cb",
    )
    args = cli._parser().parse_args(["--dialect", "ctcc", "--chatbot", "1:2:3"])
    with pytest.raises(ConfigError):
        cli.build_settings(args)
    with pytest.raises(ConfigError):
        SimulatorSettings(dialect="cmcc")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        ChatbotAccount(BOT_ID, APP_ID, APP_KEY, "", "http://x")
    with pytest.raises(ConfigError):
        ChatbotAccount(BOT_ID, APP_ID, APP_KEY, NOTIFY_TOKEN, "http://x", tps_limit=0)
