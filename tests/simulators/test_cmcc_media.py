"""Raw-HTTP tests of media (素材) upload/audit/delete/download and templates (模板) in the CMCC simulator.

The contract is docs/protocol-choices.md "Media (素材) upload and audit" and "Templates (模板) on each
carrier" (China Mobile bullets), on top of protocols.md §1.8, §2.4 and §3.2. The multipart body, the
FT-HTTP XML and the Basic header are built here by hand, never with the simulator's own helpers.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import quoteattr

import pytest
import pytest_asyncio
from aiohttp import web
from lxml import etree
from yarl import URL

from .conftest import (
    BOT_APP_ID,
    BOT_ID,
    BOT_PASSWORD,
    NS_COMMON,
    OTHER_APP_ID,
    OTHER_BOT_ID,
    OTHER_PASSWORD,
    USER,
    CspReceiver,
    Received,
    Sim,
    SimFactory,
    bot_uri,
    cmcc_basic,
    outbound_xml,
    rfc1123,
)

NS_FT = "urn:gsma:params:xml:ns:rcs:rcs:fthttp"
NS_FT_EXT = "urn:gsma:params:xml:ns:rcs:rcs:up:fthttpext"
FT_XML = "application/vnd.gsma.rcs-ft-http+xml"
BOTMESSAGE = "application/vnd.gsma.botmessage.v1.0+json"
AUDIT = "InboundMessageNotification"
TEMPLATE_AUDIT = "TemplateAuditNotification"
DELIVERY = "DeliveryInfoNotification"
# Generous: audits and notifications are asynchronous, and a loaded machine is slow.
WAIT = 10.0

# Signature bytes of each type the file server takes (§3.2), padded to look like a file.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + b"\x11" * 2000
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x22" * 500
GIF = b"GIF89a" + b"\x33" * 300
AMR = b"#!AMR\n" + b"\x3c" * 300
MP3 = b"ID3\x04\x00\x00" + b"\x44" * 300
M4A = b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00" + b"\x55" * 300
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00" + b"\x66" * 300
WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + b"\x77" * 300
MIB = 1024 * 1024


# ---------------------------------------------------------------- a CSP that also keeps query strings


@dataclass
class AuditCsp(CspReceiver):
    """The conftest CSP, plus the query string of every audit result, keyed by its tid header."""

    queries: dict[str, dict[str, str]] = field(default_factory=dict)

    async def handle(self, request: web.Request) -> web.Response:
        tid = request.headers.get("tid")
        if tid is not None:
            self.queries[tid] = dict(request.query)
        return await super().handle(request)


@pytest_asyncio.fixture
async def csp() -> AsyncIterator[AuditCsp]:
    """Overrides conftest's `csp` for this module, so `make_sim` and `sim` notify this one."""
    receiver = AuditCsp(accounts={BOT_ID: (BOT_APP_ID, BOT_PASSWORD), OTHER_BOT_ID: (OTHER_APP_ID, OTHER_PASSWORD)})
    app = web.Application()
    app.router.add_post("/csp/{kind}/{chatbot_id}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------- hand-built requests


def form_data(parts: list[tuple[str, str | None, str | None, bytes]], boundary: str = "sim-b0undary") -> bytes:
    """multipart/form-data (RFC 7578): (name, filename, content type, bytes) per part."""
    out = b""
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        out += (head + "\r\n").encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def file_server_headers(
    *,
    identity: str | None = None,
    app_id: str = BOT_APP_ID,
    password: str = BOT_PASSWORD,
    date: str | None = None,
) -> dict[str, str]:
    """§3.2 headers: §1.8 Basic + Date, X-3GPP-Intended-Identity, User-Agent, Terminal-type."""
    date = date or rfc1123()
    headers = {"Authorization": cmcc_basic(app_id, password, date), "Date": date, "Terminal-type": "Chatbot"}
    if identity is not None:
        headers["X-3GPP-Intended-Identity"] = identity
        headers["User-Agent"] = f"SP/{identity}"
    return headers


async def upload(
    sim: Sim,
    parts: list[tuple[str, str | None, str | None, bytes]],
    *,
    identity: str | None = bot_uri(),
    app_id: str = BOT_APP_ID,
    password: str = BOT_PASSWORD,
    date: str | None = None,
    content_type: str = "multipart/form-data; boundary=sim-b0undary",
) -> tuple[int, bytes, dict[str, str]]:
    headers = file_server_headers(identity=identity, app_id=app_id, password=password, date=date)
    headers["Content-Type"] = content_type
    async with sim.session.post(sim.base_url + "/Content", data=form_data(parts), headers=headers) as response:
        return response.status, await response.read(), dict(response.headers)


def jpeg_file(
    name: str = "cat.jpg", declared: str | None = "image/jpeg", data: bytes = JPEG
) -> tuple[str, str | None, str | None, bytes]:
    return ("File", name, declared, data)


def png_thumbnail(data: bytes = PNG, declared: str | None = "image/png") -> tuple[str, str | None, str | None, bytes]:
    return ("Thumbnail", "thumb.png", declared, data)


@dataclass
class Uploaded:
    tid: str
    infos: dict[str, dict[str, Any]]

    @property
    def url(self) -> str:
        return str(self.infos["file"]["url"])

    @property
    def thumbnail_url(self) -> str:
        return str(self.infos["thumbnail"]["url"])


def file_infos(body: bytes) -> tuple[etree._Element, dict[str, dict[str, Any]]]:
    """§2.4 <file> -> {type: {"size", "name"?, "content_type", "url", "until"}}, read with plain lxml."""
    root = etree.fromstring(body)
    infos: dict[str, dict[str, Any]] = {}
    for info in root.findall(f"{{{NS_FT}}}file-info"):
        data = info.find(f"{{{NS_FT}}}data")
        assert data is not None
        item: dict[str, Any] = {
            "size": int(info.findtext(f"{{{NS_FT}}}file-size") or "-1"),
            "content_type": info.findtext(f"{{{NS_FT}}}content-type"),
            "url": data.get("url"),
            "until": data.get("until"),
        }
        name = info.find(f"{{{NS_FT}}}file-name")
        if name is not None:
            item["name"] = name.text
        infos[str(info.get("type"))] = item
    return root, infos


async def upload_ok(sim: Sim, parts: list[tuple[str, str | None, str | None, bytes]], **kwargs: Any) -> Uploaded:
    status, body, headers = await upload(sim, parts, **kwargs)
    assert status == 200, body
    _, infos = file_infos(body)
    return Uploaded(headers["tid"], infos)


def error_of(body: bytes) -> tuple[str, str, str | None]:
    """(exception element, exceptionId, variables) of a §1.2 common:requestError."""
    root = etree.fromstring(body)
    assert root.tag == f"{{{NS_COMMON}}}requestError"
    exception = root[0]
    return etree.QName(exception).localname, exception.findtext("exceptionId") or "", exception.findtext("variables")


def ft_xml(url: str, thumbnail_url: str | None = None, size: int = len(JPEG)) -> str:
    """A downlink FT-HTTP body naming `url` (and a thumbnail), as a CSP writes it (§2.4)."""
    thumb = ""
    if thumbnail_url:
        thumb = (
            '<file-info type="thumbnail"><file-size>100</file-size><content-type>image/png</content-type>'
            f'<data url={quoteattr(thumbnail_url)} until="2099-01-01T00:00:00Z"/></file-info>'
        )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><file xmlns="{NS_FT}">{thumb}'
        f'<file-info type="file"><file-size>{size}</file-size><file-name>cat.jpg</file-name>'
        "<content-type>image/jpeg</content-type>"
        f'<data url={quoteattr(url)} until="2099-01-01T00:00:00Z"/></file-info></file>'
    )


def card_with_media(url: str) -> str:
    media = {"mediaUrl": url, "mediaContentType": "image/jpeg", "mediaFileSize": len(JPEG), "height": "MEDIUM_HEIGHT"}
    content = {"media": media, "title": "A cat", "description": "Look"}
    return json.dumps(
        {"message": {"generalPurposeCard": {"layout": {"cardOrientation": "VERTICAL"}, "content": content}}}
    )


def static_template(template_id: str) -> bytes:
    """§3.2 template send: contentType static-template, bodyText {"templateID": ...} in CDATA."""
    return outbound_xml(content_type="static-template", body=json.dumps({"templateID": template_id}), cdata=True)


async def control(sim: Sim, method: str, path: str, payload: Any = None) -> Any:
    status, body = await sim.control(method, path, payload)
    assert status == 200, body
    return body


async def media_entry(sim: Sim, tid: str) -> dict[str, Any]:
    listing = await control(sim, "GET", "/_sim/media")
    found = [m for m in listing["media"] if m["id"] == tid]
    assert len(found) == 1, listing
    return dict(found[0])


async def download(sim: Sim, url: str) -> tuple[int, bytes, str]:
    async with sim.session.get(URL(url, encoded=True)) as response:
        return response.status, await response.read(), response.headers.get("Content-Type", "")


async def audit_for(csp: AuditCsp, tid: str, count: int = 1) -> list[Received]:
    """The audit results for one tid, once `count` of them have arrived."""
    deadline = time.monotonic() + WAIT
    while True:
        found = [r for r in csp.of(AUDIT) if r.headers.get("tid") == tid]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} audit results for {tid}, got {len(found)}")
        await asyncio.sleep(0.01)


async def template_results(csp: AuditCsp, template_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT
    while True:
        found = [json.loads(r.body) for r in csp.of(TEMPLATE_AUDIT)]
        mine = [f for f in found if f.get("templateID") == template_id]
        if mine:
            return mine
        if time.monotonic() > deadline:
            raise AssertionError(f"no TemplateAuditNotification for {template_id}: {found}")
        await asyncio.sleep(0.01)


async def submit_template(
    sim: Sim,
    payload: Any,
    *,
    chatbot: str = BOT_ID,
    encoded: bool = False,
    password: str = BOT_PASSWORD,
    content_type: str = "application/json",
) -> tuple[int, bytes]:
    uri = bot_uri(chatbot)
    shown = quote(uri, safe="") if encoded else uri
    date = rfc1123()
    headers = {"Authorization": cmcc_basic(BOT_APP_ID, password, date), "Date": date, "Content-Type": content_type}
    url = URL(f"{sim.base_url}/messaging/v1/templates/{shown}", encoded=True)
    async with sim.session.post(url, data=json.dumps(payload).encode(), headers=headers) as response:
        return response.status, await response.read()


async def template_ok(sim: Sim, payload: dict[str, Any]) -> str:
    status, body = await submit_template(sim, payload)
    assert status == 200, body
    answer = json.loads(body)
    assert answer["status"] == "pending"
    return str(answer["templateID"])


def text_template(body: str = "您的验证码已发送", name: str = "notice") -> dict[str, Any]:
    return {"templateName": name, "contentType": "text/plain", "bodyText": body}


async def hold_media(sim: Sim) -> None:
    # delay 0: if "hold" were ignored the result would go out at once, so its absence means something.
    await control(sim, "PUT", "/_sim/audit", {"media": "hold", "delay_seconds": 0})


async def inbox(sim: Sim) -> list[dict[str, Any]]:
    return list(await control(sim, "GET", f"/_sim/handsets/{USER}/inbox"))


def until_epoch(value: str) -> float:
    return float(calendar.timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ")))


# ---------------------------------------------------------------- upload and the audit result


@pytest.mark.asyncio
async def test_upload_answers_tid_and_ft_http_xml_then_approval_is_notified(sim: Sim, csp: AuditCsp) -> None:
    before = time.time()
    status, body, headers = await upload(sim, [jpeg_file(), png_thumbnail()])
    assert status == 200, body
    tid = headers["tid"]
    assert uuid.UUID(tid)
    root, infos = file_infos(body)
    assert root.tag == f"{{{NS_FT}}}file"
    assert root.nsmap == {None: NS_FT, "e": NS_FT_EXT}
    # §2.4 order: the thumbnail's file-info first, then the file's.
    assert [info.get("type") for info in root] == ["thumbnail", "file"]
    assert infos["file"]["url"] == f"{sim.base_url}/s/{tid}FD.jpg"
    assert infos["thumbnail"]["url"] == f"{sim.base_url}/s/{tid}TD.png"
    assert (infos["file"]["size"], infos["file"]["name"], infos["file"]["content_type"]) == (
        len(JPEG),
        "cat.jpg",
        "image/jpeg",
    )
    assert (infos["thumbnail"]["size"], infos["thumbnail"]["content_type"]) == (len(PNG), "image/png")
    assert "name" not in infos["thumbnail"]
    until = until_epoch(infos["file"]["until"])
    # [I] upload + 30 days (media_ttl_seconds); whole seconds, so allow the truncation.
    assert before + 30 * 86400 - 2 <= until <= time.time() + 30 * 86400
    assert infos["thumbnail"]["until"] == infos["file"]["until"]

    result = (await audit_for(csp, tid))[0]
    assert result.chatbot_id == BOT_ID
    assert result.auth_ok, result.headers
    assert result.headers["Authstatus"] == "0"
    assert "Authdesc" not in result.headers
    assert csp.queries[tid] == {"chatbotURI": bot_uri()}
    _, notified = file_infos(result.body)
    assert notified == infos

    entry = await media_entry(sim, tid)
    assert entry["state"] == "approved"
    assert entry["chatbot_id"] == BOT_ID
    assert (entry["url"], entry["thumbnail_url"]) == (infos["file"]["url"], infos["thumbnail"]["url"])
    assert (entry["file_name"], entry["content_type"], entry["size"]) == ("cat.jpg", "image/jpeg", len(JPEG))
    assert entry["sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert entry["parts"] == ["File", "Thumbnail"]
    assert entry["until"] == infos["file"]["until"]
    assert "reason" not in entry


@pytest.mark.asyncio
async def test_upload_without_thumbnail_has_one_file_info(sim: Sim, csp: AuditCsp) -> None:
    status, body, headers = await upload(sim, [jpeg_file()])
    assert status == 200, body
    root, infos = file_infos(body)
    assert [info.get("type") for info in root] == ["file"]
    assert list(infos) == ["file"]
    result = (await audit_for(csp, headers["tid"]))[0]
    assert result.headers["Authstatus"] == "0"


@pytest.mark.asyncio
async def test_bytes_contradicting_the_declared_type_pass_upload_and_fail_audit(sim: Sim, csp: AuditCsp) -> None:
    uploaded = await upload_ok(sim, [jpeg_file("cat.png", declared="image/png")])
    # The declaration is echoed; the type check at upload goes by the signature bytes only.
    assert uploaded.infos["file"]["content_type"] == "image/png"
    assert uploaded.url.endswith("FD.jpg")
    result = (await audit_for(csp, uploaded.tid))[0]
    assert result.auth_ok
    assert result.headers["Authstatus"] == "1"
    raw_reason = result.headers["Authdesc"]
    assert raw_reason.isascii()
    assert "%" in raw_reason  # percent-encoded UTF-8
    reason = unquote(raw_reason)
    assert "image/png" in reason
    assert "image/jpeg" in reason
    entry = await media_entry(sim, uploaded.tid)
    assert (entry["state"], entry["reason"]) == ("rejected", reason)
    assert (await download(sim, uploaded.url))[0] == 404


@pytest.mark.asyncio
@pytest.mark.parametrize("sent", ["猫咪.jpg", "%E7%8C%AB%E5%92%AA.jpg"], ids=["raw-utf8", "percent-encoded"])
async def test_non_ascii_file_name_is_kept(sim: Sim, sent: str) -> None:
    headers = file_server_headers(identity=bot_uri())
    headers["Content-Type"] = "multipart/form-data; boundary=sim-b0undary"
    head = f'--sim-b0undary\r\nContent-Disposition: form-data; name="File"; filename="{sent}"\r\n'
    head += "Content-Type: image/jpeg\r\n\r\n"
    body = head.encode() + JPEG + b"\r\n--sim-b0undary--\r\n"
    async with sim.session.post(sim.base_url + "/Content", data=body, headers=headers) as response:
        assert response.status == 200
        _, infos = file_infos(await response.read())
    assert infos["file"]["name"] == "猫咪.jpg"


@pytest.mark.asyncio
async def test_generic_declaration_is_no_contradiction(sim: Sim, csp: AuditCsp) -> None:
    uploaded = await upload_ok(sim, [jpeg_file(declared="application/octet-stream")])
    assert uploaded.infos["file"]["content_type"] == "image/jpeg"
    result = (await audit_for(csp, uploaded.tid))[0]
    assert result.headers["Authstatus"] == "0"


@pytest.mark.asyncio
async def test_thumbnail_contradicting_its_type_fails_audit(sim: Sim, csp: AuditCsp) -> None:
    uploaded = await upload_ok(sim, [jpeg_file(), png_thumbnail(data=GIF)])
    result = (await audit_for(csp, uploaded.tid))[0]
    assert result.headers["Authstatus"] == "1"
    assert "Thumbnail" in unquote(result.headers["Authdesc"])


@pytest.mark.asyncio
async def test_reject_policy_sends_its_reason(sim: Sim, csp: AuditCsp) -> None:
    policy = await control(sim, "PUT", "/_sim/audit", {"media": "reject", "reason": "画面含有二维码"})
    assert policy["media"] == "reject"
    uploaded = await upload_ok(sim, [jpeg_file()])
    result = (await audit_for(csp, uploaded.tid))[0]
    assert result.headers["Authstatus"] == "1"
    assert result.headers["Authdesc"] == quote("画面含有二维码", safe="")
    assert (await media_entry(sim, uploaded.tid))["reason"] == "画面含有二维码"


@pytest.mark.asyncio
async def test_hold_sends_nothing_until_settled_and_download_follows_approval(sim: Sim, csp: AuditCsp) -> None:
    await hold_media(sim)
    uploaded = await upload_ok(sim, [jpeg_file(), png_thumbnail()])
    await asyncio.sleep(0.2)
    assert csp.of(AUDIT) == []
    assert (await media_entry(sim, uploaded.tid))["state"] == "pending"
    assert (await download(sim, uploaded.url))[0] == 404
    assert (await download(sim, uploaded.thumbnail_url))[0] == 404

    settled = await control(sim, "POST", f"/_sim/media/{uploaded.tid}/audit", {"approved": True})
    assert settled["state"] == "approved"
    result = (await audit_for(csp, uploaded.tid))[0]
    assert result.headers["Authstatus"] == "0"
    assert result.auth_ok

    status, data, content_type = await download(sim, uploaded.url)
    assert (status, data) == (200, JPEG)
    assert content_type.startswith("image/jpeg")
    status, data, content_type = await download(sim, uploaded.thumbnail_url)
    assert (status, data) == (200, PNG)
    assert content_type.startswith("image/png")


@pytest.mark.asyncio
async def test_held_upload_rejected_by_hand_carries_the_given_reason(sim: Sim, csp: AuditCsp) -> None:
    await hold_media(sim)
    uploaded = await upload_ok(sim, [jpeg_file()])
    await control(sim, "POST", f"/_sim/media/{uploaded.tid}/audit", {"approved": False, "reason": "画面不清晰"})
    result = (await audit_for(csp, uploaded.tid))[0]
    assert result.headers["Authstatus"] == "1"
    assert unquote(result.headers["Authdesc"]) == "画面不清晰"
    # Re-audit: approving later tells the CSP again and makes the file usable.
    await control(sim, "POST", f"/_sim/media/{uploaded.tid}/audit", {"approved": True})
    results = await audit_for(csp, uploaded.tid, 2)
    assert [r.headers["Authstatus"] for r in results] == ["1", "0"]
    assert (await download(sim, uploaded.url))[0] == 200


@pytest.mark.asyncio
async def test_audit_result_is_retried_when_the_csp_fails(sim: Sim, csp: AuditCsp) -> None:
    csp.plan = [503]
    uploaded = await upload_ok(sim, [jpeg_file()])
    results = await audit_for(csp, uploaded.tid, 2)
    assert all(r.headers["Authstatus"] == "0" for r in results)
    entry = await media_entry(sim, uploaded.tid)
    assert entry["notifications"][0]["attempts"] == 2
    assert entry["notifications"][0]["ok"] is True


# ---------------------------------------------------------------- refusals at upload


@pytest.mark.asyncio
async def test_image_over_2_mib_is_413_and_at_the_limit_accepted(sim: Sim) -> None:
    at_limit = PNG + b"\x00" * (2 * MIB - len(PNG))
    status, body, _ = await upload(sim, [("File", "big.png", "image/png", at_limit)])
    assert status == 200, body
    status, body, _ = await upload(sim, [("File", "big.png", "image/png", at_limit + b"\x00")])
    assert status == 413
    assert error_of(body) == ("serviceException", "SVC0001", "File")


@pytest.mark.asyncio
@pytest.mark.parametrize(("signature", "limit"), [(MP3, 5 * MIB), (MP4, 10 * MIB)], ids=["audio-5MiB", "video-10MiB"])
async def test_audio_and_video_limits_are_413(sim: Sim, signature: bytes, limit: int) -> None:
    data = signature + b"\x00" * (limit + 1 - len(signature))
    status, body, _ = await upload(sim, [("File", "big", None, data)])
    assert status == 413
    assert error_of(body)[1:] == ("SVC0001", "File")


@pytest.mark.asyncio
async def test_thumbnail_over_200_kib_is_413(sim: Sim) -> None:
    status, body, _ = await upload(sim, [jpeg_file(), png_thumbnail(PNG + b"\x00" * (200 * 1024))])
    assert status == 413
    assert error_of(body)[1:] == ("SVC0001", "Thumbnail")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "data",
    [b"just some text", b"%PDF-1.4\n" + b"x" * 50, b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01matroska" + b"x" * 50, b""],
    ids=["text", "pdf", "mkv", "empty"],
)
async def test_unsupported_signature_is_415_whatever_the_declared_type(sim: Sim, csp: AuditCsp, data: bytes) -> None:
    status, body, _ = await upload(sim, [("File", "a.png", "image/png", data)])
    assert status == 415
    assert error_of(body) == ("serviceException", "SVC0001", "File")
    assert (await control(sim, "GET", "/_sim/media"))["media"] == []


@pytest.mark.asyncio
async def test_thumbnail_that_is_not_an_image_is_415(sim: Sim) -> None:
    status, body, _ = await upload(sim, [jpeg_file(), ("Thumbnail", "t.mp3", "audio/mpeg", MP3)])
    assert status == 415
    assert error_of(body)[1:] == ("SVC0001", "Thumbnail")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("data", "content_type", "extension"),
    [
        (GIF, "image/gif", "gif"),
        (AMR, "audio/amr", "amr"),
        (MP3, "audio/mpeg", "mp3"),
        (M4A, "audio/mp4", "m4a"),
        (MP4, "video/mp4", "mp4"),
        (WEBM, "video/webm", "webm"),
    ],
)
async def test_every_accepted_type_is_recognised_by_its_bytes(
    sim: Sim, csp: AuditCsp, data: bytes, content_type: str, extension: str
) -> None:
    # No declared type: the descriptor says what the bytes are.
    uploaded = await upload_ok(sim, [("File", f"a.{extension}", None, data)])
    assert uploaded.infos["file"]["content_type"] == content_type
    assert uploaded.url.endswith(f"FD.{extension}")
    assert (await audit_for(csp, uploaded.tid))[0].headers["Authstatus"] == "0"


@pytest.mark.asyncio
async def test_upload_needs_a_file_part(sim: Sim) -> None:
    status, body, _ = await upload(sim, [png_thumbnail()])
    assert status == 400
    assert error_of(body) == ("serviceException", "SVC0002", "File")


@pytest.mark.asyncio
async def test_upload_that_is_not_form_data_is_415(sim: Sim) -> None:
    status, body, _ = await upload(sim, [jpeg_file()], content_type="application/octet-stream")
    assert status == 415
    assert error_of(body)[1] == "SVC0001"


@pytest.mark.asyncio
async def test_missing_intended_identity_is_400(sim: Sim) -> None:
    status, body, _ = await upload(sim, [jpeg_file()], identity=None)
    assert status == 400
    assert error_of(body) == ("serviceException", "SVC0002", "X-3GPP-Intended-Identity")


@pytest.mark.asyncio
async def test_unknown_intended_identity_is_403(sim: Sim) -> None:
    status, body, _ = await upload(sim, [jpeg_file()], identity=bot_uri("125200400000000"))
    assert status == 403
    assert error_of(body)[:2] == ("policyException", "POL0002")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "change",
    [{"password": "wrong"}, {"app_id": OTHER_APP_ID, "password": OTHER_PASSWORD}, {"date": rfc1123(-3600)}],
    ids=["wrong-password", "other-chatbots-credentials", "stale-date"],
)
async def test_upload_auth_is_the_downlinks(sim: Sim, change: dict[str, str]) -> None:
    status, body, headers = await upload(sim, [jpeg_file()], **change)
    assert status == 401
    assert error_of(body)[:2] == ("policyException", "POL0001")
    assert "Basic" in headers.get("WWW-Authenticate", "")


# ---------------------------------------------------------------- delete and download


async def delete(sim: Sim, tid: str | None, **kwargs: Any) -> tuple[int, bytes]:
    headers = file_server_headers(identity=kwargs.pop("identity", bot_uri()), **kwargs)
    if tid is not None:
        headers["tid"] = tid
    async with sim.session.delete(sim.base_url + "/Content", headers=headers) as response:
        return response.status, await response.read()


@pytest.mark.asyncio
async def test_delete_removes_the_file(sim: Sim, csp: AuditCsp) -> None:
    uploaded = await upload_ok(sim, [jpeg_file(), png_thumbnail()])
    await audit_for(csp, uploaded.tid)
    assert (await download(sim, uploaded.url))[0] == 200
    # Someone else's tid is unknown to this chatbot.
    status, _ = await delete(
        sim, uploaded.tid, identity=bot_uri(OTHER_BOT_ID), app_id=OTHER_APP_ID, password=OTHER_PASSWORD
    )
    assert status == 404
    status, _ = await delete(sim, uploaded.tid)
    assert status == 200
    assert (await media_entry(sim, uploaded.tid))["state"] == "deleted"
    assert (await download(sim, uploaded.url))[0] == 404
    assert (await download(sim, uploaded.thumbnail_url))[0] == 404
    status, body = await delete(sim, uploaded.tid)
    assert status == 404
    assert error_of(body)[1:] == ("SVC0002", uploaded.tid)
    status, body, _ = await sim.send(outbound_xml(content_type=FT_XML, body=ft_xml(uploaded.url), cdata=True))
    assert status == 400
    assert error_of(body)[1:] == ("SVC0006", uploaded.url)


@pytest.mark.asyncio
async def test_delete_needs_a_tid_and_auth(sim: Sim) -> None:
    status, body = await delete(sim, None)
    assert status == 400
    assert error_of(body)[1:] == ("SVC0002", "tid")
    status, _ = await delete(sim, str(uuid.uuid4()))
    assert status == 404
    status, _ = await delete(sim, str(uuid.uuid4()), password="wrong")
    assert status == 401


@pytest.mark.asyncio
async def test_download_of_a_url_never_issued_is_404(sim: Sim) -> None:
    assert (await download(sim, f"{sim.base_url}/s/{uuid.uuid4()}FD.jpg"))[0] == 404


# ---------------------------------------------------------------- downlinks naming issued URLs


@pytest.mark.asyncio
async def test_downlink_naming_a_pending_url_is_refused_and_accepted_once_approved(sim: Sim, csp: AuditCsp) -> None:
    await hold_media(sim)
    uploaded = await upload_ok(sim, [jpeg_file(), png_thumbnail()])
    file_send = outbound_xml(content_type=FT_XML, body=ft_xml(uploaded.url, uploaded.thumbnail_url), cdata=True)
    card_send = outbound_xml(content_type=BOTMESSAGE, body=card_with_media(uploaded.url), cdata=True)
    for xml in (file_send, card_send):
        status, body, _ = await sim.send(xml)
        assert status == 400
        assert error_of(body) == ("serviceException", "SVC0006", uploaded.url)
    # Only the thumbnail named: still the simulator's own URL, still refused.
    thumbnail_only = outbound_xml(
        content_type=FT_XML, body=ft_xml("https://files.example.com/own.jpg", uploaded.thumbnail_url), cdata=True
    )
    status, body, _ = await sim.send(thumbnail_only)
    assert status == 400
    assert error_of(body)[2] == uploaded.thumbnail_url

    await control(sim, "POST", f"/_sim/media/{uploaded.tid}/audit", {"approved": True})
    for xml in (file_send, card_send):
        status, body, _ = await sim.send(xml)
        assert status == 201, body
    await csp.wait_for(DELIVERY, 2, timeout=WAIT)
    entries = await inbox(sim)
    assert any(e["file"] and e["file"]["file"]["url"] == uploaded.url for e in entries)
    assert any(
        e["card"] and e["card"]["message"]["generalPurposeCard"]["content"]["media"]["mediaUrl"] == uploaded.url
        for e in entries
    )


@pytest.mark.asyncio
async def test_urls_the_simulator_did_not_issue_are_not_checked(sim: Sim) -> None:
    await hold_media(sim)
    await upload_ok(sim, [jpeg_file()])
    status, body, _ = await sim.send(
        outbound_xml(content_type=FT_XML, body=ft_xml("https://gz01ft.sbc.rcs.chinamobile.com/s/1FD.jpg"), cdata=True)
    )
    assert status == 201, body


@pytest.mark.asyncio
async def test_rejected_url_is_refused_in_a_downlink(sim: Sim, csp: AuditCsp) -> None:
    uploaded = await upload_ok(sim, [jpeg_file(declared="image/gif")])
    assert (await audit_for(csp, uploaded.tid))[0].headers["Authstatus"] == "1"
    status, body, _ = await sim.send(outbound_xml(content_type=FT_XML, body=ft_xml(uploaded.url), cdata=True))
    assert status == 400
    assert error_of(body)[1:] == ("SVC0006", uploaded.url)


@pytest.mark.asyncio
async def test_expired_url_is_refused_and_no_longer_downloadable(sim: Sim, csp: AuditCsp) -> None:
    uploaded = await upload_ok(sim, [jpeg_file()])
    await audit_for(csp, uploaded.tid)
    send = outbound_xml(content_type=FT_XML, body=ft_xml(uploaded.url), cdata=True)
    assert (await sim.send(send))[0] == 201
    expired = await control(sim, "POST", f"/_sim/media/{uploaded.tid}/expire")
    assert expired["state"] == "expired"
    assert until_epoch(expired["until"]) < time.time()
    status, body, _ = await sim.send(send)
    assert status == 400
    assert error_of(body)[1:] == ("SVC0006", uploaded.url)
    assert (await download(sim, uploaded.url))[0] == 404
    status, _ = await sim.control("POST", f"/_sim/media/{uploaded.tid}/audit", {"approved": True})
    assert status == 409


@pytest.mark.asyncio
async def test_until_passing_expires_the_upload(sim: Sim, csp: AuditCsp) -> None:
    await control(sim, "PUT", "/_sim/audit", {"ttl_seconds": 1.0, "delay_seconds": 0})
    uploaded = await upload_ok(sim, [jpeg_file()])
    await audit_for(csp, uploaded.tid)
    deadline = time.monotonic() + WAIT
    while (await media_entry(sim, uploaded.tid))["state"] != "expired":
        assert time.monotonic() < deadline, "the upload never expired"
        await asyncio.sleep(0.05)
    status, body, _ = await sim.send(outbound_xml(content_type=FT_XML, body=ft_xml(uploaded.url), cdata=True))
    assert status == 400
    assert error_of(body)[1:] == ("SVC0006", uploaded.url)


@pytest.mark.asyncio
async def test_another_chatbots_approved_url_is_refused(sim: Sim, csp: AuditCsp) -> None:
    uploaded = await upload_ok(sim, [jpeg_file()])
    await audit_for(csp, uploaded.tid)
    xml = outbound_xml(content_type=FT_XML, body=ft_xml(uploaded.url), cdata=True, sender=bot_uri(OTHER_BOT_ID))
    status, body, _ = await sim.send(xml, chatbot=OTHER_BOT_ID, app_id=OTHER_APP_ID, password=OTHER_PASSWORD)
    assert status == 400
    assert error_of(body)[1:] == ("SVC0006", uploaded.url)


# ---------------------------------------------------------------- templates


@pytest.mark.asyncio
async def test_template_approved_then_static_template_send_delivers_its_body(sim: Sim, csp: AuditCsp) -> None:
    card = card_with_media("https://files.example.com/banner.jpg")
    template_id = await template_ok(sim, {"templateName": "welcome", "contentType": BOTMESSAGE, "bodyText": card})
    result = (await template_results(csp, template_id))[0]
    assert result == {"templateID": template_id, "status": "approved"}
    received = csp.of(TEMPLATE_AUDIT)[0]
    assert received.chatbot_id == BOT_ID
    assert received.auth_ok
    assert received.headers["Content-Type"].startswith("application/json")

    listing = await control(sim, "GET", f"/_sim/templates?chatbot_id={BOT_ID}")
    assert [(t["id"], t["name"], t["state"], t["body"]) for t in listing["templates"]] == [
        (template_id, "welcome", "approved", card)
    ]

    status, body, _ = await sim.send(static_template(template_id))
    assert status == 201, body
    await csp.wait_for(DELIVERY, 1, timeout=WAIT)
    entry = (await inbox(sim))[0]
    assert entry["template_id"] == template_id
    assert entry["content_type"] == BOTMESSAGE
    assert entry["card"] == json.loads(card)


@pytest.mark.asyncio
async def test_text_template_via_url_encoded_chatbot_uri(sim: Sim, csp: AuditCsp) -> None:
    status, body = await submit_template(sim, text_template("您好,欢迎光临"), encoded=True)
    assert status == 200, body
    template_id = json.loads(body)["templateID"]
    assert (await template_results(csp, template_id))[0]["status"] == "approved"
    assert (await sim.send(static_template(template_id)))[0] == 201
    await csp.wait_for(DELIVERY, 1, timeout=WAIT)
    assert (await inbox(sim))[0]["text"] == "您好,欢迎光临"


@pytest.mark.asyncio
async def test_unknown_template_id_is_refused(sim: Sim) -> None:
    status, body, _ = await sim.send(static_template("no-such-template"))
    assert status == 400
    assert error_of(body) == ("serviceException", "SVC0007", "no-such-template")


@pytest.mark.asyncio
async def test_forbidden_word_template_is_rejected_and_cannot_be_sent(sim: Sim, csp: AuditCsp) -> None:
    template_id = await template_ok(sim, text_template("这里有违禁内容"))
    result = (await template_results(csp, template_id))[0]
    assert result["status"] == "rejected"
    assert "违禁" in result["reason"]
    status, body, _ = await sim.send(static_template(template_id))
    assert status == 400
    assert error_of(body)[1:] == ("SVC0007", template_id)


@pytest.mark.asyncio
async def test_pending_template_is_refused_until_settled(sim: Sim, csp: AuditCsp) -> None:
    await control(sim, "PUT", "/_sim/audit", {"templates": "hold", "delay_seconds": 0})
    template_id = await template_ok(sim, text_template())
    status, body, _ = await sim.send(static_template(template_id))
    assert status == 400
    assert error_of(body)[1:] == ("SVC0007", template_id)
    assert csp.of(TEMPLATE_AUDIT) == []
    settled = await control(sim, "POST", f"/_sim/templates/{template_id}/audit", {"approved": True})
    assert settled["state"] == "approved"
    assert (await template_results(csp, template_id))[0]["status"] == "approved"
    assert (await sim.send(static_template(template_id)))[0] == 201


@pytest.mark.asyncio
async def test_another_chatbots_template_is_unknown(sim: Sim, csp: AuditCsp) -> None:
    template_id = await template_ok(sim, text_template())
    await template_results(csp, template_id)
    xml = outbound_xml(
        content_type="static-template",
        body=json.dumps({"templateID": template_id}),
        cdata=True,
        sender=bot_uri(OTHER_BOT_ID),
    )
    status, body, _ = await sim.send(xml, chatbot=OTHER_BOT_ID, app_id=OTHER_APP_ID, password=OTHER_PASSWORD)
    assert status == 400
    assert error_of(body)[1:] == ("SVC0007", template_id)


@pytest.mark.asyncio
async def test_template_naming_a_pending_upload_cannot_be_sent_until_the_upload_is_approved(
    sim: Sim, csp: AuditCsp
) -> None:
    await hold_media(sim)
    uploaded = await upload_ok(sim, [jpeg_file()])
    card = card_with_media(uploaded.url)
    template_id = await template_ok(sim, {"templateName": "cat", "contentType": BOTMESSAGE, "bodyText": card})
    await template_results(csp, template_id)
    status, body, _ = await sim.send(static_template(template_id))
    assert status == 400
    assert error_of(body)[1:] == ("SVC0006", uploaded.url)
    await control(sim, "POST", f"/_sim/media/{uploaded.tid}/audit", {"approved": True})
    assert (await sim.send(static_template(template_id)))[0] == 201


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("payload", "variables"),
    [
        ({"contentType": "text/plain", "bodyText": "x"}, "templateName"),
        ({"templateName": "n", "contentType": "image/png", "bodyText": "x"}, "contentType"),
        ({"templateName": "n", "contentType": "text/plain"}, "bodyText"),
        ({"templateName": "n", "contentType": BOTMESSAGE, "bodyText": "{}"}, "$"),
        # The contract names text/plain, botmessage and multipart/mixed (a card with chips) only.
        ({"templateName": "n", "contentType": 'multipart/related; boundary="next"', "bodyText": "x"}, "contentType"),
    ],
    ids=["no-name", "bad-content-type", "no-body", "bad-card", "multipart"],
)
async def test_malformed_template_is_400(sim: Sim, payload: dict[str, Any], variables: str) -> None:
    status, body = await submit_template(sim, payload)
    assert status == 400
    assert error_of(body) == ("serviceException", "SVC0002", variables)


@pytest.mark.asyncio
async def test_template_submission_needs_auth_and_json(sim: Sim) -> None:
    status, body = await submit_template(sim, text_template(), password="wrong")
    assert status == 401
    assert error_of(body)[1] == "POL0001"
    status, body = await submit_template(sim, text_template(), content_type="text/plain")
    assert status == 415
    status, body = await submit_template(sim, text_template(), chatbot="125200400000000")
    assert status == 401


# ---------------------------------------------------------------- control API


@pytest.mark.asyncio
async def test_audit_policy_get_put_and_validation(sim: Sim) -> None:
    policy = await control(sim, "GET", "/_sim/audit")
    assert policy == {
        "media": "approve",
        "templates": "approve",
        "delay_seconds": 0.2,
        "reason": "审核未通过",
        "ttl_seconds": 30 * 86400.0,
    }
    for bad in ({"media": "maybe"}, {"delay_seconds": -1}, {"colour": "red"}, {"reason": ""}):
        status, answer = await sim.control("PUT", "/_sim/audit", bad)
        assert status == 400, bad
        assert "error" in answer
    assert await control(sim, "GET", "/_sim/audit") == policy


@pytest.mark.asyncio
async def test_manual_audit_validation(sim: Sim) -> None:
    await hold_media(sim)
    uploaded = await upload_ok(sim, [jpeg_file()])
    status, _ = await sim.control("POST", f"/_sim/media/{uploaded.tid}/audit", {"approved": "yes"})
    assert status == 400
    status, _ = await sim.control("POST", "/_sim/media/nope/audit", {"approved": True})
    assert status == 404
    status, _ = await sim.control("POST", "/_sim/templates/nope/audit", {"approved": True})
    assert status == 404


@pytest.mark.asyncio
async def test_reset_with_media_clears_uploads_templates_and_policy(sim: Sim, csp: AuditCsp) -> None:
    await hold_media(sim)
    uploaded = await upload_ok(sim, [jpeg_file()])
    await template_ok(sim, text_template())
    # A plain reset keeps material and policy.
    await control(sim, "POST", "/_sim/reset", {})
    assert len((await control(sim, "GET", "/_sim/media"))["media"]) == 1
    assert (await control(sim, "GET", "/_sim/audit"))["media"] == "hold"
    await control(sim, "POST", "/_sim/reset", {"media": True})
    assert (await control(sim, "GET", "/_sim/media"))["media"] == []
    assert (await control(sim, "GET", "/_sim/templates"))["templates"] == []
    assert (await control(sim, "GET", "/_sim/audit"))["media"] == "approve"
    # The forgotten URL is no longer the simulator's: not checked.
    status, body, _ = await sim.send(outbound_xml(content_type=FT_XML, body=ft_xml(uploaded.url), cdata=True))
    assert status == 201, body


@pytest.mark.asyncio
async def test_media_listing_filters_by_chatbot(sim: Sim) -> None:
    mine = await upload_ok(sim, [jpeg_file()])
    other = await upload_ok(
        sim, [jpeg_file()], identity=bot_uri(OTHER_BOT_ID), app_id=OTHER_APP_ID, password=OTHER_PASSWORD
    )
    listing = await control(sim, "GET", f"/_sim/media?chatbot_id={OTHER_BOT_ID}")
    assert [m["id"] for m in listing["media"]] == [other.tid]
    assert mine.tid != other.tid


@pytest.mark.asyncio
async def test_settings_change_limits_and_default_policy(make_sim: SimFactory, csp: AuditCsp) -> None:
    sim = await make_sim(media_image_max_bytes=len(JPEG) - 1, media_audit="reject", audit_delay_seconds=0.0)
    status, body, _ = await upload(sim, [jpeg_file()])
    assert status == 413, body
    uploaded = await upload_ok(sim, [("File", "a.gif", "image/gif", GIF)])
    assert (await audit_for(csp, uploaded.tid))[0].headers["Authstatus"] == "1"
