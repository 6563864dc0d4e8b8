"""Raw-HTTP tests of the third-party aggregator simulator (protocol-choices.md; protocols.md §3.6)."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp
import pytest
import pytest_asyncio
import uvicorn
from aiohttp import web

from msg5g.simulators.aggregator import Account, ConfigError, Faults, SimulatorSettings, create_app
from msg5g.simulators.aggregator import __main__ as cli

from .aggregator_wire import (
    APPID,
    APPKEY,
    BOT,
    CMCC_USER,
    CTCC_USER,
    CUCC_USER,
    OTHER_APPID,
    OTHER_APPKEY,
    OTHER_BOT,
    AggClient,
    Answer,
    Pushed,
    PushReceiver,
    card,
    card_item,
    carousel_doc,
    chips_item,
    file_entry,
    file_item,
    media,
    parse_beijing,
    push_sign,
    reply,
    request_sign,
    send_body,
    single_card_doc,
    text_item,
)
from .conftest import _bound_socket, _PromptServer

SEND_ID = re.compile(r"^[0-9a-f]{32}$")
MESSAGE_KEYS = ["event", "sendID", "to", "status", "timestamp"]
FORWARD_KEYS = [
    "chatbot",
    "msgid",
    "dateTime",
    "phone",
    "conversationId",
    "contributionId",
    "inReplyTo",
    "replyType",
    "replyContent",
]


@pytest_asyncio.fixture
async def pushes() -> AsyncIterator[PushReceiver]:
    receiver = PushReceiver(keys={"one": APPKEY, "two": OTHER_APPKEY})
    app = web.Application()
    app.router.add_post("/push/{name}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = _bound_socket()
    await web.SockSite(runner, sock).start()
    receiver.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


AggFactory = Callable[..., Awaitable[AggClient]]


@pytest_asyncio.fixture
async def make_agg(pushes: PushReceiver) -> AsyncIterator[AggFactory]:
    """Start simulators on free loopback ports; keyword arguments override SimulatorSettings."""
    started: list[tuple[_PromptServer, asyncio.Task[None], aiohttp.ClientSession]] = []

    async def start(**overrides: Any) -> AggClient:
        faults = overrides.pop("faults", {})
        settings = SimulatorSettings(
            accounts=[Account(APPID, APPKEY, pushes.url("one")), Account(OTHER_APPID, OTHER_APPKEY, pushes.url("two"))],
            chatbots={BOT: APPID, OTHER_BOT: OTHER_APPID},
            faults=Faults(delivered_delay_ms=5, displayed_delay_ms=5).updated(faults),
            notify_backoff_ms=5,
            notify_workers=8,
            **overrides,
        )
        config = uvicorn.Config(
            create_app(settings),
            log_level="warning",
            access_log=False,
            ws="none",
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        server = _PromptServer(config)
        sock = _bound_socket()
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("simulator did not start")
            await asyncio.sleep(0.005)
        session = aiohttp.ClientSession()
        started.append((server, task, session))
        return AggClient(f"http://127.0.0.1:{sock.getsockname()[1]}", session, config.app)

    try:
        yield start
    finally:
        for server, task, session in started:
            await session.close()
            server.should_exit = True
            server.stop_event.set()
            await task


@pytest_asyncio.fixture
async def agg(make_agg: AggFactory) -> AggClient:
    return await make_agg()


async def settle(seconds: float = 0.15) -> None:
    """Give the simulator time to push anything it still (wrongly) owes."""
    await asyncio.sleep(seconds)


def error_of(answer: Answer) -> tuple[int, str, str]:
    data = answer.json
    assert set(data) == {"status", "code", "msg"}, data
    assert data["status"] == "error"
    assert isinstance(data["code"], str)
    return answer.status, data["code"], data["msg"]


def check_message_event(push: Pushed, send_id: str, to: str, status: str) -> None:
    assert push.sig_ok, push.headers
    assert push.headers["Content-Type"].startswith("application/json")
    assert push.path == "one"
    data = push.json
    assert list(data) == MESSAGE_KEYS
    assert data == {"event": "Message", "sendID": send_id, "to": to, "status": status, "timestamp": data["timestamp"]}
    # §3.6 timestamps are Beijing time: parsed as UTC+8 they must be "now".
    assert abs(parse_beijing(data["timestamp"]) - time.time()) < 5


def statuses(received: list[Pushed], send_id: str | None = None) -> list[str]:
    return [p.json["status"] for p in received if send_id is None or p.json["sendID"] == send_id]


# ---------------------------------------------------------------- send: success and pushes


@pytest.mark.asyncio
async def test_send_answers_one_send_id_per_number_with_its_carrier(agg: AggClient, pushes: PushReceiver) -> None:
    send_list = await agg.send_ok(send_body([CMCC_USER, CTCC_USER, CUCC_USER], client_ref=str(uuid.uuid4())))
    carriers = [(s["to"], s["carrier"]) for s in send_list]
    assert carriers == [(CMCC_USER, "cmcc"), (CTCC_USER, "ctcc"), (CUCC_USER, "cucc")]
    assert all(list(s) == ["to", "sendID", "carrier"] for s in send_list)
    assert all(SEND_ID.match(s["sendID"]) for s in send_list)
    assert len({s["sendID"] for s in send_list}) == 3
    received = await pushes.wait_events(6)
    for entry in send_list:
        mine = [p for p in received if p.json["sendID"] == entry["sendID"]]
        assert statuses(mine) == ["DeliveredToTerminal", "MessageDisplayed"]
        for push, status in zip(mine, ["DeliveredToTerminal", "MessageDisplayed"], strict=True):
            check_message_event(push, entry["sendID"], entry["to"], status)
    assert all(p.headers["X-Appid"] == APPID for p in received)


@pytest.mark.asyncio
async def test_answer_is_exact_json(agg: AggClient) -> None:
    answer = await agg.send(send_body())
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    data = answer.json
    assert list(data) == ["status", "send_list"]
    assert data["status"] == "success"


@pytest.mark.asyncio
async def test_inbox_shows_text_and_chips(agg: AggClient, pushes: PushReceiver) -> None:
    items = [text_item("Pick one"), chips_item(reply("Yes", "pb-yes"), reply("No", "pb-no"))]
    [entry] = await agg.send_ok(send_body(items=items))
    await pushes.wait_events(1)
    _, inbox = await agg.control("GET", f"/_sim/handsets/{CMCC_USER}/inbox")
    assert len(inbox) == 1
    assert inbox[0]["send_id"] == entry["sendID"]
    assert inbox[0]["delivered_as"] == "rcs"
    assert inbox[0]["text"] == "Pick one"
    assert inbox[0]["chips"]["suggestions"][0]["reply"]["postback"]["data"] == "pb-yes"


@pytest.mark.asyncio
async def test_card_carousel_and_file_sends_accepted(agg: AggClient) -> None:
    one = card_item(single_card_doc(card(media=media(), suggestions=[reply() for _ in range(4)])))
    await agg.send_ok(send_body(items=[one, chips_item(*(reply(f"c{i}") for i in range(11)))]))
    await agg.send_ok(send_body(items=[card_item(carousel_doc(2))]))
    await agg.send_ok(send_body(items=[card_item(carousel_doc(12))]))
    await agg.send_ok(send_body(items=[file_item(file_entry("file"), file_entry("thumbnail"))]))
    await agg.send_ok(send_body(items=[file_item(file_entry("file", fileSize=52239))]))
    await agg.send_ok(send_body(items=[chips_item(reply("x" * 25, "d" * 2048)), text_item()]))


@pytest.mark.asyncio
async def test_repeated_numbers_in_to_are_sent_once(agg: AggClient, pushes: PushReceiver) -> None:
    send_list = await agg.send_ok(send_body([CMCC_USER, CMCC_USER]))
    assert [s["to"] for s in send_list] == [CMCC_USER]
    await pushes.wait_events(2)
    await settle(0.05)
    assert len(pushes.events()) == 2


@pytest.mark.asyncio
async def test_two_hundred_numbers_accepted(agg: AggClient) -> None:
    numbers = [f"1380000{i:04d}" for i in range(200)]
    send_list = await agg.send_ok(send_body(numbers))
    assert [s["to"] for s in send_list] == numbers


# ---------------------------------------------------------------- auth


@pytest.mark.asyncio
async def test_missing_appid_is_103(agg: AggClient, pushes: PushReceiver) -> None:
    answer = await agg.send(send_body(), appid=None)
    assert error_of(answer)[:2] == (200, "103")
    await settle(0.05)
    assert pushes.received == []


@pytest.mark.asyncio
async def test_unknown_appid_is_103(agg: AggClient) -> None:
    answer = await agg.send(send_body(), appid="nobody", appkey="x")
    assert error_of(answer)[:2] == (200, "103")


@pytest.mark.asyncio
async def test_wrong_appkey_is_101(agg: AggClient, pushes: PushReceiver) -> None:
    answer = await agg.send(send_body(), appkey="not-the-key")
    assert error_of(answer)[:2] == (200, "101")
    await settle(0.05)
    assert pushes.received == []


@pytest.mark.asyncio
async def test_other_accounts_key_is_101(agg: AggClient) -> None:
    answer = await agg.send(send_body(), appkey=OTHER_APPKEY)
    assert error_of(answer)[1] == "101"


@pytest.mark.asyncio
async def test_signature_over_another_body_is_101(agg: AggClient) -> None:
    answer = await agg.send(send_body(), sign_body=json.dumps(send_body()).encode() + b" ")
    assert error_of(answer)[1] == "101"


@pytest.mark.asyncio
async def test_signature_without_appid_or_in_wrong_order_is_101(agg: AggClient) -> None:
    body = json.dumps(send_body()).encode()
    ts = str(int(time.time()))
    # The push formula (no appid) and a reordered concatenation both miss the request formula.
    for signature in (push_sign(APPKEY, ts, body), request_sign(APPKEY, APPID, ts, body)):
        answer = await agg.send(None, raw=body, timestamp=ts, signature=signature)
        assert error_of(answer)[1] == "101"


@pytest.mark.asyncio
async def test_missing_signature_is_101(agg: AggClient) -> None:
    answer = await agg.send(send_body(), signature="")
    assert error_of(answer)[1] == "101"


@pytest.mark.asyncio
async def test_uppercase_hex_signature_accepted(agg: AggClient) -> None:
    body = json.dumps(send_body()).encode()
    ts = str(int(time.time()))
    answer = await agg.send(None, raw=body, timestamp=ts, signature=request_sign(APPID, APPKEY, ts, body).upper())
    assert answer.json["status"] == "success"


@pytest.mark.asyncio
@pytest.mark.parametrize("offset", [-301, 301, -3600])
async def test_stale_timestamp_is_102(agg: AggClient, offset: int) -> None:
    answer = await agg.send(send_body(), timestamp=str(int(time.time()) + offset))
    assert error_of(answer)[:2] == (200, "102")


@pytest.mark.asyncio
async def test_timestamp_within_skew_accepted(agg: AggClient) -> None:
    answer = await agg.send(send_body(), timestamp=str(int(time.time()) - 250))
    assert answer.json["status"] == "success"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "timestamp", ["", "abc", "1700000000.5", "2024-04-03 09:42:50", "MILLIS"], ids=lambda t: t or "empty"
)
async def test_malformed_timestamp_is_102(agg: AggClient, timestamp: str) -> None:
    # Milliseconds are the classic mistake: a well-formed number that is far off.
    value = str(int(time.time() * 1000)) if timestamp == "MILLIS" else timestamp
    answer = await agg.send(send_body(), timestamp=value)
    assert error_of(answer)[1] == "102"


@pytest.mark.asyncio
async def test_auth_failures_are_counted(agg: AggClient) -> None:
    await agg.send(send_body(), appkey="bad")
    await agg.send(send_body(), appid="nobody")
    _, stats = await agg.control("GET", "/_sim/stats")
    assert stats["rejected_by_code"] == {"101": 1, "103": 1}
    assert stats["accepted"] == 0


# ---------------------------------------------------------------- send: body validation


@pytest.mark.asyncio
async def test_chatbot_of_another_appid_is_103(agg: AggClient) -> None:
    answer = await agg.send(send_body(chatbot=OTHER_BOT))
    assert error_of(answer)[1] == "103"
    answer = await agg.send(send_body(chatbot="no-such-bot"))
    assert error_of(answer)[1] == "103"
    answer = await agg.send(send_body(chatbot=OTHER_BOT), appid=OTHER_APPID, appkey=OTHER_APPKEY)
    assert answer.json["status"] == "success"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "number",
    ["+8613800000001", "8613800000001", "tel:+8613800000001", "1380000000", "138000000012", "12800000001",
     "1380000000a", 13800000001, "19200000001", "13490000001", ""],
)  # fmt: skip
async def test_invalid_number_is_201(agg: AggClient, pushes: PushReceiver, number: Any) -> None:
    answer = await agg.send(send_body([CMCC_USER, number]))
    status, code, msg = error_of(answer)
    assert (status, code) == (200, "201")
    assert msg
    await settle(0.05)
    assert pushes.received == []


@pytest.mark.asyncio
@pytest.mark.parametrize("to", [[], "13800000001", None])
async def test_to_must_be_a_non_empty_array(agg: AggClient, to: Any) -> None:
    body = send_body()
    body["to"] = to
    answer = await agg.send(body)
    assert error_of(answer)[1] == "201"


@pytest.mark.asyncio
async def test_more_than_200_numbers_is_202(agg: AggClient, pushes: PushReceiver) -> None:
    answer = await agg.send(send_body([f"1380000{i:04d}" for i in range(201)]))
    assert error_of(answer)[1] == "202"
    await settle(0.05)
    assert pushes.received == []


@pytest.mark.asyncio
async def test_body_must_be_json(agg: AggClient) -> None:
    answer = await agg.send(None, raw=b"chatbot=agg-bot-1", content_type="application/x-www-form-urlencoded")
    assert error_of(answer)[1] == "301"
    answer = await agg.send(None, raw=b"{not json")
    assert error_of(answer)[1] == "301"
    answer = await agg.send([send_body()])
    assert error_of(answer)[1] == "301"
    answer = await agg.send(send_body(), content_type=None)
    assert error_of(answer)[1] == "301"


@pytest.mark.asyncio
async def test_json_content_type_with_charset_accepted(agg: AggClient) -> None:
    answer = await agg.send(send_body(), content_type="application/json; charset=utf-8")
    assert answer.json["status"] == "success"


def _bad_items() -> list[tuple[str, list[dict[str, Any]] | None, str]]:
    too_long_label = reply("x" * 26)
    return [
        ("missing", None, "messageList"),
        ("empty", [], "messageList"),
        ("empty-text", [text_item("")], "messageList[0].contentText"),
        ("text-not-string", [{"contentType": "text/plain", "contentText": {"t": 1}}], "messageList[0].contentText"),
        ("no-content-text", [{"contentType": "text/plain"}], "messageList[0].contentText"),
        ("unknown-type", [{"contentType": "image/png", "contentText": "x"}], "messageList[0].contentType"),
        ("base64", [{**text_item(), "contentEncoding": "base64"}], "messageList[0].contentEncoding"),
        ("unknown-item-key", [{**text_item(), "contentDisposition": "x"}], "messageList[0]"),
        ("two-texts", [text_item(), text_item()], "messageList[1]"),
        ("chips-alone", [chips_item(reply())], "messageList"),
        ("card-as-string", [{**card_item(single_card_doc(card())), "contentText": json.dumps(single_card_doc(card()))}],
         "messageList[0].contentText"),
        ("card-without-message", [card_item({"suggestions": [reply()]})], "messageList[0].contentText"),
        ("twelve-chips", [text_item(), chips_item(*(reply() for _ in range(12)))], "suggestions"),
        ("label-26", [text_item(), chips_item(too_long_label)], "displayText"),
        ("postback-2049", [text_item(), chips_item(reply(data="d" * 2049))], "postback.data"),
        ("five-card-chips", [card_item(single_card_doc(card(suggestions=[reply() for _ in range(5)])))], "suggestions"),
        ("carousel-1", [card_item(carousel_doc(1))], "content"),
        ("carousel-13", [card_item(carousel_doc(13))], "content"),
        ("size-string", [card_item(single_card_doc(card(media=media("178887"))))], "mediaFileSize"),
        ("three-files", [file_item(file_entry(), file_entry("thumbnail"), file_entry())], "messageList[0].contentText"),
        ("no-file-entry", [file_item(file_entry("thumbnail"))], "messageList[0].contentText"),
        ("file-not-list", [{"contentType": "application/vnd.gsma.rcs-ft-http", "contentText": file_entry()}],
         "messageList[0].contentText"),
        ("file-without-url", [file_item({k: v for k, v in file_entry().items() if k != "url"})], "url"),
        ("file-bad-size", [file_item(file_entry(fileSize="12kb"))], "fileSize"),
    ]  # fmt: skip


@pytest.mark.asyncio
@pytest.mark.parametrize(("items", "path"), [(i, p) for _, i, p in _bad_items()], ids=[n for n, _, _ in _bad_items()])
async def test_bad_message_list_is_301_naming_the_fault(
    agg: AggClient, pushes: PushReceiver, items: list[dict[str, Any]] | None, path: str
) -> None:
    body = send_body(items=items or [])
    if items is None:
        del body["messageList"]
    answer = await agg.send(body)
    status, code, msg = error_of(answer)
    assert (status, code) == (200, "301")
    assert path in msg, msg
    await settle(0.02)
    assert pushes.received == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"smsContent": "hi"}, "smsContent"),
        ({"destinationAddress": ["tel:+8613800000001"]}, "destinationAddress"),
        ({"sms": "hi"}, "sms"),
        ({"sms": {"content": ""}}, "sms.content"),
        ({"sms": {"content": "hi", "sign": "x"}}, "sms"),
        ({"client_ref": 42}, "client_ref"),
        ({"client_ref": "r" * 129}, "client_ref"),
        ({"chatbot": None}, "chatbot"),
    ],
    ids=["smsContent", "destinationAddress", "sms-string", "sms-empty", "sms-extra", "ref-int", "ref-long", "bot-null"],
)
async def test_bad_top_level_fields_are_301(agg: AggClient, extra: dict[str, Any], needle: str) -> None:
    answer = await agg.send(send_body() | extra)
    status, code, msg = error_of(answer)
    assert (status, code) == (200, "301")
    assert needle in msg, msg


@pytest.mark.asyncio
async def test_oversized_body_is_refused(make_agg: AggFactory) -> None:
    agg = await make_agg(max_body_bytes=2000)
    answer = await agg.send(send_body(items=[text_item("x" * 3000)]))
    assert answer.status == 413
    assert error_of(answer)[1] == "301"


GSMA_SCHEMA = Path("/work/shared/reference/gsma/chatbot_message_schema.json")


def _schema_corpus() -> list[dict[str, Any]]:
    def act(**kind: Any) -> dict[str, Any]:
        return {"action": {"displayText": "act", "postback": {"data": "p"}, **kind}}

    url = {"urlAction": {"openUrl": {"url": "www.baidu.com", "application": "webview", "viewMode": "half"}}}
    dial = {"dialerAction": {"dialPhoneNumber": {"phoneNumber": "+8615300000000"}}}
    thumb = {"thumbnailUrl": "https://t/x", "thumbnailContentType": "image/png", "thumbnailFileSize": 10}
    return [
        single_card_doc(card()),
        single_card_doc(card(media=media())),
        single_card_doc(card(media=media("151250"))),
        single_card_doc(card(media=media(-1))),
        single_card_doc(card(media={**media(), "thumbnailUrl": "https://t/x"})),
        single_card_doc(card(media={**media(), **thumb})),
        single_card_doc({}),
        single_card_doc(card(title="t" * 200)),
        single_card_doc(card(title="t" * 201)),
        single_card_doc(card(description="d" * 2001)),
        single_card_doc(card(suggestions=[reply() for _ in range(4)])),
        single_card_doc(card(suggestions=[reply() for _ in range(5)])),
        single_card_doc(card(suggestions=[])),
        {"message": {"generalPurposeCard": {"layout": {"cardOrientation": "HORIZONTAL"}, "content": card()}}},
        carousel_doc(1),
        carousel_doc(2),
        carousel_doc(12),
        carousel_doc(13),
        {"message": {"generalPurposeCardCarousel": {"layout": {}, "content": [card(), card()]}}},
        {"message": {}},
        {"suggestions": [reply() for _ in range(11)]},
        {"suggestions": [reply() for _ in range(12)]},
        {"suggestions": []},
        {"suggestions": [reply("x" * 25)]},
        {"suggestions": [reply("x" * 26)]},
        {"suggestions": [reply(data="d" * 2048)]},
        {"suggestions": [reply(data="d" * 2049)]},
        {"suggestions": [act(**url)]},
        {"suggestions": [act()]},
        {"suggestions": [act(**url, **dial)]},
        {"suggestions": [act(**dial)]},
        {"suggestions": [act(mapAction={"showLocation": {"location": {"query": "food"}}})]},
        {"suggestions": [act(composeAction={"composeTextMessage": {"phoneNumber": "+1", "text": "t" * 101}})]},
        {"suggestions": [act(deviceAction={"requestDeviceSpecifics": {}})]},
    ]


@pytest.mark.asyncio
async def test_rich_content_checks_agree_with_the_gsma_schema(agg: AggClient) -> None:
    """Independent check of the hand-written limits: acceptance == GSMA schema verdict."""
    if not GSMA_SCHEMA.exists():
        pytest.skip("GSMA schema not available")
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft4Validator(json.loads(GSMA_SCHEMA.read_text(encoding="utf-8")))
    disagreements = []
    for doc in _schema_corpus():
        items = [text_item(), chips_item(*doc["suggestions"])] if "suggestions" in doc else [card_item(doc)]
        if "suggestions" in doc:
            items[1]["contentText"] = doc
        answer = await agg.send(send_body(items=items))
        accepted = answer.json["status"] == "success"
        if accepted != validator.is_valid(doc):
            disagreements.append((doc, answer.json))
    assert disagreements == []


# ---------------------------------------------------------------- idempotency (client_ref)


@pytest.mark.asyncio
async def test_repeated_client_ref_answers_first_send_ids_and_delivers_once(
    agg: AggClient, pushes: PushReceiver
) -> None:
    ref = str(uuid.uuid4())
    first = await agg.send_ok(send_body([CMCC_USER, CTCC_USER], client_ref=ref))
    again = await agg.send_ok(send_body([CMCC_USER, CTCC_USER], client_ref=ref))
    assert again == first
    # Same ref, one known and one new number: only the new number gets a new sendID.
    mixed = await agg.send_ok(send_body([CTCC_USER, CUCC_USER], client_ref=ref))
    assert mixed[0] == first[1]
    assert mixed[1]["sendID"] not in {s["sendID"] for s in first}
    await pushes.wait_events(6)
    await settle(0.1)
    assert len(pushes.events()) == 6
    _, record = await agg.control("GET", f"/_sim/messages/{first[1]['sendID']}")
    assert (record["received"], record["delivered"], record["state"]) == (3, 1, "delivered")
    assert record["pushes_sent"] == ["DeliveredToTerminal", "MessageDisplayed"]
    _, inbox = await agg.control("GET", f"/_sim/handsets/{CTCC_USER}/inbox")
    assert len(inbox) == 1
    _, refs = await agg.control("GET", f"/_sim/client_refs/{ref}")
    assert (refs["received"], refs["accepted"], refs["faulted"]) == (3, 3, 0)
    assert set(refs["send_ids"]) == {CMCC_USER, CTCC_USER, CUCC_USER}
    _, stats = await agg.control("GET", "/_sim/stats")
    assert (stats["duplicates"], stats["send_ids_created"], stats["delivered"]) == (3, 3, 3)


@pytest.mark.asyncio
async def test_without_client_ref_every_send_is_new(agg: AggClient) -> None:
    first = await agg.send_ok(send_body())
    second = await agg.send_ok(send_body())
    assert first[0]["sendID"] != second[0]["sendID"]


@pytest.mark.asyncio
async def test_client_ref_is_scoped_to_the_appid(agg: AggClient) -> None:
    first = await agg.send_ok(send_body(client_ref="ref-1"))
    other = await agg.send_ok(send_body(chatbot=OTHER_BOT, client_ref="ref-1"), appid=OTHER_APPID, appkey=OTHER_APPKEY)
    assert first[0]["sendID"] != other[0]["sendID"]


@pytest.mark.asyncio
async def test_refused_repeat_is_counted_but_sends_nothing(agg: AggClient, pushes: PushReceiver) -> None:
    await agg.send_ok(send_body(client_ref="ref-2"))
    await agg.send(send_body(client_ref="ref-2"), appkey="bad")
    answer = await agg.send(send_body(["+8613800000001"], client_ref="ref-2"))
    assert error_of(answer)[1] == "201"
    await pushes.wait_events(2)
    _, refs = await agg.control("GET", "/_sim/client_refs/ref-2")
    # The badly signed request never got past auth, so only two reached the send logic.
    assert (refs["received"], refs["accepted"], refs["rejected"]) == (2, 1, 1)


# ---------------------------------------------------------------- outcomes per handset


@pytest.mark.asyncio
async def test_sms_only_with_sms_falls_back_to_sms(agg: AggClient, pushes: PushReceiver) -> None:
    await agg.control("PUT", f"/_sim/handsets/{CUCC_USER}", {"capability": "sms_only"})
    [entry] = await agg.send_ok(send_body([CUCC_USER], sms="【测试】您的验证码是1234"))
    [push] = await pushes.wait_events(1)
    check_message_event(push, entry["sendID"], CUCC_USER, "SMS")
    await settle(0.05)
    assert len(pushes.events()) == 1
    _, inbox = await agg.control("GET", f"/_sim/handsets/{CUCC_USER}/inbox")
    assert [(e["delivered_as"], e["sms"], e["text"]) for e in inbox] == [("sms", "【测试】您的验证码是1234", None)]
    _, record = await agg.control("GET", f"/_sim/messages/{entry['sendID']}")
    assert (record["state"], record["delivered"]) == ("sms", 1)


@pytest.mark.asyncio
async def test_sms_only_without_sms_is_delivery_impossible(agg: AggClient, pushes: PushReceiver) -> None:
    await agg.control("PUT", f"/_sim/handsets/{CUCC_USER}", {"capability": "sms_only"})
    [entry] = await agg.send_ok(send_body([CUCC_USER]))
    [push] = await pushes.wait_events(1)
    check_message_event(push, entry["sendID"], CUCC_USER, "DeliveryImpossible")
    _, inbox = await agg.control("GET", f"/_sim/handsets/{CUCC_USER}/inbox")
    assert inbox == []


@pytest.mark.asyncio
async def test_unreachable_is_delivery_impossible_even_with_sms(agg: AggClient, pushes: PushReceiver) -> None:
    await agg.control("PUT", f"/_sim/handsets/{CTCC_USER}", {"capability": "unreachable"})
    [entry] = await agg.send_ok(send_body([CTCC_USER], sms="fallback"))
    [push] = await pushes.wait_events(1)
    check_message_event(push, entry["sendID"], CTCC_USER, "DeliveryImpossible")
    await settle(0.05)
    assert len(pushes.events()) == 1
    _, record = await agg.control("GET", f"/_sim/messages/{entry['sendID']}")
    assert (record["state"], record["delivered"]) == ("failed", 0)


@pytest.mark.asyncio
async def test_mixed_group_gets_per_number_outcomes(agg: AggClient, pushes: PushReceiver) -> None:
    await agg.control("PUT", f"/_sim/handsets/{CTCC_USER}", {"capability": "sms_only"})
    await agg.control("PUT", f"/_sim/handsets/{CUCC_USER}", {"capability": "unreachable"})
    send_list = await agg.send_ok(send_body([CMCC_USER, CTCC_USER, CUCC_USER], sms="fallback"))
    received = await pushes.wait_events(4)
    by_number = {s["to"]: statuses(received, s["sendID"]) for s in send_list}
    assert by_number == {
        CMCC_USER: ["DeliveredToTerminal", "MessageDisplayed"],
        CTCC_USER: ["SMS"],
        CUCC_USER: ["DeliveryImpossible"],
    }


@pytest.mark.asyncio
async def test_ported_number_reports_configured_carrier(agg: AggClient) -> None:
    status, handset = await agg.control("GET", f"/_sim/handsets/{CMCC_USER}")
    assert (status, handset["carrier"], handset["carrier_source"], handset["capability"]) == (
        200,
        "cmcc",
        "prefix",
        "rcs",
    )
    await agg.control("PUT", f"/_sim/handsets/{CMCC_USER}", {"carrier": "ctcc"})
    [entry] = await agg.send_ok(send_body([CMCC_USER]))
    assert entry["carrier"] == "ctcc"
    assert (await agg.capability(CMCC_USER)).json["carrier"] == "ctcc"
    await agg.control("PUT", f"/_sim/handsets/{CMCC_USER}", {"carrier": None})
    assert (await agg.capability(CMCC_USER)).json["carrier"] == "cmcc"


# ---------------------------------------------------------------- capability


@pytest.mark.asyncio
async def test_capability_query(agg: AggClient) -> None:
    await agg.control("PUT", f"/_sim/handsets/{CTCC_USER}", {"capability": "sms_only"})
    await agg.control("PUT", f"/_sim/handsets/{CUCC_USER}", {"capability": "unreachable"})
    answers = {n: (await agg.capability(n)).json for n in (CMCC_USER, CTCC_USER, CUCC_USER)}
    assert answers == {
        CMCC_USER: {"status": "success", "to": CMCC_USER, "rcs": True, "carrier": "cmcc"},
        CTCC_USER: {"status": "success", "to": CTCC_USER, "rcs": False, "carrier": "ctcc"},
        CUCC_USER: {"status": "success", "to": CUCC_USER, "rcs": False, "carrier": "cucc"},
    }


@pytest.mark.asyncio
async def test_capability_checks(agg: AggClient) -> None:
    assert error_of(await agg.capability("+8613800000001"))[1] == "201"
    assert error_of(await agg.capability(CMCC_USER, chatbot=OTHER_BOT))[1] == "103"
    assert error_of(await agg.capability(CMCC_USER, appkey="bad"))[1] == "101"
    answer = await agg.call("POST", "/rcs/capability", {"chatbot": BOT, "to": CMCC_USER})
    assert answer.status == 405


# ---------------------------------------------------------------- revoke


@pytest.mark.asyncio
async def test_revoke_before_delivery_is_revoked_and_never_delivered(
    make_agg: AggFactory, pushes: PushReceiver
) -> None:
    agg = await make_agg(faults={"delivered_delay_ms": 400})
    [entry] = await agg.send_ok(send_body([CTCC_USER]))
    answer = await agg.revoke(entry["sendID"])
    assert answer.status == 200
    assert answer.json == {"status": "success"}
    [push] = await pushes.wait_events(1, event="Invoke")
    assert push.sig_ok
    assert list(push.json) == MESSAGE_KEYS
    assert push.json == {
        "event": "Invoke",
        "sendID": entry["sendID"],
        "to": CTCC_USER,
        "status": "Revoked",
        "timestamp": push.json["timestamp"],
    }
    assert abs(parse_beijing(push.json["timestamp"]) - time.time()) < 5
    await settle(0.6)
    assert pushes.events("Message") == []
    _, inbox = await agg.control("GET", f"/_sim/handsets/{CTCC_USER}/inbox")
    assert inbox == []
    _, record = await agg.control("GET", f"/_sim/messages/{entry['sendID']}")
    assert (record["state"], record["delivered"], record["revoke_requests"]) == ("revoked", 0, 1)
    # A retried revoke gets the same outcome.
    await agg.revoke(entry["sendID"])
    second = await pushes.wait_events(2, event="Invoke")
    assert second[1].json["status"] == "Revoked"


@pytest.mark.asyncio
async def test_revoke_after_delivery_fails(agg: AggClient, pushes: PushReceiver) -> None:
    [entry] = await agg.send_ok(send_body())
    await pushes.wait_events(2)
    assert (await agg.revoke(entry["sendID"])).json == {"status": "success"}
    [push] = await pushes.wait_events(1, event="Invoke")
    assert push.json["status"] == "RevokeFailed"
    assert (push.json["sendID"], push.json["to"]) == (entry["sendID"], CMCC_USER)
    _, record = await agg.control("GET", f"/_sim/messages/{entry['sendID']}")
    assert (record["state"], record["delivered"]) == ("delivered", 1)


@pytest.mark.asyncio
async def test_revoke_of_unknown_or_foreign_send_id_is_refused(agg: AggClient, pushes: PushReceiver) -> None:
    assert error_of(await agg.revoke(uuid.uuid4().hex))[1] == "301"
    [entry] = await agg.send_ok(send_body())
    assert error_of(await agg.revoke(entry["sendID"], appid=OTHER_APPID, appkey=OTHER_APPKEY))[1] == "301"
    assert error_of(await agg.call("POST", "/rcs/revoke", {"messageId": entry["sendID"]}))[1] == "301"
    assert error_of(await agg.revoke(entry["sendID"], appkey="bad"))[1] == "101"
    await pushes.wait_events(2)
    await settle(0.05)
    assert pushes.events("Invoke") == []


# ---------------------------------------------------------------- MO (Dahantc) pushes


async def uplink(agg: AggClient, payload: dict[str, Any], number: str = CMCC_USER) -> dict[str, Any]:
    status, body = await agg.control("POST", f"/_sim/handsets/{number}/uplink", {"chatbot_id": BOT, **payload})
    assert status == 200, body
    assert body["ok"], body
    result: dict[str, Any] = body
    return result


def forward_of(push: Pushed) -> dict[str, Any]:
    assert push.sig_ok
    assert push.path == "one"
    data = push.json
    assert list(data) == ["result", "desc", "rcsReplyForwards"]
    assert (data["result"], data["desc"]) == ("0", "成功")
    [forward] = data["rcsReplyForwards"]
    assert list(forward) == FORWARD_KEYS
    assert forward["chatbot"] == BOT
    assert forward["msgid"]
    assert re.match(r"^1\d{10}$", forward["phone"])
    assert abs(parse_beijing(forward["dateTime"]) - time.time()) < 5
    assert forward["conversationId"]
    assert forward["contributionId"]
    result: dict[str, Any] = forward
    return result


@pytest.mark.asyncio
async def test_mo_text(agg: AggClient, pushes: PushReceiver) -> None:
    result = await uplink(agg, {"text": "你好, chatbot"})
    [push] = await pushes.wait(lambda p: "rcsReplyForwards" in p.json, 1)
    forward = forward_of(push)
    assert (forward["phone"], forward["replyType"], forward["replyContent"]) == (CMCC_USER, 1, "你好, chatbot")
    assert forward["inReplyTo"] == ""
    assert result["forward"] == forward


@pytest.mark.asyncio
async def test_mo_postback_in_reply_to_a_send(agg: AggClient, pushes: PushReceiver) -> None:
    [entry] = await agg.send_ok(send_body(items=[text_item("Pick"), chips_item(reply("我的跨年礼物", "2020"))]))
    _, record = await agg.control("GET", f"/_sim/messages/{entry['sendID']}")
    await uplink(agg, {"postback": {"data": "2020", "display_text": "我的跨年礼物"}, "in_reply_to": entry["sendID"]})
    [push] = await pushes.wait(lambda p: "rcsReplyForwards" in p.json, 1)
    forward = forward_of(push)
    assert forward["replyType"] == 2
    assert json.loads(forward["replyContent"]) == {
        "response": {"reply": {"displayText": "我的跨年礼物", "postback": {"data": "2020"}}}
    }
    assert forward["inReplyTo"] == entry["sendID"]
    assert forward["conversationId"] == record["conversation_id"]


@pytest.mark.asyncio
async def test_mo_action_click(agg: AggClient, pushes: PushReceiver) -> None:
    await uplink(agg, {"action": {"display_text": "立即问医"}})
    [push] = await pushes.wait(lambda p: "rcsReplyForwards" in p.json, 1)
    forward = forward_of(push)
    assert forward["replyType"] == 2
    assert json.loads(forward["replyContent"]) == {"response": {"action": {"displayText": "立即问医"}}}


@pytest.mark.asyncio
async def test_mo_geo_is_text(agg: AggClient, pushes: PushReceiver) -> None:
    await uplink(agg, {"geo": {"lat": 22.5385, "lon": 114.0572, "label": "福田 Futian"}}, number=CTCC_USER)
    [push] = await pushes.wait(lambda p: "rcsReplyForwards" in p.json, 1)
    forward = forward_of(push)
    assert (forward["phone"], forward["replyType"]) == (CTCC_USER, 1)
    text = forward["replyContent"]
    assert text.startswith("geo:22.5385,114.0572;")
    params = dict(p.split("=", 1) for p in text.split(";")[1:])
    assert params["crs"] == "gcj02"
    assert unquote(params["rcs-l"]) == "福田 Futian"
    assert " " not in text


@pytest.mark.asyncio
async def test_mo_is_retried_and_reports_the_webhook_status(agg: AggClient, pushes: PushReceiver) -> None:
    pushes.plan = [503]
    result = await uplink(agg, {"text": "hi"})
    assert (result["status"], result["attempts"]) == (200, 2)
    pushes.plan = [500, 500, 500, 500]
    status, body = await agg.control("POST", f"/_sim/handsets/{CMCC_USER}/uplink", {"chatbot_id": BOT, "text": "x"})
    assert (status, body["ok"], body["status"], body["attempts"]) == (200, False, 500, 4)


@pytest.mark.asyncio
async def test_mo_validation_errors(agg: AggClient) -> None:
    status, body = await agg.control("POST", f"/_sim/handsets/{CMCC_USER}/uplink", {"chatbot_id": BOT})
    assert status == 400
    assert "exactly one" in body["error"]
    status, _ = await agg.control("POST", f"/_sim/handsets/{CMCC_USER}/uplink", {"chatbot_id": "nope", "text": "x"})
    assert status == 404
    status, _ = await agg.control(
        "POST", f"/_sim/handsets/{CMCC_USER}/uplink", {"chatbot_id": BOT, "text": "x", "in_reply_to": "ffff"}
    )
    assert status == 404
    status, _ = await agg.control("POST", "/_sim/handsets/12345/uplink", {"chatbot_id": BOT, "text": "x"})
    assert status == 400


# ---------------------------------------------------------------- push delivery


@pytest.mark.asyncio
async def test_push_retried_with_the_same_body_until_accepted(agg: AggClient, pushes: PushReceiver) -> None:
    pushes.plan = [500, 502]
    [entry] = await agg.send_ok(send_body())
    received = await pushes.wait_events(4)
    first_three = received[:3]
    assert statuses(first_three) == ["DeliveredToTerminal"] * 3
    assert len({p.body for p in first_three}) == 1
    assert all(p.sig_ok for p in received)
    assert received[3].json["status"] == "MessageDisplayed"
    _, record = await agg.control("GET", f"/_sim/messages/{entry['sendID']}")
    assert [(p["status"], p["ok"], p["attempts"]) for p in record["pushes"]] == [
        ("DeliveredToTerminal", True, 3),
        ("MessageDisplayed", True, 1),
    ]


@pytest.mark.asyncio
async def test_push_gives_up_after_three_retries(agg: AggClient, pushes: PushReceiver) -> None:
    pushes.plan = [500] * 4
    [entry] = await agg.send_ok(send_body())
    await pushes.wait_events(5)
    await settle(0.1)
    _, record = await agg.control("GET", f"/_sim/messages/{entry['sendID']}")
    assert [(p["status"], p["ok"], p["http_status"]) for p in record["pushes"]] == [
        ("DeliveredToTerminal", False, 500),
        ("MessageDisplayed", True, 200),
    ]
    _, stats = await agg.control("GET", "/_sim/stats")
    assert (stats["pushes_failed"], stats["push_retries"]) == (1, 3)


@pytest.mark.asyncio
async def test_each_account_gets_its_own_push_url_and_key(agg: AggClient, pushes: PushReceiver) -> None:
    await agg.send_ok(send_body(chatbot=OTHER_BOT), appid=OTHER_APPID, appkey=OTHER_APPKEY)
    received = await pushes.wait_events(2)
    assert {(p.path, p.headers["X-Appid"], p.sig_ok) for p in received} == {("two", OTHER_APPID, True)}


# ---------------------------------------------------------------- /_sim/push


MEDIA_EVENT = (
    '{"event":"Media","id":"ZjU3eu","file":"https://ftnj01.xnq.r.10086.cn:10099/s/0030320240403FD.png",'
    '"filesize":1259515,"status":"0","expired":"2024-04-10T11:45:33Z","timestamp":"2024-04-03 09:42:50"}'
)
TEMPLATE_EVENT = '{"event":"Template","templateID":"S49Ecf","status":"0","timestamp":"2024-04-03 09:42:50"}'


@pytest.mark.asyncio
async def test_control_push_posts_reference_events_verbatim_and_signed(agg: AggClient, pushes: PushReceiver) -> None:
    for raw in (MEDIA_EVENT, TEMPLATE_EVENT):
        status, result = await agg.control("POST", "/_sim/push", {"appid": APPID, "body": raw})
        assert (status, result["ok"], result["status"]) == (200, True, 200)
    received = await pushes.wait(lambda p: p.event in ("Media", "Template"), 2)
    assert [p.body.decode() for p in received] == [MEDIA_EVENT, TEMPLATE_EVENT]
    assert all(p.sig_ok and p.path == "one" for p in received)


@pytest.mark.asyncio
async def test_control_push_of_a_json_event(agg: AggClient, pushes: PushReceiver) -> None:
    event = json.loads(TEMPLATE_EVENT) | {"status": "1"}
    status, _ = await agg.control("POST", "/_sim/push", {"appid": OTHER_APPID, "event": event})
    assert status == 200
    [push] = await pushes.wait(lambda p: p.event == "Template", 1)
    assert (push.json, push.path, push.sig_ok) == (event, "two", True)
    assert (await agg.control("POST", "/_sim/push", {"appid": "nobody", "event": event}))[0] == 404
    assert (await agg.control("POST", "/_sim/push", {"appid": APPID}))[0] == 400


# ---------------------------------------------------------------- rate limit and faults


@pytest.mark.asyncio
async def test_tps_limit_answers_429_per_appid(make_agg: AggFactory) -> None:
    agg = await make_agg(faults={"tps_limit": 3})
    answers = [await agg.send(send_body()) for _ in range(4)]
    assert [a.status for a in answers] == [200, 200, 200, 429]
    assert error_of(answers[3])[1] == "429"
    # The other appid has a bucket of its own.
    other = await agg.send(send_body(chatbot=OTHER_BOT), appid=OTHER_APPID, appkey=OTHER_APPKEY)
    assert other.status == 200
    # Capability queries are not throttled.
    assert (await agg.capability(CMCC_USER)).status == 200
    await asyncio.sleep(0.4)
    assert (await agg.send(send_body())).status == 200


@pytest.mark.asyncio
async def test_rate_limited_send_delivers_nothing(make_agg: AggFactory, pushes: PushReceiver) -> None:
    agg = await make_agg(faults={"tps_limit": 1})
    await agg.send_ok(send_body(client_ref="a"))
    answer = await agg.send(send_body([CTCC_USER], client_ref="b"))
    assert answer.status == 429
    await pushes.wait_events(2)
    await settle(0.05)
    assert {p.json["to"] for p in pushes.events()} == {CMCC_USER}
    _, refs = await agg.control("GET", "/_sim/client_refs/b")
    assert (refs["received"], refs["rejected"], refs["send_ids"]) == (1, 1, {})


@pytest.mark.asyncio
async def test_burst_5xx_then_success(agg: AggClient, pushes: PushReceiver) -> None:
    await agg.control("PUT", "/_sim/faults", {"burst_5xx": 3})
    answers = [await agg.send(send_body(client_ref="burst")) for _ in range(4)]
    assert [a.status for a in answers] == [500, 502, 503, 200]
    assert error_of(answers[0])[1] == "500"
    assert b"nginx" in answers[1].body
    assert answers[1].headers["Content-Type"].startswith("text/html")
    await pushes.wait_events(2)
    await settle(0.05)
    assert len(pushes.events()) == 2
    _, refs = await agg.control("GET", "/_sim/client_refs/burst")
    assert (refs["received"], refs["faulted"], refs["accepted"]) == (4, 3, 1)


@pytest.mark.asyncio
async def test_error_rate_one_answers_500(agg: AggClient) -> None:
    await agg.control("PUT", "/_sim/faults", {"error_rate": 1.0})
    answer = await agg.send(send_body())
    assert answer.status == 500
    assert answer.json == {"status": "error", "code": "500", "msg": answer.json["msg"]}
    assert (await agg.revoke(uuid.uuid4().hex)).status == 500


@pytest.mark.asyncio
async def test_timeout_fault_hangs_then_next_request_is_accepted(agg: AggClient, pushes: PushReceiver) -> None:
    await agg.control("PUT", "/_sim/faults", {"timeout_next": 1, "hang_seconds": 0.6})
    with pytest.raises(TimeoutError):
        await agg.send(send_body(client_ref="hang"), timeout=0.3)
    await agg.send_ok(send_body(client_ref="hang"))
    await pushes.wait_events(2)
    _, stats = await agg.control("GET", "/_sim/stats")
    assert stats["faults_injected"] == {"timeout": 1}


@pytest.mark.asyncio
async def test_latency_delays_the_answer_not_the_work(agg: AggClient, pushes: PushReceiver) -> None:
    await agg.control("PUT", "/_sim/faults", {"latency_ms": 400})
    ref = str(uuid.uuid4())
    with pytest.raises(TimeoutError):
        await agg.send(send_body(client_ref=ref), timeout=0.2)
    await pushes.wait_events(2)
    # The client's retry of a send it never got an answer for is answered, not sent again.
    await agg.control("PUT", "/_sim/faults", {"latency_ms": 0})
    [entry] = await agg.send_ok(send_body(client_ref=ref))
    assert statuses(pushes.events(), entry["sendID"]) == ["DeliveredToTerminal", "MessageDisplayed"]
    _, record = await agg.control("GET", f"/_sim/messages/{entry['sendID']}")
    assert (record["received"], record["delivered"]) == (2, 1)


@pytest.mark.asyncio
async def test_duplicate_notifications_fault(agg: AggClient, pushes: PushReceiver) -> None:
    await agg.control("PUT", "/_sim/faults", {"duplicate_notifications": True})
    [entry] = await agg.send_ok(send_body())
    received = await pushes.wait_events(4)
    assert statuses(received, entry["sendID"]) == ["DeliveredToTerminal"] * 2 + ["MessageDisplayed"] * 2
    assert received[0].body == received[1].body


@pytest.mark.asyncio
async def test_out_of_order_fault_sends_displayed_first(agg: AggClient, pushes: PushReceiver) -> None:
    await agg.control("PUT", "/_sim/faults", {"out_of_order": True})
    await agg.send_ok(send_body())
    assert statuses(await pushes.wait_events(2)) == ["MessageDisplayed", "DeliveredToTerminal"]


@pytest.mark.asyncio
async def test_faults_endpoint(agg: AggClient) -> None:
    status, faults = await agg.control("GET", "/_sim/faults")
    assert status == 200
    assert set(faults) == {
        "error_rate",
        "latency_ms",
        "burst_5xx",
        "timeout_next",
        "hang_seconds",
        "duplicate_notifications",
        "out_of_order",
        "delivered_delay_ms",
        "displayed_delay_ms",
        "tps_limit",
    }
    for bad in ({"no_such_fault": 1}, {"error_rate": 2}, {"tps_limit": -1}, {"out_of_order": 1}):
        status, body = await agg.control("PUT", "/_sim/faults", bad)
        assert status == 400, bad
        assert body["error"]


# ---------------------------------------------------------------- control API, CLI


@pytest.mark.asyncio
async def test_accounts_and_chatbots_at_runtime(agg: AggClient, pushes: PushReceiver) -> None:
    pushes.keys["three"] = "key-3"
    status, _ = await agg.control("PUT", "/_sim/accounts/app-3", {"appkey": "key-3", "push_url": pushes.url("three")})
    assert status == 201
    assert (await agg.control("PUT", "/_sim/chatbots/bot-3", {"appid": "app-3"}))[0] == 201
    assert (await agg.control("PUT", "/_sim/chatbots/bot-4", {"appid": "nobody"}))[0] == 400
    _, bots = await agg.control("GET", "/_sim/chatbots")
    assert {"chatbot_id": "bot-3", "appid": "app-3"} in bots
    await agg.send_ok(send_body(chatbot="bot-3"), appid="app-3", appkey="key-3")
    received = await pushes.wait(lambda p: p.path == "three", 2)
    assert all(p.sig_ok for p in received)
    assert (await agg.control("DELETE", "/_sim/chatbots/bot-3"))[0] == 204
    assert error_of(await agg.send(send_body(chatbot="bot-3"), appid="app-3", appkey="key-3"))[1] == "103"
    assert (await agg.control("DELETE", "/_sim/accounts/app-3"))[0] == 204
    assert error_of(await agg.send(send_body(chatbot="bot-3"), appid="app-3", appkey="key-3"))[1] == "103"


@pytest.mark.asyncio
async def test_handset_control_validation(agg: AggClient) -> None:
    assert (await agg.control("PUT", f"/_sim/handsets/{CMCC_USER}", {"capability": "up2"}))[0] == 400
    assert (await agg.control("PUT", f"/_sim/handsets/{CMCC_USER}", {"carrier": "cbn"}))[0] == 400
    status, handset = await agg.control("PUT", "/_sim/handsets/+8613800000001", {"capability": "sms_only"})
    assert (status, handset["number"], handset["capability"]) == (200, CMCC_USER, "sms_only")
    assert (await agg.control("GET", "/_sim/messages/unknown"))[0] == 404
    assert (await agg.control("GET", "/_sim/client_refs/unknown"))[0] == 404


@pytest.mark.asyncio
async def test_stats_and_reset(agg: AggClient, pushes: PushReceiver) -> None:
    await agg.control("PUT", f"/_sim/handsets/{CTCC_USER}", {"capability": "unreachable"})
    await agg.control("PUT", "/_sim/faults", {"latency_ms": 1})
    await agg.send_ok(send_body([CMCC_USER, CTCC_USER], client_ref="r"))
    await agg.send(send_body(), appkey="bad")
    await pushes.wait_events(3)
    _, stats = await agg.control("GET", "/_sim/stats")
    assert (stats["requests"], stats["accepted"], stats["rejected_by_code"]) == (2, 1, {"101": 1})
    assert (stats["delivered"], stats["delivery_impossible"], stats["pushes_sent"]) == (1, 1, 3)
    assert (await agg.control("POST", "/_sim/reset"))[0] == 200
    _, stats = await agg.control("GET", "/_sim/stats")
    assert (stats["requests"], stats["sends_tracked"]) == (0, 0)
    assert (await agg.control("GET", f"/_sim/handsets/{CMCC_USER}/inbox"))[1] == []
    _, faults = await agg.control("GET", "/_sim/faults")
    _, handset = await agg.control("GET", f"/_sim/handsets/{CTCC_USER}")
    assert (faults["latency_ms"], handset["capability"]) == (1, "unreachable")
    await agg.control("POST", "/_sim/reset", {"faults": True, "handsets": True})
    _, faults = await agg.control("GET", "/_sim/faults")
    _, handset = await agg.control("GET", f"/_sim/handsets/{CTCC_USER}")
    assert (faults["latency_ms"], handset["capability"]) == (0, "rcs")
    # A reused client_ref after a reset is a new send.
    await agg.send_ok(send_body(client_ref="r"))


@pytest.mark.asyncio
async def test_healthz_and_wrong_method(agg: AggClient) -> None:
    assert await agg.control("GET", "/_sim/healthz") == (200, {"status": "ok"})
    assert (await agg.call("GET", "/rcs/send")).status == 405


@pytest.mark.asyncio
async def test_path_prefix_is_honoured(make_agg: AggFactory) -> None:
    agg = await make_agg(path_prefix="api/v1/")
    assert (await agg.call("POST", "/api/v1/rcs/send", send_body())).json["status"] == "success"
    assert (await agg.send(send_body())).status == 404


def test_settings_from_config_file_and_cli_flags(tmp_path: Path) -> None:
    config = tmp_path / "sim.json"
    config.write_text(
        json.dumps(
            {
                "accounts": [{"appid": APPID, "appkey": APPKEY, "push_url": "http://c/push"}],
                "chatbots": {BOT: APPID},
                "faults": {"delivered_delay_ms": 7},
                "handsets": {CMCC_USER: "sms_only"},
                "carriers": {CMCC_USER: "cucc"},
            }
        )
    )
    args = cli._parser().parse_args(
        [
            "--config",
            str(config),
            "--account",
            f"{OTHER_APPID}:{OTHER_APPKEY}:http://csp:8080/push/two",
            "--chatbot",
            f"sip:bot@x:{OTHER_APPID}",
            "--tps-limit",
            "50",
            "--path-prefix",
            "gw/",
        ]
    )
    settings = cli.build_settings(args)
    assert [a.appid for a in settings.accounts] == [APPID, OTHER_APPID]
    assert settings.accounts[1].push_url == "http://csp:8080/push/two"
    assert settings.chatbots == {BOT: APPID, "sip:bot@x": OTHER_APPID}
    assert (settings.faults.delivered_delay_ms, settings.faults.tps_limit) == (7, 50)
    assert settings.path_prefix == "/gw"
    assert (settings.handsets, settings.carriers) == ({CMCC_USER: "sms_only"}, {CMCC_USER: "cucc"})
    with pytest.raises(ConfigError):
        Account.from_flag("only:two")
    with pytest.raises(ConfigError):
        cli.build_settings(cli._parser().parse_args(["--chatbot", "bot:unknown-appid"]))
    with pytest.raises(ConfigError):
        SimulatorSettings.from_mapping({"no_such_setting": 1})
