"""The simulated China Mobile MaaP as a Starlette app: downlink API, notifications, control API.

Carrier side (§1.1): POST {prefix}/messaging/{v1|group/v1|interaction/v1|group/plain|group/template|
interaction/template}/outbound/{chatbotURI}/requests, chatbot URI raw or URL-encoded.
Revoke (§1.5): PUT {prefix}/messaging/{family}/outbound/{chatbotURI}/requests/{messageId}/status.
Media (§3.2, §2.4; docs/protocol-choices.md "Media (素材) upload and audit"):
  POST   {prefix}/Content                  multipart/form-data parts File (+ Thumbnail), §1.8 auth and
                                           X-3GPP-Intended-Identity -> 200, header tid, FT-HTTP <file> XML
  DELETE {prefix}/Content                  header tid -> 200 (404 unknown tid)
  GET    /s/{tid}FD.{ext}, /s/{tid}TD.{ext} the issued file / thumbnail URL: the bytes once approved, else 404
  audit result -> POST {notify_url}/InboundMessageNotification/{chatbotId}?chatbotURI={uri}
                  headers tid, Authstatus 0|1 (Authdesc on reject), body the FT-HTTP XML
Templates (docs/protocol-choices.md "Templates (模板) on each carrier"):
  POST {prefix}/messaging/v1/templates/{chatbotURI}  {"templateName","contentType","bodyText"}
                                           -> 200 {"templateID","status":"pending"}
  audit result -> POST {notify_url}/TemplateAuditNotification/{chatbotId} {"templateID","status","reason"?}
  A static-template send naming an approved template delivers that template's stored body.

Control side (JSON unless noted):
  GET  /_sim/?number=&chatbot_id=&encoding= handset page (HTML): a phone's chat with one chatbot; forms post
                                           to /_sim/ui/uplink (typed text) and /_sim/ui/tap {message_id, ref}
                                           (a chip or card button: the uplink that suggestion makes), both
                                           answer JSON to Accept: application/json, else 303 back (an open-URL
                                           tap: 303 to the URL); /_sim/ui/handset.js|.css, script and style
  GET  /_sim/handsets/{number}/conversation?chatbot_id=&since=
                                           {"version","status","changed"} + when changed (since != version)
                                           "messages" (both directions, oldest first), "chips", "html" (the log)
  GET  /_sim/healthz
  GET  /_sim/chatbots                      PUT|DELETE /_sim/chatbots/{id} {"app_id","password","notify_url"}
  PUT  /_sim/handsets/{number}             {"capability": up2|up1|none|offline, "address_form": tel|sip|null}
  GET  /_sim/handsets/{number}             state + recent uplinks;  GET .../inbox  what reached it
  POST /_sim/handsets/{number}/uplink      {"chatbot_id", one of text|postback|action|file|geo|shared_data|
                                           spam_report, "base64"?, "in_reply_to"?, "sender_form"?}
  GET  /_sim/messages/{message_id}         counters of one message (?chatbot_id= to disambiguate)
  GET  /_sim/stats                         POST /_sim/reset {"faults"?: bool, "handsets"?: bool, "media"?: bool}
  GET|PUT /_sim/faults
  GET  /_sim/media?chatbot_id=             uploads: id, chatbot_id, state, url, thumbnail_url?, until, file_name,
                                           content_type, size, sha256, parts, reason?, notifications
  POST /_sim/media/{id}/audit              {"approved": bool, "reason"?}: settle now and notify
  POST /_sim/media/{id}/expire             until moves to the past; the URL is refused in sends
  GET  /_sim/templates?chatbot_id=         POST /_sim/templates/{id}/audit {"approved": bool, "reason"?}
  GET|PUT /_sim/audit                      {"media"|"templates": approve|reject|hold, "delay_seconds",
                                           "reason", "ttl_seconds"}: policy for what comes from now on
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any, cast
from urllib.parse import parse_qs, quote, urlencode

import orjson
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from . import ui
from .audit import AuditDesk
from .constants import (
    CONTENT_PATH,
    CT_FTHTTP,
    CT_STATIC_TEMPLATE,
    DEFAULT_REPORTS,
    DESC_NOT_CAPABLE,
    DESC_SMS,
    DESC_UP2,
    DOWNLINK_FAMILIES,
    DOWNLOAD_PREFIX,
    HEADER_INTENDED_IDENTITY,
    HEADER_TID,
    HTTP_AUTH,
    HTTP_CONTENT_TYPE,
    HTTP_NOT_FOUND,
    HTTP_POLICY,
    HTTP_RATE_LIMITED,
    HTTP_REVOKE_OK,
    HTTP_TOO_LARGE,
    PART_FILE,
    PART_THUMBNAIL,
    POL0003_TEXT,
    POL_AUTH,
    POL_IDENTITY,
    POL_TOO_MANY,
    PORTED_OUT_TEXT,
    RATE_LIMITED_CODE,
    REASON_TYPE_MISMATCH,
    REPORT_REQUESTS,
    REVOKE_PATH_SUFFIX,
    SENT_DELAY_MS,
    ST_DELIVERED,
    ST_DISPLAYED,
    ST_IMPOSSIBLE,
    ST_REVOKE_FAILED,
    ST_REVOKE_REQUESTED,
    ST_REVOKED,
    ST_SENT,
    ST_TO_NETWORK,
    SUFFIX_FILE,
    SUFFIX_THUMBNAIL,
    SVC_ADDRESS,
    SVC_GENERIC,
    SVC_INVALID,
    SVC_MEDIA_NOT_APPROVED,
    SVC_PORTED_OUT,
    SVC_TEMPLATE_NOT_APPROVED,
    TEMPLATE_CONTENT_TYPES,
    TEMPLATE_PATH,
    TRAFFIC_TYPES,
)
from .content import ContentError, Part, parse_body
from .conversation import Conversation, timestamp
from .conversation import build as build_conversation
from .materials import MediaItem, StoredFile, TemplateItem
from .media import (
    UNDECLARED_TYPES,
    FormDataError,
    FormPart,
    MediaKind,
    parse_form_data,
    sniff,
    urls_in_card,
    urls_in_file_info,
)
from .notifier import Notifier, Step
from .settings import (
    ADDRESS_FORMS,
    CAPABILITIES,
    AddressForm,
    Capability,
    ChatbotAccount,
    ConfigError,
    SimulatorSettings,
)
from .state import (
    HANG,
    REVOCABLE,
    AccountEntry,
    DeliveredAs,
    Handset,
    InboxEntry,
    MessageRecord,
    SimState,
    StoredContent,
)
from .uplink import UplinkError, build_uplink
from .wire import (
    InboundFields,
    OutboundRequest,
    WireError,
    build_inbound_notification,
    build_request_error,
    build_revoke_answer,
    build_send_response,
    chatbot_id_from_uri,
    chatbot_uri,
    ims_orig_user,
    ims_sip_uri,
    invalid,
    is_tel_uri,
    nginx_page,
    normalize_number,
    parse_basic,
    parse_http_date,
    parse_media_type,
    parse_outbound_request,
    parse_status_report,
    peek_message_id,
    signature,
    signature_matches,
    tel_uri,
)

log = logging.getLogger(__name__)

XML = "application/xml"
_XML_BYTES = XML.encode()
_Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
# Work to run once the answer has been written (the revoke result notification, §1.5).
_After = Callable[[], None] | None
_BOOLEANS = {"true": True, "false": False}
_ENCODINGS = frozenset({"utf8", "utf-8", "base64"})
# The handset page shows what chatbots sent, so whoever can send to the simulator: it runs only its own
# script, and loads only http(s) media. Forms may go elsewhere: an open-URL tap is redirected to its URL.
_PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src http: https:; media-src http: https:; "
        "connect-src 'self'; form-action 'self' http: https:; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
_STATIC = {"handset.js": "text/javascript; charset=utf-8", "handset.css": "text/css; charset=utf-8"}


class ControlError(Exception):
    """A control-API request that is answered with {"error": ...}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _auth_error(text: str, variables: str = "") -> WireError:
    return WireError(POL_AUTH, text, variables, status=HTTP_AUTH)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


class Simulator:
    """Holds state and notifier; its methods are the route endpoints."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.state = SimState(settings)
        self.notifier = Notifier(settings, self.state)
        self.audit = AuditDesk(self.state, self.notifier)
        self._downlink_head = settings.path_prefix + "/messaging/"
        self._resource_roots: dict[tuple[str, str, str, str], str] = {}
        self._rate_windows: dict[str, tuple[int, int]] = {}

    async def start(self) -> None:
        await self.notifier.start()

    async def close(self) -> None:
        await self.notifier.close()

    # ------------------------------------------------------------------ downlink (§1.1, §1.2)

    def match_downlink(self, path: str) -> tuple[str, str] | None:
        """`{prefix}/messaging/{family}/outbound/{chatbotURI}/requests` -> (family, chatbotURI).

        The ASGI server has already percent-decoded the path, so a raw and a URL-encoded
        chatbot URI (§1.1: both are seen) arrive here in the same form.
        """
        head = self._downlink_head
        if not path.startswith(head) or not path.endswith("/requests"):
            return None
        family, sep, uri = path[len(head) : -len("/requests")].rpartition("/outbound/")
        if not sep or not family or not uri or "/" in uri:
            return None
        return family, uri

    async def asgi_downlink(self, scope: Scope, receive: Receive, send: Send, family: str, uri: str) -> None:
        """The downlink hot path, on raw ASGI: no router, no middleware, no Request object."""
        try:
            status, headers, body = await self._downlink(scope, receive, family, uri)
        except Exception:  # a bug must still answer like a server, not drop the connection
            log.exception("downlink failed")
            status, headers, body = 500, [(b"content-type", b"text/html")], nginx_page(500)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _downlink(self, scope: Scope, receive: Receive, family: str, uri: str) -> _Answer:
        state = self.state
        state.stats.requests += 1
        if scope["method"] != "POST":
            return 405, [(b"allow", b"POST"), (b"content-type", b"text/plain")], b"Method Not Allowed"
        body = await _read_body(receive, self.settings.max_body_bytes)
        fault = state.take_fault()
        if fault is not None:
            answer = await self._fault_answer(fault, body, uri)
        else:
            answer = self._process(scope, body, family, uri)
        # latency_ms delays the answer, not the work: the carrier has already accepted (and begun
        # delivering) when a slow answer makes the client time out, as on a real network.
        latency = state.faults.latency_ms
        if latency > 0:
            await asyncio.sleep(latency / 1000.0)
        return answer

    def _process(self, scope: Scope, body: bytes | None, family: str, uri: str) -> _Answer:
        try:
            if body is None:
                raise WireError(SVC_GENERIC, "Request body too large", "bodyText", status=HTTP_TOO_LARGE)
            return self._accept(scope, body, family, uri)
        except WireError as error:
            self.state.count_rejection(error.code)
            return _error_answer(error)

    async def _fault_answer(self, fault: int | str, body: bytes | None, uri: str) -> _Answer:
        # A faulted request never reaches the MaaP proper: not accepted, not delivered. It still
        # counts as "received" so a test can see the client's retry arrive.
        chatbot_id = chatbot_id_from_uri(uri)
        message_id = peek_message_id(body) if chatbot_id and body else None
        if chatbot_id and message_id:
            record = self.state.record(chatbot_id, message_id)
            record.received += 1
            record.faulted += 1
        if fault == HANG:
            await asyncio.sleep(self.state.faults.hang_seconds)
            status = 504
        else:
            status = int(fault)
        return status, [(b"content-type", b"text/html"), (b"server", b"nginx")], nginx_page(status)

    def _accept(self, scope: Scope, body: bytes, family: str, uri: str) -> _Answer:
        settings = self.settings
        state = self.state
        if family not in DOWNLINK_FAMILIES:
            raise WireError(SVC_GENERIC, f"Unknown API family {family!r}", family, status=404)
        chatbot_id = chatbot_id_from_uri(uri)
        entry = state.accounts.get(chatbot_id) if chatbot_id else None
        if entry is None:
            raise _auth_error(f"Unknown chatbot {uri}", uri)
        headers = _headers(scope)
        self._authenticate(headers, entry.account.app_id, entry.token)
        self._check_rate(entry.account.chatbot_id)
        _check_content_type(headers)
        req = parse_outbound_request(body, strict=settings.strict_schema)
        client_message_id = req.get("messageId") or None
        record = state.record(entry.account.chatbot_id, client_message_id) if client_message_id else None
        if record is not None:
            record.received += 1
        try:
            destinations, content = self._validate(req, entry.account)
        except WireError:
            if record is not None:
                record.rejected += 1
            raise
        if record is None:
            record = state.record(entry.account.chatbot_id, str(uuid.uuid4()))
            record.received += 1
        record.accepted += 1
        if record.content is None:
            record.content = content
            record.link = self._resource_root(scope, headers, family, uri) + record.message_id
        fresh = [d for d in destinations if d not in record.recipients]
        if not fresh:
            state.stats.duplicates += 1
        for destination in fresh:
            self._deliver(record, destination)
        state.stats.accepted += 1
        answer = build_send_response(record.message_id, req.get("clientCorrelator") or None, destinations, record.link)
        return 201, [(b"content-type", _XML_BYTES), (b"location", record.link.encode())], answer

    def _check_rate(self, chatbot_id: str) -> None:
        limit = self.state.faults.tps_limit
        if limit <= 0:
            return
        second = int(time.monotonic())
        window, count = self._rate_windows.get(chatbot_id, (second, 0))
        if window != second:
            window, count = second, 0
        if count >= limit:
            raise WireError(RATE_LIMITED_CODE, f"Rate limit of {limit:g} requests per second exceeded", chatbot_id,
                            status=HTTP_RATE_LIMITED)
        self._rate_windows[chatbot_id] = (window, count + 1)

    def _authenticate(self, headers: Mapping[str, str], app_id: str, token: str) -> None:
        """§1.8: Basic base64(appId:hex(sha256(hex(sha256(password)) + Date))), Date fresh."""
        credentials = parse_basic(headers.get("authorization"))
        if credentials is None:
            raise _auth_error("Missing or malformed Basic Authorization header", "Authorization")
        given_app_id, given_signature = credentials
        if given_app_id != app_id:
            raise _auth_error(f"appId {given_app_id!r} is not the appId of this chatbot", given_app_id)
        date = headers.get("date")
        if not date:
            raise _auth_error("Missing Date header", "Date")
        sent_at = parse_http_date(date)
        if sent_at is None:
            raise _auth_error(f"Malformed Date header {date!r}", "Date")
        if abs(time.time() - sent_at) > self.settings.date_skew_seconds:
            raise _auth_error(f"Date header {date!r} is outside the allowed clock skew", "Date")
        if not signature_matches(signature(token, date), given_signature):
            raise _auth_error("Authorization signature does not match", "Authorization")

    def _validate(self, req: OutboundRequest, account: ChatbotAccount) -> tuple[list[str], StoredContent]:
        strict = self.settings.strict_schema
        raw = req.destinations
        if not raw or not all(raw):
            raise invalid("Missing mandatory field destinationAddress", "destinationAddress")
        if len(raw) > self.settings.max_destinations:
            # §1.2 / §1.6: stated code and text.
            raise WireError(POL_TOO_MANY, POL0003_TEXT, "destinationAddress", status=HTTP_POLICY)
        destinations = list(dict.fromkeys(raw))
        for destination in destinations:
            if not is_tel_uri(destination):
                raise WireError(
                    SVC_ADDRESS, f"Invalid destinationAddress {destination!r}, expected tel:+<digits>", destination
                )
            handset = self.state.handsets.get(destination[4:])
            if handset is not None and handset.ported_out:
                raise WireError(SVC_PORTED_OUT, PORTED_OUT_TEXT, destination)
        sender = req.get("senderAddress")
        if not sender:
            raise invalid("Missing mandatory field senderAddress", "senderAddress")
        matches = sender == account.uri if strict else chatbot_id_from_uri(sender) == account.chatbot_id
        if not matches:
            raise invalid(f"senderAddress {sender!r} does not match the chatbot {account.uri}", sender)
        content_type = req.get("contentType")
        if not content_type:
            raise invalid("Missing mandatory field contentType", "contentType")
        body_text = req.get("bodyText")
        if body_text is None:
            raise invalid("Missing mandatory field bodyText", "bodyText")
        body_text = self._decode(body_text, req.get("contentEncoding"), "bodyText")
        reports = self._reports(req.report_requests)
        traffic_type = req.get("trafficType")
        if strict and traffic_type is not None and traffic_type not in TRAFFIC_TYPES:
            raise invalid(f"Invalid trafficType {traffic_type!r}", "trafficType")
        try:
            parts = parse_body(content_type, body_text, strict=strict)
        except ContentError as exc:
            raise invalid(f"Invalid rich content at {exc.path}: {exc.reason}", exc.path) from None
        content_type, body_text, template_id, parts = self._resolve_template(
            account.chatbot_id, content_type, body_text, parts
        )
        self._check_media(account.chatbot_id, parts)
        content = StoredContent(
            content_type=content_type,
            body_text=body_text,
            conversation_id=req.get("conversationID") or None,
            contribution_id=req.get("contributionID") or None,
            reports=reports,
            traffic_type=traffic_type,
            template_id=template_id,
        )
        self._boolean(req, "storeSupported")
        if self._boolean(req, "fallbackSupported"):
            fallback_type = req.get("fallbackContentType") or "text/plain"
            fallback = req.get("rcsBodyText")
            if fallback is None and strict:
                raise invalid("fallbackSupported needs rcsBodyText", "rcsBodyText")
            if fallback is not None:
                encoding = req.get("fallbackEncoding") or req.get("fallbackContentEncoding")
                fallback = self._decode(fallback, encoding, "rcsBodyText")
                if strict:
                    try:
                        parse_body(fallback_type, fallback, strict=True)
                    except ContentError as exc:
                        raise invalid(f"Invalid rcsBodyText at {exc.path}: {exc.reason}", "rcsBodyText") from None
                fallback_type, fallback = self._checked_fallback(account.chatbot_id, fallback_type, fallback)
                content.rcs_fallback_type, content.rcs_fallback = fallback_type, fallback
        if self._boolean(req, "shortMessageSupported"):
            sms = req.get("smsBodyText")
            if not sms and strict:
                raise invalid("shortMessageSupported needs smsBodyText", "smsBodyText")
            content.sms_text = sms or None
        return destinations, content

    def _resolve_template(
        self, chatbot_id: str, content_type: str, body_text: str, parts: list[Part]
    ) -> tuple[str, str, str | None, list[Part]]:
        """§3.2 static-template: what goes is the approved template's stored body, never the reference.

        Returns (content type, body, templateID or None, parts of what goes).
        """
        if not parts or parts[0].kind != "template":
            return content_type, body_text, None, parts
        template_id = str(parts[0].data["templateID"])
        template = self.state.materials.find_template(template_id, chatbot_id)
        if template is None or template.state != "approved":
            shown = "unknown" if template is None else template.state
            raise WireError(SVC_TEMPLATE_NOT_APPROVED, f"Template {template_id} is not approved ({shown})", template_id)
        # The body passed the same checks at submission, so it parses.
        parts = parse_body(template.content_type, template.body, strict=False)
        return template.content_type, template.body, template_id, parts

    def _check_media(self, chatbot_id: str, parts: list[Part]) -> None:
        """A URL this MaaP issued is usable only once approved, and only by the chatbot that uploaded it.

        URLs it did not issue belong to someone else's file server and are not looked at.
        """
        store = self.state.materials
        if not store.by_url:
            return  # the common case on the hot path: nothing was ever uploaded
        now = time.time()
        for part in parts:
            if part.kind == "file":
                urls = urls_in_file_info(part.data)
            elif part.kind == "card":
                urls = urls_in_card(part.data)
            else:
                continue
            for url in urls:
                item = store.by_url.get(url)
                if item is None:
                    continue
                state = item.current_state(now)
                if state != "approved":
                    raise WireError(SVC_MEDIA_NOT_APPROVED, f"Media {url} is not approved ({state})", url)
                if item.chatbot_id != chatbot_id:
                    raise WireError(SVC_MEDIA_NOT_APPROVED, f"Media {url} was uploaded by another chatbot", url)

    def _checked_fallback(self, chatbot_id: str, content_type: str, body_text: str) -> tuple[str, str]:
        """The rcsBodyText an UP1 handset gets: a template in it is resolved, its media checked like the body's."""
        is_template = parse_media_type(content_type)[0] == CT_STATIC_TEMPLATE
        if not is_template and not self.state.materials.by_url:
            return content_type, body_text
        try:
            parts = parse_body(content_type, body_text, strict=False)
        except ContentError as exc:
            if is_template:
                raise invalid(f"Invalid rcsBodyText at {exc.path}: {exc.reason}", "rcsBodyText") from None
            return content_type, body_text  # lenient mode carries an unreadable fallback as it is
        content_type, body_text, _template, parts = self._resolve_template(chatbot_id, content_type, body_text, parts)
        self._check_media(chatbot_id, parts)
        return content_type, body_text

    def _decode(self, text: str, encoding: str | None, name: str) -> str:
        if encoding is None:
            return text
        lowered = encoding.strip().lower()
        if lowered == "base64":
            try:
                return base64.b64decode(text.strip(), validate=False).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise invalid(f"{name} is not valid base64 UTF-8", name) from None
        if self.settings.strict_schema and lowered not in _ENCODINGS:
            raise invalid(f"Unsupported contentEncoding {encoding!r}", "contentEncoding")
        return text

    def _reports(self, values: list[str]) -> frozenset[str]:
        if not values:
            return DEFAULT_REPORTS
        unknown = [v for v in values if v not in REPORT_REQUESTS]
        if unknown and self.settings.strict_schema:
            raise invalid(f"Unknown reportRequest {unknown[0]!r}", "reportRequest")
        return frozenset(v for v in values if v in REPORT_REQUESTS)

    def _boolean(self, req: OutboundRequest, name: str) -> bool:
        value = req.get(name)
        if value is None or value == "":
            return False
        parsed = _BOOLEANS.get(value.lower())
        if parsed is None:
            if self.settings.strict_schema:
                raise invalid(f"{name} must be true or false, got {value!r}", name)
            return False
        return parsed

    def _resource_root(self, scope: Scope, headers: Mapping[str, str], family: str, uri: str) -> str:
        """`.../requests/` of this chatbot as seen by the client; cached, it is the same for every send."""
        key = (scope.get("scheme", "http"), headers.get("host", "localhost"), family, uri)
        root = self._resource_roots.get(key)
        if root is None:
            if len(self._resource_roots) > 1024:
                self._resource_roots.clear()
            root = (
                f"{key[0]}://{key[1]}{self.settings.path_prefix}/messaging/{family}/outbound/"
                f"{quote(uri, safe='')}/requests/"
            )
            self._resource_roots[key] = root
        return root

    # ------------------------------------------------------------------ delivery (§1.3, §3.5)

    def _copies(self) -> int:
        return 2 if self.state.faults.duplicate_notifications else 1

    def _report(self, record: MessageRecord, destination: str, handset: Handset, steps: list[Step]) -> None:
        """Queue reports for one recipient; its first report fixes the address form all of them use."""
        if not steps:
            return
        chain = record.chains.get(destination)
        if chain is not None and chain.generation == self.state.generation:
            address = chain.address
        else:
            address = self._notify_address(handset)
        self.notifier.add_steps(record, destination, address, steps)

    def _deliver(self, record: MessageRecord, destination: str) -> None:
        """Start one recipient's delivery: held or failed now, arrival after delivered_delay_ms.

        Until it arrives the recipient is "pending" and a revoke (§1.5) still recalls it.
        """
        state = self.state
        content = record.content
        if content is None:  # set by _accept before any recipient is delivered
            return
        handset = state.handset(destination[4:])
        if handset.capability == "offline":
            self._hold(record, destination, handset)
            return
        if "Sent" in content.reports:
            self._report(record, destination, handset, [Step(ST_SENT, None, SENT_DELAY_MS / 1000.0, self._copies())])
        delay_s = state.faults.delivered_delay_ms / 1000.0
        if handset.capability == "none" and content.sms_text is None:
            self._fail(record, destination, handset, content, delay_s)
            return
        record.recipients[destination] = "pending"
        asyncio.get_running_loop().call_later(delay_s, self._arrive, record, destination, state.generation)

    def _hold(self, record: MessageRecord, destination: str, handset: Handset) -> None:
        record.recipients[destination] = "held"
        handset.held.append(record)
        self.state.stats.held += 1

    def _fail(
        self, record: MessageRecord, destination: str, handset: Handset, content: StoredContent, delay_s: float
    ) -> None:
        record.recipients[destination] = "failed"
        self.state.stats.delivery_impossible += 1
        if "Failed" in content.reports:
            self._report(record, destination, handset, [Step(ST_IMPOSSIBLE, DESC_NOT_CAPABLE, delay_s, self._copies())])

    def _arrive(self, record: MessageRecord, destination: str, generation: int) -> None:
        """delivered_delay_ms later: the message reaches the handset, unless revoked meanwhile."""
        state = self.state
        content = record.content
        if generation != state.generation or content is None or record.recipients.get(destination) != "pending":
            return  # reset, or revoked (§1.5) while on its way: nothing lands, nothing is reported
        handset = state.handset(destination[4:])
        # The handset may have changed while the message travelled.
        capability = handset.capability
        if capability == "offline":
            self._hold(record, destination, handset)
            return
        if capability == "none" and content.sms_text is None:
            self._fail(record, destination, handset, content, 0.0)
            return
        faults = state.faults
        stats = state.stats
        reports = content.reports
        copies = self._copies()
        now = time.time()
        inbox_limit = self.settings.inbox_limit
        steps: list[Step] = []
        if capability in ("up2", "up1"):
            delivered_as: DeliveredAs = "rcs" if capability == "up2" else "up1"
            handset.receive(InboxEntry(record.message_id, record.chatbot_id, delivered_as, content, now), inbox_limit)
            record.recipients[destination] = "delivered"
            pair: list[tuple[str, str | None]] = []
            if "Delivered" in reports:
                pair.append((ST_DELIVERED, DESC_UP2 if capability == "up2" else None))
            if "Displayed" in reports:
                pair.append((ST_DISPLAYED, None))
            if faults.out_of_order:
                pair.reverse()
            # The arrival itself waited delivered_delay_ms; the read report follows after displayed_delay_ms.
            delays = (0.0, faults.displayed_delay_ms / 1000.0)
            steps.extend(Step(s, d, delays[i], copies) for i, (s, d) in enumerate(pair))
        else:
            handset.receive(InboxEntry(record.message_id, record.chatbot_id, "sms", content, now), inbox_limit)
            record.recipients[destination] = "sms"
            stats.sms_fallbacks += 1
            if reports & {"Delivered", "SMS"}:
                steps.append(Step(ST_TO_NETWORK, DESC_SMS, 0.0, copies))
        record.delivered += 1
        stats.delivered += 1
        self._report(record, destination, handset, steps)

    def _notify_address(self, handset: Handset) -> str:
        form = handset.address_form
        if form is None:
            ratio = self.settings.sip_address_ratio
            form = "sip" if ratio > 0 and self.state.rng.random() < ratio else "tel"
        if form == "sip":
            return ims_sip_uri(handset.number, self.settings.ims_domain)
        return tel_uri(handset.number)

    def _flush_held(self, handset: Handset) -> None:
        held, handset.held = handset.held, []
        destination = tel_uri(handset.number)
        for record in held:
            if record.recipients.get(destination) == "held":
                del record.recipients[destination]
                self._deliver(record, destination)

    # ------------------------------------------------------------------ revoke (§1.5)

    def match_revoke(self, path: str) -> tuple[str, str, str] | None:
        """`{prefix}/messaging/{family}/outbound/{chatbotURI}/requests/{messageId}/status`.

        -> (family, chatbotURI, messageId); the path is percent-decoded already, like a downlink's.
        """
        head = self._downlink_head
        if not path.startswith(head) or not path.endswith(REVOKE_PATH_SUFFIX):
            return None
        rest, sep, message_id = path[len(head) : -len(REVOKE_PATH_SUFFIX)].rpartition("/requests/")
        if not sep or not message_id or "/" in message_id:
            return None
        family, sep, uri = rest.rpartition("/outbound/")
        if not sep or not family or not uri or "/" in uri:
            return None
        return family, uri, message_id

    async def asgi_revoke(
        self, scope: Scope, receive: Receive, send: Send, family: str, uri: str, message_id: str
    ) -> None:
        after: _After = None
        try:
            (status, headers, body), after = await self._revoke(scope, receive, family, uri, message_id)
        except Exception:  # a bug must still answer like a server, not drop the connection
            log.exception("revoke failed")
            status, headers, body = 500, [(b"content-type", b"text/html")], nginx_page(500)
        headers.append((b"content-length", str(len(body)).encode()))
        try:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        finally:
            # The result is queued only now, so the CSP has the 200 before it hears the outcome.
            if after is not None:
                after()

    async def _revoke(
        self, scope: Scope, receive: Receive, family: str, uri: str, message_id: str
    ) -> tuple[_Answer, _After]:
        state = self.state
        state.stats.revoke_requests += 1
        if scope["method"] != "PUT":
            return (405, [(b"allow", b"PUT"), (b"content-type", b"text/plain")], b"Method Not Allowed"), None
        body = await _read_body(receive, self.settings.max_body_bytes)
        try:
            if body is None:
                raise WireError(SVC_GENERIC, "Request body too large", "messageStatusReport", status=HTTP_TOO_LARGE)
            return self._revoke_accept(scope, body, family, uri, message_id)
        except WireError as error:
            state.stats.revoke_rejected += 1
            return _error_answer(error), None

    def _revoke_accept(
        self, scope: Scope, body: bytes, family: str, uri: str, message_id: str
    ) -> tuple[_Answer, _After]:
        state = self.state
        if family not in DOWNLINK_FAMILIES:
            raise WireError(SVC_GENERIC, f"Unknown API family {family!r}", family, status=HTTP_NOT_FOUND)
        chatbot_id = chatbot_id_from_uri(uri)
        entry = state.accounts.get(chatbot_id) if chatbot_id else None
        if entry is None:
            raise _auth_error(f"Unknown chatbot {uri}", uri)
        headers = _headers(scope)
        self._authenticate(headers, entry.account.app_id, entry.token)
        _check_content_type(headers)
        report = parse_status_report(body, strict=self.settings.strict_schema)
        if report.status != ST_REVOKE_REQUESTED:
            raise invalid(f"status must be {ST_REVOKE_REQUESTED}, got {report.status!r}", report.status)
        address = report.address
        if not is_tel_uri(address):
            raise invalid(f"Invalid address {address!r}, expected tel:+<digits>", address)
        if report.message_id is not None and report.message_id != message_id:
            raise invalid(f"messageId {report.message_id!r} does not match the request path", report.message_id)
        record = state.find_record(message_id, entry.account.chatbot_id)
        if record is None or record.content is None:
            raise WireError(SVC_INVALID, f"Unknown messageId {message_id}", message_id, status=HTTP_NOT_FOUND)
        if address not in record.recipients:
            raise WireError(
                SVC_INVALID, f"Message {message_id} was not sent to {address}", address, status=HTTP_NOT_FOUND
            )
        outcome = self._recall(record, address)
        answer = build_revoke_answer(ST_REVOKE_REQUESTED, address, message_id)

        def report_outcome() -> None:
            step = Step(outcome, None, 0.0, self._copies())
            self._report(record, address, state.handset(address[4:]), [step])

        return (HTTP_REVOKE_OK, [(b"content-type", _XML_BYTES)], answer), report_outcome

    def _recall(self, record: MessageRecord, destination: str) -> str:
        """Recall one recipient if the message has not reached it; returns Revoked or RevokeFailed."""
        stats = self.state.stats
        record.revoke_requests += 1
        current = record.recipients[destination]
        if current in REVOCABLE:
            if current == "held":
                handset = self.state.handsets.get(destination[4:])
                if handset is not None:
                    handset.held = [r for r in handset.held if r is not record]
            # A pending arrival timer finds the recipient no longer "pending" and does nothing.
            record.recipients[destination] = "revoked"
        outcome = ST_REVOKED if record.recipients[destination] == "revoked" else ST_REVOKE_FAILED
        record.revocations[destination] = outcome
        if outcome == ST_REVOKED:
            stats.revoked += 1
        else:
            stats.revoke_failed += 1
        return outcome

    # ------------------------------------------------------------------ uplink (§1.4)

    async def send_uplink(self, number: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        state = self.state
        chatbot_id = str(payload.get("chatbot_id", ""))
        entry = state.accounts.get(chatbot_id)
        if entry is None:
            raise ControlError(404, f"unknown chatbot_id {chatbot_id!r}")
        try:
            content = build_uplink(payload, entry.account.uri)
        except UplinkError as exc:
            raise ControlError(400, str(exc)) from None
        form = payload.get("sender_form", "tel")
        if form not in ADDRESS_FORMS:
            raise ControlError(400, f"sender_form must be one of {ADDRESS_FORMS}")
        domain = self.settings.ims_domain
        sender = tel_uri(number) if form == "tel" else ims_sip_uri(number, domain)
        orig_user = tel_uri(number) if form == "tel" else ims_orig_user(number, domain)
        conversation_id, reply_to = str(uuid.uuid4()), None
        in_reply_to = payload.get("in_reply_to")
        if in_reply_to is not None:
            record = state.find_record(str(in_reply_to), chatbot_id)
            if record is None or record.content is None:
                raise ControlError(404, f"unknown in_reply_to message {in_reply_to!r}")
            # [I] the reply joins the downlink's conversation and points at its contribution.
            conversation_id = record.content.conversation_id or conversation_id
            reply_to = record.content.contribution_id
        message_id = str(uuid.uuid4()) if content.has_message_id else None
        contribution_id = str(uuid.uuid4())
        # Taken before the CSP answers: a reply it sends while still answering comes after this on the handset.
        sent_at = time.time()
        xml = build_inbound_notification(
            InboundFields(
                destination=entry.account.uri,
                sender=sender,
                orig_user=orig_user,
                message_id=message_id,
                content_type=content.content_type,
                body_text=content.body_text,
                content_encoding=content.content_encoding,
                conversation_id=conversation_id,
                contribution_id=contribution_id,
                in_reply_to_contribution_id=reply_to,
                date_time=_iso(sent_at),
            )
        )
        url = f"{entry.account.notify_url.rstrip('/')}/InboundMessageNotification/{chatbot_id}"
        status, error, attempts = await self.notifier.post_with_retries(url, entry, xml)
        ok = status is not None and 200 <= status < 300
        if ok:
            state.stats.uplinks_sent += 1
        else:
            state.stats.uplinks_failed += 1
        result: dict[str, Any] = {
            "message_id": message_id,
            "status": status,
            "ok": ok,
            "attempts": attempts,
            "error": error,
            "kind": content.kind,
            "chatbot_id": chatbot_id,
            "sender_address": sender,
            "content_type": content.content_type,
            "content_encoding": content.content_encoding,
            "body_text": content.plain_body,
            "conversation_id": conversation_id,
            "contribution_id": contribution_id,
            "in_reply_to_contribution_id": reply_to,
            "sent_at": _iso(sent_at),
        }
        state.handset(number).sent(result)
        return result

    # ------------------------------------------------------------------ media (§3.2, §2.4)

    def _file_server_caller(self, headers: Mapping[str, str]) -> AccountEntry:
        """The chatbot named by X-3GPP-Intended-Identity, authenticated with §1.8 as on a downlink."""
        identity = headers.get(HEADER_INTENDED_IDENTITY, "").strip()
        if not identity:
            raise invalid("Missing mandatory header X-3GPP-Intended-Identity", "X-3GPP-Intended-Identity")
        chatbot_id = chatbot_id_from_uri(identity)
        if chatbot_id is None:
            raise invalid(f"X-3GPP-Intended-Identity {identity!r} is not a chatbot URI", identity)
        entry = self.state.accounts.get(chatbot_id)
        if entry is None:
            raise WireError(POL_IDENTITY, f"Unknown chatbot {identity}", identity, status=HTTP_POLICY)
        self._authenticate(headers, entry.account.app_id, entry.token)
        return entry

    async def upload_media(self, request: Request) -> Response:
        stats = self.state.stats
        stats.media_uploads += 1
        try:
            item = await self._upload(request)
        except WireError as error:
            stats.media_refused += 1
            return _wire_response(error)
        # The audit is scheduled once the answer is written, so the CSP has the tid before the result.
        return Response(
            item.descriptor(),
            200,
            headers={HEADER_TID: item.tid},
            media_type=CT_FTHTTP,
            background=BackgroundTask(self.audit.media_uploaded, item),
        )

    async def _upload(self, request: Request) -> MediaItem:
        entry = self._file_server_caller(request.headers)
        declared = request.headers.get("content-type", "")
        main, params = parse_media_type(declared)
        if main != "multipart/form-data":
            raise WireError(
                SVC_GENERIC,
                f"Unsupported Content-Type {declared!r}, expected multipart/form-data",
                "Content-Type",
                status=HTTP_CONTENT_TYPE,
            )
        body = await _read_request_body(request, self.settings.max_upload_bytes)
        if body is None:
            raise WireError(SVC_GENERIC, "Request body too large", PART_FILE, status=HTTP_TOO_LARGE)
        try:
            parts = parse_form_data(body, params.get("boundary", ""))
        except FormDataError as exc:
            raise invalid(f"Malformed multipart/form-data: {exc}", "Content-Type") from None
        # Part names are matched without regard to case; the first part of a name counts.
        by_name: dict[str, FormPart] = {}
        for part in parts:
            by_name.setdefault(part.name.lower(), part)
        file_part = by_name.get(PART_FILE.lower())
        if file_part is None:
            raise invalid(f"Missing mandatory part {PART_FILE}", PART_FILE)
        thumbnail_part = by_name.get(PART_THUMBNAIL.lower())
        file_kind = self._checked_kind(file_part, PART_FILE)
        thumbnail_kind = self._checked_kind(thumbnail_part, PART_THUMBNAIL) if thumbnail_part else None

        store = self.state.materials
        policy = store.policy
        tid = str(uuid.uuid4())
        # The URLs name this server as the request reached it, so whoever uploaded can download.
        base = str(request.base_url).rstrip("/")
        now = time.time()
        file_name = file_part.filename or f"{tid}.{file_kind.extension}"
        file = _stored_file(base, tid, SUFFIX_FILE, file_part, file_kind, file_name)
        checked = [(PART_FILE, file, file_kind)]
        thumbnail = None
        if thumbnail_part is not None and thumbnail_kind is not None:
            thumbnail = _stored_file(base, tid, SUFFIX_THUMBNAIL, thumbnail_part, thumbnail_kind, None)
            checked.append((PART_THUMBNAIL, thumbnail, thumbnail_kind))
        # Accepted now (the type check is by signature), rejected at audit: the carrier's way.
        mismatch = next(
            (
                f"{REASON_TYPE_MISMATCH}: {label} declared {stored.declared_type}, content is {kind.content_type}"
                for label, stored, kind in checked
                if not kind.declared_as(stored.declared_type)
            ),
            None,
        )
        item = MediaItem(
            tid=tid,
            chatbot_id=entry.account.chatbot_id,
            file=file,
            thumbnail=thumbnail,
            parts=[part.name for part in parts],
            uploaded_at=now,
            until_ts=now + policy.ttl_seconds,
            planned=policy.media,
            mismatch=mismatch,
        )
        store.add_media(item)
        return item

    def _checked_kind(self, part: FormPart, label: str) -> MediaKind:
        """The part's type by its signature bytes (415 when refused) within its size limit (413)."""
        kind = sniff(part.data)
        if kind is None or (label == PART_THUMBNAIL and kind.category != "image"):
            accepted = "JPG/PNG/GIF" if label == PART_THUMBNAIL else "JPG/PNG/GIF, AMR/MP3/M4A, MP4/WEBM"
            raise WireError(
                SVC_GENERIC, f"{label}: unsupported file type, accepted {accepted}", label, status=HTTP_CONTENT_TYPE
            )
        settings = self.settings
        if label == PART_THUMBNAIL:
            limit, what = settings.media_thumbnail_max_bytes, "thumbnail"
        else:
            limits = {
                "image": settings.media_image_max_bytes,
                "audio": settings.media_audio_max_bytes,
                "video": settings.media_video_max_bytes,
            }
            limit, what = limits[kind.category], kind.category
        if len(part.data) > limit:
            raise WireError(
                SVC_GENERIC,
                f"{label} of {len(part.data)} bytes exceeds the {what} limit of {limit} bytes",
                label,
                status=HTTP_TOO_LARGE,
            )
        return kind

    async def delete_media(self, request: Request) -> Response:
        store = self.state.materials
        try:
            entry = self._file_server_caller(request.headers)
            tid = request.headers.get(HEADER_TID, "").strip()
            if not tid:
                raise invalid("Missing mandatory header tid", HEADER_TID)
            item = store.find_media(tid)
            # Another chatbot's upload is as unknown to this caller as one that never was.
            if item is None or item.chatbot_id != entry.account.chatbot_id or item.state == "deleted":
                raise WireError(SVC_INVALID, f"Unknown tid {tid}", tid, status=HTTP_NOT_FOUND)
        except WireError as error:
            return _wire_response(error)
        store.delete_media(item)
        self.state.stats.media_deleted += 1
        return Response(status_code=200, headers={HEADER_TID: tid})

    async def download_media(self, request: Request) -> Response:
        """GET of an issued URL: the bytes while approved; 404 pending, rejected, expired or deleted."""
        found = self.state.materials.by_path.get(DOWNLOAD_PREFIX + request.path_params["name"])
        if found is None or found[0].current_state(time.time()) != "approved":
            return Response("Not Found", status_code=HTTP_NOT_FOUND, media_type="text/plain")
        return Response(found[1].data, media_type=found[1].content_type)

    # ------------------------------------------------------------------ templates (§3.2)

    async def submit_template(self, request: Request) -> Response:
        stats = self.state.stats
        stats.templates_submitted += 1
        try:
            item = await self._submit_template(request)
        except WireError as error:
            stats.templates_refused += 1
            return _wire_response(error)
        return JSONResponse(
            {"templateID": item.template_id, "status": "pending"},
            background=BackgroundTask(self.audit.template_submitted, item),
        )

    async def _submit_template(self, request: Request) -> TemplateItem:
        uri = request.path_params["chatbot_uri"]
        chatbot_id = chatbot_id_from_uri(uri)
        entry = self.state.accounts.get(chatbot_id) if chatbot_id else None
        if entry is None:
            raise _auth_error(f"Unknown chatbot {uri}", uri)
        headers = request.headers
        self._authenticate(headers, entry.account.app_id, entry.token)
        declared = headers.get("content-type", "")
        if parse_media_type(declared)[0] != "application/json":
            raise WireError(
                SVC_GENERIC,
                f"Unsupported Content-Type {declared!r}, expected application/json",
                "Content-Type",
                status=HTTP_CONTENT_TYPE,
            )
        body = await _read_request_body(request, self.settings.max_body_bytes)
        if body is None:
            raise WireError(SVC_GENERIC, "Request body too large", "bodyText", status=HTTP_TOO_LARGE)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise invalid(f"Malformed JSON: {exc}") from None
        if not isinstance(data, dict):
            raise invalid("The body must be a JSON object")
        name = data.get("templateName")
        if not isinstance(name, str) or not name.strip():
            raise invalid("Missing mandatory field templateName", "templateName")
        content_type = data.get("contentType")
        if not isinstance(content_type, str) or not content_type:
            raise invalid("Missing mandatory field contentType", "contentType")
        main = parse_media_type(content_type)[0]
        if main not in TEMPLATE_CONTENT_TYPES:
            raise invalid(f"Unsupported template contentType {content_type!r}", "contentType")
        body_text = data.get("bodyText")
        if not isinstance(body_text, str) or not body_text:
            raise invalid("Missing mandatory field bodyText", "bodyText")
        content_type = content_type.strip()
        try:
            parse_body(content_type, body_text, strict=self.settings.strict_schema)
        except ContentError as exc:
            raise invalid(f"Invalid template body at {exc.path}: {exc.reason}", exc.path) from None
        store = self.state.materials
        item = TemplateItem(
            template_id=uuid.uuid4().hex,
            chatbot_id=entry.account.chatbot_id,
            name=name,
            # Kept whole: a parameter such as a multipart boundary is part of how the body reads.
            content_type=content_type,
            body=body_text,
            submitted_at=time.time(),
            planned=store.policy.templates,
        )
        store.add_template(item)
        return item

    # ------------------------------------------------------------------ control API: media, templates, audit

    async def list_media(self, request: Request) -> Response:
        return JSONResponse({"media": self.state.materials.list_media(request.query_params.get("chatbot_id"))})

    async def list_templates(self, request: Request) -> Response:
        chatbot_id = request.query_params.get("chatbot_id")
        return JSONResponse({"templates": self.state.materials.list_templates(chatbot_id)})

    async def get_audit(self, _request: Request) -> Response:
        return JSONResponse(self.state.materials.policy.as_json())

    async def put_audit(self, request: Request) -> Response:
        payload = await _json_object(request)
        store = self.state.materials
        try:
            store.policy = store.policy.updated(payload)
        except ConfigError as exc:
            return _control_error(400, str(exc))
        return JSONResponse(store.policy.as_json())

    async def settle_media(self, request: Request) -> Response:
        item = self.state.materials.find_media(request.path_params["media_id"])
        if item is None:
            return _control_error(404, "unknown media id")
        approved, reason = _verdict(await _json_object(request))
        state = item.current_state(time.time())
        if state in ("deleted", "expired"):
            return _control_error(409, f"the upload is {state}")
        self.audit.settle_media(item, approved=approved, reason=reason)
        return JSONResponse(item.as_json(time.time()))

    async def expire_media(self, request: Request) -> Response:
        item = self.state.materials.find_media(request.path_params["media_id"])
        if item is None:
            return _control_error(404, "unknown media id")
        if item.state == "deleted":
            return _control_error(409, "the upload is deleted")
        now = time.time()
        item.until_ts = min(item.until_ts, now - 1.0)
        item.state = "expired"
        return JSONResponse(item.as_json(now))

    async def settle_template(self, request: Request) -> Response:
        item = self.state.materials.find_template(request.path_params["template_id"])
        if item is None:
            return _control_error(404, "unknown template id")
        approved, reason = _verdict(await _json_object(request))
        self.audit.settle_template(item, approved=approved, reason=reason)
        return JSONResponse(item.as_json())

    # ------------------------------------------------------------------ control API

    async def healthz(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def list_chatbots(self, _request: Request) -> Response:
        return JSONResponse([self._chatbot_json(e.account) for e in self.state.accounts.values()])

    async def put_chatbot(self, request: Request) -> Response:
        chatbot_id = request.path_params["chatbot_id"]
        payload = await _json_object(request)
        try:
            account = ChatbotAccount.from_mapping(payload, chatbot_id=chatbot_id)
        except ConfigError as exc:
            return _control_error(400, str(exc))
        created = chatbot_id not in self.state.accounts
        self.state.put_account(account)
        return JSONResponse(self._chatbot_json(account), 201 if created else 200)

    async def delete_chatbot(self, request: Request) -> Response:
        if self.state.accounts.pop(request.path_params["chatbot_id"], None) is None:
            return _control_error(404, "unknown chatbot")
        return Response(status_code=204)

    @staticmethod
    def _chatbot_json(account: ChatbotAccount) -> dict[str, Any]:
        return {
            "chatbot_id": account.chatbot_id,
            "chatbot_uri": account.uri,
            "app_id": account.app_id,
            "notify_url": account.notify_url,
        }

    def _number(self, request: Request) -> str:
        number = normalize_number(request.path_params["number"])
        if number is None:
            raise ControlError(400, f"not a phone number: {request.path_params['number']!r}")
        return number

    async def put_handset(self, request: Request) -> Response:
        number = self._number(request)
        payload = await _json_object(request)
        self.apply_handset(number, payload)
        return JSONResponse(self._handset_json(self.state.handset(number)))

    def apply_handset(self, number: str, payload: Mapping[str, Any]) -> None:
        capability = payload.get("capability")
        if capability is not None and capability not in CAPABILITIES:
            raise ControlError(400, f"capability must be one of {CAPABILITIES}")
        form = payload.get("address_form")
        if form is not None and form not in ADDRESS_FORMS:
            raise ControlError(400, f"address_form must be one of {ADDRESS_FORMS} or null")
        ported_out = payload.get("ported_out")
        if ported_out is not None and not isinstance(ported_out, bool):
            raise ControlError(400, "ported_out must be a boolean")
        handset = self.state.handset(number)
        handset.pinned = True
        if ported_out is not None:
            handset.ported_out = ported_out
        if "address_form" in payload:
            handset.address_form = cast(AddressForm | None, form)
        if capability is not None:
            handset.capability = cast(Capability, capability)
            if capability != "offline" and handset.held:
                # Store and forward: what was held while offline goes out now.
                self._flush_held(handset)

    async def get_handset(self, request: Request) -> Response:
        number = self._number(request)
        handset = self.state.handsets.get(number)
        if handset is None:
            handset = Handset(number, self.settings.default_capability)
        return JSONResponse(self._handset_json(handset, uplinks=True))

    @staticmethod
    def _handset_json(handset: Handset, *, uplinks: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "number": handset.number,
            "capability": handset.capability,
            "address_form": handset.address_form,
            "ported_out": handset.ported_out,
            "inbox_count": len(handset.inbox),
            "held_count": len(handset.held),
        }
        if uplinks:
            out["uplinks"] = list(handset.uplinks)
        return out

    async def get_inbox(self, request: Request) -> Response:
        number = self._number(request)
        handset = self.state.handsets.get(number)
        entries = list(handset.inbox) if handset else []
        return JSONResponse([self.render_entry(e) for e in entries])

    def render_entry(self, entry: InboxEntry) -> dict[str, Any]:
        content = entry.content
        out: dict[str, Any] = {
            "message_id": entry.message_id,
            "chatbot_id": entry.chatbot_id,
            "chatbot_uri": chatbot_uri(entry.chatbot_id),
            "delivered_as": entry.delivered_as,
            "content_type": content.content_type,
            "conversation_id": content.conversation_id,
            "contribution_id": content.contribution_id,
            "received_at": _iso(entry.received_at),
            "template_id": content.template_id,
            "text": None,
            "card": None,
            "chips": None,
            "file": None,
            "sms": None,
            "rcs_fallback": None,
            "parts": [],
        }
        if entry.delivered_as == "sms":
            out["sms"] = content.sms_text
            return out
        content_type, body = content.content_type, content.body_text
        if entry.delivered_as == "up1" and content.rcs_fallback is not None:
            out["rcs_fallback"] = content.rcs_fallback
            content_type, body = content.rcs_fallback_type or "text/plain", content.rcs_fallback
        try:
            parts = parse_body(content_type, body, strict=False)
        except ContentError:
            parts = [Part(content_type, "other", text=body)]
        for part in parts:
            slot = {"text": "text", "card": "card", "chips": "chips", "file": "file"}.get(part.kind)
            if slot and out[slot] is None:
                out[slot] = part.text if part.kind == "text" else part.data
        out["parts"] = [p.as_json() for p in parts]
        return out

    async def post_uplink(self, request: Request) -> Response:
        number = self._number(request)
        payload = await _json_object(request)
        return JSONResponse(await self.send_uplink(number, payload))

    async def get_message(self, request: Request) -> Response:
        record = self.state.find_record(request.path_params["message_id"], request.query_params.get("chatbot_id"))
        if record is None:
            return _control_error(404, "unknown message id")
        return JSONResponse(record.as_json())

    async def get_stats(self, _request: Request) -> Response:
        out = self.state.stats.as_json()
        out["pending_notifications"] = self.notifier.pending
        out["messages_tracked"] = len(self.state.messages)
        out["handsets_tracked"] = len(self.state.handsets)
        return JSONResponse(out)

    async def reset(self, request: Request) -> Response:
        options = await _json_object(request)
        self.state.reset(
            faults=options.get("faults") is True,
            handsets=options.get("handsets") is True,
            media=options.get("media") is True,
        )
        return JSONResponse({"status": "reset"})

    async def get_faults(self, _request: Request) -> Response:
        return JSONResponse(self.state.faults.as_dict())

    async def put_faults(self, request: Request) -> Response:
        payload = await _json_object(request)
        try:
            self.state.faults = self.state.faults.updated(payload)
        except ConfigError as exc:
            return _control_error(400, str(exc))
        return JSONResponse(self.state.faults.as_dict())

    # ------------------------------------------------------------------ handset web page

    async def page(self, request: Request) -> Response:
        params = request.query_params
        raw = params.get("number", "")
        number = normalize_number(raw) if raw else None
        handset = self.state.handsets.get(number) if number else None
        partners = self._partners(handset)
        phone = None
        conversation = None
        if number:
            chatbot_id = params.get("chatbot_id") or (partners[0] if partners else None)
            if chatbot_id is None and self.state.accounts:
                chatbot_id = next(iter(self.state.accounts))
            if chatbot_id is not None:
                phone = ui.Phone(number, chatbot_id, params.get("encoding") != "plain")
                conversation = self._conversation(number, handset, chatbot_id)
                if chatbot_id not in partners:
                    partners.append(chatbot_id)
        html = ui.render_page(
            chatbots=[e.account for e in self.state.accounts.values()],
            handsets=list(self.state.handsets.values())[-200:],
            number=number,
            handset=handset,
            phone=phone,
            conversation=conversation,
            partners=partners,
            status=ui.status_text(number, handset, self.settings.default_capability) if number else "",
            notice=params.get("notice"),
        )
        return HTMLResponse(html, headers=_PAGE_HEADERS)

    @staticmethod
    def _partners(handset: Handset | None) -> list[str]:
        """The chatbots a handset has talked with, the latest first."""
        if handset is None:
            return []
        moments = [(e.received_at, e.chatbot_id) for e in handset.inbox]
        moments.extend((timestamp(u.get("sent_at")), str(u.get("chatbot_id", ""))) for u in handset.uplinks)
        moments.sort(reverse=True)
        return list(dict.fromkeys(chatbot_id for _, chatbot_id in moments if chatbot_id))

    def _version(self, handset: Handset | None) -> str:
        """Changes with the inbox, the uplinks, the capability and what is held: what the page shows."""
        if handset is None:
            return f"0.{self.settings.default_capability}.0"
        return f"{handset.revision}.{handset.capability}.{len(handset.held)}"

    def _conversation(self, number: str, handset: Handset | None, chatbot_id: str) -> Conversation:
        entries = [self.render_entry(e) for e in handset.inbox if e.chatbot_id == chatbot_id] if handset else []
        uplinks = handset.uplinks if handset else []
        return build_conversation(number, chatbot_id, self._version(handset), entries, uplinks)

    async def get_conversation(self, request: Request) -> Response:
        number = self._number(request)
        chatbot_id = request.query_params.get("chatbot_id", "")
        if not chatbot_id:
            raise ControlError(400, "chatbot_id is required")
        handset = self.state.handsets.get(number)
        version = self._version(handset)
        out: dict[str, Any] = {
            "number": number,
            "chatbot_id": chatbot_id,
            "version": version,
            "status": ui.status_text(number, handset, self.settings.default_capability),
            "changed": request.query_params.get("since") != version,
        }
        if out["changed"]:
            conversation = self._conversation(number, handset, chatbot_id)
            out.update(conversation.as_json())
            phone = ui.Phone(number, chatbot_id, request.query_params.get("encoding") != "plain")
            out["html"] = ui.render_log(phone, conversation)
        return JSONResponse(out, headers={"cache-control": "no-store"})

    async def static_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        media_type = _STATIC.get(name)
        if media_type is None:
            return Response("Not Found", status_code=404, media_type="text/plain")
        return Response(_static_text(name), media_type=media_type, headers={"cache-control": "no-cache"})

    async def ui_uplink(self, request: Request) -> Response:
        form = _form(await request.body())
        number = normalize_number(form.get("number", ""))
        if number is None:
            return _control_error(400, "not a phone number")
        chatbot_id = form.get("chatbot_id", "")
        payload: dict[str, Any] = {"chatbot_id": chatbot_id, "base64": form.get("base64") == "on"}
        kind = form.get("kind", "text")
        if kind == "postback":
            payload["postback"] = {"data": form.get("data", ""), "display_text": form.get("display_text", "")}
        elif kind == "action":
            payload["action"] = {"display_text": form.get("display_text", "")}
            if form.get("data"):
                payload["action"]["data"] = form["data"]
        else:
            payload["text"] = form.get("text", "")
        if form.get("in_reply_to"):
            payload["in_reply_to"] = form["in_reply_to"]
        try:
            result = await self.send_uplink(number, payload)
        except ControlError as exc:
            if _wants_json(request):
                return _control_error(exc.status, exc.message)
            return self._back_to_page(number, chatbot_id, f"not sent: {exc.message}", form)
        if _wants_json(request):
            return JSONResponse(result)
        return self._back_to_page(number, chatbot_id, _sent_notice(result), form)

    async def ui_tap(self, request: Request) -> Response:
        """A tap on a chip or card button: the uplink the suggestion in that stored message makes.

        The form names the message and the suggestion's ref only, so the postback sent is the one the
        chatbot sent, as on a phone, and a page cannot be made to send anything else.
        """
        form = _form(await request.body())
        number = normalize_number(form.get("number", ""))
        if number is None:
            return _control_error(400, "not a phone number")
        chatbot_id = form.get("chatbot_id", "")
        message_id = form.get("message_id", "")
        try:
            ref = int(form.get("ref", ""))
        except ValueError:
            return _control_error(400, "ref must be an integer")
        handset = self.state.handsets.get(number)
        suggestion = self._conversation(number, handset, chatbot_id).find(message_id, ref)
        if suggestion is None:
            if _wants_json(request):
                return _control_error(404, "no such suggestion in this conversation")
            return self._back_to_page(number, chatbot_id, "not sent: no such suggestion", form)
        payload: dict[str, Any] = {"chatbot_id": chatbot_id, "base64": form.get("base64") == "on"}
        payload.update(suggestion.uplink())
        record = self.state.find_record(message_id, chatbot_id)
        if record is not None and record.content is not None:
            payload["in_reply_to"] = message_id
        # An open-URL action opens its URL whether or not the CSP takes the click, as a phone's browser would.
        opens = suggestion.url if suggestion.action == "openUrl" else None
        try:
            result = await self.send_uplink(number, payload)
        except ControlError as exc:
            if _wants_json(request):
                return _control_error(exc.status, exc.message)
            if opens:
                return RedirectResponse(opens, status_code=303)
            return self._back_to_page(number, chatbot_id, f"not sent: {exc.message}", form)
        if _wants_json(request):
            return JSONResponse({"uplink": result, "suggestion": asdict(suggestion), "open_url": opens})
        if opens:
            return RedirectResponse(opens, status_code=303)
        return self._back_to_page(number, chatbot_id, _sent_notice(result), form)

    async def ui_capability(self, request: Request) -> Response:
        form = _form(await request.body())
        number = normalize_number(form.get("number", ""))
        if number is None:
            return _control_error(400, "not a phone number")
        try:
            self.apply_handset(number, {"capability": form.get("capability")})
            notice = f"capability set to {form.get('capability')}"
        except ControlError as exc:
            notice = exc.message
        return self._back_to_page(number, form.get("chatbot_id"), notice, form)

    @staticmethod
    def _back_to_page(number: str, chatbot_id: str | None, notice: str, form: Mapping[str, str]) -> Response:
        query = {"number": number}
        if chatbot_id:
            query["chatbot_id"] = chatbot_id
        if form.get("base64") == "off":
            query["encoding"] = "plain"
        query["notice"] = notice
        return RedirectResponse("/_sim/?" + urlencode(query), status_code=303)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _sent_notice(result: Mapping[str, Any]) -> str:
    return f"sent {result['kind']}: CSP answered {result['status']}"


@cache
def _static_text(name: str) -> str:
    return resources.files(__name__.rpartition(".")[0]).joinpath("static", name).read_text(encoding="utf-8")


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None when it exceeds `limit` (the rest is drained)."""
    message = await receive()
    body = message.get("body", b"")
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


async def _read_request_body(request: Request, limit: int) -> bytes | None:
    """A Starlette request's body, or None when it exceeds `limit` (the rest is drained, not kept)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
    return b"".join(chunks) if size <= limit else None


def _stored_file(
    base: str, tid: str, suffix: str, part: FormPart, kind: MediaKind, file_name: str | None
) -> StoredFile:
    """One hosted file at {base}/s/{tid}{FD|TD}.{ext} (§2.4 sample URLs)."""
    path = f"{DOWNLOAD_PREFIX}{tid}{suffix}.{kind.extension}"
    # A generic declaration (octet-stream) or none names no type: the descriptor then says what the
    # bytes are. Any other declaration is echoed, even a wrong one; the audit rejects that.
    declared = part.content_type if part.content_type not in UNDECLARED_TYPES else None
    return StoredFile(
        url=base + path,
        path=path,
        data=part.data,
        content_type=declared or kind.content_type,
        detected_type=kind.content_type,
        declared_type=declared,
        file_name=file_name,
        sha256=hashlib.sha256(part.data).hexdigest(),
    )


def _verdict(payload: Mapping[str, Any]) -> tuple[bool, str | None]:
    """{"approved": bool, "reason"?: str} of a manual audit."""
    approved = payload.get("approved")
    if not isinstance(approved, bool):
        raise ControlError(400, "'approved' must be a boolean")
    reason = payload.get("reason")
    if reason is not None and (not isinstance(reason, str) or not reason):
        raise ControlError(400, "'reason' must be a non-empty string")
    return approved, reason


def _wire_response(error: WireError) -> Response:
    status, headers, body = _error_answer(error)
    return Response(body, status, headers={k.decode(): v.decode() for k, v in headers})


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def _check_content_type(headers: Mapping[str, str]) -> None:
    content_type = headers.get("content-type", "")
    if content_type.partition(";")[0].strip().lower() != XML:
        raise WireError(
            SVC_GENERIC,
            f"Unsupported Content-Type {content_type!r}, expected application/xml",
            "Content-Type",
            status=HTTP_CONTENT_TYPE,
        )


def _error_answer(error: WireError) -> _Answer:
    headers = [(b"content-type", _XML_BYTES)]
    if error.status == HTTP_AUTH:
        headers.append((b"www-authenticate", b'Basic realm="MaaP"'))
    return error.status, headers, build_request_error(error)


async def _json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    try:
        data = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise ControlError(400, f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ControlError(400, "the body must be a JSON object")
    return data


def _form(body: bytes) -> dict[str, str]:
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[-1] for key, values in parsed.items()}


def _control_error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def _on_control_error(_request: Request, exc: Exception) -> Response:
    error = cast(ControlError, exc)
    return _control_error(error.status, error.message)


class SimulatorApp(Starlette):
    """Starlette for the control API and page; downlinks bypass routing and middleware."""

    simulator: Simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            match = self.simulator.match_downlink(scope["path"])
            if match is not None:
                await self.simulator.asgi_downlink(scope, receive, send, *match)
                return
            revoke = self.simulator.match_revoke(scope["path"])
            if revoke is not None:
                await self.simulator.asgi_revoke(scope, receive, send, *revoke)
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

    # Downlinks (§1.1 / §6.1, every API family) and revokes (§1.5) are served by SimulatorApp.__call__.
    prefix = sim.settings.path_prefix
    routes = [
        Route("/_sim/healthz", sim.healthz, methods=["GET"]),
        Route("/_sim/", sim.page, methods=["GET"]),
        Route("/_sim/ui/uplink", sim.ui_uplink, methods=["POST"]),
        Route("/_sim/ui/tap", sim.ui_tap, methods=["POST"]),
        Route("/_sim/ui/capability", sim.ui_capability, methods=["POST"]),
        Route("/_sim/ui/{name}", sim.static_file, methods=["GET"]),
        Route("/_sim/chatbots", sim.list_chatbots, methods=["GET"]),
        Route("/_sim/chatbots/{chatbot_id}", sim.put_chatbot, methods=["PUT"]),
        Route("/_sim/chatbots/{chatbot_id}", sim.delete_chatbot, methods=["DELETE"]),
        Route("/_sim/handsets/{number}", sim.put_handset, methods=["PUT"]),
        Route("/_sim/handsets/{number}", sim.get_handset, methods=["GET"]),
        Route("/_sim/handsets/{number}/inbox", sim.get_inbox, methods=["GET"]),
        Route("/_sim/handsets/{number}/conversation", sim.get_conversation, methods=["GET"]),
        Route("/_sim/handsets/{number}/uplink", sim.post_uplink, methods=["POST"]),
        Route("/_sim/messages/{message_id}", sim.get_message, methods=["GET"]),
        Route("/_sim/stats", sim.get_stats, methods=["GET"]),
        Route("/_sim/reset", sim.reset, methods=["POST"]),
        Route("/_sim/faults", sim.get_faults, methods=["GET"]),
        Route("/_sim/faults", sim.put_faults, methods=["PUT"]),
        Route("/_sim/media", sim.list_media, methods=["GET"]),
        Route("/_sim/media/{media_id}/audit", sim.settle_media, methods=["POST"]),
        Route("/_sim/media/{media_id}/expire", sim.expire_media, methods=["POST"]),
        Route("/_sim/templates", sim.list_templates, methods=["GET"]),
        Route("/_sim/templates/{template_id}/audit", sim.settle_template, methods=["POST"]),
        Route("/_sim/audit", sim.get_audit, methods=["GET"]),
        Route("/_sim/audit", sim.put_audit, methods=["PUT"]),
        # The file server (§3.2) and template submission live under the same server root as downlinks.
        Route(prefix + CONTENT_PATH, sim.upload_media, methods=["POST"]),
        Route(prefix + CONTENT_PATH, sim.delete_media, methods=["DELETE"]),
        Route(DOWNLOAD_PREFIX + "{name}", sim.download_media, methods=["GET"]),
        Route(prefix + TEMPLATE_PATH + "{chatbot_uri}", sim.submit_template, methods=["POST"]),
    ]
    app = SimulatorApp(routes=routes, lifespan=lifespan, exception_handlers={ControlError: _on_control_error})
    app.simulator = sim
    app.state.simulator = sim
    return app
