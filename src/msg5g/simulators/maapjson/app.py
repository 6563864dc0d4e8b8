"""The simulated China Telecom / China Unicom MaaP as a Starlette app: chatbot API, notifications, control.

Carrier side (§3.3, protocol-choices.md), chatbot URI raw or percent-encoded:
  POST   {prefix}/bot/v1/{chatbotURI}/accessToken      {"appId","appKey"}
  POST   {prefix}/bot/v1/{chatbotURI}/messages         send (§3.3.2); an issued media url that is not
                                                       approved is refused with 40007
  POST   {prefix}/bot/v1/{chatbotURI}/revoke           revoke (§3.3.3)
  POST   {prefix}/bot/v1/{chatbotURI}/medias/upload    multipart part `file`, headers Authorization,
                                                       uploadMode perm|temp (§3.3.4); the audit result
                                                       goes to {notify}/notifyInfoNotification/{id}/check
  GET    {prefix}/bot/v1/{chatbotURI}/medias/download  header url: the file once approved
  DELETE {prefix}/bot/v1/{chatbotURI}/medias/delete    header url
  POST   {prefix}/bot/v1/{chatbotURI}/update/chatBotInfo/optionals
                                                       §2.6 fields (§3.3.5); queued for audit, the
                                                       result goes to .../check (chatbotInformation)
  POST   {prefix}/bot/v1/{chatbotURI}/update/chatBotInfo/menu
                                                       {"menu":{"entries":[...]}} (§2.5), audited so
  GET    {prefix}/bot/v1/{chatbotURI}/find/chatBotInfo the §2.6 document of the approved information
  GET    /maap_message/bot/{perm|temp}/{id}.{ext}      (CTCC) an issued url: the bytes once approved,
  GET    {prefix}/bot/v1/medias/fid/{id}               (CUCC) 404 otherwise

CSP management (§3.4, choices "CSP management", csp.py) under {prefix}{csp_path} (default /cspApi/v1);
every call signed with headers timestamp, nonce, signature (41002), all but accessToken with
authorization: <token> (42001); HTTP 200 and {"code","message","data"} always:
  POST   .../accessToken                            {"cspId","accessKey"} -> {"accessToken"} (41001)
  POST   .../uploadFile                             multipart `file`, header uploadType 0|1|2 -> {"url"}
  POST   .../cspCustomer/addcspCustomer             -> {"cspEcNo"}, audited (-1 -> 1 | -2)
  POST   .../cspCustomer/editcspCustomer            rcsRegisterInfo.cspEcNo; 81002 while audited
  POST   .../selectCspCustomer                      {"cspEcNo"} -> the record, auditStatus, auditOpinion
  DELETE .../deleteCustomer                         {"cspEcNo"}
  POST   .../Chatbot/uploadChatbotFile              multipart `file`, uploadType 0|1 -> {"filePath"}
  POST   .../Chatbot/addChatbot                     -> {"accessTagNo"}, audited (-1 -> 0 | -2); 46005
  POST   .../Chatbot/selectChatbot                  {"accessTagNo"} -> auditStatus, auditOpinion
  POST   .../Chatbot/isOnlineUpdate                 {"accessTagNo","type":1|2}; 46006 unless approved
  POST   .../developerConfiguration/updateDeveloper -> {"appId","appkey"}: the chatbot's account, then
                                                    the notifyPath handshake (retried)
  GET    /{volume},{key}  /maap_message/bot/chanageUrl/head/{name}   the uploaded files

Control side (JSON unless noted):
  GET  /_sim/                              handset page (HTML), forms post to /_sim/ui/...
  GET  /_sim/healthz
  GET  /_sim/chatbots                      PUT|DELETE /_sim/chatbots/{id} {"app_id","app_key","notify_token",
                                           "notify_url","tps_limit"?} (?verify=false skips the handshake)
  POST /_sim/chatbots/{id}/verify          run the notifyPath handshake again
  GET  /_sim/chatbots/{id}/info            approved info, menu, status, pending updates, audits sent
  POST /_sim/chatbots/{id}/info/audit      {"approved": bool, "reason"?}: decide the oldest pending
                                           information or menu update now, send its check
  POST /_sim/chatbots/{id}/status          {"status": "offline"|"online", "description"?}: carrier-side
                                           status, told by notice/informationChange
  GET  /_sim/directory?q=keyword           approved, online chatbots whose name, description or
                                           category holds the keyword (ASCII case-insensitive)
  PUT  /_sim/handsets/{number}             {"capability": up2|up1|none|offline, "ported_out": bool}
  GET  /_sim/handsets/{number}             state + recent uplinks;  GET .../inbox  what reached it
  POST /_sim/handsets/{number}/uplink      {"chatbot_id", one of text|postback|action|file|geo|shared_data|
                                           spam_report|menu_path, "in_reply_to"?}; menu_path [i, j, ...]
                                           taps that entry of the approved menu (400 if not in it)
  GET  /_sim/messages/{message_id}         counters of one message, by the CSP's or the carrier's id
                                           (?chatbot_id= to disambiguate)
  GET  /_sim/requests                      the last downlink bodies as received (newest last)
  GET  /_sim/stats                         POST /_sim/reset {"faults"?, "handsets"?, "tokens"?, "media"?,
                                           "chatbot_info"?: bool}
  GET|PUT /_sim/faults                     POST /_sim/tokens/expire  (every issued token stops working)
  GET  /_sim/media                         {"media": [upload...]} (?chatbot_id=)
  GET|PUT /_sim/audit                      {"media": approve|reject|hold, "templates" (no effect: CT/CU take
                                           no templates), "chatbot_info": approve|reject|hold,
                                           "delay_seconds", "reason", "ttl_seconds"}
  POST /_sim/media/{id}/audit              {"approved": bool, "reason"?}: decide now, send the check
  POST /_sim/media/{id}/expire             the upload expires now (its url is refused from then on)
  GET  /_sim/csp                           {"customers", "chatbots", "files": n, "calls": [the last 200]}
  POST /_sim/csp/customers/{cspEcNo}/audit {"approved": bool, "reason"?}: decide a pending audit now
  POST /_sim/csp/chatbots/{accessTagNo}/audit   likewise for a chatbot application
  POST /_sim/csp/tokens/expire             every CSP token stops working (/_sim/tokens/expire and the
                                           expire_tokens fault end them too)
  PUT /_sim/audit also takes "customers" and "chatbots": approve|reject|hold; /_sim/reset takes
  "csp": true (every customer, application, file and CSP token, and the accounts they made)
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast
from urllib.parse import parse_qs, urlencode

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from . import ui
from .chatbot_info import ChatbotStatus, InfoDesk, UpdateKind, parse_menu, parse_optionals
from .constants import (
    ACTION_DELETE,
    ACTION_DOWNLOAD,
    ACTION_FIND_INFO,
    ACTION_UPDATE_MENU,
    ACTION_UPDATE_OPTIONALS,
    ACTION_UPLOAD,
    API_HEAD,
    DEFAULT_REPORTS,
    DEFAULT_UPLOAD_MODE,
    E_CREDENTIALS,
    E_DELETE_UNKNOWN,
    E_HEADER,
    E_MEDIA_URL,
    E_NOT_CAPABLE,
    E_OFFLINE,
    E_OK,
    E_PARAM,
    E_PORTED_OUT,
    E_RATE_LIMIT,
    E_REVOKE_FAIL,
    E_TOKEN,
    E_UNKNOWN,
    FILE_PART,
    HTTP_RATE_LIMIT,
    MSG_AUDIT_OK,
    MSG_AUDIT_REJECTED,
    MSG_CONTENT_TYPE,
    MSG_CREDENTIALS,
    MSG_EMPTY_FILE,
    MSG_MEDIA_TOKEN,
    MSG_MEDIA_TOO_LARGE,
    MSG_MEDIA_URL,
    MSG_NO_ACCEPT,
    MSG_NO_DATE,
    MSG_NO_FILE,
    MSG_NO_URL,
    MSG_NOT_CAPABLE,
    MSG_OFFLINE,
    MSG_PARAM,
    MSG_PORTED_OUT,
    MSG_RATE_LIMIT,
    MSG_REVOKE_FAIL,
    MSG_SUCCESS,
    MSG_TOKEN,
    MSG_TOO_MANY,
    MSG_TYPE_MISMATCH,
    MSG_UNKNOWN,
    MSG_UT000054,
    MULTIPART_SLACK_BYTES,
    PATH_CHECK,
    PATH_MESSAGE,
    PATH_SPAM,
    REPORT_REQUESTS,
    REVOKE_REQUESTED,
    ST_DELIVERED,
    ST_DISPLAYED,
    ST_FAILED,
    ST_REVOKE_FAIL,
    ST_REVOKE_OK,
    ST_SENT,
    ST_TO_NETWORK,
    TOKEN_PREFIX,
    UPLOAD_MODES,
    URL_TRAILING_SLASH,
)
from .content import Part, parse_message_list
from .csp import CspDesk
from .media import (
    AuditPolicy,
    CheckNotice,
    MediaRecord,
    UploadMode,
    declared_type,
    matches_type,
    media_path,
    media_urls,
    new_media_id,
)
from .multipart import FormPart, MultipartError, form_boundary, parse_form
from .notifier import Notifier, Step
from .settings import CAPABILITIES, Capability, ChatbotAccount, ConfigError, SimulatorSettings
from .state import (
    ERROR_RATE,
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
from .uplink import MENU_PATH, UPLINK_KINDS, UplinkContent, UplinkError, build_uplink, menu_tap
from .wire import (
    WireError,
    chatbot_uri,
    check_body,
    ctcc_token,
    cucc_token,
    delete_answer,
    delete_unknown_answer,
    dumps,
    file_info,
    is_cn_mobile_tel,
    iso_seconds,
    iso_utc,
    new_id,
    nginx_page,
    normalize_number,
    param_error,
    parse_chatbot_uri,
    peek_chatbot_id,
    plain_error,
    revoke_answer,
    send_answer,
    spring_error,
    success_answer,
    tel_uri,
    token_answer,
    upload_answer,
)

log = logging.getLogger(__name__)

_JSON = b"application/json;charset=UTF-8"
_Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
# The method each chatbot API action takes (§3.3.1 - §3.3.5).
_METHODS: dict[str, str] = {
    "accessToken": "POST",
    "messages": "POST",
    "revoke": "POST",
    ACTION_UPLOAD: "POST",
    ACTION_DOWNLOAD: "GET",
    ACTION_DELETE: "DELETE",
    ACTION_UPDATE_OPTIONALS: "POST",
    ACTION_UPDATE_MENU: "POST",
    ACTION_FIND_INFO: "GET",
}
_MEDIA_ACTIONS = frozenset({ACTION_UPLOAD, ACTION_DOWNLOAD, ACTION_DELETE})
_UPDATE_KINDS: dict[str, UpdateKind] = {ACTION_UPDATE_OPTIONALS: "optionals", ACTION_UPDATE_MENU: "menu"}
_STATUSES: tuple[ChatbotStatus, ...] = ("online", "offline")
_FALSE = frozenset({"0", "false", "no", "off"})


class ControlError(Exception):
    """A control-API request that is answered with {"error": ...}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json_answer(body: bytes, status: int = 200) -> _Answer:
    return status, [(b"content-type", _JSON)], body


def _html_answer(status: int, extra: list[tuple[bytes, bytes]] | None = None) -> _Answer:
    headers = [(b"content-type", b"text/html"), (b"server", b"nginx"), *(extra or [])]
    return status, headers, nginx_page(status)


def _loads_object(body: bytes) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


def _str_or_none(doc: Mapping[str, Any] | None, key: str) -> str | None:
    value = doc.get(key) if doc is not None else None
    return value if isinstance(value, str) else None


RECENT_BODIES = 50


class Simulator:
    """Holds state and notifier; its methods are the route endpoints."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.dialect = settings.dialect
        self.state = SimState(settings)
        self.state.faults.expire_tokens = False
        self.notifier = Notifier(settings, self.state)
        self.info = InfoDesk(self.state, self.notifier)
        self.csp = CspDesk(settings, self.state, self.notifier)
        self._api_head = settings.path_prefix + API_HEAD
        # An upload body may exceed max_body_bytes: the file limit plus the multipart around it.
        self._upload_cap = max(settings.max_body_bytes, settings.media_max_bytes + MULTIPART_SLACK_BYTES)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._recent_bodies: deque[bytes] = deque(maxlen=RECENT_BODIES)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.notifier.start()

    async def close(self) -> None:
        await self.csp.close()
        await self.notifier.close()

    # ------------------------------------------------------------------ chatbot API (§3.3)

    def match_api(self, path: str) -> tuple[str, str] | None:
        """`{prefix}/bot/v1/{chatbotURI}/{action}` -> (chatbotURI, action).

        The ASGI server has already percent-decoded the path, so a raw and an encoded chatbot URI
        (choices "Paths": servers accept both) arrive here in the same form.
        """
        head = self._api_head
        if not path.startswith(head):
            return None
        uri, _, action = path[len(head) :].partition("/")
        return uri, action

    async def asgi_api(self, scope: Scope, receive: Receive, send: Send, uri: str, action: str) -> None:
        """The hot path, on raw ASGI: no router, no middleware, no Request object."""
        try:
            status, headers, body = await self._api(scope, receive, uri, action)
        except Exception:  # a bug must still answer like a server, not drop the connection
            log.exception("chatbot API call failed")
            status, headers, body = _html_answer(500)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _api(self, scope: Scope, receive: Receive, uri: str, action: str) -> _Answer:
        state = self.state
        state.stats.requests += 1
        limit = self._upload_cap if action == ACTION_UPLOAD else self.settings.max_body_bytes
        body = await _read_body(receive, limit)
        method = _METHODS.get(action)
        if method is None or not uri:
            return _html_answer(404)
        if scope["method"] != method:
            return _html_answer(405, [(b"allow", method.encode())])
        headers = _headers(scope)
        if action in _MEDIA_ACTIONS:
            # Media calls take no injected faults: those are for the send path a benchmark drives.
            return self._media_call(scope, headers, body, uri, action)
        if body is None:
            return _html_answer(413)
        if action in _UPDATE_KINDS or action == ACTION_FIND_INFO:
            # Like media calls, chatbot information calls take no injected faults.
            return self._info_call(headers, body, uri, action)
        if action == "accessToken":
            return self._token(scope, headers, body, uri)
        fault = state.take_fault()
        if fault is not None:
            answer = await self._fault_answer(fault, action, body, uri)
        elif action == "messages":
            # Kept raw, so a test can compare what arrived with what the CSP says it would send.
            self._recent_bodies.append(body)
            answer = self._send(headers, body, uri)
        else:
            answer = self._revoke(headers, body, uri)
        # latency_ms delays the answer, not the work: the carrier has already accepted (and begun
        # delivering) when a slow answer makes the client time out, as on a real network.
        latency = state.faults.latency_ms
        if latency > 0:
            await asyncio.sleep(latency / 1000.0)
        return answer

    async def _fault_answer(self, fault: int | str, action: str, body: bytes, uri: str) -> _Answer:
        # A faulted request never reaches the MaaP proper: not accepted, not delivered. It still
        # counts as "received" so a test can see the client's retry arrive.
        doc = _loads_object(body)
        message_id = _str_or_none(doc, "messageId")
        chatbot_id = peek_chatbot_id(uri)
        if action == "messages" and chatbot_id and message_id:
            record = self.state.record(chatbot_id, message_id)
            record.received += 1
            record.faulted += 1
        if fault == ERROR_RATE:
            if action == "messages":
                body_out = send_answer(
                    self.dialect,
                    E_UNKNOWN,
                    MSG_UNKNOWN,
                    message_id,
                    _str_or_none(doc, "conversationId"),
                    _str_or_none(doc, "contributionId"),
                )
            else:
                body_out = revoke_answer(self.dialect, E_UNKNOWN, MSG_UNKNOWN, message_id)
            return _json_answer(body_out)
        if fault == HANG:
            await asyncio.sleep(self.state.faults.hang_seconds)
            return _html_answer(504)
        return _html_answer(int(fault))

    @staticmethod
    def _check_accept_date(headers: Mapping[str, str]) -> None:
        """choices "Headers": Accept and Date on every call, media calls included (41001)."""
        if not headers.get("accept", "").strip():
            raise WireError(E_HEADER, MSG_NO_ACCEPT)
        if not headers.get("date", "").strip():
            raise WireError(E_HEADER, MSG_NO_DATE)

    def _check_headers(self, headers: Mapping[str, str]) -> None:
        """choices "Headers": Accept and Date on every call (41001), JSON Content-Type (20002)."""
        self._check_accept_date(headers)
        content_type = headers.get("content-type", "")
        if content_type.partition(";")[0].strip().lower() != "application/json":
            raise WireError(E_PARAM, MSG_CONTENT_TYPE)

    def _authorize(self, headers: Mapping[str, str], chatbot_id: str) -> AccountEntry:
        """§3.1 / choices "Token": `Authorization` must be `accessToken <x>` exactly as issued."""
        return self._token_account(headers, chatbot_id, MSG_TOKEN[self.dialect])

    def _token_account(self, headers: Mapping[str, str], chatbot_id: str, message: str) -> AccountEntry:
        owner = self.state.token_owner(headers.get("authorization"))
        entry = self.state.accounts.get(chatbot_id) if owner == chatbot_id else None
        if entry is None:
            raise WireError(E_TOKEN, message, auth=True)
        return entry

    # -- token (§3.3.1) --

    def _token(self, scope: Scope, headers: Mapping[str, str], body: bytes, uri: str) -> _Answer:
        state = self.state
        try:
            self._check_headers(headers)
            chatbot_id = parse_chatbot_uri(uri, self.dialect)
            doc = _loads_object(body)
            if doc is None:
                raise param_error("请求体不是合法的JSON对象")
            app_id, app_key = doc.get("appId"), doc.get("appKey")
            if not isinstance(app_id, str) or not app_id or not isinstance(app_key, str) or not app_key:
                raise param_error("appId和appKey必须存在且有值")
            entry = state.accounts.get(chatbot_id)
            if (
                entry is None
                or entry.account.app_id != app_id
                or not hmac.compare_digest(entry.account.app_key.encode(), app_key.encode())
            ):
                raise WireError(E_CREDENTIALS, MSG_CREDENTIALS, auth=True)
        except WireError as error:
            state.count_rejection(error.code)
            return _json_answer(plain_error(self.dialect, error.code, error.message), error.status)
        if self.dialect == "ctcc":
            token = ctcc_token(app_id)
            key = token
        else:
            token = cucc_token()
            key = TOKEN_PREFIX + token
        state.issue_token(key, chatbot_id)
        answer = token_answer(self.dialect, token, self.settings.token_ttl_seconds, self._public_url(scope, headers))
        return _json_answer(answer)

    def _public_url(self, scope: Scope, headers: Mapping[str, str]) -> str:
        """§3.3.1 `url`: the server root the client should use."""
        if self.settings.public_url:
            return self.settings.public_url
        root = f"{scope.get('scheme', 'http')}://{headers.get('host', 'localhost')}{self.settings.path_prefix}"
        return root + "/" if URL_TRAILING_SLASH[self.dialect] else root

    # -- send (§3.3.2) --

    def _send(self, headers: Mapping[str, str], body: bytes, uri: str) -> _Answer:
        state = self.state
        doc = _loads_object(body)
        echo = (
            _str_or_none(doc, "messageId"),
            _str_or_none(doc, "conversationId"),
            _str_or_none(doc, "contributionId"),
        )
        try:
            self._check_headers(headers)
            chatbot_id = parse_chatbot_uri(uri, self.dialect)
            entry = self._authorize(headers, chatbot_id)
            if doc is None:
                raise param_error("请求体不是合法的JSON对象")
            message_id = doc.get("messageId")
            if not isinstance(message_id, str) or not message_id.strip():
                raise param_error("一级必选节点messageId不存在")
            record = state.record(chatbot_id, message_id)
            record.received += 1
            if not entry.take_rate():
                record.rate_limited += 1
                state.stats.rate_limited += 1
                raise WireError(E_RATE_LIMIT, MSG_RATE_LIMIT, status=HTTP_RATE_LIMIT)
            try:
                destinations, content = self._validate(doc, entry)
                return self._accept(record, doc, destinations, content)
            except WireError:
                record.rejected += 1
                raise
        except WireError as error:
            state.count_rejection(error.code)
            ids = (None, None, None) if error.auth else echo
            return _json_answer(send_answer(self.dialect, error.code, error.message, *ids), error.status)

    def _validate(self, doc: dict[str, Any], entry: AccountEntry) -> tuple[list[str], StoredContent]:
        raw = doc.get("destinationAddress")
        if raw is None:
            raise param_error("一级必选节点destinationAddress不存在")
        if not isinstance(raw, list) or not raw:
            raise param_error("destinationAddress必须为非空数组")
        limit = self.settings.max_destinations
        if len(raw) > limit:
            raise WireError(E_PARAM, MSG_TOO_MANY.format(limit=limit, count=len(raw)))
        for address in raw:
            if not is_cn_mobile_tel(address):
                raise param_error(f"destinationAddress格式错误:{address}")
        destinations = list(dict.fromkeys(cast(list[str], raw)))
        sender = doc.get("senderAddress")
        if sender is not None and sender != entry.uri:
            raise param_error(f"senderAddress与chatbotURI不一致:{sender}")
        for key in ("conversationId", "contributionId", "inReplyTo", "trafficType", "imFormat"):
            if doc.get(key) is not None and not isinstance(doc[key], str):
                raise param_error(f"{key}必须为字符串")
        capability = doc.get("serviceCapability")
        if capability is not None and (
            not isinstance(capability, list) or not all(isinstance(c, dict) for c in capability)
        ):
            raise param_error("serviceCapability必须为对象数组")
        parts = parse_message_list(doc.get("messageList"))
        sms_supported = _boolean(doc, "smsSupported", default=False)
        sms = doc.get("smsContent")
        if sms is not None and not isinstance(sms, str):
            raise param_error("smsContent必须为字符串")
        if sms_supported and (sms is None or not sms.strip()):
            raise param_error("smsSupported为true时smsContent必须存在且有值")
        if self.state.media_paths:
            self._check_media_urls(parts, entry.account.chatbot_id)
        content = StoredContent(
            parts=parts,
            reports=_reports(doc.get("reportRequest")),
            sms_content=sms if sms_supported else None,
            store_supported=_boolean(doc, "storeSupported", default=True),
            traffic_type=doc.get("trafficType"),
        )
        return destinations, content

    def _accept(
        self, record: MessageRecord, doc: dict[str, Any], destinations: list[str], content: StoredContent
    ) -> _Answer:
        state = self.state
        if record.accepted == 0:
            if all(self._ported(d) for d in destinations):
                raise WireError(E_PORTED_OUT, MSG_PORTED_OUT)
            record.content = content
            # §3.1: CUCC "returns its own new messageId"; every later report carries it.
            record.carrier_id = new_id() if self.dialect == "cucc" else record.message_id
            if record.carrier_id != record.message_id:
                state.index(record, record.carrier_id)
            record.conversation_id = _str_or_none(doc, "conversationId") or new_id()
            record.contribution_id = _str_or_none(doc, "contributionId") or new_id()
        else:
            # The same messageId again: answer the same ids, deliver only to recipients not yet
            # served (a client retrying after a lost answer must not reach a handset twice).
            record.duplicates += 1
            state.stats.duplicates += 1
        record.accepted += 1
        for destination in destinations:
            if destination not in record.recipients:
                self._deliver(record, destination, first=True)
        state.stats.accepted += 1
        return _json_answer(
            send_answer(
                self.dialect, E_OK, MSG_SUCCESS, record.carrier_id, record.conversation_id, record.contribution_id
            )
        )

    def _check_media_urls(self, parts: list[Part], chatbot_id: str) -> None:
        """§3.3.2 / §3.3.4: a url this MaaP issued goes out only approved, and only for its chatbot.

        Urls it did not issue belong to someone else's file server and are not checked (choices).
        """
        for url in media_urls(parts):
            record = self.state.media_at(url)
            if record is not None and (record.chatbot_id != chatbot_id or not record.usable()):
                raise WireError(E_MEDIA_URL, MSG_MEDIA_URL.format(url=url))

    def _ported(self, destination: str) -> bool:
        handset = self.state.handsets.get(destination[4:])
        return handset is not None and handset.ported_out

    # -- delivery (§3.3.6, §3.5) --

    def _copies(self) -> int:
        return 2 if self.state.faults.duplicate_notifications else 1

    def _delay(self) -> float:
        return self.state.faults.delivered_delay_ms / 1000.0

    def _deliver(self, record: MessageRecord, destination: str, *, first: bool) -> None:
        """Start one recipient's delivery: immediate outcomes now, arrival after delivered_delay_ms."""
        content = record.content
        if content is None:  # set by _accept before any recipient is delivered
            return
        handset = self.state.handset(destination[4:])
        if self._undeliverable(record, destination, handset, content, first=first):
            return
        if first and not _via_sms(handset.capability, content) and ST_SENT in content.reports:
            self.notifier.add_steps(record, destination, [Step(ST_SENT, None, 0.0, self._copies())])
        record.recipients[destination] = "pending"
        loop = self._loop or asyncio.get_running_loop()
        loop.call_later(self._delay(), self._arrive, record, destination, self.state.generation)

    def _undeliverable(
        self, record: MessageRecord, destination: str, handset: Handset, content: StoredContent, *, first: bool
    ) -> bool:
        """Ported, offline or not capable: settle the recipient here and return True."""
        if handset.ported_out:
            self._fail(record, destination, content, (E_PORTED_OUT, MSG_PORTED_OUT))
            return True
        capability = handset.capability
        if capability == "offline":
            if not content.store_supported:
                # §3.3.2: storeSupported false = "不存也不重试".
                self._fail(record, destination, content, (E_OFFLINE, MSG_OFFLINE))
                return True
            record.recipients[destination] = "held"
            handset.held.append(record)
            self.state.stats.held += 1
            if first and ST_SENT in content.reports:
                self.notifier.add_steps(record, destination, [Step(ST_SENT, None, 0.0, self._copies())])
            return True
        if capability == "none" and content.sms_content is None:
            self._fail(record, destination, content, (E_NOT_CAPABLE, MSG_NOT_CAPABLE))
            return True
        return False

    def _fail(self, record: MessageRecord, destination: str, content: StoredContent, error: tuple[int, str]) -> None:
        record.recipients[destination] = "failed"
        self.state.stats.failed += 1
        if ST_FAILED in content.reports:
            self.notifier.add_steps(record, destination, [Step(ST_FAILED, error, self._delay(), self._copies())])

    def _arrive(self, record: MessageRecord, destination: str, generation: int) -> None:
        state = self.state
        content = record.content
        if generation != state.generation or content is None or record.recipients.get(destination) != "pending":
            return  # reset, or revoked while on its way
        handset = state.handset(destination[4:])
        # The handset may have changed while the message travelled.
        if self._undeliverable(record, destination, handset, content, first=False):
            return
        faults = state.faults
        reports = content.reports
        now = time.time()
        limit = self.settings.inbox_limit
        steps: list[Step] = []
        copies = self._copies()
        if _via_sms(handset.capability, content):
            handset.receive(InboxEntry(record.carrier_id, record.chatbot_id, "sms", content, now), limit)
            record.recipients[destination] = "sms"
            state.stats.sms_fallbacks += 1
            # §3.3.2: deliveredToNetwork = "已转短消息已送达"; SMS has no read report.
            if ST_TO_NETWORK in reports:
                steps.append(Step(ST_TO_NETWORK, None, 0.0, copies))
        else:
            delivered_as: DeliveredAs = "rcs" if handset.capability == "up2" else "up1"
            handset.receive(InboxEntry(record.carrier_id, record.chatbot_id, delivered_as, content, now), limit)
            record.recipients[destination] = "delivered"
            pair = [s for s in (ST_DELIVERED, ST_DISPLAYED) if s in reports]
            if faults.out_of_order:
                pair.reverse()
            # The arrival itself waited delivered_delay_ms; the read report follows after displayed_delay_ms.
            delays = (0.0, faults.displayed_delay_ms / 1000.0)
            steps.extend(Step(s, None, delays[i], copies) for i, s in enumerate(pair))
        record.delivered += 1
        state.stats.delivered += 1
        self.notifier.add_steps(record, destination, steps)

    def _flush_held(self, handset: Handset) -> None:
        """Store and forward: what was held while offline travels now."""
        held, handset.held = handset.held, []
        destination = tel_uri(handset.number)
        for record in held:
            if record.recipients.get(destination) == "held":
                del record.recipients[destination]
                self._deliver(record, destination, first=False)

    # -- revoke (§3.3.3) --

    def _revoke(self, headers: Mapping[str, str], body: bytes, uri: str) -> _Answer:
        state = self.state
        doc = _loads_object(body)
        echo = _str_or_none(doc, "messageId")
        try:
            self._check_headers(headers)
            chatbot_id = parse_chatbot_uri(uri, self.dialect)
            self._authorize(headers, chatbot_id)
            if doc is None:
                raise param_error("请求体不是合法的JSON对象")
            message_id = doc.get("messageId")
            if not isinstance(message_id, str) or not message_id.strip():
                raise param_error("一级必选节点messageId不存在")
            if doc.get("status") != REVOKE_REQUESTED:
                raise param_error(f"status必须为{REVOKE_REQUESTED}")
            raw = doc.get("destinationAddress")
            # §3.3.3: rcs-web sends a plain string, the harness a list; both are tolerated.
            targets = [raw] if isinstance(raw, str) else raw
            if targets is not None and (not isinstance(targets, list) or not all(map(is_cn_mobile_tel, targets))):
                raise param_error("destinationAddress格式错误")
        except WireError as error:
            state.count_rejection(error.code)
            return _json_answer(revoke_answer(self.dialect, error.code, error.message, None if error.auth else echo))
        self._revoke_record(chatbot_id, message_id, cast(list[str] | None, targets))
        return _json_answer(revoke_answer(self.dialect, E_OK, MSG_SUCCESS, message_id))

    def _revoke_record(self, chatbot_id: str, message_id: str, targets: list[str] | None) -> None:
        """Acknowledged already; the outcome goes out as revokeOk / revokeFail per recipient."""
        state = self.state
        record = state.find_record(message_id, chatbot_id)
        if record is None or record.content is None:
            # Nothing was accepted under this id: a throwaway record carries the revokeFail reports.
            record = MessageRecord(chatbot_id, message_id, carrier_id=message_id)
        copies = self._copies()
        for destination in dict.fromkeys(targets if targets is not None else list(record.recipients)):
            if record.recipients.get(destination) in REVOCABLE:
                if record.recipients[destination] == "held":
                    handset = state.handsets.get(destination[4:])
                    if handset is not None and record in handset.held:
                        handset.held.remove(record)
                record.recipients[destination] = "revoked"
                state.stats.revoked += 1
                step = Step(ST_REVOKE_OK, None, 0.0, copies)
            else:
                state.stats.revoke_failed += 1
                step = Step(ST_REVOKE_FAIL, (E_REVOKE_FAIL, MSG_REVOKE_FAIL), 0.0, copies)
            self.notifier.send_now(record, destination, step)

    # ------------------------------------------------------------------ chatbot information (§3.3.5)

    def _info_call(self, headers: Mapping[str, str], body: bytes, uri: str, action: str) -> _Answer:
        """find/chatBotInfo, or an update checked now and audited later (choices "Chatbot information")."""
        try:
            if action == ACTION_FIND_INFO:
                # A GET carries no body, so no Content-Type either (easy5g's `info` sends none).
                self._check_accept_date(headers)
            else:
                self._check_headers(headers)
            chatbot_id = parse_chatbot_uri(uri, self.dialect)
            entry = self._authorize(headers, chatbot_id)
            if action == ACTION_FIND_INFO:
                profile = self.state.profile(chatbot_id)
                return _json_answer(dumps(profile.find_document(self.dialect, entry.account.notify_url)))
            doc = _loads_object(body)
            if doc is None:
                raise param_error("请求体不是合法的JSON对象")
            kind = _UPDATE_KINDS[action]
            changes = parse_optionals(doc) if kind == "optionals" else parse_menu(doc)
            self.info.submit(entry, kind, changes)
            return _json_answer(success_answer(self.dialect))
        except WireError as error:
            self.state.count_rejection(error.code)
            return _json_answer(plain_error(self.dialect, error.code, error.message), error.status)

    # ------------------------------------------------------------------ media (§3.3.4)

    def _media_call(
        self, scope: Scope, headers: Mapping[str, str], body: bytes | None, uri: str, action: str
    ) -> _Answer:
        try:
            self._check_accept_date(headers)
            if action == ACTION_UPLOAD and form_boundary(headers.get("content-type", "")) is None:
                raise WireError(E_PARAM, MSG_CONTENT_TYPE)
            chatbot_id = parse_chatbot_uri(uri, self.dialect)
            # §3.3.4: the media API's 40014 text is "不合法的Token" on both carriers.
            entry = self._token_account(headers, chatbot_id, MSG_MEDIA_TOKEN)
            if action == ACTION_UPLOAD:
                return self._upload(scope, headers, body, entry)
            url = headers.get("url", "").strip()
            if not url:
                raise param_error(MSG_NO_URL)
            if action == ACTION_DELETE:
                return self._delete_media(entry, url)
            return self._download_media(entry, url)
        except WireError as error:
            self.state.count_rejection(error.code)
            return _json_answer(plain_error(self.dialect, error.code, error.message), error.status)

    def _upload(self, scope: Scope, headers: Mapping[str, str], body: bytes | None, entry: AccountEntry) -> _Answer:
        mode = headers.get("uploadmode", "").strip() or DEFAULT_UPLOAD_MODE
        if mode not in UPLOAD_MODES:
            raise param_error(f"uploadMode取值不合法:{mode}")
        if body is None:
            return self._too_large(scope)
        boundary = form_boundary(headers.get("content-type", "")) or ""
        try:
            parts = parse_form(body, boundary)
        except MultipartError as exc:
            raise param_error(f"multipart解析失败:{exc}") from None
        # A part named `file` without a file name is a plain form field to Spring, not a file.
        file_part = next((p for p in parts if p.name == FILE_PART and p.filename is not None), None)
        if file_part is None:
            raise param_error(MSG_NO_FILE)
        if len(file_part.data) > self.settings.media_max_bytes:
            return self._too_large(scope)
        if not file_part.data:
            raise param_error(MSG_EMPTY_FILE)
        record = self._store_media(scope, headers, entry, cast(UploadMode, mode), file_part, [p.name for p in parts])
        info = file_info(self.dialect, record.url, record.file_name, record.content_type, record.size, record.until)
        count = self.state.live_media_count(record.chatbot_id)
        return _json_answer(upload_answer(self.dialect, info, count))

    def _too_large(self, scope: Scope) -> _Answer:
        """§3.3.4: CUCC's Undertow fails the request (HTTP 500, UT000054); [I] CTCC answers 20002."""
        limit = self.settings.media_max_bytes
        if self.dialect == "ctcc":
            self.state.count_rejection(E_PARAM)
            message = MSG_PARAM.format(detail=MSG_MEDIA_TOO_LARGE.format(limit=limit))
            return _json_answer(plain_error(self.dialect, E_PARAM, message))
        self.state.count_rejection(500)
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else str(scope["path"])
        body = spring_error(500, "Internal Server Error", MSG_UT000054.format(limit=limit), path)
        return _json_answer(body, 500)

    def _store_media(
        self,
        scope: Scope,
        headers: Mapping[str, str],
        entry: AccountEntry,
        mode: UploadMode,
        part: FormPart,
        part_names: list[str],
    ) -> MediaRecord:
        state = self.state
        policy = state.audit
        now = time.time()
        file_name = part.filename or FILE_PART
        content_type = declared_type(part.content_type, file_name)
        media_id = new_media_id(self.dialect)
        while media_id in state.media:
            media_id = new_media_id(self.dialect)
        path = media_path(self.dialect, media_id, mode, file_name, content_type, self.settings.path_prefix)
        # The simulator hosts the file itself, at the address the client reached it by.
        base = f"{scope.get('scheme', 'http')}://{headers.get('host', 'localhost')}"
        # §3.3.4 (Liaoning note): CUCC does not audit temp uploads; they are usable at once.
        audited = not (self.dialect == "cucc" and mode == "temp")
        record = MediaRecord(
            id=media_id,
            chatbot_id=entry.account.chatbot_id,
            url=base + path,
            path=path,
            file_name=file_name,
            content_type=content_type,
            size=len(part.data),
            sha256=hashlib.sha256(part.data).hexdigest(),
            data=part.data,
            parts=part_names,
            upload_mode=mode,
            until=now + policy.ttl_seconds if mode == "temp" else None,
            state="pending" if audited else "approved",
            audited=audited,
            created_at=now,
        )
        state.add_media(record)
        if audited:
            self._plan_audit(record, policy)
        else:
            record.audited_at = now
            state.stats.media_approved += 1
        return record

    def _plan_audit(self, record: MediaRecord, policy: AuditPolicy) -> None:
        """Decide now under the upload's policy; the result goes out after delay_seconds."""
        if policy.media == "hold":
            return
        approved = policy.media == "approve"
        reason = None if approved else (policy.reason or MSG_AUDIT_REJECTED)
        if not matches_type(record.content_type, record.data):
            # The carrier's machine check: bytes that are not what they claim to be never pass.
            approved, reason = False, MSG_TYPE_MISMATCH.format(content_type=record.content_type)
        loop = self._loop or asyncio.get_running_loop()
        loop.call_later(policy.delay_seconds, self._audit_due, record, record.audit_seq, approved, reason)

    def _audit_due(self, record: MediaRecord, seq: int, approved: bool, reason: str | None) -> None:
        # Dropped when reset away, settled by hand meanwhile, deleted or expired.
        if self.state.media.get(record.id) is not record or record.audit_seq != seq:
            return
        if record.current_state() != "pending":
            return
        self.settle_media(record, approved=approved, reason=reason)

    def settle_media(self, record: MediaRecord, *, approved: bool, reason: str | None) -> None:
        """Record an audit decision and send its `check` (choices "CT/CU audit result")."""
        stats = self.state.stats
        record.audit_seq += 1
        record.state = "approved" if approved else "rejected"
        record.reason = None if approved else (reason or MSG_AUDIT_REJECTED)
        record.audited_at = time.time()
        if approved:
            stats.media_approved += 1
        else:
            stats.media_rejected += 1
        entry = self.state.accounts.get(record.chatbot_id)
        if entry is None:
            return
        body = check_body(
            self.dialect,
            approved=approved,
            description=MSG_AUDIT_OK if approved else str(record.reason),
            segment=record.segment,
            url=record.url,
            file_name=record.file_name,
            content_type=record.content_type,
            size=record.size,
            until=record.until,
        )

        def done(status: int | None, error: str | None, attempts: int) -> None:
            ok = status is not None and 200 <= status < 300
            record.notifications.append(CheckNotice(approved, ok, status, attempts, error, time.time()))
            if ok:
                self.state.stats.media_checks_sent += 1
            else:
                self.state.stats.media_checks_failed += 1

        self.notifier.post_later(self.notifier.url(entry, PATH_CHECK), entry, body, done)

    def _owned_media(self, entry: AccountEntry, url: str) -> MediaRecord | None:
        record = self.state.media_at(url)
        if record is None or record.chatbot_id != entry.account.chatbot_id:
            return None
        return record

    def _delete_media(self, entry: AccountEntry, url: str) -> _Answer:
        record = self._owned_media(entry, url)
        if record is None or record.state == "deleted":
            self.state.count_rejection(E_DELETE_UNKNOWN)
            return _json_answer(delete_unknown_answer(self.dialect))
        # The record stays (state "deleted") so a downlink naming its url is still refused.
        record.state = "deleted"
        record.data = b""
        record.audit_seq += 1
        self.state.stats.media_deleted += 1
        count = self.state.live_media_count(record.chatbot_id)
        return _json_answer(delete_answer(self.dialect, record.upload_mode, count))

    def _download_media(self, entry: AccountEntry, url: str) -> _Answer:
        record = self._owned_media(entry, url)
        if record is None or not record.usable():
            # [I] 404 with the 40007 text: the url is not (or no longer) a usable material.
            raise WireError(E_MEDIA_URL, MSG_MEDIA_URL.format(url=url), status=404)
        return 200, _file_headers(record), record.data

    async def asgi_media(self, send: Send, record: MediaRecord) -> None:
        """GET of an issued url: the bytes once approved, nginx's 404 otherwise."""
        if record.usable():
            status, headers, body = 200, _file_headers(record), record.data
        else:
            status, headers, body = _html_answer(404)
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    # ------------------------------------------------------------------ uplink (§3.3.6)

    async def send_uplink(self, number: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        state = self.state
        chatbot_id = str(payload.get("chatbot_id", ""))
        entry = state.accounts.get(chatbot_id)
        if entry is None:
            raise ControlError(404, f"unknown chatbot_id {chatbot_id!r}")
        try:
            content = self._menu_tap(chatbot_id, payload) if MENU_PATH in payload else build_uplink(payload)
        except UplinkError as exc:
            raise ControlError(400, str(exc)) from None
        user = tel_uri(number)
        handset = state.handset(number)
        body: dict[str, Any]
        if content.item is None:
            ids = content.message_ids
            if ids is None:
                # By default the user complains about the last message this chatbot sent them.
                last = [e.message_id for e in handset.inbox if e.chatbot_id == chatbot_id][-1:]
                ids = last
            body = {
                "messageId": ids,
                "spamType": content.spam_type,
                "freeText": content.free_text,
                "senderAddress": user,
                "destinationAddress": entry.uri,
                "dateTime": iso_utc(),
            }
            url = self.notifier.url(entry, PATH_SPAM)
        else:
            conversation_id, reply_to = new_id(), None
            in_reply_to = payload.get("in_reply_to")
            if in_reply_to is not None:
                record = state.find_record(str(in_reply_to), chatbot_id)
                if record is None or record.content is None:
                    raise ControlError(404, f"unknown in_reply_to message {in_reply_to!r}")
                # [I] the reply joins the downlink's conversation and points at its contribution.
                conversation_id = record.conversation_id or conversation_id
                reply_to = record.contribution_id
            body = {
                "messageId": new_id(),
                "dateTime": iso_utc(),
                "senderAddress": user,
                "destinationAddress": entry.uri,
                "origUser": user,
                "conversationId": conversation_id,
                "contributionId": new_id(),
            }
            if reply_to is not None:
                body["inReplyTo"] = reply_to
            body["messageList"] = [content.item]
            url = self.notifier.url(entry, PATH_MESSAGE)
        status, error, attempts = await self.notifier.post_with_retries(url, entry, dumps(body))
        ok = status is not None and 200 <= status < 300
        if ok:
            state.stats.uplinks_sent += 1
        else:
            state.stats.uplinks_failed += 1
        result: dict[str, Any] = {
            "kind": content.kind,
            "chatbot_id": chatbot_id,
            "url": str(url),
            "status": status,
            "ok": ok,
            "attempts": attempts,
            "error": error,
            "body": body,
            "sent_at": iso_utc(),
        }
        handset.sent(result)
        return result

    def _menu_tap(self, chatbot_id: str, payload: Mapping[str, Any]) -> UplinkContent:
        """A tap on the approved menu (§2.5): the pending one is not on any handset yet."""
        others = [kind for kind in UPLINK_KINDS if kind in payload]
        if others:
            kinds = ", ".join((*UPLINK_KINDS, MENU_PATH))
            raise UplinkError(f"give exactly one of {kinds} (got {[MENU_PATH, *others]})")
        profile = self.state.profiles.get(chatbot_id)
        return menu_tap(profile.menu if profile is not None else None, payload[MENU_PATH])

    # ------------------------------------------------------------------ control API

    async def healthz(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok", "dialect": self.dialect})

    async def list_chatbots(self, _request: Request) -> Response:
        return JSONResponse([self._chatbot_json(e) for e in self.state.accounts.values()])

    async def put_chatbot(self, request: Request) -> Response:
        chatbot_id = request.path_params["chatbot_id"]
        payload = await _json_object(request)
        try:
            account = ChatbotAccount.from_mapping(payload, chatbot_id=chatbot_id)
        except ConfigError as exc:
            return _control_error(400, str(exc))
        created = chatbot_id not in self.state.accounts
        entry = self.state.put_account(account)
        if request.query_params.get("verify", "true").lower() not in _FALSE:
            await self._verify(entry)
        return JSONResponse(self._chatbot_json(entry), 201 if created else 200)

    async def verify_chatbot(self, request: Request) -> Response:
        entry = self.state.accounts.get(request.path_params["chatbot_id"])
        if entry is None:
            return _control_error(404, "unknown chatbot")
        await self._verify(entry)
        return JSONResponse(self._chatbot_json(entry))

    async def _verify(self, entry: AccountEntry) -> None:
        entry.verified, entry.reason = await self.notifier.verify_notify_path(entry)
        entry.verified_at = time.time()

    async def delete_chatbot(self, request: Request) -> Response:
        chatbot_id = request.path_params["chatbot_id"]
        if self.state.accounts.pop(chatbot_id, None) is None:
            return _control_error(404, "unknown chatbot")
        # A chatbot registered again under the same id starts with no information of its own.
        self.state.profiles.pop(chatbot_id, None)
        return Response(status_code=204)

    def _account(self, request: Request) -> AccountEntry:
        chatbot_id = request.path_params["chatbot_id"]
        entry = self.state.accounts.get(chatbot_id)
        if entry is None:
            raise ControlError(404, f"unknown chatbot {chatbot_id!r}")
        return entry

    async def get_chatbot_info(self, request: Request) -> Response:
        entry = self._account(request)
        return JSONResponse(self.state.profile(entry.account.chatbot_id).as_json())

    async def audit_chatbot_info(self, request: Request) -> Response:
        """Settle the oldest pending update (held, or not yet due) now; its `check` goes out at once."""
        entry = self._account(request)
        payload = await _json_object(request)
        approved = payload.get("approved")
        if not isinstance(approved, bool):
            raise ControlError(400, "approved must be a boolean")
        reason = payload.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise ControlError(400, "reason must be a string")
        profile = self.state.profile(entry.account.chatbot_id)
        audit = self.info.settle_oldest(profile, approved=approved, reason=reason or self.state.audit.reason)
        if audit is None:
            raise ControlError(409, "no information or menu update is pending")
        return JSONResponse(profile.as_json())

    async def set_chatbot_status(self, request: Request) -> Response:
        entry = self._account(request)
        payload = await _json_object(request)
        status = payload.get("status")
        if status not in _STATUSES:
            raise ControlError(400, f"status must be one of {_STATUSES}")
        description = payload.get("description")
        if description is not None and not isinstance(description, str):
            raise ControlError(400, "description must be a string")
        self.info.set_status(entry, cast(ChatbotStatus, status), description)
        return JSONResponse(self.state.profile(entry.account.chatbot_id).as_json())

    async def directory(self, request: Request) -> Response:
        return JSONResponse(self.info.directory(request.query_params.get("q", "").strip()))

    @staticmethod
    def _chatbot_json(entry: AccountEntry) -> dict[str, Any]:
        account = entry.account
        return {
            "chatbot_id": account.chatbot_id,
            "chatbot_uri": entry.uri,
            "app_id": account.app_id,
            "notify_url": account.notify_url,
            "tps_limit": account.tps_limit,
            "notify_path_verified": entry.verified is True,
            "notify_path_checked": entry.verified is not None,
            "reason": entry.reason if entry.verified is not None else "notifyPath not checked yet",
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
        ported = payload.get("ported_out")
        if ported is not None and not isinstance(ported, bool):
            raise ControlError(400, "ported_out must be a boolean")
        handset = self.state.handset(number)
        handset.pinned = True
        if ported is not None:
            handset.ported_out = ported
        if capability is not None:
            handset.capability = cast(Capability, capability)
            if capability != "offline" and handset.held:
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
            "chatbot_uri": chatbot_uri(entry.chatbot_id, self.dialect),
            "delivered_as": entry.delivered_as,
            "received_at": iso_utc(entry.received_at),
            "text": None,
            "card": None,
            "chips": None,
            "file": None,
            "sms": None,
            "parts": [],
        }
        if entry.delivered_as == "sms":
            out["sms"] = content.sms_content
            return out
        for part in content.parts:
            if out[part.kind] is None:
                out[part.kind] = part.data
        out["parts"] = [p.as_json() for p in content.parts]
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

    async def get_requests(self, _request: Request) -> Response:
        """The last downlink bodies as they arrived (newest last), parsed where they are JSON."""
        return JSONResponse({"requests": [_loads_object(b) or b.decode("utf-8", "replace")
                                          for b in self._recent_bodies]})

    async def get_stats(self, _request: Request) -> Response:
        out = self.state.stats.as_json()
        out["pending_notifications"] = self.notifier.pending
        out["messages_tracked"] = len(self.state.messages)
        out["handsets_tracked"] = len(self.state.handsets)
        out["tokens_valid"] = len(self.state.tokens)
        out["media_tracked"] = len(self.state.media)
        return JSONResponse(out)

    async def reset(self, request: Request) -> Response:
        options = await _json_object(request)
        self.csp.reset(
            everything=options.get("csp") is True,
            tokens=options.get("tokens") is True,
            policy=options.get("media") is True,
        )
        self.state.reset(
            faults=options.get("faults") is True,
            handsets=options.get("handsets") is True,
            tokens=options.get("tokens") is True,
            media=options.get("media") is True,
            chatbot_info=options.get("chatbot_info") is True,
        )
        return JSONResponse({"status": "reset"})

    async def get_faults(self, _request: Request) -> Response:
        return JSONResponse(self.state.faults.as_dict())

    async def put_faults(self, request: Request) -> Response:
        payload = await _json_object(request)
        try:
            faults = self.state.faults.updated(payload)
        except ConfigError as exc:
            return _control_error(400, str(exc))
        if faults.expire_tokens:
            # One-shot: the tokens die now; the knob does not stay armed.
            self.state.expire_tokens()
            self.csp.expire_tokens()
            faults.expire_tokens = False
        self.state.faults = faults
        return JSONResponse(faults.as_dict())

    async def expire_tokens(self, _request: Request) -> Response:
        return JSONResponse({"expired": self.state.expire_tokens() + self.csp.expire_tokens()})

    async def list_media(self, request: Request) -> Response:
        chatbot_id = request.query_params.get("chatbot_id")
        records = [r for r in self.state.media.values() if chatbot_id is None or r.chatbot_id == chatbot_id]
        return JSONResponse({"media": [_media_json(r) for r in records]})

    async def get_audit(self, _request: Request) -> Response:
        return JSONResponse({**self.state.audit.as_json(), **self.csp.policy.as_json()})

    async def put_audit(self, request: Request) -> Response:
        payload = await _json_object(request)
        try:
            # Both checked before either changes: a bad key leaves the whole policy as it was.
            csp_policy, rest = self.csp.updated_policy(payload)
            audit = self.state.audit.updated(rest)
        except ConfigError as exc:
            return _control_error(400, str(exc))
        self.state.audit, self.csp.policy = audit, csp_policy
        return await self.get_audit(request)

    def _media_record(self, request: Request) -> MediaRecord:
        key = request.path_params["media_id"]
        record = self.state.find_media(key)
        if record is None:
            raise ControlError(404, f"unknown media {key!r}")
        return record

    async def audit_media(self, request: Request) -> Response:
        """Settle a held upload (or audit any again) now; the `check` goes out at once."""
        record = self._media_record(request)
        payload = await _json_object(request)
        approved = payload.get("approved")
        if not isinstance(approved, bool):
            raise ControlError(400, "approved must be a boolean")
        reason = payload.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise ControlError(400, "reason must be a string")
        current = record.current_state()
        if current in ("expired", "deleted"):
            raise ControlError(409, f"media {record.id} is {current}")
        self.settle_media(record, approved=approved, reason=reason or self.state.audit.reason)
        return JSONResponse(_media_json(record))

    async def expire_media(self, request: Request) -> Response:
        record = self._media_record(request)
        if record.current_state() == "deleted":
            raise ControlError(409, f"media {record.id} is deleted")
        record.state = "expired"
        record.until = time.time() - 1.0
        record.audit_seq += 1
        return JSONResponse(_media_json(record))

    # ------------------------------------------------------------------ handset web page

    async def page(self, request: Request) -> Response:
        raw = request.query_params.get("number", "")
        number = normalize_number(raw) if raw else None
        handset = self.state.handsets.get(number) if number else None
        entries = [self.render_entry(e) for e in handset.inbox] if handset else []
        html = ui.render_page(
            dialect=self.dialect,
            chatbots=[e.account for e in self.state.accounts.values()],
            handsets=list(self.state.handsets.values())[-200:],
            number=number,
            handset=handset,
            entries=entries,
            selected_chatbot=request.query_params.get("chatbot_id"),
            notice=request.query_params.get("notice"),
        )
        return HTMLResponse(html)

    async def ui_uplink(self, request: Request) -> Response:
        form = _form(await request.body())
        number = normalize_number(form.get("number", ""))
        if number is None:
            return _control_error(400, "not a phone number")
        payload: dict[str, Any] = {"chatbot_id": form.get("chatbot_id", "")}
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
            notice = f"sent {result['kind']}: CSP answered {result['status']}"
        except ControlError as exc:
            notice = f"not sent: {exc.message}"
        return self._back_to_page(number, form.get("chatbot_id"), notice)

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
        return self._back_to_page(number, None, notice)

    @staticmethod
    def _back_to_page(number: str, chatbot_id: str | None, notice: str) -> Response:
        query = {"number": number, "notice": notice}
        if chatbot_id:
            query["chatbot_id"] = chatbot_id
        return RedirectResponse("/_sim/?" + urlencode(query), status_code=303)


def _media_json(record: MediaRecord) -> dict[str, Any]:
    state = record.current_state()
    return {
        "id": record.id,
        "chatbot_id": record.chatbot_id,
        "state": state,
        "url": record.url,
        "until": iso_seconds(record.until) if record.until is not None else None,
        "file_name": record.file_name,
        "content_type": record.content_type,
        "size": record.size,
        "sha256": record.sha256,
        "parts": list(record.parts),
        "upload_mode": record.upload_mode,
        "reason": record.reason,
        "audited": record.audited,
        "created_at": iso_utc(record.created_at),
        "audited_at": iso_utc(record.audited_at) if record.audited_at is not None else None,
        "notifications": [n.as_json() for n in record.notifications],
    }


def _file_headers(record: MediaRecord) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", record.content_type.encode("ascii", "replace"))]


def _via_sms(capability: str, content: StoredContent) -> bool:
    """§3.5: a non-chatbot terminal gets the smsContent when the CSP allowed SMS."""
    return content.sms_content is not None and capability in ("up1", "none")


def _boolean(doc: Mapping[str, Any], key: str, *, default: bool) -> bool:
    value = doc.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise param_error(f"{key}必须为布尔值")
    return value


def _reports(value: Any) -> frozenset[str]:
    if value is None:
        return DEFAULT_REPORTS
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise param_error("reportRequest必须为字符串数组")
    if not value:
        return DEFAULT_REPORTS
    unknown = [v for v in value if v not in REPORT_REQUESTS]
    if unknown:
        raise param_error(f"reportRequest取值不合法:{unknown[0]}")
    return frozenset(value)


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


def _form(body: bytes) -> dict[str, str]:
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[-1] for key, values in parsed.items()}


def _control_error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def _on_control_error(_request: Request, exc: Exception) -> Response:
    error = cast(ControlError, exc)
    return _control_error(error.status, error.message)


class SimulatorApp(Starlette):
    """Starlette for the control API and page; chatbot API calls bypass routing and middleware."""

    simulator: Simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if scope["method"] == "GET":
                # An issued media url (§3.3.4): the simulator is the carrier's file server too.
                record = self.simulator.state.media_paths.get(path)
                if record is not None:
                    await self.simulator.asgi_media(send, record)
                    return
            match = self.simulator.match_api(path)
            if match is not None:
                await self.simulator.asgi_api(scope, receive, send, *match)
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

    # The chatbot API (§3.3) is served by SimulatorApp.__call__.
    routes = [
        Route("/_sim/healthz", sim.healthz, methods=["GET"]),
        Route("/_sim/", sim.page, methods=["GET"]),
        Route("/_sim/ui/uplink", sim.ui_uplink, methods=["POST"]),
        Route("/_sim/ui/capability", sim.ui_capability, methods=["POST"]),
        Route("/_sim/chatbots", sim.list_chatbots, methods=["GET"]),
        Route("/_sim/chatbots/{chatbot_id}", sim.put_chatbot, methods=["PUT"]),
        Route("/_sim/chatbots/{chatbot_id}", sim.delete_chatbot, methods=["DELETE"]),
        Route("/_sim/chatbots/{chatbot_id}/verify", sim.verify_chatbot, methods=["POST"]),
        Route("/_sim/chatbots/{chatbot_id}/info", sim.get_chatbot_info, methods=["GET"]),
        Route("/_sim/chatbots/{chatbot_id}/info/audit", sim.audit_chatbot_info, methods=["POST"]),
        Route("/_sim/chatbots/{chatbot_id}/status", sim.set_chatbot_status, methods=["POST"]),
        Route("/_sim/directory", sim.directory, methods=["GET"]),
        Route("/_sim/handsets/{number}", sim.put_handset, methods=["PUT"]),
        Route("/_sim/handsets/{number}", sim.get_handset, methods=["GET"]),
        Route("/_sim/handsets/{number}/inbox", sim.get_inbox, methods=["GET"]),
        Route("/_sim/handsets/{number}/uplink", sim.post_uplink, methods=["POST"]),
        Route("/_sim/messages/{message_id}", sim.get_message, methods=["GET"]),
        Route("/_sim/stats", sim.get_stats, methods=["GET"]),
        Route("/_sim/requests", sim.get_requests, methods=["GET"]),
        Route("/_sim/reset", sim.reset, methods=["POST"]),
        Route("/_sim/faults", sim.get_faults, methods=["GET"]),
        Route("/_sim/faults", sim.put_faults, methods=["PUT"]),
        Route("/_sim/tokens/expire", sim.expire_tokens, methods=["POST"]),
        Route("/_sim/media", sim.list_media, methods=["GET"]),
        Route("/_sim/media/{media_id}/audit", sim.audit_media, methods=["POST"]),
        Route("/_sim/media/{media_id}/expire", sim.expire_media, methods=["POST"]),
        Route("/_sim/audit", sim.get_audit, methods=["GET"]),
        Route("/_sim/audit", sim.put_audit, methods=["PUT"]),
        *sim.csp.routes(),
    ]
    app = SimulatorApp(routes=routes, lifespan=lifespan, exception_handlers={ControlError: _on_control_error})
    app.simulator = sim
    app.state.simulator = sim
    return app
