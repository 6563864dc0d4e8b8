"""Raw-HTTP tests of the CT/CU simulator's media (素材) API (protocols.md §3.3.4, §3.3.6; choices "Media").

Upload, the audit `check` notification, delete, download, the hosted urls and the `40007` refusal of
a downlink that names an unapproved url. Multipart bodies, headers and the notification signature
are built and checked by hand (maapjson_wire.py); the simulator runs on real uvicorn over loopback.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import uvicorn
from aiohttp import web

from msg5g.simulators.maapjson import ChatbotAccount, Faults, SimulatorSettings, create_app

from .maapjson_wire import (
    APP_ID,
    APP_KEY,
    BOT_ID,
    NOTIFY_TOKEN,
    OTHER_APP_ID,
    OTHER_APP_KEY,
    OTHER_BOT_ID,
    OTHER_TOKEN,
    USER,
    Carrier,
    CspReceiver,
    FilePart,
    PromptServer,
    Received,
    bot_uri,
    bound_socket,
    card_content,
    card_item,
    expected_signature,
    file_item,
    form_data,
    gif_bytes,
    jpeg_bytes,
    media_headers,
    png_bytes,
    send_body,
)

CarrierFactory = Callable[..., Awaitable[Carrier]]
LIMIT_20_MIB = 20 * 1024 * 1024
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
ISO_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
DAY = 86400.0
MEDIA_URL_REFUSED = "不合法的媒体素材url（素材url暂未审核生效）{url}"


CREDENTIALS = {BOT_ID: (APP_ID, APP_KEY), OTHER_BOT_ID: (OTHER_APP_ID, OTHER_APP_KEY)}


def code(dialect: str, value: int) -> int | str:
    """choices "errorCode type": CTCC strings, CUCC integers."""
    return str(value) if dialect == "ctcc" else value


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


async def settle(seconds: float = 0.2) -> None:
    """Give the simulator time to send anything it (wrongly) still owes."""
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

    async def start(dialect: str = "ctcc", **overrides: Any) -> Carrier:
        overrides.setdefault("audit_delay_seconds", 0.02)
        settings = SimulatorSettings(
            dialect=dialect,  # type: ignore[arg-type]
            chatbots=[
                ChatbotAccount(BOT_ID, APP_ID, APP_KEY, NOTIFY_TOKEN, csp.root),
                ChatbotAccount(OTHER_BOT_ID, OTHER_APP_ID, OTHER_APP_KEY, OTHER_TOKEN, csp.root),
            ],
            faults=Faults(delivered_delay_ms=5, displayed_delay_ms=5),
            notify_backoff_ms=5,
            notify_workers=4,
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
        return Carrier(dialect, f"http://127.0.0.1:{sock.getsockname()[1]}", session, config.app)

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


# ---------------------------------------------------------------- hand-rolled media client


async def token_for(carrier: Carrier, chatbot_id: str = BOT_ID) -> str:
    app_id, app_key = CREDENTIALS[chatbot_id]
    return await carrier.authorization(chatbot_id, app_id, app_key)


async def _answer(response: aiohttp.ClientResponse) -> Any:
    raw = await response.read()
    return json.loads(raw) if response.content_type == "application/json" else raw


async def upload(
    carrier: Carrier,
    data: bytes | None = None,
    *,
    filename: str | None = "image2.png",
    content_type: str | None = "image/png",
    mode: str | None = "perm",
    auth: str | None = "",
    parts: list[FilePart] | None = None,
    chatbot_id: str = BOT_ID,
    headers: dict[str, str | None] | None = None,
) -> tuple[int, Any]:
    """POST .../medias/upload (§3.3.4); auth "" fetches a fresh token, None sends none; `headers`
    overrides the others (None leaves one out)."""
    if auth == "":
        auth = await token_for(carrier, chatbot_id)
    form = (
        parts
        if parts is not None
        else [FilePart("file", png_bytes() if data is None else data, filename, content_type)]
    )
    body, form_type = form_data(form)
    request_headers = media_headers(auth, **{"Content-Type": form_type, "uploadMode": mode, **(headers or {})})
    async with carrier.session.post(
        carrier.url("medias/upload", chatbot_id),
        data=body,
        headers=request_headers,
        skip_auto_headers=["Content-Type", "Accept"],  # a "missing Accept" test must send none
    ) as response:
        return response.status, await _answer(response)


async def upload_ok(carrier: Carrier, data: bytes | None = None, **options: Any) -> dict[str, Any]:
    status, answer = await upload(carrier, data, **options)
    assert status == 200, answer
    assert answer["errorCode"] == code(carrier.dialect, 0), answer
    (info,) = answer["fileInfo"]
    return dict(info)


async def media_call(
    carrier: Carrier, method: str, action: str, url: str | None, auth: str | None, chatbot_id: str = BOT_ID
) -> tuple[int, Any, str]:
    """DELETE .../medias/delete or GET .../medias/download with header `url` (§3.3.4)."""
    async with carrier.session.request(
        method, carrier.url(action, chatbot_id), headers=media_headers(auth, url=url)
    ) as response:
        return response.status, await _answer(response), response.headers.get("Content-Type", "")


async def fetch(carrier: Carrier, url: str) -> tuple[int, bytes, str]:
    """GET of an issued url: the simulator hosts the files itself."""
    async with carrier.session.get(url) as response:
        return response.status, await response.read(), response.headers.get("Content-Type", "")


async def sim_media(carrier: Carrier, chatbot_id: str | None = None) -> list[dict[str, Any]]:
    path = "/_sim/media" + (f"?chatbot_id={chatbot_id}" if chatbot_id else "")
    status, body = await carrier.control("GET", path)
    assert status == 200, body
    return list(body["media"])


async def media_of(carrier: Carrier, url: str) -> dict[str, Any]:
    (record,) = [m for m in await sim_media(carrier) if m["url"] == url]
    return record


async def set_audit(carrier: Carrier, **policy: Any) -> dict[str, Any]:
    status, body = await carrier.control("PUT", "/_sim/audit", policy)
    assert status == 200, body
    return dict(body)


async def send(carrier: Carrier, items: list[dict[str, Any]], chatbot_id: str = BOT_ID) -> tuple[dict[str, Any], Any]:
    body = send_body(carrier.dialect, items=items)
    body["senderAddress"] = bot_uri(carrier.dialect, chatbot_id)
    status, answer, _ = await carrier.call(
        "messages", body, authorization=await token_for(carrier, chatbot_id), chatbot_id=chatbot_id
    )
    assert status == 200, answer
    return body, answer


def file_entries(url: str, size: int, thumbnail_url: str | None = None) -> list[dict[str, Any]]:
    """§3.3.2: the JSON FT list naming an uploaded file (and thumbnail)."""
    entries: list[dict[str, Any]] = [
        {"type": "file", "fileSize": size, "fileName": "image2.png", "contentType": "image/png", "url": url}
    ]
    if thumbnail_url is not None:
        entries.append({"type": "thumbnail", "fileSize": 1024, "contentType": "image/jpeg", "url": thumbnail_url})
    return entries


def card_with(url: str, size: int) -> dict[str, Any]:
    media = {"mediaUrl": url, "mediaContentType": "image/png", "mediaFileSize": size, "height": "MEDIUM_HEIGHT"}
    return card_item(card_content(media=media))


def assert_refused(carrier: Carrier, body: dict[str, Any], answer: Any, url: str) -> None:
    """§3.3.2: 40007 naming the url, ids echoed (not an auth error)."""
    assert answer["errorCode"] == code(carrier.dialect, 40007), answer
    assert answer["errorMessage"] == MEDIA_URL_REFUSED.format(url=url)
    assert answer["messageId"] == body["messageId"]


def assert_accepted(carrier: Carrier, answer: Any) -> None:
    assert answer["errorCode"] == code(carrier.dialect, 0), answer


def check_of(received: Received) -> dict[str, Any]:
    """A `check` notification, its signature recomputed by hand (choices "Notification signature")."""
    assert received.method == "POST"
    assert received.path == f"/notifyInfoNotification/{BOT_ID}/check"
    headers = {k.lower(): v for k, v in received.headers.items()}
    assert headers["content-type"].startswith("application/json")
    joined = "".join(sorted([NOTIFY_TOKEN, headers["timestamp"], headers["nonce"]]))
    assert headers["signature"] == hashlib.sha256(joined.encode()).hexdigest()
    assert headers["signature"] == expected_signature(NOTIFY_TOKEN, headers["timestamp"], headers["nonce"])
    assert received.signature_ok
    return dict(received.json())


async def wait_check(csp: CspReceiver, url: str, timeout: float = 5.0) -> dict[str, Any]:
    """The check about one url (several may be in flight at once)."""
    segment = url.rpartition("/")[2]
    deadline = time.monotonic() + timeout
    while True:
        for received in csp.at("/check"):
            body = check_of(received)
            if body["remark"] == f"media:{segment}":
                return body
        if time.monotonic() > deadline:
            raise AssertionError(f"no check for {url}: {[r.body for r in csp.at('/check')]}")
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------- upload and the audit check


@pytest.mark.asyncio
async def test_perm_upload_is_audited_and_served_once_approved(carrier: Carrier, csp: CspReceiver) -> None:
    data = png_bytes(4096)
    status, answer = await upload(carrier, data)
    assert status == 200
    (info,) = answer["fileInfo"]
    url = info["url"]
    if carrier.dialect == "ctcc":
        # §3.3.4: {"errorCode","fileInfo"} only; a perm file has no `until`.
        assert answer == {"errorCode": "0", "fileInfo": [info]}
        assert info == {"url": url, "fileName": "image2.png", "contentType": "image/png", "fileSize": 4096}
        assert re.fullmatch(re.escape(carrier.base_url) + r"/maap_message/bot/perm/\d+,[0-9a-f]{12}\.png", url)
    else:
        assert answer == {
            "errorCode": 0,
            "errorMessage": None,
            "fileCount": 1,
            "totalCount": 10000,
            "fileInfo": [info],
        }
        assert info == {
            "url": url,
            "fileName": "image2.png",
            "contentType": "*/*",
            "fileSize": 4096,
            "until": None,
            "fileHashAlgorithm": None,
            "fileHashValue": None,
        }
        assert re.fullmatch(re.escape(carrier.base_url) + r"/bot/v1/medias/fid/\d{18}", url)

    check = await wait_check(csp, url)
    assert set(check) == {"type", "result", "description", "time", "remark", "fileInfo"}
    assert check["type"] == "media"
    assert check["result"] == code(carrier.dialect, 0)
    assert isinstance(check["description"], str)
    assert ISO_Z.match(check["time"])
    assert check["remark"] == "media:" + url.rsplit("/", 1)[1]
    assert check["fileInfo"] == {
        "url": url,
        "fileName": "image2.png",
        "contentType": "image/png" if carrier.dialect == "ctcc" else "*/*",
        "fileSize": 4096,
        "until": "null",  # §3.3.6: the string, for a perm file
    }

    record = await media_of(carrier, url)
    assert record["state"] == "approved"
    assert (record["chatbot_id"], record["upload_mode"], record["until"]) == (BOT_ID, "perm", None)
    assert (record["file_name"], record["content_type"], record["size"]) == ("image2.png", "image/png", 4096)
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["parts"] == ["file"]
    assert record["notifications"][0]["ok"] is True
    assert record["id"] in url

    assert await fetch(carrier, url) == (200, data, "image/png")
    status, body, content_type = await media_call(carrier, "GET", "medias/download", url, await carrier.authorization())
    assert (status, body, content_type) == (200, data, "image/png")


@pytest.mark.asyncio
async def test_cucc_temp_upload_is_usable_at_once_and_never_checked(
    make_carrier: CarrierFactory, csp: CspReceiver
) -> None:
    carrier = await make_carrier("cucc")
    # Under "hold" an audited upload would stay pending forever: only an unaudited one is usable.
    await set_audit(carrier, media="hold")
    data = png_bytes(3000)
    before = time.time()
    info = await upload_ok(carrier, data, mode="temp")
    assert ISO_SECONDS.match(info["until"])
    # §3.3.4: CUCC temp files live 30 days.
    assert before + 30 * DAY - 5 <= epoch(info["until"]) <= time.time() + 30 * DAY + 5
    url = info["url"]
    assert await fetch(carrier, url) == (200, data, "image/png")
    record = await media_of(carrier, url)
    assert (record["state"], record["upload_mode"], record["until"]) == ("approved", "temp", info["until"])

    _, answer = await send(carrier, [file_item(file_entries(url, 3000))])
    assert_accepted(carrier, answer)
    await csp.wait_for("/status", 2)
    _, inbox = await carrier.control("GET", f"/_sim/handsets/{USER}/inbox")
    assert inbox[-1]["file"][0]["url"] == url
    await settle()
    assert csp.at("/check") == []


@pytest.mark.asyncio
async def test_ctcc_temp_upload_lives_three_days_and_is_audited(make_carrier: CarrierFactory, csp: CspReceiver) -> None:
    carrier = await make_carrier("ctcc")
    before = time.time()
    info = await upload_ok(carrier, jpeg_bytes(1500), filename="photo.jpg", content_type="image/jpeg", mode="temp")
    # §3.3.4: the captured CTCC temp answer puts `until` first.
    assert list(info) == ["until", "url", "fileName", "contentType", "fileSize"]
    assert ISO_SECONDS.match(info["until"])
    assert before + 3 * DAY - 5 <= epoch(info["until"]) <= time.time() + 3 * DAY + 5
    assert "/maap_message/bot/temp/" in info["url"]
    assert info["url"].endswith(".jpg")
    check = await wait_check(csp, info["url"])
    assert check["result"] == "0"
    assert check["fileInfo"]["until"] == info["until"]
    assert check["fileInfo"]["contentType"] == "image/jpeg"


@pytest.mark.asyncio
async def test_ttl_seconds_of_the_policy_sets_until_of_temp_files(carrier: Carrier) -> None:
    policy = await set_audit(carrier, ttl_seconds=120)
    assert policy["ttl_seconds"] == 120
    before = time.time()
    temp = await upload_ok(carrier, mode="temp")
    assert before + 120 - 5 <= epoch(temp["until"]) <= time.time() + 125
    perm = await upload_ok(carrier, mode="perm")
    assert perm.get("until") is None


@pytest.mark.asyncio
async def test_bytes_that_are_not_the_declared_type_are_rejected(carrier: Carrier, csp: CspReceiver) -> None:
    fake = await upload_ok(carrier, gif_bytes(800), filename="fake.png", content_type="image/png")
    real = await upload_ok(carrier, jpeg_bytes(800), filename="real.jpg", content_type="image/jpeg")
    rejected = await wait_check(csp, fake["url"])
    assert rejected["result"] == code(carrier.dialect, 1)
    assert "image/png" in rejected["description"]
    assert (await wait_check(csp, real["url"]))["result"] == code(carrier.dialect, 0)
    record = await media_of(carrier, fake["url"])
    assert record["state"] == "rejected"
    assert record["reason"] == rejected["description"]
    assert (await fetch(carrier, fake["url"]))[0] == 404
    body, answer = await send(carrier, [card_with(fake["url"], 800)])
    assert_refused(carrier, body, answer, fake["url"])
    _, answer = await send(carrier, [card_with(real["url"], 800)])
    assert_accepted(carrier, answer)


# ---------------------------------------------------------------- policy: hold, reject, settle by hand


@pytest.mark.asyncio
async def test_held_upload_waits_for_a_settlement_by_hand(carrier: Carrier, csp: CspReceiver) -> None:
    assert (await set_audit(carrier, media="hold"))["media"] == "hold"
    data = png_bytes(2500)
    url = (await upload_ok(carrier, data))["url"]
    await settle()
    assert csp.at("/check") == []
    record = await media_of(carrier, url)
    assert record["state"] == "pending"
    auth = await carrier.authorization()
    assert (await fetch(carrier, url))[0] == 404
    status, answer, _ = await media_call(carrier, "GET", "medias/download", url, auth)
    assert status == 404
    assert answer == {"errorCode": code(carrier.dialect, 40007), "errorMessage": MEDIA_URL_REFUSED.format(url=url)}

    status, settled = await carrier.control("POST", f"/_sim/media/{record['id']}/audit", {"approved": True})
    assert (status, settled["state"]) == (200, "approved")
    check = await wait_check(csp, url)
    assert check["result"] == code(carrier.dialect, 0)
    assert await fetch(carrier, url) == (200, data, "image/png")
    status, body, _ = await media_call(carrier, "GET", "medias/download", url, auth)
    assert (status, body) == (200, data)

    other = (await upload_ok(carrier, png_bytes(999)))["url"]
    other_id = (await media_of(carrier, other))["id"]
    reason = "图片含有二维码"
    status, settled = await carrier.control(
        "POST", f"/_sim/media/{other_id}/audit", {"approved": False, "reason": reason}
    )
    assert (status, settled["state"], settled["reason"]) == (200, "rejected", reason)
    check = await wait_check(csp, other)
    assert (check["result"], check["description"]) == (code(carrier.dialect, 1), reason)
    assert (await fetch(carrier, other))[0] == 404

    assert (await carrier.control("POST", "/_sim/media/nope/audit", {"approved": True}))[0] == 404
    assert (await carrier.control("POST", f"/_sim/media/{other_id}/audit", {"approved": "yes"}))[0] == 400


@pytest.mark.asyncio
async def test_reject_policy_sends_its_reason(carrier: Carrier, csp: CspReceiver) -> None:
    await set_audit(carrier, media="reject", reason="素材涉及敏感内容")
    url = (await upload_ok(carrier))["url"]
    check = await wait_check(csp, url)
    assert (check["result"], check["description"]) == (code(carrier.dialect, 1), "素材涉及敏感内容")
    assert (await media_of(carrier, url))["state"] == "rejected"


@pytest.mark.asyncio
async def test_a_check_the_csp_fails_is_retried(carrier: Carrier, csp: CspReceiver) -> None:
    csp.plan = [500]
    url = (await upload_ok(carrier))["url"]
    await csp.wait_for("/check", 2)
    first, second = (check_of(r) for r in csp.at("/check"))
    assert first["remark"] == second["remark"] == "media:" + url.rsplit("/", 1)[1]
    record = await media_of(carrier, url)
    assert [(n["ok"], n["attempts"], n["http_status"]) for n in record["notifications"]] == [(True, 2, 200)]


# ---------------------------------------------------------------- size, auth, headers


@pytest.mark.asyncio
async def test_cucc_over_twenty_mib_is_undertows_500(make_carrier: CarrierFactory) -> None:
    carrier = await make_carrier("cucc")
    fits = await upload_ok(carrier, png_bytes(LIMIT_20_MIB))
    assert fits["fileSize"] == LIMIT_20_MIB
    status, answer = await upload(carrier, png_bytes(LIMIT_20_MIB + 1))
    assert status == 500
    # §3.3.4: Spring Boot's error page with Undertow's text, and the path called.
    assert answer["message"] == (
        "UT000054: The maximum size 20971520 for an individual file in a multipart request was exceeded"
    )
    assert answer["path"] == f"/bot/v1/{bot_uri('cucc')}/medias/upload"
    assert (answer["status"], answer["error"]) == (500, "Internal Server Error")
    assert len(await sim_media(carrier)) == 1


@pytest.mark.asyncio
async def test_ctcc_over_twenty_mib_is_20002(make_carrier: CarrierFactory) -> None:
    carrier = await make_carrier("ctcc")
    status, answer = await upload(carrier, png_bytes(LIMIT_20_MIB + 1))
    assert status == 200
    assert set(answer) == {"errorCode", "errorMessage"}
    assert answer["errorCode"] == "20002"
    assert answer["errorMessage"].startswith("参数异常(")
    assert "20971520" in answer["errorMessage"]
    assert await sim_media(carrier) == []


@pytest.mark.asyncio
async def test_the_size_limit_is_a_setting(make_carrier: CarrierFactory, dialect: str) -> None:
    carrier = await make_carrier(dialect, media_max_bytes=1000)
    assert (await upload_ok(carrier, png_bytes(1000)))["fileSize"] == 1000
    status, answer = await upload(carrier, png_bytes(1001))
    if dialect == "cucc":
        assert status == 500
        assert "maximum size 1000 " in answer["message"]
    else:
        assert (status, answer["errorCode"]) == (200, "20002")
    assert len(await sim_media(carrier)) == 1


@pytest.mark.asyncio
async def test_a_bad_token_is_40014_on_every_media_call(carrier: Carrier) -> None:
    refused = {"errorCode": code(carrier.dialect, 40014), "errorMessage": "不合法的Token"}
    other_bots_token = await token_for(carrier, OTHER_BOT_ID)
    for auth in ("accessToken not-a-token", None, other_bots_token):
        assert await upload(carrier, auth=auth) == (200, refused)
    url = (await upload_ok(carrier))["url"]
    for method, action in (("DELETE", "medias/delete"), ("GET", "medias/download")):
        status, answer, _ = await media_call(carrier, method, action, url, "accessToken not-a-token")
        assert (status, answer) == (200, refused)
    assert [m["url"] for m in await sim_media(carrier)] == [url]


@pytest.mark.asyncio
async def test_media_calls_check_headers_body_and_mode(carrier: Carrier) -> None:
    dialect = carrier.dialect
    assert await upload(carrier, headers={"Accept": None}) == (
        200,
        {"errorCode": code(dialect, 41001), "errorMessage": "请求头中Accept必须存在且有值"},
    )
    assert (await upload(carrier, headers={"Date": None}))[1]["errorCode"] == code(dialect, 41001)
    status, answer = await upload(carrier, headers={"Content-Type": "application/json"})
    assert answer == {
        "errorCode": code(dialect, 20002),
        "errorMessage": "参数异常(Http头域字段Content-Type  Null或缺失或不合法)",
    }
    for parts in (
        [FilePart("thumbnail", png_bytes(), "t.png", "image/png")],
        [FilePart("file", png_bytes())],  # no filename: a form field, not a file
        [FilePart("file", b"", "empty.png", "image/png")],
    ):
        status, answer = await upload(carrier, parts=parts)
        assert (status, answer["errorCode"]) == (200, code(dialect, 20002)), parts
    status, answer = await upload(carrier, mode="forever")
    assert answer["errorCode"] == code(dialect, 20002)
    assert "uploadMode" in answer["errorMessage"]
    assert await sim_media(carrier) == []

    # No uploadMode: a permanent file.
    info = await upload_ok(carrier, mode=None)
    record = await media_of(carrier, info["url"])
    assert (record["upload_mode"], record["until"], info.get("until")) == ("perm", None, None)

    # A thumbnail sent beside the file is recorded but does not make a second file.
    parts = [FilePart("file", png_bytes(), "a.png", "image/png"), FilePart("thumbnail", jpeg_bytes(), "t.jpg")]
    status, answer = await upload(carrier, parts=parts)
    assert len(answer["fileInfo"]) == 1
    assert (await media_of(carrier, answer["fileInfo"][0]["url"]))["parts"] == ["file", "thumbnail"]

    async with carrier.session.get(carrier.url("medias/upload")) as response:
        assert (response.status, response.headers.get("Allow")) == (405, "POST")


# ---------------------------------------------------------------- delete and expiry


@pytest.mark.asyncio
async def test_delete_a_known_and_an_unknown_url(carrier: Carrier, csp: CspReceiver) -> None:
    dialect = carrier.dialect
    auth = await carrier.authorization()
    temp = (await upload_ok(carrier, mode="temp"))["url"]
    perm = (await upload_ok(carrier, mode="perm"))["url"]
    await wait_check(csp, perm)
    other_bot = await token_for(carrier, OTHER_BOT_ID)
    unknown = {
        "deleteMode": None,
        "errorCode": code(dialect, 1),
        "errorMessage": "9",
        "fileCount": None,
        "totalCount": None,
    }
    # Another chatbot does not hold this file.
    assert (await media_call(carrier, "DELETE", "medias/delete", perm, other_bot, OTHER_BOT_ID))[1] == unknown

    status, answer, _ = await media_call(carrier, "DELETE", "medias/delete", temp, auth)
    assert (status, answer) == (
        200,
        {
            "deleteMode": "temp",
            "errorCode": code(dialect, 0),
            "errorMessage": "success",
            "fileCount": 1,
            "totalCount": 100,
        },
    )
    _, answer, _ = await media_call(carrier, "DELETE", "medias/delete", perm, auth)
    assert (answer["deleteMode"], answer["fileCount"]) == ("perm", 0)
    assert (await media_call(carrier, "DELETE", "medias/delete", perm, auth))[1] == unknown
    foreign = "https://maaptest.189.cn/maap_message/bot/perm/4,04a014d5db9b.jpg"
    assert (await media_call(carrier, "DELETE", "medias/delete", foreign, auth))[1] == unknown
    status, answer, _ = await media_call(carrier, "DELETE", "medias/delete", None, auth)
    assert answer["errorCode"] == code(dialect, 20002)

    assert {m["url"]: m["state"] for m in await sim_media(carrier)} == {temp: "deleted", perm: "deleted"}
    assert (await fetch(carrier, perm))[0] == 404
    body, answer = await send(carrier, [file_item(file_entries(perm, 2048))])
    assert_refused(carrier, body, answer, perm)


@pytest.mark.asyncio
async def test_an_expired_upload_is_refused(carrier: Carrier, csp: CspReceiver) -> None:
    url = (await upload_ok(carrier))["url"]
    await wait_check(csp, url)
    assert (await fetch(carrier, url))[0] == 200
    media_id = (await media_of(carrier, url))["id"]
    status, record = await carrier.control("POST", f"/_sim/media/{media_id}/expire")
    assert (status, record["state"]) == (200, "expired")
    assert epoch(record["until"]) < time.time()
    assert (await fetch(carrier, url))[0] == 404
    body, answer = await send(carrier, [card_with(url, 2048)])
    assert_refused(carrier, body, answer, url)
    assert (await carrier.control("POST", f"/_sim/media/{media_id}/audit", {"approved": True}))[0] == 409


# ---------------------------------------------------------------- downlinks naming media


@pytest.mark.asyncio
async def test_downlink_needs_every_issued_url_approved(carrier: Carrier, csp: CspReceiver) -> None:
    await set_audit(carrier, media="hold")
    url = (await upload_ok(carrier, png_bytes(2048)))["url"]
    thumb = (await upload_ok(carrier, jpeg_bytes(1024), filename="t.jpg", content_type="image/jpeg"))["url"]
    file_message = [file_item(file_entries(url, 2048, thumb))]

    body, answer = await send(carrier, file_message)
    assert_refused(carrier, body, answer, url)
    body, answer = await send(carrier, [card_with(url, 2048)])
    assert_refused(carrier, body, answer, url)
    _, record = await carrier.control("GET", f"/_sim/messages/{body['messageId']}")
    assert (record["rejected"], record["accepted"]) == (1, 0)

    by_url = {m["url"]: m["id"] for m in await sim_media(carrier)}
    await carrier.control("POST", f"/_sim/media/{by_url[url]}/audit", {"approved": True})
    body, answer = await send(carrier, file_message)
    assert_refused(carrier, body, answer, thumb)  # the thumbnail is still pending

    await carrier.control("POST", f"/_sim/media/{by_url[thumb]}/audit", {"approved": True})
    _, answer = await send(carrier, file_message)
    assert_accepted(carrier, answer)
    _, answer = await send(carrier, [card_with(url, 2048)])
    assert_accepted(carrier, answer)
    # Urls the simulator did not issue are someone else's and are not checked.
    _, answer = await send(carrier, [file_item()])
    assert_accepted(carrier, answer)
    # A material is approved per chatbot: another chatbot may not send this one.
    body, answer = await send(carrier, [card_with(url, 2048)], chatbot_id=OTHER_BOT_ID)
    assert_refused(carrier, body, answer, url)

    await csp.wait_for("/status", 6)
    _, inbox = await carrier.control("GET", f"/_sim/handsets/{USER}/inbox")
    assert [entry["url"] for entry in inbox[0]["file"]] == [url, thumb]
    assert inbox[1]["card"]["message"]["generalPurposeCard"]["content"]["media"]["mediaUrl"] == url


# ---------------------------------------------------------------- control API


@pytest.mark.asyncio
async def test_audit_policy_defaults_validation_and_reset(carrier: Carrier) -> None:
    ttl = 3 * DAY if carrier.dialect == "ctcc" else 30 * DAY
    defaults = {"media": "approve", "templates": "approve", "chatbot_info": "approve", "customers": "approve",
                "chatbots": "approve", "delay_seconds": 0.02,
                "reason": None, "ttl_seconds": ttl}
    assert await carrier.control("GET", "/_sim/audit") == (200, defaults)
    for bad in ({"media": "maybe"}, {"delay_seconds": -1}, {"ttl_seconds": 0}, {"reason": 5}, {"nope": 1}):
        assert (await carrier.control("PUT", "/_sim/audit", bad))[0] == 400, bad
    await set_audit(carrier, media="hold", delay_seconds=1.5)
    url = (await upload_ok(carrier))["url"]
    assert await carrier.control("POST", "/_sim/reset", {}) == (200, {"status": "reset"})
    assert [m["url"] for m in await sim_media(carrier)] == [url]
    assert (await carrier.control("GET", "/_sim/audit"))[1]["media"] == "hold"
    await carrier.control("POST", "/_sim/reset", {"media": True})
    assert await sim_media(carrier) == []
    assert await carrier.control("GET", "/_sim/audit") == (200, defaults)
    assert (await fetch(carrier, url))[0] == 404


@pytest.mark.asyncio
async def test_media_list_filters_by_chatbot_and_counts(carrier: Carrier, csp: CspReceiver) -> None:
    mine = (await upload_ok(carrier))["url"]
    theirs = (await upload_ok(carrier, chatbot_id=OTHER_BOT_ID))["url"]
    assert [m["url"] for m in await sim_media(carrier, BOT_ID)] == [mine]
    assert [m["url"] for m in await sim_media(carrier, OTHER_BOT_ID)] == [theirs]
    await csp.wait_for("/check", 2)
    paths = sorted(r.path for r in csp.at("/check"))
    assert paths == sorted([f"/notifyInfoNotification/{BOT_ID}/check", f"/notifyInfoNotification/{OTHER_BOT_ID}/check"])
    _, stats = await carrier.control("GET", "/_sim/stats")
    assert (stats["media_uploaded"], stats["media_approved"], stats["media_tracked"]) == (2, 2, 2)


@pytest.mark.asyncio
async def test_path_prefix_moves_the_api_but_urls_stay_like_the_carriers(
    make_carrier: CarrierFactory, csp: CspReceiver, dialect: str
) -> None:
    carrier = await make_carrier(dialect, path_prefix="maap_message")
    host = carrier.base_url
    carrier.base_url += "/maap_message"
    data = png_bytes(1234)
    url = (await upload_ok(carrier, data))["url"]
    if dialect == "ctcc":
        assert url.startswith(host + "/maap_message/bot/perm/")
    else:
        assert url.startswith(host + "/maap_message/bot/v1/medias/fid/")
    await wait_check(csp, url)
    assert await fetch(carrier, url) == (200, data, "image/png")
