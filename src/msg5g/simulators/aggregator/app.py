"""The simulated third-party aggregator as a Starlette app: send API, pushes, control API.

Customer side (docs/protocol-choices.md, "Third-party aggregator", "Media", "Templates"), every
call signed with X-Appid / X-Timestamp / X-Signature (an upload signs its raw multipart body):
  POST {prefix}/rcs/send         {"chatbot","to":[...],"messageList":[...],"sms"?:{"content"},"client_ref"?}
  GET  {prefix}/rcs/capability   ?chatbot=...&to=152XXXXXXXX
  POST {prefix}/rcs/revoke       {"sendID"}
  POST {prefix}/rcs/media        multipart/form-data: chatbot (text), file, thumbnail?
                                 -> {"status":"success","id","file","filesize","thumbnail"?}
  POST {prefix}/rcs/template     {"chatbot","name","messageList":[...]} -> {"status":"success","templateID"}
  GET  {prefix}/s/{id}.{ext}     an issued file (and {id}-thumb.{ext}): the bytes once approved, else 404
Pushes go to the account's push_url: Message / Invoke / Media / Template events (§3.6 Submail),
MO (§3.6 Dahantc).

Control side (JSON):
  GET  /_sim/healthz
  GET  /_sim/accounts                      PUT|DELETE /_sim/accounts/{appid} {"appkey","push_url"}
  GET  /_sim/chatbots                      PUT|DELETE /_sim/chatbots/{chatbot_id} {"appid"}
  PUT  /_sim/handsets/{number}             {"capability": rcs|sms_only|unreachable, "carrier": cmcc|ctcc|cucc|null}
  GET  /_sim/handsets/{number}             state + recent uplinks;  GET .../inbox  what reached it
  POST /_sim/handsets/{number}/uplink      {"chatbot_id", one of text|postback|action|geo, "in_reply_to"?: sendID}
  GET  /_sim/messages/{send_id}            counters and pushes of one sendID
  GET  /_sim/client_refs/{client_ref}      every request seen with this client_ref (?appid=)
  POST /_sim/push                          {"appid", "event": {...}} or {"appid", "body": "<raw text>"}
  GET  /_sim/stats                         POST /_sim/reset {"faults"?, "handsets"?, "media"?: bool}
  GET|PUT /_sim/faults
  GET  /_sim/media                         ?chatbot_id=   {"media": [upload, ...]};  GET /_sim/media/{id}
  POST /_sim/media/{id}/audit              {"approved": bool, "reason"?}  settle (or re-audit) now
  POST /_sim/media/{id}/expire             the URL is refused in sends from now on
  GET  /_sim/templates                     ?chatbot_id=   {"templates": [...]};  GET /_sim/templates/{id}
  POST /_sim/templates/{id}/audit          {"approved": bool, "reason"?}
  GET|PUT /_sim/audit                      {"media","templates": approve|reject|hold, "delay_seconds",
                                            "reason", "ttl_seconds"} for what arrives from now on
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import string
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .audit import AuditDesk
from .constants import (
    AUDIT_ID_LENGTH,
    CLIENT_REF_MAX,
    CODE_BAD_SIGNATURE,
    CODE_CONTENT_REFUSED,
    CODE_FILE_TOO_LARGE,
    CODE_INTERNAL,
    CODE_INVALID_NUMBER,
    CODE_RATE_LIMITED,
    CODE_STALE_TIMESTAMP,
    CODE_TOO_MANY_NUMBERS,
    CODE_UNKNOWN_ACCOUNT,
    DOWNLOAD_PATH,
    EVENT_INVOKE,
    EVENT_MESSAGE,
    FORBIDDEN_REASON,
    FOREIGN_URL_TEXT,
    H_APPID,
    H_SIGNATURE,
    H_TIMESTAMP,
    HTTP_BUSINESS_ERROR,
    MEDIA_PARTS,
    MISMATCH_REASON,
    MULTIPART_OVERHEAD,
    NO_REPLY_TO,
    PART_CHATBOT,
    PART_FILE,
    PART_THUMBNAIL,
    PATH_CAPABILITY,
    PATH_MEDIA,
    PATH_REVOKE,
    PATH_SEND,
    PATH_TEMPLATE,
    REQUEST_KEYS,
    SMS_MAX,
    ST_DELIVERED,
    ST_DISPLAYED,
    ST_IMPOSSIBLE,
    ST_REVOKE_FAILED,
    ST_REVOKED,
    ST_SMS,
    TEMPLATE_KEYS,
    TEMPLATE_NAME_MAX,
    THUMBNAIL_SUFFIX,
    UNAPPROVED_URL_TEXT,
    UNKNOWN_SEND_ID_TEXT,
)
from .content import ContentError, Item, parse_message_list
from .media import bytes_match, declared_type, extension, holds_forbidden_word, media_urls, taken
from .multipart import FormPart, MultipartError, media_type, parse_form_data
from .notifier import Chain, Notifier, Step
from .settings import (
    CAPABILITIES,
    CARRIERS,
    Account,
    Capability,
    Carrier,
    ConfigError,
    SimulatorSettings,
    check_chatbot_id,
)
from .state import HANG, Handset, InboxEntry, SendRecord, SimState, StoredContent, StoredFile, Template, Upload
from .uplink import UplinkError, build_uplink
from .wire import (
    ApiError,
    beijing_time,
    error_body,
    is_mobile_number,
    iso_utc,
    mo_push,
    nginx_page,
    normalize_number,
    parse_timestamp,
    request_signature,
    signature_matches,
    success_body,
)

log = logging.getLogger(__name__)

_Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
_Handler = Callable[[Account, Mapping[str, str], bytes, Scope], _Answer]
_JSON_HEADERS = (b"content-type", b"application/json;charset=utf-8")
_HTML_HEADERS = (b"content-type", b"text/html")
_H_APPID = H_APPID.lower()
_H_TIMESTAMP = H_TIMESTAMP.lower()
_H_SIGNATURE = H_SIGNATURE.lower()
_ID_ALPHABET = string.ascii_letters + string.digits
# What a refused part type is told it could have been.
_TAKEN_TEXT = "images JPG/PNG/GIF, audio AMR/MP3/M4A, video MP4"


class ControlError(Exception):
    """A control-API request that is answered with {"error": ...}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _refused(msg: str) -> ApiError:
    return ApiError(CODE_CONTENT_REFUSED, msg, http_status=HTTP_BUSINESS_ERROR)


def _json_answer(body: bytes, status: int = 200) -> _Answer:
    return status, [_JSON_HEADERS], body


class Simulator:
    """Holds state and notifier; its methods are the route endpoints."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.state = SimState(settings)
        self.notifier = Notifier(settings, self.state)
        self.audits = AuditDesk(self.state, self.notifier)
        self._loop: asyncio.AbstractEventLoop | None = None
        prefix = settings.path_prefix
        self.api: dict[str, tuple[str, _Handler]] = {
            prefix + PATH_SEND: ("POST", self._send),
            prefix + PATH_CAPABILITY: ("GET", self._capability),
            prefix + PATH_REVOKE: ("POST", self._revoke),
            prefix + PATH_MEDIA: ("POST", self._media),
            prefix + PATH_TEMPLATE: ("POST", self._template),
        }
        self._send_path = prefix + PATH_SEND
        # path -> (body limit, code of an oversized body): an upload may carry a file and a thumbnail.
        media_limit = max(settings.max_body_bytes, 2 * settings.media_max_bytes + MULTIPART_OVERHEAD)
        self._body_limits: dict[str, tuple[int, str]] = {prefix + PATH_MEDIA: (media_limit, CODE_FILE_TOO_LARGE)}
        self._default_body_limit = (settings.max_body_bytes, CODE_CONTENT_REFUSED)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.notifier.start()

    async def close(self) -> None:
        await self.audits.close()
        await self.notifier.close()

    # ------------------------------------------------------------------ customer API

    async def asgi_api(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """The API hot path, on raw ASGI: no router, no middleware, no Request object."""
        try:
            status, headers, body = await self._api(scope, receive, path)
        except Exception:  # a bug must still answer like a server, not drop the connection
            log.exception("API request failed")
            status, headers, body = 500, [_JSON_HEADERS], error_body(CODE_INTERNAL, "internal error")
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _api(self, scope: Scope, receive: Receive, path: str) -> _Answer:
        state = self.state
        state.stats.requests += 1
        method, handler = self.api[path]
        if scope["method"] != method:
            return 405, [(b"allow", method.encode()), (b"content-type", b"text/plain")], b"Method Not Allowed"
        limit, oversize_code = self._body_limits.get(path, self._default_body_limit)
        body = await _read_body(receive, limit)
        headers = _headers(scope)
        fault = state.take_fault()
        if fault is not None:
            answer = await self._fault_answer(fault, body, headers, path)
        else:
            answer = self._process(scope, headers, body, handler, oversize_code)
        # latency_ms delays the answer, not the work: the aggregator has already accepted (and begun
        # delivering) when a slow answer makes the client time out, as on a real network.
        latency = state.faults.latency_ms
        if latency > 0:
            await asyncio.sleep(latency / 1000.0)
        return answer

    def _process(
        self, scope: Scope, headers: Mapping[str, str], body: bytes | None, handler: _Handler, oversize_code: str
    ) -> _Answer:
        try:
            if body is None:
                # [invented] an oversized body is refused before anything else, with HTTP 413.
                raise ApiError(oversize_code, "request body too large", http_status=413)
            account = self._authenticate(headers, body)
            return handler(account, headers, body, scope)
        except ApiError as error:
            self.state.count_rejection(error.code)
            return _json_answer(error_body(error.code, error.msg), error.http_status)

    async def _fault_answer(
        self, fault: int | str, body: bytes | None, headers: Mapping[str, str], path: str
    ) -> _Answer:
        # A faulted request never reaches the aggregator proper: not accepted, not delivered. A send
        # with a client_ref still counts as received, so a test can see the client's retry arrive.
        if path == self._send_path and body:
            self._count_faulted_ref(headers.get(_H_APPID, ""), body)
        if fault == HANG:
            await asyncio.sleep(self.state.faults.hang_seconds)
            return 504, [_HTML_HEADERS, (b"server", b"nginx")], nginx_page(504)
        status = int(fault)
        if status == 500:
            return _json_answer(error_body(CODE_INTERNAL, "internal error"), 500)
        return status, [_HTML_HEADERS, (b"server", b"nginx")], nginx_page(status)

    def _count_faulted_ref(self, appid: str, body: bytes) -> None:
        if appid not in self.state.accounts:
            return
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        client_ref = doc.get("client_ref") if isinstance(doc, dict) else None
        if isinstance(client_ref, str) and client_ref:
            ref = self.state.ref(appid, client_ref)
            ref.received += 1
            ref.faulted += 1

    def _authenticate(self, headers: Mapping[str, str], body: bytes) -> Account:
        """choices: X-Appid known, X-Timestamp within the skew, X-Signature over appid+appkey+ts+body."""
        appid = headers.get(_H_APPID)
        if not appid:
            raise ApiError(CODE_UNKNOWN_ACCOUNT, "missing X-Appid header")
        account = self.state.accounts.get(appid)
        if account is None:
            raise ApiError(CODE_UNKNOWN_ACCOUNT, f"unknown appid {appid!r}")
        timestamp = headers.get(_H_TIMESTAMP)
        if not timestamp:
            raise ApiError(CODE_STALE_TIMESTAMP, "missing X-Timestamp header")
        sent_at = parse_timestamp(timestamp)
        if sent_at is None:
            raise ApiError(CODE_STALE_TIMESTAMP, f"X-Timestamp {timestamp!r} is not seconds since the epoch")
        if abs(time.time() - sent_at) > self.settings.timestamp_skew_seconds:
            raise ApiError(CODE_STALE_TIMESTAMP, f"X-Timestamp {timestamp!r} is outside the allowed clock skew")
        given = headers.get(_H_SIGNATURE)
        if not given:
            raise ApiError(CODE_BAD_SIGNATURE, "missing X-Signature header")
        if not signature_matches(request_signature(appid, account.appkey, timestamp, body), given):
            raise ApiError(CODE_BAD_SIGNATURE, "X-Signature does not match")
        return account

    def _json_body(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        content_type = headers.get("content-type", "")
        if content_type.partition(";")[0].strip().lower() != "application/json":
            raise _refused(f"Content-Type must be application/json, got {content_type!r}")
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise _refused(f"invalid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise _refused("the body must be a JSON object")
        return doc

    def _chatbot(self, account: Account, chatbot: object) -> str:
        if not isinstance(chatbot, str) or not chatbot:
            raise _refused("chatbot is required and must be a string")
        if self.state.chatbots.get(chatbot) != account.appid:
            raise ApiError(CODE_UNKNOWN_ACCOUNT, f"chatbot {chatbot!r} is not a chatbot of appid {account.appid!r}")
        return chatbot

    def _carrier(self, number: object) -> tuple[str, Carrier]:
        if not is_mobile_number(number):
            raise ApiError(CODE_INVALID_NUMBER, f"invalid number {number!r}: expected an 11-digit mobile number")
        text = cast(str, number)
        carrier = self.state.peek_handset(text).carrier
        if carrier is None:
            raise ApiError(CODE_INVALID_NUMBER, f"number {text} is in a range no carrier of ours serves")
        return text, carrier

    # -- /rcs/send --

    def _send(self, account: Account, headers: Mapping[str, str], body: bytes, _scope: Scope) -> _Answer:
        state = self.state
        doc = self._json_body(headers, body)
        client_ref = doc.get("client_ref")
        ref = state.ref(account.appid, client_ref) if isinstance(client_ref, str) and client_ref else None
        if ref is not None:
            ref.received += 1
        try:
            if not state.within_tps(account.appid):
                raise ApiError(CODE_RATE_LIMITED, f"over {state.faults.tps_limit} requests per second", http_status=429)
            chatbot, numbers, content, client_ref = self._validate_send(account, doc)
        except ApiError:
            if ref is not None:
                ref.rejected += 1
            raise
        send_list = []
        for number, carrier in numbers:
            record = self._record_for(account.appid, chatbot, number, carrier, client_ref, content)
            send_list.append({"to": number, "sendID": record.send_id, "carrier": record.carrier})
        if ref is not None:
            ref.accepted += 1
        state.stats.accepted += 1
        return _json_answer(success_body({"send_list": send_list}))

    def _validate_send(
        self, account: Account, doc: dict[str, Any]
    ) -> tuple[str, list[tuple[str, Carrier]], StoredContent, str | None]:
        unknown = sorted(set(doc) - REQUEST_KEYS)
        if unknown:
            raise _refused(f"unknown fields {unknown}")
        chatbot = self._chatbot(account, doc.get("chatbot"))
        to = doc.get("to")
        if not isinstance(to, list) or not to:
            raise ApiError(CODE_INVALID_NUMBER, "to must be a non-empty array of numbers")
        if len(to) > self.settings.max_numbers:
            raise ApiError(CODE_TOO_MANY_NUMBERS, f"to holds {len(to)} numbers, at most {self.settings.max_numbers}")
        numbers = list(dict.fromkeys(self._carrier(n) for n in to))
        items = self._message_list(chatbot, doc.get("messageList"))
        sms_text = None
        sms = doc.get("sms")
        if sms is not None:
            if not isinstance(sms, dict) or set(sms) != {"content"}:
                raise _refused('sms must be {"content": "..."}')
            sms_text = sms["content"]
            if not isinstance(sms_text, str) or not 1 <= len(sms_text) <= SMS_MAX:
                raise _refused(f"sms.content must be a string of 1..{SMS_MAX} characters")
        client_ref = doc.get("client_ref")
        if client_ref is not None and (not isinstance(client_ref, str) or not 1 <= len(client_ref) <= CLIENT_REF_MAX):
            raise _refused(f"client_ref must be a string of 1..{CLIENT_REF_MAX} characters")
        return chatbot, numbers, StoredContent(items, sms_text), client_ref

    def _record_for(
        self, appid: str, chatbot: str, number: str, carrier: Carrier, client_ref: str | None, content: StoredContent
    ) -> SendRecord:
        """The sendID answering this number: the first one for a repeated client_ref, else a new send."""
        state = self.state
        if client_ref is not None:
            known = state.sends.get(state.dedupe.get((appid, client_ref, number), ""))
            if known is not None:
                known.received += 1
                state.stats.duplicates += 1
                return known
        record = SendRecord(
            send_id=uuid.uuid4().hex,
            appid=appid,
            chatbot=chatbot,
            to=number,
            carrier=carrier,
            client_ref=client_ref,
            content=content,
            conversation_id=str(uuid.uuid4()),
            generation=state.generation,
        )
        state.add_send(record)
        state.stats.send_ids_created += 1
        if client_ref is not None:
            state.ref(appid, client_ref).send_ids[number] = record.send_id
        delay = state.faults.delivered_delay_ms / 1000.0
        if self._loop is not None:
            self._loop.call_later(delay, self._settle, record)
        return record

    # ------------------------------------------------------------------ delivery (§3.5, §3.6)

    def _settle(self, record: SendRecord) -> None:
        """The carrier's verdict on one sendID, at the moment the handset would get it."""
        state = self.state
        if record.generation != state.generation or record.state != "pending":
            return  # revoked in time, or from before a /_sim/reset
        stats = state.stats
        faults = state.faults
        handset = state.handset(record.to)
        now = time.time()
        limit = self.settings.inbox_limit
        steps: list[Step]
        if handset.capability == "rcs":
            record.state = "delivered"
            record.delivered += 1
            stats.delivered += 1
            handset.receive(InboxEntry(record, "rcs", now), limit)
            first, second = (ST_DISPLAYED, ST_DELIVERED) if faults.out_of_order else (ST_DELIVERED, ST_DISPLAYED)
            steps = [Step(EVENT_MESSAGE, first, 0.0), Step(EVENT_MESSAGE, second, faults.displayed_delay_ms / 1000.0)]
        elif handset.capability == "sms_only" and record.content.sms_text is not None:
            record.state = "sms"
            record.delivered += 1
            stats.delivered += 1
            stats.sms_fallbacks += 1
            handset.receive(InboxEntry(record, "sms", now), limit)
            steps = [Step(EVENT_MESSAGE, ST_SMS, 0.0)]
        else:
            record.state = "failed"
            stats.delivery_impossible += 1
            steps = [Step(EVENT_MESSAGE, ST_IMPOSSIBLE, 0.0)]
        self.notifier.start_chain(Chain(record, steps, 2 if faults.duplicate_notifications else 1))

    # -- /rcs/capability --

    def _capability(self, account: Account, _headers: Mapping[str, str], _body: bytes, scope: Scope) -> _Answer:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        self._chatbot(account, (query.get("chatbot") or [None])[-1])
        number, carrier = self._carrier((query.get("to") or [None])[-1])
        self.state.stats.capability_queries += 1
        capable = self.state.peek_handset(number).capability == "rcs"
        return _json_answer(success_body({"to": number, "rcs": capable, "carrier": carrier}))

    # -- /rcs/revoke --

    def _revoke(self, account: Account, headers: Mapping[str, str], body: bytes, _scope: Scope) -> _Answer:
        state = self.state
        doc = self._json_body(headers, body)
        unknown = sorted(set(doc) - {"sendID"})
        if unknown:
            raise _refused(f"unknown fields {unknown}")
        send_id = doc.get("sendID")
        if not isinstance(send_id, str) or not send_id:
            raise _refused("sendID is required and must be a string")
        record = state.sends.get(send_id)
        if record is None or record.appid != account.appid:
            raise _refused(f"{UNKNOWN_SEND_ID_TEXT} {send_id!r}")
        record.revoke_requests += 1
        if record.state in ("pending", "revoked"):
            if record.state == "pending":
                record.state = "revoked"
                state.stats.revoked += 1
            outcome = ST_REVOKED
        else:
            state.stats.revoke_failed += 1
            outcome = ST_REVOKE_FAILED
        copies = 2 if state.faults.duplicate_notifications else 1
        self.notifier.start_chain(Chain(record, [Step(EVENT_INVOKE, outcome, 0.0)], copies))
        return _json_answer(success_body())

    # ------------------------------------------------------------------ materials and templates

    def _message_list(self, chatbot: str, value: Any) -> list[Item]:
        """A checked messageList whose media URLs, where this simulator issued them, are usable."""
        try:
            items = parse_message_list(value)
        except ContentError as exc:
            raise _refused(f"{exc.path}: {exc.reason}") from None
        known = self.state.media_urls
        if known:  # the walk costs nothing on a benchmark that uploads nothing
            now = time.time()
            for url in media_urls(items):
                upload = known.get(url)
                if upload is None:
                    continue  # someone else's file server
                if upload.chatbot != chatbot:
                    raise _refused(FOREIGN_URL_TEXT.format(url=url))
                current = upload.state_at(now)
                if current != "approved":
                    raise _refused(UNAPPROVED_URL_TEXT.format(state=current, url=url))
        return items

    # -- /rcs/media --

    def _media(self, account: Account, headers: Mapping[str, str], body: bytes, scope: Scope) -> _Answer:
        state = self.state
        content_type = headers.get("content-type", "")
        kind, params = media_type(content_type)
        if kind != "multipart/form-data":
            raise _refused(f"Content-Type must be multipart/form-data, got {content_type!r}")
        try:
            parts = parse_form_data(body, params.get("boundary", ""))
            names = [part.name for part in parts]
            unknown = sorted(set(names) - MEDIA_PARTS)
            if unknown:
                raise _refused(f"unknown parts {unknown}")
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise _refused(f"parts {repeated} appear more than once")
            by_name = {part.name: part for part in parts}
            chatbot_part = by_name.get(PART_CHATBOT)
            chatbot = self._chatbot(account, chatbot_part.text().strip() if chatbot_part is not None else None)
        except MultipartError as exc:
            raise _refused(f"malformed multipart body: {exc}") from None
        file_part = by_name.get(PART_FILE)
        if file_part is None:
            raise _refused(f"part {PART_FILE!r} is required")
        media_id = _new_id(state.uploads)
        base = _base_url(scope, self.settings.path_prefix)
        file = self._stored_file(file_part, f"{base}{DOWNLOAD_PATH}/{media_id}")
        thumb_part = by_name.get(PART_THUMBNAIL)
        thumbnail = None
        if thumb_part is not None:
            thumbnail = self._stored_file(thumb_part, f"{base}{DOWNLOAD_PATH}/{media_id}{THUMBNAIL_SUFFIX}")
        defect = next(
            (
                MISMATCH_REASON.format(content_type=checked.stored.content_type)
                for checked in (file, thumbnail)
                if checked is not None and not checked.matches
            ),
            None,
        )
        upload = Upload(
            media_id=media_id,
            appid=account.appid,
            chatbot=chatbot,
            file=file.stored,
            thumbnail=thumbnail.stored if thumbnail else None,
            parts=names,
            sha256=hashlib.sha256(file.stored.data).hexdigest(),
            until=time.time() + state.audit.ttl_seconds,
            defect=defect,
        )
        state.add_upload(upload)
        state.stats.media_uploads += 1
        self.audits.uploaded(upload)
        answer: dict[str, Any] = {"id": media_id, "file": file.stored.url, "filesize": len(file.stored.data)}
        if thumbnail is not None:
            answer["thumbnail"] = thumbnail.stored.url
        return _json_answer(success_body(answer))

    def _stored_file(self, part: FormPart, url_stem: str) -> _CheckedFile:
        is_thumbnail = part.name == PART_THUMBNAIL
        if not part.data:
            raise _refused(f"part {part.name!r} is empty")
        content_type = declared_type(part.content_type, part.filename)
        if not taken(content_type, thumbnail=is_thumbnail):
            allowed = "images JPG/PNG/GIF" if is_thumbnail else _TAKEN_TEXT
            raise _refused(f"part {part.name!r}: content type {content_type!r} is not taken ({allowed})")
        limit = self.settings.media_max_bytes
        if len(part.data) > limit:
            raise ApiError(CODE_FILE_TOO_LARGE, f"part {part.name!r} is {len(part.data)} bytes, at most {limit}")
        ext = extension(content_type)
        stored = StoredFile(part.filename or f"{part.name}.{ext}", content_type, part.data, f"{url_stem}.{ext}")
        return _CheckedFile(stored, bytes_match(content_type, part.data))

    # -- /rcs/template --

    def _template(self, account: Account, headers: Mapping[str, str], body: bytes, _scope: Scope) -> _Answer:
        state = self.state
        doc = self._json_body(headers, body)
        unknown = sorted(set(doc) - TEMPLATE_KEYS)
        if unknown:
            raise _refused(f"unknown fields {unknown}")
        chatbot = self._chatbot(account, doc.get("chatbot"))
        name = doc.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= TEMPLATE_NAME_MAX:
            raise _refused(f"name must be a string of 1..{TEMPLATE_NAME_MAX} characters")
        message_list = doc.get("messageList")
        self._message_list(chatbot, message_list)
        template = Template(
            template_id=_new_id(state.templates),
            appid=account.appid,
            chatbot=chatbot,
            name=name,
            message_list=cast(list[Any], message_list),
            defect=FORBIDDEN_REASON if holds_forbidden_word(message_list) else None,
        )
        state.add_template(template)
        state.stats.templates_submitted += 1
        self.audits.submitted(template)
        return _json_answer(success_body({"templateID": template.template_id}))

    # ------------------------------------------------------------------ uplink (§3.6 Dahantc MO)

    async def send_uplink(self, number: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        state = self.state
        chatbot = str(payload.get("chatbot_id", ""))
        appid = state.chatbots.get(chatbot)
        account = state.accounts.get(appid) if appid is not None else None
        if account is None:
            raise ControlError(404, f"unknown chatbot_id {chatbot!r}")
        try:
            content = build_uplink(payload)
        except UplinkError as exc:
            raise ControlError(400, str(exc)) from None
        conversation_id, in_reply_to = str(uuid.uuid4()), NO_REPLY_TO
        reply_to = payload.get("in_reply_to")
        if reply_to is not None:
            record = state.sends.get(str(reply_to))
            if record is None or record.chatbot != chatbot or record.to != number:
                raise ControlError(404, f"no sendID {reply_to!r} of this chatbot to this number")
            # [I] the reply joins the send's conversation and names its sendID.
            conversation_id, in_reply_to = record.conversation_id, record.send_id
        forward: dict[str, Any] = {
            "chatbot": chatbot,
            "msgid": uuid.uuid4().hex,
            "dateTime": beijing_time(time.time()),
            "phone": number,
            "conversationId": conversation_id,
            "contributionId": str(uuid.uuid4()),
            "inReplyTo": in_reply_to,
            "replyType": content.reply_type,
            "replyContent": content.reply_content,
        }
        status, error, attempts = await self.notifier.post_with_retries(account, mo_push(forward))
        ok = status is not None and 200 <= status < 300
        if ok:
            state.stats.uplinks_sent += 1
        else:
            state.stats.uplinks_failed += 1
        result: dict[str, Any] = {
            "kind": content.kind,
            "status": status,
            "ok": ok,
            "attempts": attempts,
            "error": error,
            "appid": account.appid,
            "forward": forward,
        }
        state.handset(number).sent(result)
        return result

    # ------------------------------------------------------------------ control API

    async def healthz(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def list_accounts(self, _request: Request) -> Response:
        return JSONResponse([self._account_json(a) for a in self.state.accounts.values()])

    async def put_account(self, request: Request) -> Response:
        appid = request.path_params["appid"]
        try:
            account = Account.from_mapping(await _json_object(request), appid=appid)
        except ConfigError as exc:
            return _control_error(400, str(exc))
        created = appid not in self.state.accounts
        self.state.accounts[appid] = account
        return JSONResponse(self._account_json(account), 201 if created else 200)

    async def delete_account(self, request: Request) -> Response:
        appid = request.path_params["appid"]
        if self.state.accounts.pop(appid, None) is None:
            return _control_error(404, "unknown appid")
        for chatbot in [c for c, owner in self.state.chatbots.items() if owner == appid]:
            del self.state.chatbots[chatbot]
        return Response(status_code=204)

    def _account_json(self, account: Account) -> dict[str, Any]:
        return {
            "appid": account.appid,
            "appkey": account.appkey,
            "push_url": account.push_url,
            "chatbots": [c for c, owner in self.state.chatbots.items() if owner == account.appid],
        }

    async def list_chatbots(self, _request: Request) -> Response:
        return JSONResponse([{"chatbot_id": c, "appid": a} for c, a in self.state.chatbots.items()])

    async def put_chatbot(self, request: Request) -> Response:
        chatbot = request.path_params["chatbot_id"]
        payload = await _json_object(request)
        appid = payload.get("appid")
        try:
            check_chatbot_id(chatbot)
        except ConfigError as exc:
            return _control_error(400, str(exc))
        if not isinstance(appid, str) or appid not in self.state.accounts:
            return _control_error(400, f"appid must name a known account, got {appid!r}")
        created = chatbot not in self.state.chatbots
        self.state.chatbots[chatbot] = appid
        return JSONResponse({"chatbot_id": chatbot, "appid": appid}, 201 if created else 200)

    async def delete_chatbot(self, request: Request) -> Response:
        if self.state.chatbots.pop(request.path_params["chatbot_id"], None) is None:
            return _control_error(404, "unknown chatbot")
        return Response(status_code=204)

    @staticmethod
    def _number(request: Request) -> str:
        number = normalize_number(request.path_params["number"])
        if number is None:
            raise ControlError(400, f"not an 11-digit mobile number: {request.path_params['number']!r}")
        return number

    async def put_handset(self, request: Request) -> Response:
        number = self._number(request)
        payload = await _json_object(request)
        capability = payload.get("capability")
        if capability is not None and capability not in CAPABILITIES:
            raise ControlError(400, f"capability must be one of {CAPABILITIES}")
        carrier = payload.get("carrier")
        if carrier is not None and carrier not in CARRIERS:
            raise ControlError(400, f"carrier must be one of {CARRIERS} or null")
        handset = self.state.handset(number)
        handset.pinned = True
        if capability is not None:
            handset.capability = cast(Capability, capability)
        if "carrier" in payload:
            handset.carrier_override = cast(Carrier | None, carrier)
        return JSONResponse(self._handset_json(handset))

    async def get_handset(self, request: Request) -> Response:
        handset = self.state.peek_handset(self._number(request))
        return JSONResponse(self._handset_json(handset, uplinks=True))

    @staticmethod
    def _handset_json(handset: Handset, *, uplinks: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "number": handset.number,
            "capability": handset.capability,
            "carrier": handset.carrier,
            "carrier_source": "configured" if handset.carrier_override else "prefix",
            "inbox_count": len(handset.inbox),
        }
        if uplinks:
            out["uplinks"] = list(handset.uplinks)
        return out

    async def get_inbox(self, request: Request) -> Response:
        handset = self.state.handsets.get(self._number(request))
        entries = list(handset.inbox) if handset else []
        return JSONResponse([self.render_entry(e) for e in entries])

    @staticmethod
    def render_entry(entry: InboxEntry) -> dict[str, Any]:
        record = entry.record
        out: dict[str, Any] = {
            "send_id": record.send_id,
            "chatbot": record.chatbot,
            "delivered_as": entry.delivered_as,
            "received_at": iso_utc(entry.received_at),
            "text": None,
            "card": None,
            "chips": None,
            "file": None,
            "sms": None,
            "items": [],
        }
        if entry.delivered_as == "sms":
            out["sms"] = record.content.sms_text
            return out
        for item in record.content.items:
            if out[item.kind] is None:
                out[item.kind] = item.value
        out["items"] = [i.as_json() for i in record.content.items]
        return out

    async def post_uplink(self, request: Request) -> Response:
        number = self._number(request)
        return JSONResponse(await self.send_uplink(number, await _json_object(request)))

    async def get_message(self, request: Request) -> Response:
        record = self.state.sends.get(request.path_params["send_id"])
        if record is None:
            return _control_error(404, "unknown sendID")
        return JSONResponse(record.as_json())

    async def get_client_ref(self, request: Request) -> Response:
        client_ref = request.path_params["client_ref"]
        appid = request.query_params.get("appid")
        refs = [r for (a, c), r in self.state.refs.items() if c == client_ref and (appid is None or a == appid)]
        if not refs:
            return _control_error(404, "unknown client_ref")
        if len(refs) > 1:
            return _control_error(409, "client_ref is used by several appids; add ?appid=")
        out = refs[0].as_json()
        sends = [self.state.sends.get(s) for s in refs[0].send_ids.values()]
        out["sends"] = [s.as_json() for s in sends if s is not None]
        return JSONResponse(out)

    async def post_push(self, request: Request) -> Response:
        payload = await _json_object(request)
        account = self.state.accounts.get(str(payload.get("appid", "")))
        if account is None:
            return _control_error(404, f"unknown appid {payload.get('appid')!r}")
        if ("event" in payload) == ("body" in payload):
            return _control_error(400, "give exactly one of event (JSON) or body (raw text)")
        if "body" in payload:
            if not isinstance(payload["body"], str):
                return _control_error(400, "body must be a string")
            body = payload["body"].encode("utf-8")
        else:
            body = orjson.dumps(payload["event"])
        status, error, attempts = await self.notifier.post_with_retries(account, body)
        ok = status is not None and 200 <= status < 300
        return JSONResponse(
            {"status": status, "ok": ok, "attempts": attempts, "error": error, "body": body.decode("utf-8")}
        )

    async def get_stats(self, _request: Request) -> Response:
        out = self.state.stats.as_json()
        out["pending_pushes"] = self.notifier.pending
        out["sends_tracked"] = len(self.state.sends)
        out["handsets_tracked"] = len(self.state.handsets)
        out["media_tracked"] = len(self.state.uploads)
        out["templates_tracked"] = len(self.state.templates)
        return JSONResponse(out)

    async def reset(self, request: Request) -> Response:
        options = await _json_object(request)
        self.state.reset(
            faults=options.get("faults") is True,
            handsets=options.get("handsets") is True,
            media=options.get("media") is True,
        )
        return JSONResponse({"status": "reset"})

    # -- materials, templates, audit policy --

    async def list_media(self, request: Request) -> Response:
        chatbot = request.query_params.get("chatbot_id")
        uploads = [u for u in self.state.uploads.values() if chatbot is None or u.chatbot == chatbot]
        return JSONResponse({"media": [u.as_json() for u in uploads]})

    def _upload(self, request: Request) -> Upload:
        upload = self.state.uploads.get(request.path_params["media_id"])
        if upload is None:
            raise ControlError(404, "unknown media id")
        return upload

    async def get_media(self, request: Request) -> Response:
        return JSONResponse(self._upload(request).as_json())

    async def audit_media(self, request: Request) -> Response:
        upload = self._upload(request)
        approved, reason = _audit_request(await _json_object(request))
        self.audits.settle_media(upload, approved, reason)
        return JSONResponse(upload.as_json())

    async def expire_media(self, request: Request) -> Response:
        upload = self._upload(request)
        self.audits.expire(upload)
        return JSONResponse(upload.as_json())

    async def list_templates(self, request: Request) -> Response:
        chatbot = request.query_params.get("chatbot_id")
        templates = [t for t in self.state.templates.values() if chatbot is None or t.chatbot == chatbot]
        return JSONResponse({"templates": [t.as_json() for t in templates]})

    def _template_record(self, request: Request) -> Template:
        template = self.state.templates.get(request.path_params["template_id"])
        if template is None:
            raise ControlError(404, "unknown template id")
        return template

    async def get_template(self, request: Request) -> Response:
        return JSONResponse(self._template_record(request).as_json())

    async def audit_template(self, request: Request) -> Response:
        template = self._template_record(request)
        approved, reason = _audit_request(await _json_object(request))
        self.audits.settle_template(template, approved, reason)
        return JSONResponse(template.as_json())

    async def get_audit(self, _request: Request) -> Response:
        return JSONResponse(self.state.audit.as_dict())

    async def put_audit(self, request: Request) -> Response:
        try:
            self.state.audit = self.state.audit.updated(await _json_object(request))
        except ConfigError as exc:
            return _control_error(400, str(exc))
        return JSONResponse(self.state.audit.as_dict())

    async def download(self, request: Request) -> Response:
        """GET of an issued URL: the file server behind the Media event's `file`."""
        name = request.path_params["name"]
        stem = name.rpartition(".")[0]
        is_thumbnail = stem.endswith(THUMBNAIL_SUFFIX)
        media_id = stem.removesuffix(THUMBNAIL_SUFFIX)
        upload = self.state.uploads.get(media_id)
        stored = None if upload is None else upload.thumbnail if is_thumbnail else upload.file
        if (
            upload is None
            or stored is None
            or not stored.url.endswith(f"{DOWNLOAD_PATH}/{name}")
            or upload.state_at(time.time()) != "approved"
        ):
            return Response("Not Found", status_code=404, media_type="text/plain")
        return Response(stored.data, media_type=stored.content_type)

    async def get_faults(self, _request: Request) -> Response:
        return JSONResponse(self.state.faults.as_dict())

    async def put_faults(self, request: Request) -> Response:
        try:
            self.state.faults = self.state.faults.updated(await _json_object(request))
        except ConfigError as exc:
            return _control_error(400, str(exc))
        # A new limit starts from a full bucket.
        self.state.buckets.clear()
        return JSONResponse(self.state.faults.as_dict())


@dataclass(slots=True)
class _CheckedFile:
    stored: StoredFile
    # Whether the bytes start like the declared type; a mismatch is the audit's to reject.
    matches: bool


def _new_id(taken_ids: Mapping[str, object]) -> str:
    """§3.6-style id: 6 letters and digits, unique among the ids already issued."""
    while True:
        candidate = "".join(secrets.choice(_ID_ALPHABET) for _ in range(AUDIT_ID_LENGTH))
        if candidate not in taken_ids:
            return candidate


def _base_url(scope: Scope, prefix: str) -> str:
    """scheme://host:port of the request as the client addressed it, plus the path prefix."""
    host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}{prefix}"


def _audit_request(payload: Mapping[str, Any]) -> tuple[bool, str | None]:
    unknown = sorted(set(payload) - {"approved", "reason"})
    if unknown:
        raise ControlError(400, f"unknown fields {unknown}")
    approved = payload.get("approved")
    if not isinstance(approved, bool):
        raise ControlError(400, "approved must be a boolean")
    reason = payload.get("reason")
    if reason is not None and (not isinstance(reason, str) or not reason):
        raise ControlError(400, "reason must be a non-empty string")
    return approved, reason


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when it exceeds `limit` (the rest is drained)."""
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body if len(body) <= limit else None
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
    return b"".join(chunks) if size <= limit else None


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


async def _json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    try:
        data = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise ControlError(400, f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ControlError(400, "the body must be a JSON object")
    return data


def _control_error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def _on_control_error(_request: Request, exc: Exception) -> Response:
    error = cast(ControlError, exc)
    return _control_error(error.status, error.message)


class SimulatorApp(Starlette):
    """Starlette for the control API; customer API calls bypass routing and middleware."""

    simulator: Simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path in self.simulator.api:
                await self.simulator.asgi_api(scope, receive, send, path)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: SimulatorSettings | None = None) -> Starlette:
    """Build the simulator app; the notifier's HTTP session lives in the app lifespan."""
    sim = Simulator(settings or SimulatorSettings())

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await sim.start()
        try:
            yield
        finally:
            await sim.close()

    endpoints: list[tuple[str, Callable[[Request], Awaitable[Response]], str]] = [
        ("/_sim/healthz", sim.healthz, "GET"),
        ("/_sim/accounts", sim.list_accounts, "GET"),
        ("/_sim/accounts/{appid}", sim.put_account, "PUT"),
        ("/_sim/accounts/{appid}", sim.delete_account, "DELETE"),
        ("/_sim/chatbots", sim.list_chatbots, "GET"),
        ("/_sim/chatbots/{chatbot_id}", sim.put_chatbot, "PUT"),
        ("/_sim/chatbots/{chatbot_id}", sim.delete_chatbot, "DELETE"),
        ("/_sim/handsets/{number}", sim.put_handset, "PUT"),
        ("/_sim/handsets/{number}", sim.get_handset, "GET"),
        ("/_sim/handsets/{number}/inbox", sim.get_inbox, "GET"),
        ("/_sim/handsets/{number}/uplink", sim.post_uplink, "POST"),
        ("/_sim/messages/{send_id}", sim.get_message, "GET"),
        ("/_sim/client_refs/{client_ref}", sim.get_client_ref, "GET"),
        ("/_sim/push", sim.post_push, "POST"),
        ("/_sim/stats", sim.get_stats, "GET"),
        ("/_sim/reset", sim.reset, "POST"),
        ("/_sim/faults", sim.get_faults, "GET"),
        ("/_sim/faults", sim.put_faults, "PUT"),
        ("/_sim/media", sim.list_media, "GET"),
        ("/_sim/media/{media_id}", sim.get_media, "GET"),
        ("/_sim/media/{media_id}/audit", sim.audit_media, "POST"),
        ("/_sim/media/{media_id}/expire", sim.expire_media, "POST"),
        ("/_sim/templates", sim.list_templates, "GET"),
        ("/_sim/templates/{template_id}", sim.get_template, "GET"),
        ("/_sim/templates/{template_id}/audit", sim.audit_template, "POST"),
        ("/_sim/audit", sim.get_audit, "GET"),
        ("/_sim/audit", sim.put_audit, "PUT"),
        (sim.settings.path_prefix + DOWNLOAD_PATH + "/{name}", sim.download, "GET"),
    ]
    routes = [Route(path, endpoint, methods=[method]) for path, endpoint, method in endpoints]
    app = SimulatorApp(routes=routes, lifespan=lifespan, exception_handlers={ControlError: _on_control_error})
    app.simulator = sim
    app.state.simulator = sim
    return app
