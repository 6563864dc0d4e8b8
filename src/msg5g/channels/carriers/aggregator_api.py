"""[invented] The aggregator's send, capability and revoke API.

The reference (shared/reference/protocols.md §3.5, §3.6) records the push events of third-party
channels but not how one sends through them. Everything in this module is therefore an invention,
specified in docs/protocol-choices.md "Third-party aggregator", and kept here alone so that a real
aggregator's API replaces one module. The push side (aggregator.py) follows the reference.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp
import orjson

from msg5g.channels.base import ChatbotAccount, OutboundMessage
from msg5g.channels.carriers.maap_json import build_message_list
from msg5g.domain.errors import (
    ChannelAuthError,
    ChannelError,
    PermanentChannelError,
    RateLimited,
    TransientChannelError,
)
from msg5g.domain.media import KindLimit, MaterialKind, MediaLimits, MediaUpload, MediaUploadResult

SEND_PATH = "/rcs/send"
CAPABILITY_PATH = "/rcs/capability"
REVOKE_PATH = "/rcs/revoke"
MEDIA_PATH = "/rcs/media"
TEMPLATE_PATH = "/rcs/template"
_MAX_FILE = 10 * 1024 * 1024
MEDIA_LIMITS = MediaLimits({
    MaterialKind.IMAGE: KindLimit(_MAX_FILE, frozenset({"image/jpeg", "image/png", "image/gif"})),
    MaterialKind.AUDIO: KindLimit(_MAX_FILE, frozenset({"audio/amr", "audio/mpeg", "audio/mp4"})),
    MaterialKind.VIDEO: KindLimit(_MAX_FILE, frozenset({"video/mp4"})),
    MaterialKind.THUMBNAIL: KindLimit(_MAX_FILE, frozenset({"image/jpeg", "image/png"})),
})
MAX_RECIPIENTS = 200
AUTH_CODES = {"101", "102", "103"}  # bad signature, stale timestamp, unknown appid or chatbot
RATE_LIMIT_CODES = {"429"}
TRANSIENT_CODES = {"500"}


def national(recipient: str) -> str:
    """The aggregator addresses Chinese mobiles by their 11 national digits."""
    return recipient[3:] if recipient.startswith("+86") else recipient.lstrip("+")


def request_headers(account: ChatbotAccount, body: bytes, *, now: float | None = None,
                    content_type: str = "application/json") -> dict[str, str]:
    appid, appkey = account.credentials["appid"], account.credentials["appkey"]
    timestamp = str(int(now if now is not None else time.time()))
    signature = hashlib.sha256(appid.encode() + appkey.encode() + timestamp.encode() + body).hexdigest()
    return {"Content-Type": content_type, "Accept": "application/json", "X-Appid": appid,
            "X-Timestamp": timestamp, "X-Signature": signature}


class _Collected:
    """Where aiohttp's multipart writer puts the body, so that the exact bytes can be signed."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    async def write(self, data: bytes) -> None:
        self.chunks.append(bytes(data))


async def media_body(account: ChatbotAccount, upload: MediaUpload) -> tuple[bytes, str]:
    """(the multipart body, its content type): parts chatbot, file and the optional thumbnail."""
    writer = aiohttp.MultipartWriter("form-data")
    writer.append(account.carrier_chatbot_id).set_content_disposition("form-data", name="chatbot")
    for name, part in (("file", upload.file), ("thumbnail", upload.thumbnail)):
        if part is not None:
            writer.append(part.data, {"Content-Type": part.content_type}).set_content_disposition(
                "form-data", name=name, filename=part.file_name)
    collected = _Collected()
    await writer.write(collected)  # type: ignore[arg-type]  # only write() is called
    return b"".join(collected.chunks), writer.content_type


def media_result(document: Mapping[str, Any]) -> MediaUploadResult:
    media_id, url = document.get("id"), document.get("file")
    if not isinstance(media_id, str) or not isinstance(url, str) or not media_id or not url:
        raise TransientChannelError(f"the aggregator answered the upload without id and file: {dict(document)}")
    thumbnail = document.get("thumbnail")
    # The expiry comes with the Media event (§3.6: valid 7 days from the audit's answer).
    return MediaUploadResult(url=url, until=None, audit_refs=(media_id,),
                             thumbnail_url=thumbnail if isinstance(thumbnail, str) else None)


def template_body(account: ChatbotAccount, name: str, sample: OutboundMessage) -> bytes:
    return orjson.dumps({"chatbot": account.carrier_chatbot_id, "name": name[:100],
                         "messageList": build_message_list(sample.content)})


def push_signature(appkey: str, timestamp: str, body: bytes) -> str:
    return hashlib.sha256(appkey.encode() + timestamp.encode() + body).hexdigest()


def send_body(account: ChatbotAccount, message: OutboundMessage, recipients: Iterable[str]) -> bytes:
    body: dict[str, Any] = {
        "chatbot": account.carrier_chatbot_id,
        "to": [national(r) for r in recipients],
        "messageList": build_message_list(message.content),
        "client_ref": message.message_id,
    }
    if message.fallback_text:
        body["sms"] = {"content": message.fallback_text}
    return orjson.dumps(body)


def read_answer(status: int, payload: bytes) -> dict[str, Any]:
    """The answer's JSON when it says success; otherwise the ChannelError it amounts to."""
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        raw = payload[:300].decode("utf-8", errors="replace")
        if status >= 500 or status == 429:
            raise (RateLimited if status == 429 else TransientChannelError)(f"HTTP {status}: {raw}",
                                                                            http_status=status)
        raise PermanentChannelError(f"aggregator answer not understood: HTTP {status}: {raw}", http_status=status)
    if 200 <= status < 300 and document.get("status") == "success":
        return document
    raise _error(status, document)


def _error(status: int, document: Mapping[str, Any]) -> ChannelError:
    code = str(document.get("code", "")) or None
    detail = f"HTTP {status}" + (f" {code}" if code else "") + (f": {document['msg']}" if document.get("msg") else "")
    if status == 429 or code in RATE_LIMIT_CODES:
        return RateLimited(f"aggregator rate limit: {detail}", carrier_code=code, http_status=status)
    if code in AUTH_CODES or status in {401, 403}:
        return ChannelAuthError(f"aggregator refused our credentials: {detail}", carrier_code=code,
                                http_status=status)
    if status >= 500 or code in TRANSIENT_CODES:
        return TransientChannelError(f"aggregator error: {detail}", carrier_code=code, http_status=status)
    return PermanentChannelError(f"aggregator refused the message: {detail}", carrier_code=code, http_status=status)
