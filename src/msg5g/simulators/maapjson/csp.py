"""The carrier side of the CT/CU CSP management API (§3.4, choices "CSP management"), and its control.

A CSP (one, `settings.csp_id` / `settings.csp_access_key`) takes a token, uploads an enterprise's
files, registers the enterprise (`addcspCustomer`, audited), applies for a chatbot (`addChatbot`,
audited), brings it online and configures its developer callback (`updateDeveloper`), which hands out
the `appId`/`appkey` of the chatbot API (§3.3). From then on the chatbot is an ordinary account of
this simulator: the one `PUT /_sim/chatbots/{id}` would have made, with the application's approved
information in its profile (find/chatBotInfo, the directory).

Every answer is HTTP 200 with `{"code","message","data"}`; only an unknown path (404) and a wrong
method (405) answer like the Spring server behind it. Built from protocols.md §3.4 and
protocol-choices.md only; nothing is shared with the platform's adapter. Readings the reference does
not state are marked [I] beside the constants below.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import ipaddress
import logging
import re
import secrets
import string
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal
from urllib.parse import unquote, urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .constants import (
    FILE_PART,
    FORBIDDEN_WORD,
    MSG_DESCRIPTION_TOO_LONG,
    MSG_FORBIDDEN,
    MSG_ID_NOT_DIGITS,
    MSG_NO_ICON,
    MULTIPART_SLACK_BYTES,
    NOTIFY_TOKEN_MAX,
    SERVICE_DESCRIPTION_MAX,
)
from .media import declared_type
from .multipart import FormPart, MultipartError, form_boundary, parse_form
from .notifier import Notifier
from .settings import AUDIT_DECISIONS, AuditDecision, ChatbotAccount, ConfigError, SimulatorSettings
from .state import AccountEntry, SimState
from .wire import iso_utc, nginx_page, spring_error

log = logging.getLogger(__name__)

# --- stated by the reference (§3.4) or fixed by choices "CSP management" -------------------------

C_OK: Final = 0
C_PARAM: Final = 20002
C_TOKEN: Final = 42001
C_CUSTOMER_UNAVAILABLE: Final = 46005
C_CUSTOMER_AUDITING: Final = 81002
MSG_TOKEN_EXPIRED: Final = "accessToken失效,请重新获取!!"  # noqa: S105 - an error text, not a secret
MSG_CUSTOMER_UNAVAILABLE: Final = "当前csp客户状态为不可用"
MSG_CUSTOMER_AUDITING: Final = "该客户审核状态为待审核，不可编辑"
# The captured success texts: "请求成功" on token, isOnlineUpdate and updateDeveloper, else "success".
MSG_SUCCESS: Final = "success"
MSG_DONE: Final = "请求成功"
# rcs-web caches the token 7200 s; the signature headers may be 300 s off.
TOKEN_TTL_SECONDS: Final = 7200
CLOCK_SKEW_SECONDS: Final = 300
NONCE_TAIL: Final = 8
# `timestamp` is yyyyMMddHHmmss in UTC+8.
CHINA_TIME: Final = timezone(timedelta(hours=8))
# The token as captured begins with this JWT header (base64url of {"alg":"HS256"}).
JWT_HEAD: Final = "eyJhbGciOiJIUzI1NiJ9"
# Customer audit states (choices): -1 being audited, 1 approved, -2 rejected; chatbots as rcs-platform
# keeps them: -1 being audited, -2 rejected, 0 approved and offline, 1 online.
AUDITING: Final = -1
REJECTED: Final = -2
CUSTOMER_APPROVED: Final = 1
OFFLINE: Final = 0
ONLINE: Final = 1
CUSTOMER_STATES: Final = {AUDITING: "auditing", CUSTOMER_APPROVED: "approved", REJECTED: "rejected"}
CHATBOT_STATES: Final = {AUDITING: "auditing", REJECTED: "rejected", OFFLINE: "offline", ONLINE: "online"}
# uploadFile: 0 customer picture, 1 identity card, 2 contract; uploadChatbotFile: 0 logo, 1 background.
CUSTOMER_UPLOAD_TYPES: Final = ("0", "1", "2")
CHATBOT_UPLOAD_TYPES: Final = ("0", "1")
# isOnlineUpdate `type`: 1 online, 2 offline; updateDeveloper `agreement`: 1 http, 2 https.
ONLINE_TYPES: Final = {"1": ONLINE, "2": OFFLINE}
AGREEMENTS: Final = {"1": "http", "2": "https"}
IP_WHITE_LIST_MAX: Final = 15
COORDINATE_DECIMALS: Final = 3
MSG_LICENCE_UNREADABLE: Final = "营业执照无法识别"
# The chatbot file server path as captured (`chanageUrl` is the carrier's spelling).
CHATBOT_FILE_DIR: Final = "/maap_message/bot/chanageUrl/head/"
# The images the simulated auditors can read in a licence scan, by their first bytes.
IMAGE_SIGNATURES: Final = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")

# --- [I] inferred: not stated by the reference ------------------------------------------------

C_NOT_FOUND: Final = 40401
C_CREDENTIALS: Final = 41001
C_SIGNATURE: Final = 41002
C_CHATBOT_UNAPPROVED: Final = 46006
C_CARRIER: Final = -1
MSG_CREDENTIALS: Final = "cspId或accessKey错误"
MSG_TIMESTAMP: Final = "timestamp缺失、格式错误或与服务器时间相差超过300秒"
MSG_NONCE: Final = "nonce必须为timestamp加8位字母或数字"
MSG_SIGNATURE: Final = "signature校验失败"
MSG_UNKNOWN_CUSTOMER: Final = "cspEcNo不存在:{key}"
MSG_UNKNOWN_CHATBOT: Final = "accessTagNo不存在:{key}"
MSG_CHATBOT_UNAPPROVED: Final = "当前chatbot未审核通过,不可操作"
MSG_CARRIER: Final = "系统异常,请稍后重试"
MSG_AUDIT_OK: Final = "审核通过"
MSG_CUSTOMER_REJECTED: Final = "客户资料审核不通过"
MSG_CHATBOT_REJECTED: Final = "Chatbot审核不通过"
MSG_CUSTOMER_FORBIDDEN: Final = "企业名称含有违禁内容"
# The cspEcNo is the cspId followed by a serial of five digits, as captured (C1210000XX00001).
SERIAL_DIGITS: Final = 5
# The appId looks like the captured "xSnuXXXX"; the appkey is 32 lower-case hex digits.
APP_ID_LENGTH: Final = 8
# updateDeveloper: the CSP stores the credentials only after reading the answer, so the first
# handshake may fail; the carrier tries again this many times, this far apart.
VERIFY_RETRIES: Final = 5
VERIFY_INTERVAL_SECONDS: Final = 0.5
CALL_HISTORY: Final = 200
MAX_TOKENS: Final = 10_000
# addChatbot fields that become the chatbot's information (§2.6 names, as update/optionals spells them).
INFO_FIELDS: Final = {
    "serviceName": "serviceName",
    "serviceIcon": "serviceIcon",
    "serviceDescription": "serviceDescription",
    "category": "category",
    "SMSNumber": "smsNumber",
    "callBackNumber": "callBackNumber",
    "provider": "provider",
    "longitude": "longitude",
    "latitude": "latitude",
    "serviceWebsite": "serviceWebsite",
    "emailAddress": "emailAddress",
    "backgroundImage": "backgroundImage",
    "address": "address",
    "TCPage": "tcPage",
}
CSP_AUDIT_KEYS: Final = ("customers", "chatbots")

_JSON_TYPE = "application/json;charset=UTF-8"
_ALNUM = frozenset(string.ascii_letters + string.digits)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9\- ]{3,19}$")
_DATE = re.compile(r"^\d{14}$")
_IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"})
_TYPE_EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/jpg": ".jpg", "image/gif": ".gif"}

FileKind = Literal["customer", "chatbot"]
Auditor = Literal["auditor", "control"]


class CspError(Exception):
    """A call answered with a non-zero `code` (and `data` null)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _param(detail: str) -> CspError:
    return CspError(C_PARAM, detail)


# --- records ----------------------------------------------------------------------------------


@dataclass(slots=True)
class CspAuditPolicy:
    """What the auditors do with customers and chatbot applications from now on (PUT /_sim/audit).

    The delay and the rejection reason are the media policy's (`delay_seconds`, `reason`); every
    record keeps the decision it met, like an upload.
    """

    customers: AuditDecision
    chatbots: AuditDecision

    @classmethod
    def from_settings(cls, settings: SimulatorSettings) -> CspAuditPolicy:
        return cls(customers=settings.audit_customers, chatbots=settings.audit_chatbots)

    def updated(self, data: Mapping[str, Any]) -> CspAuditPolicy:
        changes: dict[str, Any] = {}
        for key, value in data.items():
            if key not in CSP_AUDIT_KEYS:
                raise ConfigError(f"unknown audit setting {key!r}")
            if value not in AUDIT_DECISIONS:
                raise ConfigError(f"{key} must be one of {AUDIT_DECISIONS}")
            changes[key] = value
        return replace(self, **changes)

    def as_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True, eq=False)
class CspFile:
    key: str
    kind: FileKind
    upload_type: str
    file_name: str
    content_type: str
    data: bytes
    # The url's path, as a GET of it arrives: the key of the hosted file.
    path: str
    url: str
    created_at: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "upload_type": self.upload_type,
            "file_name": self.file_name,
            "content_type": self.content_type,
            "size": len(self.data),
            "url": self.url,
            "created_at": iso_utc(self.created_at),
        }


@dataclass(slots=True)
class AuditResult:
    approved: bool
    opinion: str
    by: Auditor
    at: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        result = "approved" if self.approved else "rejected"
        return {"result": result, "opinion": self.opinion, "by": self.by, "at": iso_utc(self.at)}


@dataclass(slots=True, eq=False)
class Customer:
    csp_ec_no: str
    # The body last received, `rcsRegisterInfo.cspEcNo` filled in: what selectCspCustomer echoes.
    body: dict[str, Any]
    decision: AuditDecision
    reason: str | None
    status: int = AUDITING
    opinion: str | None = None
    # Bumped by every submission and decision, so a scheduled audit that lost the race is dropped.
    audit_seq: int = 0
    edits: int = 0
    audits: list[AuditResult] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def echo(self) -> dict[str, Any]:
        out = copy.deepcopy(self.body)
        out["auditStatus"] = self.status
        out["auditOpinion"] = self.opinion
        return out

    def as_json(self) -> dict[str, Any]:
        register = self.body.get("rcsRegisterInfo", {})
        return {
            "cspEcNo": self.csp_ec_no,
            "ecName": register.get("ecName"),
            "auditStatus": self.status,
            "state": CUSTOMER_STATES[self.status],
            "auditOpinion": self.opinion,
            "decision": self.decision,
            "edits": self.edits,
            "body": self.body,
            "audits": [a.as_json() for a in self.audits],
            "created_at": iso_utc(self.created_at),
            "updated_at": iso_utc(self.updated_at),
        }


@dataclass(slots=True)
class Handshake:
    """The notifyPath handshakes run after the last updateDeveloper."""

    attempts: int = 0
    verified: bool | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"attempts": self.attempts, "verified": self.verified, "reason": self.reason}


@dataclass(slots=True, eq=False)
class ChatbotApplication:
    access_tag_no: str
    chatbot_id: str
    csp_ec_no: str
    body: dict[str, Any]
    decision: AuditDecision
    reason: str | None
    status: int = AUDITING
    opinion: str | None = None
    audit_seq: int = 0
    audits: list[AuditResult] = field(default_factory=list)
    # The last updateDeveloper body, and the credentials it handed out (kept across later calls,
    # so a CSP repeating a call whose answer it lost gets the same ones).
    developer: dict[str, Any] | None = None
    app_id: str | None = None
    app_key: str | None = None
    handshake: Handshake = field(default_factory=Handshake)
    task: asyncio.Task[None] | None = None
    created_at: float = field(default_factory=time.time)

    def selected(self) -> dict[str, Any]:
        return {
            "accessTagNo": self.access_tag_no,
            "chatbotId": self.chatbot_id,
            "auditStatus": self.status,
            "auditOpinion": self.opinion,
        }

    def as_json(self) -> dict[str, Any]:
        developer = None
        if self.developer is not None:
            developer = {**self.developer, "appId": self.app_id}
        return {
            **self.selected(),
            "cspEcNo": self.csp_ec_no,
            "state": CHATBOT_STATES[self.status],
            "decision": self.decision,
            "body": self.body,
            "audits": [a.as_json() for a in self.audits],
            "developer": developer,
            "notify_path": self.handshake.as_json(),
            "created_at": iso_utc(self.created_at),
        }


# --- field checks (20002, the message naming the field) -------------------------------------------


def _name(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _text(obj: Mapping[str, Any], key: str, where: str = "", *, required: bool = True, limit: int = 0) -> str | None:
    """A string field; a blank optional field reads as absent."""
    name = _name(where, key)
    value = obj.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _param(f"{name}不能为空")
        return None
    if not isinstance(value, str):
        raise _param(f"{name}必须为字符串")
    if limit and len(value) > limit:
        raise _param(f"{name}长度不能超过{limit}")
    return value


def _code_value(
    obj: Mapping[str, Any], key: str, where: str, allowed: tuple[str, ...], *, required: bool
) -> str | None:
    """A small code sent as a string or an integer ("1" or 1): the string, or None when absent."""
    name = _name(where, key)
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise _param(f"{name}不能为空")
        return None
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or text not in allowed:
        raise _param(f"{name}取值只能为{'/'.join(allowed)}")
    return text


def _object(doc: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    if value is None:
        raise _param(f"{key}不能为空")
    if not isinstance(value, dict):
        raise _param(f"{key}必须为对象")
    return value


def _date(obj: Mapping[str, Any], key: str, where: str, *, required: bool) -> datetime | None:
    text = _text(obj, key, where, required=required)
    if text is None:
        return None
    try:
        if not _DATE.match(text):
            raise ValueError(text)
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=CHINA_TIME)
    except ValueError:
        raise _param(f"{_name(where, key)}格式必须为yyyyMMddHHmmss") from None


def _formatted(obj: Mapping[str, Any], key: str, where: str, pattern: re.Pattern[str]) -> None:
    text = _text(obj, key, where)
    if text is not None and not pattern.match(text):
        raise _param(f"{_name(where, key)}格式不正确")


def _strings(obj: Mapping[str, Any], key: str, where: str = "") -> list[str] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _param(f"{_name(where, key)}必须为字符串数组")
    return value


def _coordinate(doc: Mapping[str, Any], key: str, limit: float) -> None:
    """choices: a number within ±limit with at most three decimals (as the JSON wrote it)."""
    value = doc.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _param(f"{key}必须为数字")
    if not -limit <= value <= limit:
        raise _param(f"{key}取值超出范围[-{limit:g},{limit:g}]")
    try:
        # repr() is the shortest text that reads back as the same float: the decimals the CSP wrote.
        exponent = Decimal(repr(value)).as_tuple().exponent
    except InvalidOperation:
        raise _param(f"{key}必须为数字") from None
    if isinstance(exponent, int) and -exponent > COORDINATE_DECIMALS:
        raise _param(f"{key}小数位数不能超过{COORDINATE_DECIMALS}位")


def _is_image(data: bytes) -> bool:
    return data.startswith(IMAGE_SIGNATURES)


def _extension(file_name: str, content_type: str) -> str:
    _, dot, suffix = file_name.rpartition(".")
    candidate = "." + suffix.lower() if dot else ""
    if candidate in _IMAGE_EXTENSIONS:
        return candidate
    return _TYPE_EXTENSIONS.get(content_type, ".png")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _timestamp_fresh(value: str) -> bool:
    if not _DATE.match(value):
        return False
    try:
        moment = datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=CHINA_TIME)
    except ValueError:
        return False
    return abs(moment.timestamp() - time.time()) <= CLOCK_SKEW_SECONDS


def _answer(code: int, message: str, data: Any) -> Response:
    return Response(orjson.dumps({"code": code, "message": message, "data": data}), media_type=_JSON_TYPE)


def _control_error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None when it exceeds `limit` (read no further: nothing that large is taken)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


_Handler = Callable[[Request, bytes], Any]
# Starlette gives a route without `methods` GET only.
_ANY_METHOD: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class CspDesk:
    """State of the CSP management API and its Starlette endpoints, carrier side and control side."""

    def __init__(self, settings: SimulatorSettings, state: SimState, notifier: Notifier) -> None:
        self.settings = settings
        self.state = state
        self.notifier = notifier
        self.base = settings.path_prefix + settings.csp_path
        self.policy = CspAuditPolicy.from_settings(settings)
        self.customers: dict[str, Customer] = {}
        self.chatbots: dict[str, ChatbotApplication] = {}
        # Uploaded files by the path of their url (a GET of it, a url named in a customer record).
        self.files: dict[str, CspFile] = {}
        # Issued tokens and when (monotonic) each stops working.
        self.tokens: dict[str, float] = {}
        self.calls: deque[dict[str, Any]] = deque(maxlen=CALL_HISTORY)
        self._serial = 0
        # Signs the JWT-looking tokens; they are checked by lookup, the signature only makes them look real.
        self._secret = secrets.token_bytes(32)
        self._tasks: set[asyncio.Task[None]] = set()
        self._upload_cap = max(settings.max_body_bytes, settings.media_max_bytes + MULTIPART_SLACK_BYTES)
        # path -> (method, handler, success message)
        self._calls: dict[str, tuple[str, _Handler, str]] = {
            "/accessToken": ("POST", self._token, MSG_DONE),
            "/uploadFile": ("POST", self._upload_customer_file, MSG_SUCCESS),
            "/cspCustomer/addcspCustomer": ("POST", self._add_customer, MSG_SUCCESS),
            "/cspCustomer/editcspCustomer": ("POST", self._edit_customer, MSG_SUCCESS),
            "/selectCspCustomer": ("POST", self._select_customer, MSG_SUCCESS),
            "/deleteCustomer": ("DELETE", self._delete_customer, MSG_SUCCESS),
            "/Chatbot/uploadChatbotFile": ("POST", self._upload_chatbot_file, MSG_SUCCESS),
            "/Chatbot/addChatbot": ("POST", self._add_chatbot, MSG_SUCCESS),
            "/Chatbot/selectChatbot": ("POST", self._select_chatbot, MSG_SUCCESS),
            "/Chatbot/isOnlineUpdate": ("POST", self._online_update, MSG_DONE),
            "/developerConfiguration/updateDeveloper": ("POST", self._update_developer, MSG_DONE),
        }

    def routes(self) -> list[Route]:
        return [
            # Every method reaches the dispatcher, which answers a wrong one with 405 like Spring.
            Route(self.base + "/{call:path}", self.carrier, methods=list(_ANY_METHOD)),
            Route(CHATBOT_FILE_DIR + "{name}", self.get_file, methods=["GET"]),
            # Customer files sit at the file server's root, `/{volume},{key}` (§3.4 capture).
            Route("/{volume:int},{key}", self.get_file, methods=["GET"]),
            Route("/_sim/csp", self.control_view, methods=["GET"]),
            Route("/_sim/csp/customers/{key}/audit", self.control_customer_audit, methods=["POST"]),
            Route("/_sim/csp/chatbots/{key}/audit", self.control_chatbot_audit, methods=["POST"]),
            Route("/_sim/csp/tokens/expire", self.control_expire_tokens, methods=["POST"]),
        ]

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    # ------------------------------------------------------------------ carrier side

    async def carrier(self, request: Request) -> Response:
        path = "/" + str(request.path_params["call"])
        spec = self._calls.get(path)
        if spec is None:
            return self._http_error(request, path, 404, "Not Found", "No message available")
        method, handler, success = spec
        if request.method != method:
            message = f"Request method '{request.method}' not supported"
            return self._http_error(request, path, 405, "Method Not Allowed", message, allow=method)
        code, message, data = C_OK, success, None
        try:
            uploads = path.endswith(("/uploadFile", "/uploadChatbotFile"))
            limit = self._upload_cap if uploads else self.settings.max_body_bytes
            body = await _read_limited(request, limit)
            if body is None:
                raise _param(f"请求体超过{limit}字节")
            self._check_fresh(request)
            if path != "/accessToken":
                # The token call checks the credentials first (41001 for a wrong key, rather than
                # the 41002 its signature made with that key would earn), the others the signature.
                self._check_signature(request)
                self._check_token(request)
            data = handler(request, body)
        except CspError as error:
            code, message, data = error.code, error.message, None
        except Exception:  # a bug answers like the carrier's own trouble, not a dropped connection
            log.exception("CSP management call %s failed", path)
            code, message, data = C_CARRIER, MSG_CARRIER, None
        self._log_call(request.method, path, 200, code)
        return _answer(code, message, data)

    def _http_error(
        self, request: Request, path: str, status: int, error: str, message: str, *, allow: str | None = None
    ) -> Response:
        self._log_call(request.method, path, status, None)
        headers = {"Allow": allow} if allow else None
        body = spring_error(status, error, message, request.url.path)
        return Response(body, status_code=status, media_type=_JSON_TYPE, headers=headers)

    def _log_call(self, method: str, path: str, status: int, code: int | None) -> None:
        self.calls.append({"method": method, "path": path, "status": status, "code": code, "at": iso_utc()})

    # -- headers --

    def _check_fresh(self, request: Request) -> None:
        timestamp = request.headers.get("timestamp", "")
        if not _timestamp_fresh(timestamp):
            raise CspError(C_SIGNATURE, MSG_TIMESTAMP)
        nonce = request.headers.get("nonce", "")
        tail = nonce[len(timestamp) :]
        if not nonce.startswith(timestamp) or len(tail) != NONCE_TAIL or not set(tail) <= _ALNUM:
            raise CspError(C_SIGNATURE, MSG_NONCE)

    def _check_signature(self, request: Request) -> None:
        headers = request.headers
        timestamp, nonce = headers.get("timestamp", ""), headers.get("nonce", "")
        signed = (self.settings.csp_access_key + nonce + timestamp).encode("utf-8")
        expected = hashlib.md5(signed, usedforsecurity=False).hexdigest()
        if not hmac.compare_digest(expected, headers.get("signature", "")):
            raise CspError(C_SIGNATURE, MSG_SIGNATURE)

    def _check_token(self, request: Request) -> None:
        token = request.headers.get("authorization", "")
        expires = self.tokens.get(token)
        if expires is not None and time.monotonic() >= expires:
            del self.tokens[token]
            expires = None
        if expires is None:
            raise CspError(C_TOKEN, MSG_TOKEN_EXPIRED)

    @staticmethod
    def _json(request: Request, body: bytes) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "")
        if content_type.partition(";")[0].strip().lower() != "application/json":
            raise _param("Content-Type必须为application/json")
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _param("请求体不是合法的JSON") from None
        if not isinstance(doc, dict):
            raise _param("请求体必须为JSON对象")
        return doc

    # -- token --

    def _token(self, request: Request, body: bytes) -> dict[str, Any]:
        doc = self._json(request, body)
        csp_id = _text(doc, "cspId")
        access_key = _text(doc, "accessKey")
        settings = self.settings
        if csp_id != settings.csp_id or not hmac.compare_digest(
            str(access_key).encode("utf-8"), settings.csp_access_key.encode("utf-8")
        ):
            raise CspError(C_CREDENTIALS, MSG_CREDENTIALS)
        self._check_signature(request)
        token = self._new_token()
        if len(self.tokens) >= MAX_TOKENS:
            del self.tokens[next(iter(self.tokens))]
        self.tokens[token] = time.monotonic() + TOKEN_TTL_SECONDS
        return {"accessToken": token}

    def _new_token(self) -> str:
        now = int(time.time())
        claims = {"sub": self.settings.csp_id, "iat": now, "exp": now + TOKEN_TTL_SECONDS, "jti": secrets.token_hex(8)}
        signing = f"{JWT_HEAD}.{_b64url(orjson.dumps(claims))}"
        signature = hmac.new(self._secret, signing.encode("ascii"), hashlib.sha256).digest()
        return f"{signing}.{_b64url(signature)}"

    def expire_tokens(self) -> int:
        count = len(self.tokens)
        self.tokens.clear()
        return count

    # -- files --

    def _file_part(self, request: Request, body: bytes, allowed: tuple[str, ...]) -> tuple[str, FormPart]:
        upload_type = request.headers.get("uploadtype", "").strip()
        if upload_type not in allowed:
            raise _param(f"uploadType取值只能为{'/'.join(allowed)}")
        boundary = form_boundary(request.headers.get("content-type", ""))
        if boundary is None:
            raise _param("Content-Type必须为multipart/form-data")
        try:
            parts = parse_form(body, boundary)
        except MultipartError as exc:
            raise _param(f"multipart解析失败:{exc}") from None
        # Like Spring's MultipartFile: a part named `file` without a file name is no file.
        part = next((p for p in parts if p.name == FILE_PART and p.filename is not None), None)
        if part is None or not part.data:
            raise _param("file不能为空")
        if len(part.data) > self.settings.media_max_bytes:
            raise _param(f"file大小不能超过{self.settings.media_max_bytes}字节")
        return upload_type, part

    def _store_file(self, request: Request, kind: FileKind, upload_type: str, part: FormPart, path: str) -> CspFile:
        file_name = part.filename or FILE_PART
        # The simulator hosts the file itself, at the address the client reached it by.
        url = f"{request.url.scheme}://{request.headers.get('host', 'localhost')}{path}"
        record = CspFile(path.rpartition("/")[2], kind, upload_type, file_name,
                         declared_type(part.content_type, file_name), part.data, path, url)
        if len(self.files) >= self.settings.max_media:
            del self.files[next(iter(self.files))]
        self.files[path] = record
        return record

    def _upload_customer_file(self, request: Request, body: bytes) -> dict[str, Any]:
        upload_type, part = self._file_part(request, body, CUSTOMER_UPLOAD_TYPES)
        path = f"/{secrets.randbelow(20) + 1},{secrets.token_hex(6)}"
        while path in self.files:
            path = f"/{secrets.randbelow(20) + 1},{secrets.token_hex(6)}"
        return {"url": self._store_file(request, "customer", upload_type, part, path).url}

    def _upload_chatbot_file(self, request: Request, body: bytes) -> dict[str, Any]:
        upload_type, part = self._file_part(request, body, CHATBOT_UPLOAD_TYPES)
        extension = _extension(part.filename or "", declared_type(part.content_type, part.filename or ""))
        path = f"{CHATBOT_FILE_DIR}{secrets.token_hex(16)}{extension}"
        return {"filePath": self._store_file(request, "chatbot", upload_type, part, path).url}

    def file_at(self, url: str, kind: FileKind) -> CspFile | None:
        """The file a url names, whatever host it was written with; None for foreign urls."""
        try:
            path = unquote(urlsplit(url).path)
        except ValueError:
            return None
        record = self.files.get(path)
        return record if record is not None and record.kind == kind else None

    async def get_file(self, request: Request) -> Response:
        record = self.files.get(request.scope["path"])
        if record is None:
            return Response(nginx_page(404), status_code=404, media_type="text/html")
        return Response(record.data, media_type=record.content_type)

    # -- customers --

    def _customer_body(self, doc: dict[str, Any], *, edit: bool) -> dict[str, Any]:
        """The four objects of §3.4, checked field by field; the first fault is a 20002 naming it."""
        register = _object(doc, "rcsRegisterInfo")
        where = "rcsRegisterInfo"
        if edit:
            _text(register, "cspEcNo", where)
        _text(register, "ecName", where)
        business_type = register.get("businessType")
        if business_type is None or business_type == "":
            raise _param("rcsRegisterInfo.businessType不能为空")
        if isinstance(business_type, bool) or not isinstance(business_type, str | int):
            raise _param("rcsRegisterInfo.businessType必须为字符串或整数")
        grade = register.get("ecGrade")
        if grade is not None and (isinstance(grade, bool) or not isinstance(grade, str | int)):
            raise _param("rcsRegisterInfo.ecGrade必须为字符串或整数")

        info = _object(doc, "rcsInfo")
        where = "rcsInfo"
        licence = _text(info, "businessLicense", where)
        if self.file_at(str(licence), "customer") is None:
            raise _param("rcsInfo.businessLicense必须为uploadFile返回的文件地址")
        for key in ("businessAddress", "province", "city", "operatorName", "operatorCard"):
            _text(info, key, where)
        for key in ("introduce", "serviceIcon", "area"):
            _text(info, key, where, required=False)
        _formatted(info, "workPhone", where, _PHONE)
        _formatted(info, "operatorPhone", where, _PHONE)
        _formatted(info, "emailAddress", where, _EMAIL)
        _strings(info, "operatorIdentityPic", where)

        contract = _object(doc, "rcsContractInformation")
        where = "rcsContractInformation"
        _text(contract, "contractNo", where)
        _text(contract, "name", where)
        effective = _date(contract, "effectiveDate", where, required=True)
        expiry = _date(contract, "expiryDate", where, required=True)
        if effective is not None and expiry is not None and expiry < effective:
            raise _param("rcsContractInformation.expiryDate不能早于effectiveDate")
        _date(contract, "renewalDate", where, required=False)
        _code_value(contract, "status", where, ("0", "1"), required=False)
        _text(contract, "accessory", where, required=False)

        legal = _object(doc, "rcsLegalP")
        _text(legal, "legalName", "rcsLegalP")
        for key in ("legalIdentification", "identificationStraight", "identificationCounter"):
            _text(legal, key, "rcsLegalP", required=False)
        return copy.deepcopy(doc)

    def _customer(self, key: Any) -> Customer:
        customer = self.customers.get(key) if isinstance(key, str) else None
        if customer is None:
            raise CspError(C_NOT_FOUND, MSG_UNKNOWN_CUSTOMER.format(key=key))
        return customer

    def _add_customer(self, request: Request, body: bytes) -> dict[str, Any]:
        record = self._customer_body(self._json(request, body), edit=False)
        self._serial += 1
        csp_ec_no = f"{self.settings.csp_id}{self._serial:0{SERIAL_DIGITS}d}"
        record["rcsRegisterInfo"]["cspEcNo"] = csp_ec_no
        customer = Customer(csp_ec_no, record, self.policy.customers, self.state.audit.reason)
        self.customers[csp_ec_no] = customer
        self._plan_customer_audit(customer)
        return {"cspEcNo": csp_ec_no}

    def _edit_customer(self, request: Request, body: bytes) -> dict[str, Any]:
        doc = self._json(request, body)
        register = _object(doc, "rcsRegisterInfo")
        customer = self._customer(_text(register, "cspEcNo", "rcsRegisterInfo"))
        # Business state before the fields: a record under audit cannot be edited at all.
        if customer.status == AUDITING:
            raise CspError(C_CUSTOMER_AUDITING, MSG_CUSTOMER_AUDITING)
        record = self._customer_body(doc, edit=True)
        customer.body = record
        customer.edits += 1
        customer.status, customer.opinion = AUDITING, None
        customer.decision, customer.reason = self.policy.customers, self.state.audit.reason
        customer.updated_at = time.time()
        self._plan_customer_audit(customer)
        return {"cspEcNo": customer.csp_ec_no}

    def _select_customer(self, request: Request, body: bytes) -> dict[str, Any]:
        doc = self._json(request, body)
        return self._customer(_text(doc, "cspEcNo")).echo()

    def _delete_customer(self, request: Request, body: bytes) -> None:
        doc = self._json(request, body)
        customer = self._customer(_text(doc, "cspEcNo"))
        # Its pending audit, if any, finds the record gone and is dropped.
        del self.customers[customer.csp_ec_no]

    def _plan_customer_audit(self, customer: Customer) -> None:
        customer.audit_seq += 1
        if customer.decision == "hold":
            return
        loop = asyncio.get_running_loop()
        loop.call_later(self.state.audit.delay_seconds, self._customer_due, customer, customer.audit_seq)

    def _customer_due(self, customer: Customer, seq: int) -> None:
        # Dropped when deleted, reset away, edited again or settled by hand meanwhile.
        if self.customers.get(customer.csp_ec_no) is not customer or customer.audit_seq != seq:
            return
        # The auditors' own checks come first: even under "reject" they name the real fault.
        reason = self._customer_rejection(customer)
        if reason is None and customer.decision == "reject":
            reason = customer.reason or MSG_CUSTOMER_REJECTED
        self.settle_customer(customer, approved=reason is None, reason=reason, by="auditor")

    def _customer_rejection(self, customer: Customer) -> str | None:
        """choices: a licence scan that is not a readable image, or the forbidden word in ecName."""
        licence = self.file_at(str(customer.body["rcsInfo"].get("businessLicense")), "customer")
        if licence is None or not _is_image(licence.data):
            return MSG_LICENCE_UNREADABLE
        if FORBIDDEN_WORD in str(customer.body["rcsRegisterInfo"].get("ecName", "")):
            return MSG_CUSTOMER_FORBIDDEN
        return None

    def settle_customer(self, customer: Customer, *, approved: bool, reason: str | None, by: Auditor) -> None:
        customer.audit_seq += 1
        customer.status = CUSTOMER_APPROVED if approved else REJECTED
        customer.opinion = MSG_AUDIT_OK if approved else (reason or MSG_CUSTOMER_REJECTED)
        customer.updated_at = time.time()
        customer.audits.append(AuditResult(approved, customer.opinion, by))

    # -- chatbots --

    def _chatbot_body(self, doc: dict[str, Any]) -> dict[str, Any]:
        """addChatbot's fields (§3.4, choices); the first fault is a 20002 naming it."""
        csp_id = _text(doc, "cspId")
        if csp_id != self.settings.csp_id:
            raise _param(f"cspId与当前CSP不一致:{csp_id}")
        _text(doc, "cspEcNo")
        chatbot_id = doc.get("chatbotId")
        if chatbot_id is None or chatbot_id == "":
            raise _param("chatbotId不能为空")
        if not isinstance(chatbot_id, str) or not chatbot_id.isascii() or not chatbot_id.isdigit():
            raise _param(MSG_ID_NOT_DIGITS)
        _text(doc, "serviceName")
        _text(doc, "serviceDescription", required=False, limit=SERVICE_DESCRIPTION_MAX)
        for key in ("serviceIcon", "SMSNumber", "autograph", "provider", "TCPage", "emailAddress",
                    "serviceWebsite", "callBackNumber", "address", "backgroundImage"):
            _text(doc, key, required=False)
        _code_value(doc, "showProvider", "", ("1", "0"), required=False)
        category = doc.get("category")
        if (
            not isinstance(category, list)
            or len(category) != 1
            or not isinstance(category[0], str)
            or not category[0].strip()
        ):
            raise _param("category必须为只含一个行业类型的数组")
        _coordinate(doc, "longitude", 180.0)
        _coordinate(doc, "latitude", 90.0)
        white_list = _strings(doc, "ipWhiteList")
        if white_list is not None:
            if len(white_list) > IP_WHITE_LIST_MAX:
                raise _param(f"ipWhiteList最多{IP_WHITE_LIST_MAX}个")
            for address in white_list:
                try:
                    ipaddress.ip_address(address)
                except ValueError:
                    raise _param(f"ipWhiteList含有不合法的IP:{address}") from None
        return copy.deepcopy(doc)

    def _chatbot(self, doc: Mapping[str, Any]) -> ChatbotApplication:
        key = _text(doc, "accessTagNo")
        application = self.chatbots.get(str(key))
        if application is None:
            raise CspError(C_NOT_FOUND, MSG_UNKNOWN_CHATBOT.format(key=key))
        return application

    def _chatbot_id_taken(self, chatbot_id: str) -> bool:
        # A rejected application does not hold its chatbotId: the CSP applies again with it.
        if any(a.chatbot_id == chatbot_id and a.status != REJECTED for a in self.chatbots.values()):
            return True
        return chatbot_id in self.state.accounts

    def _add_chatbot(self, request: Request, body: bytes) -> dict[str, Any]:
        record = self._chatbot_body(self._json(request, body))
        customer = self._customer(record["cspEcNo"])
        if customer.status != CUSTOMER_APPROVED:
            raise CspError(C_CUSTOMER_UNAVAILABLE, MSG_CUSTOMER_UNAVAILABLE)
        chatbot_id = str(record["chatbotId"])
        if self._chatbot_id_taken(chatbot_id):
            raise _param(f"chatbotId已存在:{chatbot_id}")
        application = ChatbotApplication(
            uuid.uuid4().hex, chatbot_id, customer.csp_ec_no, record, self.policy.chatbots, self.state.audit.reason
        )
        self.chatbots[application.access_tag_no] = application
        application.audit_seq += 1
        if application.decision != "hold":
            loop = asyncio.get_running_loop()
            loop.call_later(self.state.audit.delay_seconds, self._chatbot_due, application, application.audit_seq)
        return {"accessTagNo": application.access_tag_no}

    def _select_chatbot(self, request: Request, body: bytes) -> dict[str, Any]:
        return self._chatbot(self._json(request, body)).selected()

    def _chatbot_due(self, application: ChatbotApplication, seq: int) -> None:
        if self.chatbots.get(application.access_tag_no) is not application or application.audit_seq != seq:
            return
        reason = self._chatbot_rejection(application)
        if reason is None and application.decision == "reject":
            reason = application.reason or MSG_CHATBOT_REJECTED
        self.settle_chatbot(application, approved=reason is None, reason=reason, by="auditor")

    @staticmethod
    def _chatbot_rejection(application: ChatbotApplication) -> str | None:
        """choices: no serviceIcon, a description over 150 characters, the forbidden word.

        addChatbot already refuses a longer description (20002); the auditors check it again so a
        record that reached them some other way is still judged by the rule.
        """
        body = application.body
        icon = body.get("serviceIcon")
        if not isinstance(icon, str) or not icon.strip():
            return MSG_NO_ICON
        description = str(body.get("serviceDescription") or "")
        if len(description) > SERVICE_DESCRIPTION_MAX:
            return MSG_DESCRIPTION_TOO_LONG.format(limit=SERVICE_DESCRIPTION_MAX)
        if FORBIDDEN_WORD in str(body.get("serviceName", "")) + description:
            return MSG_FORBIDDEN
        return None

    def settle_chatbot(
        self, application: ChatbotApplication, *, approved: bool, reason: str | None, by: Auditor
    ) -> None:
        application.audit_seq += 1
        application.status = OFFLINE if approved else REJECTED
        application.opinion = MSG_AUDIT_OK if approved else (reason or MSG_CHATBOT_REJECTED)
        application.audits.append(AuditResult(approved, application.opinion, by))
        if approved:
            self._publish(application)

    def _publish(self, application: ChatbotApplication) -> None:
        """The approved application becomes the chatbot's information (find/chatBotInfo, directory).

        Written once, at approval: later changes travel by update/chatBotInfo/optionals (§3.3.5).
        """
        profile = self.state.profile(application.chatbot_id)
        body = application.body
        profile.info.update({name: body[key] for key, name in INFO_FIELDS.items() if body.get(key) not in (None, "")})
        profile.version += 1
        profile.approved_at = time.time()
        profile.online = application.status == ONLINE

    def _online_update(self, request: Request, body: bytes) -> None:
        doc = self._json(request, body)
        kind = _code_value(doc, "type", "", tuple(ONLINE_TYPES), required=True)
        application = self._chatbot(doc)
        if application.status not in (OFFLINE, ONLINE):
            raise CspError(C_CHATBOT_UNAPPROVED, MSG_CHATBOT_UNAPPROVED)
        application.status = ONLINE_TYPES[str(kind)]
        profile = self.state.profile(application.chatbot_id)
        if profile.approved_at is None:  # its information was forgotten (reset): publish it again
            self._publish(application)
        # The CSP's own choice: no informationChange notice, that one tells of the carrier's doing.
        profile.online = application.status == ONLINE

    def _update_developer(self, request: Request, body: bytes) -> dict[str, Any]:
        doc = self._json(request, body)
        agreement = _code_value(doc, "agreement", "", tuple(AGREEMENTS), required=True)
        token = _text(doc, "token", limit=NOTIFY_TOKEN_MAX)
        url = str(_text(doc, "url"))
        try:
            parts = urlsplit(url)
        except ValueError:
            raise _param("url格式不正确") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _param("url必须为http或https地址")
        if parts.scheme != AGREEMENTS[str(agreement)]:
            raise _param("agreement与url的协议不一致")
        _code_value(doc, "enable", "", ("1",), required=True)
        application = self._chatbot(doc)
        if application.status not in (OFFLINE, ONLINE):
            raise CspError(C_CHATBOT_UNAPPROVED, MSG_CHATBOT_UNAPPROVED)
        if application.app_id is None or application.app_key is None:
            application.app_id, application.app_key = self._new_app_id(), secrets.token_hex(16)
        old = self.state.accounts.get(application.chatbot_id)
        try:
            account = ChatbotAccount(
                application.chatbot_id,
                application.app_id,
                application.app_key,
                notify_token=str(token),
                notify_url=url,
                tps_limit=old.account.tps_limit if old is not None else None,
            )
        except ConfigError as exc:
            raise _param(str(exc)) from None
        # Exactly what PUT /_sim/chatbots/{id} does: from now on the chatbot API takes these credentials.
        entry = self.state.put_account(account)
        application.developer = {key: doc.get(key) for key in ("agreement", "token", "url", "enable")}
        profile = self.state.profile(application.chatbot_id)
        if profile.approved_at is None:
            self._publish(application)
        self._plan_handshake(application, entry)
        return {"appId": application.app_id, "appkey": application.app_key}

    def _new_app_id(self) -> str:
        taken = {e.account.app_id for e in self.state.accounts.values()}
        alphabet = string.ascii_letters + string.digits
        while True:
            app_id = "".join(secrets.choice(alphabet) for _ in range(APP_ID_LENGTH))
            if app_id not in taken:
                return app_id

    def _plan_handshake(self, application: ChatbotApplication, entry: AccountEntry) -> None:
        if application.task is not None:
            application.task.cancel()
        application.handshake = Handshake()
        task = asyncio.ensure_future(self._handshake(application, entry))
        application.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handshake(self, application: ChatbotApplication, entry: AccountEntry) -> None:
        """choices "Developer": the notifyPath handshake a moment after the answer, retried while it fails."""
        await asyncio.sleep(self.settings.developer_verify_delay_seconds)
        log_entry = application.handshake
        for attempt in range(1 + VERIFY_RETRIES):
            if attempt:
                await asyncio.sleep(VERIFY_INTERVAL_SECONDS)
            # Replaced (PUT /_sim/chatbots, a later updateDeveloper) or reset away: not ours to verify.
            if self.state.accounts.get(application.chatbot_id) is not entry:
                return
            verified, reason = await self.notifier.verify_notify_path(entry)
            entry.verified, entry.reason, entry.verified_at = verified, reason, time.time()
            log_entry.attempts, log_entry.verified, log_entry.reason = attempt + 1, verified, reason
            if verified:
                return

    # ------------------------------------------------------------------ control side

    async def control_view(self, _request: Request) -> Response:
        return JSONResponse(
            {
                "customers": [c.as_json() for c in self.customers.values()],
                "chatbots": [a.as_json() for a in self.chatbots.values()],
                "files": len(self.files),
                "calls": list(self.calls),
            }
        )

    async def _decision(self, request: Request) -> tuple[bool, str | None] | Response:
        try:
            payload = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError as exc:
            return _control_error(400, f"invalid JSON: {exc}")
        if not isinstance(payload, dict):
            return _control_error(400, "the body must be a JSON object")
        approved = payload.get("approved")
        if not isinstance(approved, bool):
            return _control_error(400, "approved must be a boolean")
        reason = payload.get("reason")
        if reason is not None and not isinstance(reason, str):
            return _control_error(400, "reason must be a string")
        return approved, reason or self.state.audit.reason

    async def control_customer_audit(self, request: Request) -> Response:
        """Decide a pending customer audit now (held, or its delay not yet run out)."""
        customer = self.customers.get(request.path_params["key"])
        if customer is None:
            return _control_error(404, f"unknown cspEcNo {request.path_params['key']!r}")
        decision = await self._decision(request)
        if isinstance(decision, Response):
            return decision
        if customer.status != AUDITING:
            return _control_error(409, f"customer {customer.csp_ec_no} is not being audited")
        approved, reason = decision
        self.settle_customer(customer, approved=approved, reason=reason, by="control")
        return JSONResponse(customer.as_json())

    async def control_chatbot_audit(self, request: Request) -> Response:
        application = self.chatbots.get(request.path_params["key"])
        if application is None:
            return _control_error(404, f"unknown accessTagNo {request.path_params['key']!r}")
        decision = await self._decision(request)
        if isinstance(decision, Response):
            return decision
        if application.status != AUDITING:
            return _control_error(409, f"chatbot application {application.access_tag_no} is not being audited")
        approved, reason = decision
        self.settle_chatbot(application, approved=approved, reason=reason, by="control")
        return JSONResponse(application.as_json())

    async def control_expire_tokens(self, _request: Request) -> Response:
        return JSONResponse({"expired": self.expire_tokens()})

    def updated_policy(self, payload: Mapping[str, Any]) -> tuple[CspAuditPolicy, dict[str, Any]]:
        """PUT /_sim/audit: this policy with its keys applied, and the keys that are not its own."""
        own = {k: v for k, v in payload.items() if k in CSP_AUDIT_KEYS}
        rest = {k: v for k, v in payload.items() if k not in CSP_AUDIT_KEYS}
        return self.policy.updated(own), rest

    def reset(self, *, everything: bool, tokens: bool, policy: bool) -> None:
        """/_sim/reset: the call log always; tokens with `tokens`; with `everything` (`csp`) every
        customer, application, file and token, and the chatbot accounts and information the
        applications made, so their chatbotIds are free again."""
        self.calls.clear()
        if tokens or everything:
            self.tokens.clear()
        if policy or everything:
            self.policy = CspAuditPolicy.from_settings(self.settings)
        if not everything:
            return
        for task in self._tasks:
            task.cancel()
        for application in self.chatbots.values():
            entry = self.state.accounts.get(application.chatbot_id)
            if entry is not None and application.app_id is not None and entry.account.app_id == application.app_id:
                del self.state.accounts[application.chatbot_id]
            if application.chatbot_id not in self.state.accounts:
                self.state.profiles.pop(application.chatbot_id, None)
        self.customers.clear()
        self.chatbots.clear()
        self.files.clear()
        self._serial = 0
