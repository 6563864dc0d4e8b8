"""Raw-HTTP tests of the aggregator simulator's media uploads, templates and their audit events.

docs/protocol-choices.md "Media (素材) upload and audit" and "Templates (模板) on each carrier"
(the Aggregator bullets), protocols.md §3.6; multipart bodies, JSON and signatures built by hand.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import uvicorn
from aiohttp import web

from msg5g.simulators.aggregator import Account, Faults, SimulatorSettings, create_app

from .aggregator_wire import (
    APPID,
    APPKEY,
    BOT,
    GIF,
    JPEG,
    MP3,
    MP4,
    OTHER_APPID,
    OTHER_APPKEY,
    OTHER_BOT,
    PNG,
    AggClient,
    Answer,
    Pushed,
    PushReceiver,
    card,
    card_item,
    chips_item,
    file_entry,
    file_item,
    form_data,
    media,
    parse_beijing,
    parse_expired,
    push_sign,
    reply,
    send_body,
    single_card_doc,
    text_item,
    upload_parts,
)
from .conftest import _bound_socket, _PromptServer

AUDIT_ID = re.compile(r"^[A-Za-z0-9]{6}$")
MEDIA_KEYS = ["event", "id", "file", "filesize", "status", "expired", "timestamp"]
TEMPLATE_KEYS = ["event", "templateID", "status", "timestamp"]
SEVEN_DAYS = 7 * 24 * 3600


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
        settings = SimulatorSettings(
            accounts=[Account(APPID, APPKEY, pushes.url("one")), Account(OTHER_APPID, OTHER_APPKEY, pushes.url("two"))],
            chatbots={BOT: APPID, OTHER_BOT: OTHER_APPID},
            faults=Faults(delivered_delay_ms=5, displayed_delay_ms=5),
            notify_backoff_ms=5,
            notify_workers=8,
            **{"audit_delay_seconds": 0.05, **overrides},
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


async def settle(seconds: float = 0.3) -> None:
    """Give the simulator time to push anything it still (wrongly) owes."""
    await asyncio.sleep(seconds)


def error_of(answer: Answer) -> tuple[int, str, str]:
    data = answer.json
    assert list(data) == ["status", "code", "msg"], data
    assert data["status"] == "error"
    return answer.status, data["code"], data["msg"]


async def upload_ok(agg: AggClient, parts: list[Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    answer = await agg.upload(parts if parts is not None else upload_parts(), **kwargs)
    assert answer.status == 200, answer.body
    data: dict[str, Any] = answer.json
    assert data["status"] == "success", data
    return data


async def hold(agg: AggClient, **policy: Any) -> None:
    status, body = await agg.control("PUT", "/_sim/audit", {"media": "hold", "templates": "hold", **policy})
    assert status == 200, body


def check_signed(push: Pushed, appid: str = APPID, appkey: str = APPKEY) -> None:
    """The push signature recomputed here: hex(sha256(appkey + X-Timestamp + raw body)) (choices)."""
    timestamp = push.headers["X-Timestamp"]
    assert timestamp.isdigit()
    assert abs(int(timestamp) - time.time()) < 60
    expected = hashlib.sha256(appkey.encode() + timestamp.encode() + push.body).hexdigest()
    assert push.headers["X-Signature"] == expected
    assert push.headers["X-Signature"] == push_sign(appkey, timestamp, push.body)
    assert push.headers["X-Appid"] == appid
    assert push.headers["Content-Type"].startswith("application/json")


def image_send(url: str, *, chatbot: str = BOT, size: int = 100) -> dict[str, Any]:
    entry = file_entry(url=url, contentType="image/png", fileSize=str(size), fileName="banner.png")
    del entry["until"]
    return send_body(items=[file_item(entry)], chatbot=chatbot)


async def media_events(pushes: PushReceiver, media_id: str, count: int = 1) -> list[Pushed]:
    return await pushes.wait(lambda p: p.event == "Media" and p.json["id"] == media_id, count)


async def template_events(pushes: PushReceiver, template_id: str, count: int = 1) -> list[Pushed]:
    return await pushes.wait(lambda p: p.event == "Template" and p.json["templateID"] == template_id, count)


# ---------------------------------------------------------------- upload and the Media event


@pytest.mark.asyncio
async def test_upload_answers_id_url_and_size_then_an_approved_media_event(
    agg: AggClient, pushes: PushReceiver
) -> None:
    uploaded_at = time.time()
    answer = await agg.upload(upload_parts(PNG, "image/png", "banner.png"))
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    data = answer.json
    assert list(data) == ["status", "id", "file", "filesize"]
    assert data["status"] == "success"
    assert AUDIT_ID.match(data["id"])
    # Hosted by the simulator itself, at the address the upload went to.
    assert data["file"] == f"{agg.base_url}/s/{data['id']}.png"
    assert data["filesize"] == len(PNG)

    [push] = await media_events(pushes, data["id"])
    check_signed(push)
    assert push.path == "one"
    event = push.json
    assert list(event) == MEDIA_KEYS
    assert event["event"] == "Media"
    assert (event["id"], event["file"], event["filesize"], event["status"]) == (
        data["id"],
        data["file"],
        len(PNG),
        "0",
    )
    assert isinstance(event["filesize"], int)
    # §3.6: valid 7 days from the upload; timestamps in Beijing time.
    assert abs(parse_expired(event["expired"]) - (uploaded_at + SEVEN_DAYS)) < 5
    assert abs(parse_beijing(event["timestamp"]) - time.time()) < 5

    status, listing = await agg.control("GET", "/_sim/media")
    assert status == 200
    [record] = listing["media"]
    assert record["id"] == data["id"]
    assert record["chatbot_id"] == BOT
    assert record["state"] == "approved"
    assert record["url"] == data["file"]
    assert (record["file_name"], record["content_type"], record["size"]) == ("banner.png", "image/png", len(PNG))
    assert record["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert record["parts"] == ["chatbot", "file"]
    assert record["until"] == event["expired"]
    assert "reason" not in record
    assert "thumbnail_url" not in record
    assert [(p["event"], p["status"], p["ok"]) for p in record["pushes"]] == [("Media", "0", True)]


@pytest.mark.asyncio
async def test_upload_with_a_thumbnail_issues_two_urls(agg: AggClient, pushes: PushReceiver) -> None:
    data = await upload_ok(agg, upload_parts(MP4, "video/mp4", "clip.mp4", thumbnail=("clip.jpg", "image/jpeg", JPEG)))
    assert list(data) == ["status", "id", "file", "filesize", "thumbnail"]
    assert data["file"] == f"{agg.base_url}/s/{data['id']}.mp4"
    assert data["thumbnail"] == f"{agg.base_url}/s/{data['id']}-thumb.jpg"
    assert data["filesize"] == len(MP4)
    [push] = await media_events(pushes, data["id"])
    # §3.6 verbatim: the event names the file only.
    assert list(push.json) == MEDIA_KEYS
    assert push.json["status"] == "0"
    _, record = await agg.control("GET", f"/_sim/media/{data['id']}")
    assert record["thumbnail_url"] == data["thumbnail"]
    assert record["parts"] == ["chatbot", "file", "thumbnail"]
    assert await agg.download(data["file"]) == (200, MP4, "video/mp4")
    assert await agg.download(data["thumbnail"]) == (200, JPEG, "image/jpeg")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("data", "content_type", "filename", "url_ext"),
    [
        (GIF, "image/gif", "a.gif", "gif"),
        (JPEG, "image/jpg", "a.jpg", "jpg"),
        (MP3, "audio/mpeg", "a.mp3", "mp3"),
        (b"#!AMR\n" + b"\x3c" * 64, "audio/amr", "a.amr", "amr"),
        (MP4, "audio/mp4", "a.m4a", "m4a"),
        # No type of its own: the filename's extension names it.
        (MP3, "application/octet-stream", "voice.mp3", "mp3"),
        (PNG, None, "logo.png", "png"),
    ],
)
async def test_every_taken_type_is_approved(
    agg: AggClient, pushes: PushReceiver, data: bytes, content_type: str | None, filename: str, url_ext: str
) -> None:
    uploaded = await upload_ok(agg, upload_parts(data, content_type, filename))
    assert uploaded["file"].endswith(f"/s/{uploaded['id']}.{url_ext}")
    [push] = await media_events(pushes, uploaded["id"])
    assert push.json["status"] == "0", push.json


@pytest.mark.asyncio
async def test_bytes_unlike_the_declared_type_are_rejected_with_a_reason(agg: AggClient, pushes: PushReceiver) -> None:
    # Accepted at upload (the carrier's audit finds it), rejected by the audit.
    data = await upload_ok(agg, upload_parts(JPEG, "image/png", "fake.png"))
    [push] = await media_events(pushes, data["id"])
    check_signed(push)
    event = push.json
    assert list(event) == [*MEDIA_KEYS, "reason"]
    assert event["status"] == "1"
    assert "image/png" in event["reason"]
    _, record = await agg.control("GET", f"/_sim/media/{data['id']}")
    assert (record["state"], record["reason"]) == ("rejected", event["reason"])
    assert (await agg.download(data["file"]))[0] == 404
    answer = await agg.send(image_send(data["file"]))
    status, code, msg = error_of(answer)
    assert (status, code) == (200, "301")
    assert data["file"] in msg
    assert "rejected" in msg


@pytest.mark.asyncio
async def test_a_mismatched_thumbnail_rejects_the_upload(agg: AggClient, pushes: PushReceiver) -> None:
    data = await upload_ok(agg, upload_parts(MP4, "video/mp4", "v.mp4", thumbnail=("t.gif", "image/gif", PNG)))
    [push] = await media_events(pushes, data["id"])
    assert (push.json["status"], "image/gif" in push.json["reason"]) == ("1", True)


# ---------------------------------------------------------------- hold, settle, downloads, sends


@pytest.mark.asyncio
async def test_held_upload_is_unusable_until_settled_by_hand(agg: AggClient, pushes: PushReceiver) -> None:
    await hold(agg)
    data = await upload_ok(agg)
    await settle()
    assert pushes.events("Media") == []
    _, record = await agg.control("GET", f"/_sim/media/{data['id']}")
    assert record["state"] == "pending"

    # Before approval: not downloadable, and a send naming it is refused.
    assert (await agg.download(data["file"]))[0] == 404
    status, code, msg = error_of(await agg.send(image_send(data["file"])))
    assert (status, code) == (200, "301")
    assert data["file"] in msg
    assert "pending" in msg
    # A card naming it as its media is refused the same way.
    card_media = {**media(len(PNG)), "mediaUrl": data["file"], "mediaContentType": "image/png"}
    status, code, msg = error_of(await agg.send(send_body(items=[card_item(single_card_doc(card(media=card_media)))])))
    assert (code, data["file"] in msg) == ("301", True)

    status, settled = await agg.control("POST", f"/_sim/media/{data['id']}/audit", {"approved": True})
    assert (status, settled["state"]) == (200, "approved")
    [push] = await media_events(pushes, data["id"])
    check_signed(push)
    assert (list(push.json), push.json["status"]) == (MEDIA_KEYS, "0")

    # After approval: the bytes are served with their type, and sends naming it go through.
    assert await agg.download(data["file"]) == (200, PNG, "image/png")
    [entry] = (await agg.send(image_send(data["file"]))).json["send_list"]
    assert entry["to"] == send_body()["to"][0]
    answer = await agg.send(send_body(items=[card_item(single_card_doc(card(media=card_media)))]))
    assert answer.json["status"] == "success", answer.json


@pytest.mark.asyncio
async def test_held_upload_rejected_by_hand_carries_the_given_reason(agg: AggClient, pushes: PushReceiver) -> None:
    await hold(agg)
    data = await upload_ok(agg)
    status, record = await agg.control(
        "POST", f"/_sim/media/{data['id']}/audit", {"approved": False, "reason": "画面模糊"}
    )
    assert (status, record["state"], record["reason"]) == (200, "rejected", "画面模糊")
    [push] = await media_events(pushes, data["id"])
    assert (push.json["status"], push.json["reason"]) == ("1", "画面模糊")
    # A re-audit is allowed and sends a new event.
    await agg.control("POST", f"/_sim/media/{data['id']}/audit", {"approved": True})
    received = await media_events(pushes, data["id"], 2)
    assert [p.json["status"] for p in received] == ["1", "0"]
    assert "reason" not in received[1].json


@pytest.mark.asyncio
async def test_settling_early_cancels_the_automatic_audit(make_agg: AggFactory, pushes: PushReceiver) -> None:
    agg = await make_agg(audit_delay_seconds=0.3)
    data = await upload_ok(agg)
    await agg.control("POST", f"/_sim/media/{data['id']}/audit", {"approved": False})
    await media_events(pushes, data["id"])
    await settle(0.6)
    received = [p.json for p in pushes.events("Media")]
    assert [e["status"] for e in received] == ["1"]
    assert received[0]["reason"]


@pytest.mark.asyncio
async def test_audit_control_errors(agg: AggClient) -> None:
    assert (await agg.control("POST", "/_sim/media/nope00/audit", {"approved": True}))[0] == 404
    assert (await agg.control("POST", "/_sim/templates/nope00/audit", {"approved": True}))[0] == 404
    data = await upload_ok(agg)
    status, body = await agg.control("POST", f"/_sim/media/{data['id']}/audit", {"approved": "yes"})
    assert (status, "approved" in body["error"]) == (400, True)


@pytest.mark.asyncio
async def test_expired_upload_is_refused_and_no_longer_served(agg: AggClient, pushes: PushReceiver) -> None:
    data = await upload_ok(agg)
    await media_events(pushes, data["id"])
    assert (await agg.download(data["file"]))[0] == 200
    status, record = await agg.control("POST", f"/_sim/media/{data['id']}/expire")
    assert (status, record["state"]) == (200, "expired")
    assert parse_expired(record["until"]) < time.time()
    assert (await agg.download(data["file"]))[0] == 404
    status, code, msg = error_of(await agg.send(image_send(data["file"])))
    assert (code, "expired" in msg, data["file"] in msg) == ("301", True, True)


@pytest.mark.asyncio
async def test_url_of_another_chatbot_is_refused(agg: AggClient, pushes: PushReceiver) -> None:
    data = await upload_ok(agg, upload_parts(chatbot=OTHER_BOT), appid=OTHER_APPID, appkey=OTHER_APPKEY)
    [push] = await media_events(pushes, data["id"])
    # The other chatbot's appid gets its event, at its own push URL, under its own key.
    assert push.path == "two"
    check_signed(push, OTHER_APPID, OTHER_APPKEY)
    _, code, msg = error_of(await agg.send(image_send(data["file"])))
    assert (code, data["file"] in msg, "another chatbot" in msg) == ("301", True, True)
    answer = await agg.send(image_send(data["file"], chatbot=OTHER_BOT), appid=OTHER_APPID, appkey=OTHER_APPKEY)
    assert answer.json["status"] == "success", answer.json


@pytest.mark.asyncio
async def test_urls_the_simulator_did_not_issue_are_not_checked(agg: AggClient) -> None:
    await hold(agg)
    await upload_ok(agg)
    for url in [f"{agg.base_url}/s/zzzzzz.png", "https://cdn.example.com/s/banner.png"]:
        answer = await agg.send(image_send(url))
        assert answer.json["status"] == "success", (url, answer.json)
    assert (await agg.download(f"{agg.base_url}/s/zzzzzz.png"))[0] == 404


@pytest.mark.asyncio
async def test_policy_reject_and_ttl(agg: AggClient, pushes: PushReceiver) -> None:
    status, policy = await agg.control("GET", "/_sim/audit")
    assert status == 200
    assert (policy["media"], policy["templates"], policy["ttl_seconds"]) == ("approve", "approve", SEVEN_DAYS)
    status, policy = await agg.control(
        "PUT", "/_sim/audit", {"media": "reject", "reason": "不合规", "ttl_seconds": 600}
    )
    assert (status, policy["media"], policy["reason"], policy["ttl_seconds"]) == (200, "reject", "不合规", 600)
    uploaded_at = time.time()
    data = await upload_ok(agg)
    [push] = await media_events(pushes, data["id"])
    assert (push.json["status"], push.json["reason"]) == ("1", "不合规")
    assert abs(parse_expired(push.json["expired"]) - (uploaded_at + 600)) < 5
    for bad in [{"media": "maybe"}, {"delay_seconds": -1}, {"ttl_seconds": 0}, {"colour": "red"}]:
        status, _ = await agg.control("PUT", "/_sim/audit", bad)
        assert status == 400, bad


@pytest.mark.asyncio
async def test_media_event_is_retried_with_the_same_body(agg: AggClient, pushes: PushReceiver) -> None:
    pushes.plan = [500, 503]
    data = await upload_ok(agg)
    received = await media_events(pushes, data["id"], 3)
    assert len({p.body for p in received}) == 1
    assert all(p.sig_ok for p in received)
    await settle(0.1)
    _, record = await agg.control("GET", f"/_sim/media/{data['id']}")
    assert [(p["ok"], p["attempts"]) for p in record["pushes"]] == [(True, 3)]


@pytest.mark.asyncio
async def test_filenames_are_decoded(agg: AggClient) -> None:
    await hold(agg)
    raw = await upload_ok(agg, upload_parts(filename="横幅.png"))
    # aiohttp's FormData percent-encodes a filename.
    quoted = await upload_ok(agg, upload_parts(filename="%E6%A8%AA%E5%B9%85%202.png"))
    _, listing = await agg.control("GET", f"/_sim/media?chatbot_id={BOT}")
    names = {m["id"]: m["file_name"] for m in listing["media"]}
    assert names == {raw["id"]: "横幅.png", quoted["id"]: "横幅 2.png"}
    _, other = await agg.control("GET", f"/_sim/media?chatbot_id={OTHER_BOT}")
    assert other == {"media": []}


# ---------------------------------------------------------------- upload refusals


@pytest.mark.asyncio
async def test_bad_signature_is_101_and_stores_nothing(agg: AggClient, pushes: PushReceiver) -> None:
    # Signed over another body (the multipart without its file bytes).
    other = form_data(upload_parts(b"", "image/png"))
    status, code, _ = error_of(await agg.upload(upload_parts(), sign_body=other))
    assert (status, code) == (200, "101")
    status, code, _ = error_of(await agg.upload(upload_parts(), appkey="wrong-key"))
    assert (status, code) == (200, "101")
    await settle()
    assert pushes.events("Media") == []
    assert (await agg.control("GET", "/_sim/media"))[1] == {"media": []}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("parts", "needle"),
    [
        (upload_parts(b"%PDF-1.4 ...", "application/pdf", "a.pdf"), "application/pdf"),
        (upload_parts(b"BM" + b"\x00" * 64, "image/bmp", "a.bmp"), "image/bmp"),
        (upload_parts(b"hello", "text/plain", "a.txt"), "text/plain"),
        (upload_parts(b"\x00" * 64, "application/octet-stream", "a.bin"), "application/octet-stream"),
        (upload_parts(b"\x1aE\xdf\xa3" + b"\x00" * 64, "video/webm", "a.webm"), "video/webm"),
        # A thumbnail must be an image.
        (upload_parts(MP4, "video/mp4", "v.mp4", thumbnail=("t.mp4", "video/mp4", MP4)), "video/mp4"),
    ],
)
async def test_a_type_it_does_not_take_is_301(
    agg: AggClient, pushes: PushReceiver, parts: list[Any], needle: str
) -> None:
    status, code, msg = error_of(await agg.upload(parts))
    assert (status, code) == (200, "301")
    assert needle in msg
    assert (await agg.control("GET", "/_sim/media"))[1] == {"media": []}


@pytest.mark.asyncio
async def test_over_the_size_limit_is_302(make_agg: AggFactory) -> None:
    agg = await make_agg(media_max_bytes=1000, max_body_bytes=2000)
    png = PNG[:1000]
    assert (await agg.upload(upload_parts(png))).json["status"] == "success"
    status, code, msg = error_of(await agg.upload(upload_parts(PNG[:1001])))
    assert (status, code, "1001" in msg) == (200, "302", True)
    status, code, _ = error_of(await agg.upload(upload_parts(png, thumbnail=("t.png", "image/png", PNG[:1001]))))
    assert (status, code) == (200, "302")
    # A body far beyond two parts' worth is refused before it is read in full.
    status, code, _ = error_of(await agg.upload(upload_parts(PNG[:16] + b"\x00" * 200_000)))
    assert (status, code) == (413, "302")


@pytest.mark.asyncio
async def test_malformed_uploads_are_refused(agg: AggClient) -> None:
    async def refused(parts: list[Any], **kwargs: Any) -> tuple[int, str, str]:
        return error_of(await agg.upload(parts, **kwargs))

    assert (await refused(upload_parts(chatbot=None)))[:2] == (200, "301")
    assert (await refused(upload_parts(chatbot=OTHER_BOT)))[:2] == (200, "103")
    assert (await refused(upload_parts(chatbot="no-such-bot")))[:2] == (200, "103")
    _, code, msg = await refused([("chatbot", None, None, BOT.encode())])
    assert (code, "'file'" in msg) == ("301", True)
    _, code, msg = await refused([*upload_parts(), ("caption", None, None, b"x")])
    assert (code, "caption" in msg) == ("301", True)
    _, code, msg = await refused([*upload_parts(), ("file", "b.png", "image/png", PNG)])
    assert (code, "more than once" in msg) == ("301", True)
    _, code, msg = await refused(upload_parts(b"", "image/png"))
    assert (code, "empty" in msg) == ("301", True)
    # Not multipart at all, and multipart whose boundary is not the declared one.
    _, code, _ = error_of(await agg.call("POST", "/rcs/media", raw=PNG, content_type="image/png"))
    assert code == "301"
    body = form_data(upload_parts(), boundary="actual-boundary")
    answer = await agg.call("POST", "/rcs/media", raw=body, content_type="multipart/form-data; boundary=declared")
    _, code, msg = error_of(answer)
    assert (code, "multipart" in msg) == ("301", True)


@pytest.mark.asyncio
async def test_quoted_boundary_and_preamble_are_understood(agg: AggClient, pushes: PushReceiver) -> None:
    body = b"this is a preamble\r\n" + form_data(upload_parts(GIF, "image/gif", "a.gif"), boundary="b;oundary")
    answer = await agg.call("POST", "/rcs/media", raw=body, content_type='multipart/form-data; boundary="b;oundary"')
    assert answer.json["status"] == "success", answer.json
    [push] = await media_events(pushes, answer.json["id"])
    assert push.json["status"] == "0"


# ---------------------------------------------------------------- templates


def template_body(items: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "chatbot": BOT,
        "name": "双十一促销",
        "messageList": items if items is not None else [text_item("欢迎光临"), chips_item(reply("好的", "ok"))],
        **extra,
    }


@pytest.mark.asyncio
async def test_template_submit_then_an_approved_template_event(agg: AggClient, pushes: PushReceiver) -> None:
    answer = await agg.template(template_body())
    assert answer.status == 200
    data = answer.json
    assert list(data) == ["status", "templateID"]
    assert data["status"] == "success"
    assert AUDIT_ID.match(data["templateID"])
    [push] = await template_events(pushes, data["templateID"])
    check_signed(push)
    event = push.json
    assert list(event) == TEMPLATE_KEYS
    assert (event["event"], event["templateID"], event["status"]) == ("Template", data["templateID"], "0")
    assert abs(parse_beijing(event["timestamp"]) - time.time()) < 5
    _, listing = await agg.control("GET", "/_sim/templates")
    [record] = listing["templates"]
    assert (record["id"], record["chatbot_id"], record["name"], record["state"]) == (
        data["templateID"],
        BOT,
        "双十一促销",
        "approved",
    )
    assert record["body"] == {"messageList": template_body()["messageList"]}


@pytest.mark.asyncio
async def test_forbidden_word_rejects_the_template(agg: AggClient, pushes: PushReceiver) -> None:
    card_doc = single_card_doc(card(title="限时", description="本店出售违禁品"))
    data = (await agg.template(template_body([card_item(card_doc)]))).json
    assert data["status"] == "success", data
    [push] = await template_events(pushes, data["templateID"])
    check_signed(push)
    event = push.json
    assert list(event) == [*TEMPLATE_KEYS, "reason"]
    assert event["status"] == "1"
    assert "违禁" in event["reason"]
    _, record = await agg.control("GET", f"/_sim/templates/{data['templateID']}")
    assert (record["state"], record["reason"]) == ("rejected", event["reason"])


@pytest.mark.asyncio
async def test_held_template_is_settled_by_hand(agg: AggClient, pushes: PushReceiver) -> None:
    await hold(agg)
    data = (await agg.template(template_body())).json
    await settle()
    assert pushes.events("Template") == []
    _, record = await agg.control("GET", f"/_sim/templates/{data['templateID']}")
    assert record["state"] == "pending"
    body = {"approved": False, "reason": "签名不符"}
    status, record = await agg.control("POST", f"/_sim/templates/{data['templateID']}/audit", body)
    assert (status, record["state"]) == (200, "rejected")
    [push] = await template_events(pushes, data["templateID"])
    assert (push.json["status"], push.json["reason"]) == ("1", "签名不符")


@pytest.mark.asyncio
async def test_template_refusals(agg: AggClient, pushes: PushReceiver) -> None:
    async def code_of(payload: dict[str, Any], **kwargs: Any) -> tuple[str, str]:
        return error_of(await agg.template(payload, **kwargs))[1:]

    assert (await code_of(template_body(), appkey="wrong"))[0] == "101"
    assert (await code_of({**template_body(), "chatbot": OTHER_BOT}))[0] == "103"
    assert (await code_of({**template_body(), "name": ""}))[0] == "301"
    assert (await code_of(template_body(extra="x")))[0] == "301"
    code, msg = await code_of(template_body([chips_item(reply())]))
    assert (code, "messageList" in msg) == ("301", True)
    # A template naming a material that is not approved yet is refused like a send.
    await hold(agg)
    uploaded = await upload_ok(agg)
    entry = file_entry(url=uploaded["file"], contentType="image/png", fileSize=str(len(PNG)))
    code, msg = await code_of(template_body([file_item(entry)]))
    assert (code, uploaded["file"] in msg) == ("301", True)
    await settle(0.1)
    assert pushes.events("Template") == []


# ---------------------------------------------------------------- reset


@pytest.mark.asyncio
async def test_reset_forgets_materials_only_when_asked(agg: AggClient, pushes: PushReceiver) -> None:
    await hold(agg, reason="留着")
    data = await upload_ok(agg)
    template = (await agg.template(template_body())).json
    await agg.control("POST", "/_sim/reset", {"faults": True})
    assert [m["id"] for m in (await agg.control("GET", "/_sim/media"))[1]["media"]] == [data["id"]]
    assert (await agg.control("GET", "/_sim/audit"))[1]["media"] == "hold"
    await agg.control("POST", "/_sim/reset", {"media": True})
    assert (await agg.control("GET", "/_sim/media"))[1] == {"media": []}
    assert (await agg.control("GET", "/_sim/templates"))[1] == {"templates": []}
    policy = (await agg.control("GET", "/_sim/audit"))[1]
    assert (policy["media"], policy["templates"]) == ("approve", "approve")
    assert (await agg.control("GET", f"/_sim/templates/{template['templateID']}"))[0] == 404
    # Its URL is no longer one of ours: not served, not checked.
    assert (await agg.download(data["file"]))[0] == 404
    assert (await agg.send(image_send(data["file"]))).json["status"] == "success"
