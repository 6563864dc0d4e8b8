"""Hand-built aggregator wire data for the simulator tests: signatures, bodies, a push receiver.

An independent second reading of docs/protocol-choices.md ("Third-party aggregator") and
protocols.md §3.6: nothing here imports the simulator's wire helpers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
from aiohttp import web

APPID = "agg-app-1"
APPKEY = "k3y-of-app-1"
OTHER_APPID = "agg-app-2"
OTHER_APPKEY = "k3y-of-app-2"
BOT = "agg-bot-1"
OTHER_BOT = "agg-bot-2"  # belongs to OTHER_APPID
CMCC_USER = "13800000001"
CTCC_USER = "18900000002"
CUCC_USER = "13000000003"

TEXT = "text/plain"
BOTMESSAGE = "application/vnd.gsma.botmessage.v1.0+json"
BOTSUGGESTION = "application/vnd.gsma.botsuggestion.v1.0+json"
FILE = "application/vnd.gsma.rcs-ft-http"
BEIJING = timezone(timedelta(hours=8))


def request_sign(appid: str, appkey: str, timestamp: str, body: bytes) -> str:
    """choices: X-Signature = hex(sha256(appid + appkey + timestamp + raw_body))."""
    return hashlib.sha256(appid.encode() + appkey.encode() + timestamp.encode() + body).hexdigest()


def push_sign(appkey: str, timestamp: str, body: bytes) -> str:
    """choices: pushes carry X-Signature = hex(sha256(appkey + timestamp + raw_body))."""
    return hashlib.sha256(appkey.encode() + timestamp.encode() + body).hexdigest()


def parse_beijing(text: str) -> float:
    """Parse "yyyy-MM-dd HH:mm:ss" as UTC+8 into epoch seconds; any other shape fails."""
    assert len(text) == 19, text
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING).timestamp()


def text_item(text: str = "你好, chatbot") -> dict[str, Any]:
    return {"contentType": TEXT, "contentEncoding": "utf8", "contentText": text}


def reply(text: str = "Yes", data: str = "yes") -> dict[str, Any]:
    return {"reply": {"displayText": text, "postback": {"data": data}}}


def chips_item(*suggestions: dict[str, Any]) -> dict[str, Any]:
    return {"contentType": BOTSUGGESTION, "contentEncoding": "utf8", "contentText": {"suggestions": list(suggestions)}}


def card(title: str = "Card", suggestions: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    content: dict[str, Any] = {"title": title, "description": "A description", **extra}
    if suggestions is not None:
        content["suggestions"] = suggestions
    return content


def single_card_doc(content: dict[str, Any]) -> dict[str, Any]:
    return {"message": {"generalPurposeCard": {"layout": {"cardOrientation": "VERTICAL"}, "content": content}}}


def carousel_doc(count: int) -> dict[str, Any]:
    cards = [card(f"Card {i}") for i in range(count)]
    return {"message": {"generalPurposeCardCarousel": {"layout": {"cardWidth": "MEDIUM_WIDTH"}, "content": cards}}}


def card_item(doc: dict[str, Any]) -> dict[str, Any]:
    return {"contentType": BOTMESSAGE, "contentEncoding": "utf8", "contentText": doc}


def media(size: Any = 178887) -> dict[str, Any]:
    return {
        "mediaUrl": "https://maaptest.189.cn/maap_message/x.jpg",
        "mediaContentType": "image/jpg",
        "mediaFileSize": size,
        "height": "MEDIUM_HEIGHT",
    }


def file_entry(kind: str = "file", **extra: Any) -> dict[str, Any]:
    entry = {
        "type": kind,
        "fileSize": "178887",
        "fileName": "DSC_379395051.JPG",
        "contentType": "image/jpeg",
        "url": f"https://httpserver01.ct5g.cn:10001/s/{kind}.jpg",
        "until": "2021-11-25T12:17:07Z",
    }
    entry.update(extra)
    return entry


def file_item(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"contentType": FILE, "contentEncoding": "utf8", "contentText": list(entries)}


def send_body(
    to: list[Any] | None = None,
    items: list[dict[str, Any]] | None = None,
    *,
    chatbot: str = BOT,
    sms: str | None = None,
    client_ref: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "chatbot": chatbot,
        "to": to if to is not None else [CMCC_USER],
        "messageList": items if items is not None else [text_item()],
    }
    if sms is not None:
        body["sms"] = {"content": sms}
    if client_ref is not None:
        body["client_ref"] = client_ref
    body.update(extra)
    return body


# --- media upload (choices "Media (素材) upload and audit", Aggregator) ---------------------------

BOUNDARY = "agg-test-boundary-7f3a"
# Enough of each format for a sniffing audit: the real leading signature, then filler.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(255, -1, -1)) * 8
GIF = b"GIF89a\x01\x00\x01\x00" + b"\x00" * 64
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64

FormPart = tuple[str, str | None, str | None, bytes]


def form_data(parts: list[FormPart], boundary: str = BOUNDARY) -> bytes:
    """RFC 7578 by hand: one (name, filename, content type, bytes) per part, CRLF line ends."""
    out = b""
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if content_type is not None:
            head += f"Content-Type: {content_type}\r\n"
        out += head.encode() + b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def upload_parts(
    data: bytes = PNG,
    content_type: str | None = "image/png",
    filename: str | None = "banner.png",
    *,
    chatbot: str | None = BOT,
    thumbnail: tuple[str, str, bytes] | None = None,
) -> list[FormPart]:
    """chatbot (text), file and an optional thumbnail given as (filename, content type, bytes)."""
    parts: list[FormPart] = []
    if chatbot is not None:
        parts.append(("chatbot", None, None, chatbot.encode()))
    parts.append(("file", filename, content_type, data))
    if thumbnail is not None:
        parts.append(("thumbnail", *thumbnail))
    return parts


def parse_expired(text: str) -> float:
    """§3.6 `expired` "2024-04-10T11:45:33Z" into epoch seconds; any other shape fails."""
    assert len(text) == 20, text
    assert text.endswith("Z"), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone(timedelta(0))).timestamp()


@dataclass
class Pushed:
    path: str
    headers: dict[str, str]
    body: bytes
    sig_ok: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event(self) -> str | None:
        data = self.json
        return data.get("event") if isinstance(data, dict) else None


@dataclass
class PushReceiver:
    """The customer's webhook: records every push and checks its signature against the keys."""

    base_url: str = ""
    received: list[Pushed] = field(default_factory=list)
    # Statuses to answer with, consumed one per request; 200 when empty.
    plan: list[int] = field(default_factory=list)
    # push path name -> appkey the signature is checked with.
    keys: dict[str, str] = field(default_factory=dict)
    _event: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, name: str) -> str:
        return f"{self.base_url}/push/{name}"

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.read()
        headers = dict(request.headers)
        timestamp = headers.get("X-Timestamp", "")
        ok = (
            timestamp.isdigit()
            and abs(time.time() - int(timestamp)) < 60
            and headers.get("X-Signature") == push_sign(self.keys.get(name, ""), timestamp, body)
        )
        self.received.append(Pushed(name, headers, body, ok))
        self._event.set()
        status = self.plan.pop(0) if self.plan else 200
        return web.json_response({"ok": status < 300}, status=status)

    def matching(self, predicate: Callable[[Pushed], bool]) -> list[Pushed]:
        return [p for p in self.received if predicate(p)]

    def events(self, event: str | None = "Message") -> list[Pushed]:
        return self.matching(lambda p: p.event == event)

    def mo(self) -> list[Pushed]:
        return self.matching(lambda p: isinstance(p.json, dict) and "rcsReplyForwards" in p.json)

    async def wait(self, predicate: Callable[[Pushed], bool], count: int, timeout: float = 3.0) -> list[Pushed]:
        deadline = time.monotonic() + timeout
        while len(found := self.matching(predicate)) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"expected {count} pushes, got {len(found)}: {[p.body for p in self.received]}")
            self._event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), remaining)
        return found

    async def wait_events(self, count: int, event: str = "Message", timeout: float = 3.0) -> list[Pushed]:
        return await self.wait(lambda p: p.event == event, count, timeout)


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        data = self.json
        return data.get("code") if data.get("status") == "error" else None


@dataclass
class AggClient:
    """Signs and sends customer requests by hand, and drives the control API."""

    base_url: str
    session: aiohttp.ClientSession
    app: Any

    async def call(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        raw: bytes | None = None,
        appid: str | None = APPID,
        appkey: str = APPKEY,
        timestamp: str | None = None,
        signature: str | None = None,
        sign_body: bytes | None = None,
        content_type: str | None = "application/json",
        query: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Answer:
        if raw is None:
            raw = json.dumps(payload, ensure_ascii=False).encode() if payload is not None else b""
        body = raw
        ts = timestamp if timestamp is not None else str(int(time.time()))
        headers: dict[str, str] = {"X-Timestamp": ts}
        if appid is not None:
            headers["X-Appid"] = appid
            headers["X-Signature"] = request_sign(appid, appkey, ts, sign_body if sign_body is not None else body)
        if signature is not None:
            headers["X-Signature"] = signature
        if content_type is not None and body:
            headers["Content-Type"] = content_type
        client_timeout = aiohttp.ClientTimeout(total=timeout) if timeout else None
        async with self.session.request(
            method, self.base_url + path, data=body, headers=headers, params=query, timeout=client_timeout
        ) as response:
            return Answer(response.status, await response.read(), dict(response.headers))

    async def send(self, payload: Any, **kwargs: Any) -> Answer:
        return await self.call("POST", "/rcs/send", payload, **kwargs)

    async def send_ok(self, payload: Any, **kwargs: Any) -> list[dict[str, str]]:
        answer = await self.send(payload, **kwargs)
        assert answer.status == 200, answer.body
        data = answer.json
        assert data["status"] == "success", data
        send_list: list[dict[str, str]] = data["send_list"]
        return send_list

    async def capability(self, to: str, chatbot: str = BOT, **kwargs: Any) -> Answer:
        return await self.call("GET", "/rcs/capability", query={"chatbot": chatbot, "to": to}, **kwargs)

    async def revoke(self, send_id: str, **kwargs: Any) -> Answer:
        return await self.call("POST", "/rcs/revoke", {"sendID": send_id}, **kwargs)

    async def upload(self, parts: list[FormPart], *, boundary: str = BOUNDARY, **kwargs: Any) -> Answer:
        """POST /rcs/media; the signature covers the raw multipart body (choices)."""
        body = form_data(parts, boundary)
        return await self.call(
            "POST", "/rcs/media", raw=body, content_type=f"multipart/form-data; boundary={boundary}", **kwargs
        )

    async def template(self, payload: Any, **kwargs: Any) -> Answer:
        return await self.call("POST", "/rcs/template", payload, **kwargs)

    async def download(self, url: str) -> tuple[int, bytes, str]:
        """GET of an issued URL: (status, bytes, Content-Type)."""
        async with self.session.get(url) as response:
            return response.status, await response.read(), response.headers.get("Content-Type", "")

    async def control(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.base_url + path, json=payload) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()
