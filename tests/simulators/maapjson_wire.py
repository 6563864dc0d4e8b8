"""Hand-built CT/CU "Chatbot 接口" wire data and a CSP receiver for the JSON MaaP simulator tests.

An independent second reading of protocols.md §3.3 and docs/protocol-choices.md: requests, token
headers and notification signatures are built and checked here by hand, never with the simulator's
own helpers.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import json
import re
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import uvicorn
from aiohttp import web
from yarl import URL

DOMAINS = {"ctcc": "botplatform.rcs.vnet.cn", "cucc": "botplatform.rcs.chinaunicom.cn"}

BOT_ID = "106598858810000006"
APP_ID = "xSnu0001"
APP_KEY = "app-key-0001"
NOTIFY_TOKEN = "devtoken0001"
OTHER_BOT_ID = "12580012011402"
OTHER_APP_ID = "xSnu0002"
OTHER_APP_KEY = "app-key-0002"
OTHER_TOKEN = "devtoken0002"
TOKENS = {BOT_ID: NOTIFY_TOKEN, OTHER_BOT_ID: OTHER_TOKEN}
APP_IDS = {BOT_ID: APP_ID, OTHER_BOT_ID: OTHER_APP_ID}
USER = "+8615300000001"
USER2 = "+8615300000002"

BOTMESSAGE = "application/vnd.gsma.botmessage.v1.0+json"
BOTSUGGESTION = "application/vnd.gsma.botsuggestion.v1.0+json"
SUGGESTION_RESPONSE = "application/vnd.gsma.botsuggestion.response.v1.0+json"
SHARED_DATA = "application/vnd.gsma.botsharedclientdata.v1.0+json"
FT = "application/vnd.gsma.rcs-ft-http"


def bot_uri(dialect: str, chatbot_id: str = BOT_ID) -> str:
    return f"sip:{chatbot_id}@{DOMAINS[dialect]}"


def gmt_date() -> str:
    return email.utils.formatdate(time.time(), usegmt=True)


def expected_signature(token: str, timestamp: str, nonce: str) -> str:
    """choices.md by hand: hex(sha256(the three values sorted, joined with nothing))."""
    joined = "".join(sorted([token, timestamp, nonce]))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def signature_ok(headers: dict[str, str], token: str) -> bool:
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp, nonce, signature = lowered.get("timestamp"), lowered.get("nonce"), lowered.get("signature")
    if not timestamp or not nonce or not signature:
        return False
    if not timestamp.isdigit() or abs(int(timestamp) - time.time() * 1000) > 300_000:
        return False
    if not re.fullmatch(r"[A-Za-z0-9]+", nonce):
        return False
    return signature == expected_signature(token, timestamp, nonce)


def text_item(text: str = "你好chatbot,下行文本消息") -> dict[str, Any]:
    return {"contentType": "text/plain", "contentEncoding": "utf8", "contentText": text}


def reply(text: str = "点击回复", data: str = "set_by_chatbot_reply_no") -> dict[str, Any]:
    return {"reply": {"displayText": text, "postback": {"data": data}}}


def chips_item(*suggestions: dict[str, Any]) -> dict[str, Any]:
    return {"contentType": BOTSUGGESTION, "contentText": {"suggestions": list(suggestions or [reply()])}}


def media() -> dict[str, Any]:
    return {
        "mediaUrl": "https://maaptest.189.cn/maap_message/bot/perm/4,04a014d5db9b.jpg",
        "mediaContentType": "image/jpg",
        "mediaFileSize": 178887,
        "height": "MEDIUM_HEIGHT",
    }


def card_content(title: str = "This is a single rich card.", **extra: Any) -> dict[str, Any]:
    return {"title": title, "description": "This is the description of the rich card.", **extra}


def card_item(content: dict[str, Any] | None = None) -> dict[str, Any]:
    layout = {"cardOrientation": "VERTICAL"}
    card = {"generalPurposeCard": {"layout": layout, "content": content or card_content(media=media())}}
    return {"contentType": BOTMESSAGE, "contentEncoding": "utf8", "contentText": {"message": card}}


def carousel_item(count: int, width: str = "MEDIUM_WIDTH") -> dict[str, Any]:
    cards = [card_content(f"Card {i}") for i in range(count)]
    message = {"generalPurposeCardCarousel": {"layout": {"cardWidth": width}, "content": cards}}
    return {"contentType": BOTMESSAGE, "contentEncoding": "utf8", "contentText": {"message": message}}


def file_item(entries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    default = [
        {
            "type": "file",
            "fileSize": "178887",
            "fileName": "DSC_379395051.JPG",
            "contentType": "image/jpeg",
            "url": "https://maaptest.189.cn/maap_message/temp/DSC_379395051.JPG",
            "until": "2031-11-25T12:17:07Z",
        },
        {
            "type": "thumbnail",
            "fileSize": 9216,
            "contentType": "image/jpeg",
            "url": "https://maaptest.189.cn/maap_message/temp/thumb.jpg",
            "until": "2031-11-25T12:17:07Z",
        },
    ]
    return {"contentType": FT, "contentEncoding": "utf8", "contentText": entries if entries is not None else default}


def send_body(
    dialect: str,
    *,
    message_id: str | None = None,
    items: list[dict[str, Any]] | None = None,
    destinations: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """§3.3.2 send body as the TestBjdx harness builds it."""
    body: dict[str, Any] = {
        "messageId": message_id or str(uuid.uuid4()),
        "messageList": items if items is not None else [text_item()],
        "destinationAddress": destinations if destinations is not None else [f"tel:{USER}"],
        "senderAddress": bot_uri(dialect),
        "conversationId": str(uuid.uuid4()),
        "contributionId": str(uuid.uuid4()),
        "serviceCapability": [{"capabilityId": "ChatbotSA", "version": '+g.gsma.rcs.botversion="#=1"'}],
    }
    body.update(extra)
    return body


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def info(self) -> dict[str, Any]:
        """The one deliveryInfo of a status report."""
        infos = self.json()["deliveryInfoList"]
        assert len(infos) == 1, infos
        return dict(infos[0])


@dataclass
class CspReceiver:
    """A tiny CSP on aiohttp: records every call, checks signatures, answers the notifyPath handshake."""

    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    # HTTP statuses to answer notifications with, consumed one per request; 200 when empty.
    plan: list[int] = field(default_factory=list)
    # notifyPath behaviour: "ok", "wrong_echo", "no_app_id", "wrong_app_id", "json_body", or an HTTP status.
    handshake: str | int = "ok"
    _event: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def root(self) -> str:
        return self.base_url + "/csp"

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path.removeprefix("/csp")
        headers = dict(request.headers)
        parts = path.split("/")
        chatbot_id = request.headers.get("chatbotId") or (parts[2] if len(parts) > 2 else "")
        token = TOKENS.get(chatbot_id, "")
        self.received.append(
            Received(request.method, path, headers, await request.read(), signature_ok(headers, token))
        )
        self._event.set()
        if path == "/notifyPath":
            return self._handshake(headers, chatbot_id)
        status = self.plan.pop(0) if self.plan else 200
        return web.Response(status=status, text='{"errorCode":0}', content_type="application/json")

    def _handshake(self, headers: dict[str, str], chatbot_id: str) -> web.Response:
        echo = next((v for k, v in headers.items() if k.lower() == "echostr"), "")
        app_id = APP_IDS.get(chatbot_id, "")
        mode = self.handshake
        if isinstance(mode, int):
            return web.Response(status=mode)
        out = {"echoStr": echo, "appId": app_id}
        if mode == "wrong_echo":
            out["echoStr"] = echo + "x"
        elif mode == "no_app_id":
            del out["appId"]
        elif mode == "wrong_app_id":
            out["appId"] = "someone-else"
        elif mode == "json_body":
            return web.json_response(out)
        return web.Response(status=200, headers=out)

    def at(self, suffix: str) -> list[Received]:
        return [r for r in self.received if r.path.endswith(suffix)]

    def statuses(self) -> list[Received]:
        return self.at("/status")

    def status_names(self) -> list[str]:
        return [r.info["status"] for r in self.statuses()]

    async def wait_for(self, suffix: str, count: int, timeout: float = 3.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.at(suffix)) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"expected {count} calls to *{suffix}, got {[r.path for r in self.received]}")
            self._event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), remaining)
        return self.at(suffix)


def bound_socket() -> socket.socket:
    # IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted sockets (no 40 ms delayed-ACK stalls).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class PromptServer(uvicorn.Server):
    """uvicorn.Server whose main loop ends as soon as asked (the stock one polls every 100 ms)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stop_event = asyncio.Event()

    async def main_loop(self) -> None:
        await self.stop_event.wait()


@dataclass
class Carrier:
    """A running simulator plus a hand-rolled client for its chatbot API."""

    dialect: str
    base_url: str
    session: aiohttp.ClientSession
    app: Any

    def url(self, action: str, chatbot_id: str = BOT_ID, *, encoded: bool = False, uri: str | None = None) -> URL:
        shown = uri if uri is not None else bot_uri(self.dialect, chatbot_id)
        if encoded:
            shown = quote(shown, safe="")
        return URL(f"{self.base_url}/bot/v1/{shown}/{action}", encoded=True)

    @staticmethod
    def headers(authorization: str | None = None, **overrides: str | None) -> dict[str, str]:
        """§3.3.1 / §3.3.2 request headers; pass a header as None to leave it out."""
        base: dict[str, str | None] = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Date": gmt_date(),
            "Authorization": authorization,
        }
        base.update({k.replace("_", "-"): v for k, v in overrides.items()})
        return {k: v for k, v in base.items() if v is not None}

    async def raw(
        self, url: URL, body: bytes, headers: dict[str, str], *, timeout: float | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        client_timeout = aiohttp.ClientTimeout(total=timeout) if timeout else aiohttp.ClientTimeout(total=10)
        # skip_auto_headers: a "missing Content-Type/Accept" test must really send none.
        async with self.session.post(
            url, data=body, headers=headers, timeout=client_timeout, skip_auto_headers=["Content-Type", "Accept"]
        ) as response:
            return response.status, await response.read(), dict(response.headers)

    async def token_answer(
        self, chatbot_id: str = BOT_ID, app_id: str = APP_ID, app_key: str = APP_KEY, **headers: str | None
    ) -> tuple[int, Any]:
        body = json.dumps({"appId": app_id, "appKey": app_key}).encode()
        status, raw, _ = await self.raw(self.url("accessToken", chatbot_id), body, self.headers(**headers))
        return status, json.loads(raw)

    async def authorization(self, chatbot_id: str = BOT_ID, app_id: str = APP_ID, app_key: str = APP_KEY) -> str:
        """choices "Token": CTCC's value is sent as is, CUCC's bare UUID with `accessToken ` in front."""
        status, answer = await self.token_answer(chatbot_id, app_id, app_key)
        assert status == 200, answer
        token = answer["accessToken"]
        return token if self.dialect == "ctcc" else f"accessToken {token}"

    async def call(
        self,
        action: str,
        body: dict[str, Any] | bytes,
        *,
        authorization: str | None,
        chatbot_id: str = BOT_ID,
        url: URL | None = None,
        timeout: float | None = None,
        headers: dict[str, str | None] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """POST to the chatbot API; `headers` overrides the defaults (None leaves a header out)."""
        raw_body = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        request_headers = self.headers(authorization)
        for name, value in (headers or {}).items():
            request_headers.pop(name, None)
            if value is not None:
                request_headers[name] = value
        status, raw, response_headers = await self.raw(
            url or self.url(action, chatbot_id), raw_body, request_headers, timeout=timeout
        )
        if response_headers.get("Content-Type", "").startswith("application/json"):
            return status, json.loads(raw), response_headers
        return status, raw.decode(), response_headers

    async def get(
        self,
        action: str,
        *,
        authorization: str | None,
        chatbot_id: str = BOT_ID,
        headers: dict[str, str | None] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """GET from the chatbot API (find/chatBotInfo): Accept, Date and Authorization, no body and
        no Content-Type (easy5g's `info`); `headers` overrides them (None leaves one out)."""
        request_headers = self.headers(authorization, Content_Type=None)
        for name, value in (headers or {}).items():
            request_headers.pop(name, None)
            if value is not None:
                request_headers[name] = value
        async with self.session.get(
            self.url(action, chatbot_id), headers=request_headers, skip_auto_headers=["Accept"]
        ) as response:
            raw = await response.read()
            if response.content_type == "application/json":
                return response.status, json.loads(raw), dict(response.headers)
            return response.status, raw.decode(), dict(response.headers)

    async def control(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.base_url + path, json=payload) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()


# ---------------------------------------------------------------- media (§3.3.4), by hand

# The first bytes of real files: what a carrier's type check looks at.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff\xe0"
GIF_SIGNATURE = b"GIF89a"


_FILLER = bytes(range(256))


def _filled(head: bytes, size: int) -> bytes:
    rest = size - len(head)
    return head + (_FILLER * (rest // len(_FILLER) + 1))[:rest]


def png_bytes(size: int = 2048) -> bytes:
    """A PNG-looking file of exactly `size` bytes (signature, IHDR chunk header, filler)."""
    return _filled(PNG_SIGNATURE + b"\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06", size)


def jpeg_bytes(size: int = 1024) -> bytes:
    return _filled(JPEG_SIGNATURE, size)


def gif_bytes(size: int = 1024) -> bytes:
    return _filled(GIF_SIGNATURE, size)


@dataclass
class FilePart:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None


def form_data(parts: list[FilePart], boundary: str = "----msg5gBoundary7MA4YWxk") -> tuple[bytes, str]:
    """RFC 7578 multipart/form-data by hand: (body, Content-Type header value)."""
    chunks: list[bytes] = []
    for part in parts:
        disposition = f'form-data; name="{part.name}"'
        if part.filename is not None:
            disposition += f'; filename="{part.filename}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if part.content_type is not None:
            head += f"Content-Type: {part.content_type}\r\n"
        chunks.append(head.encode("utf-8") + b"\r\n" + part.data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def media_headers(authorization: str | None, **extra: str | None) -> dict[str, str]:
    """§3.3.4 media call headers: Authorization, Accept and Date (choices "Headers"), extras as given."""
    base: dict[str, str | None] = {"Accept": "application/json", "Date": gmt_date(), "Authorization": authorization}
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


# ---------------------------------------------------------------- chatbot information and menu (§2.5, §2.6)


def dial_action(text: str, number: str, data: str) -> dict[str, Any]:
    """§2.5's dialer entry, as TestBjdx `chatbotMenu` sent it."""
    return {
        "action": {
            "dialerAction": {"dialPhoneNumber": {"phoneNumber": number}},
            "displayText": text,
            "postback": {"data": data},
        }
    }


def sub_menu(text: str, *entries: dict[str, Any]) -> dict[str, Any]:
    """§2.5: `{"menu":{"displayText","entries":[...]}}` (menuL1 / menuL2)."""
    return {"menu": {"displayText": text, "entries": list(entries)}}


def menu_body(*entries: dict[str, Any]) -> dict[str, Any]:
    """§2.5: the body of update/chatBotInfo/menu, `{"menu":{"entries":[...]}}`."""
    return {"menu": {"entries": list(entries)}}
