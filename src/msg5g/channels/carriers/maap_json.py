"""The Chinese "MaaP Chatbot 接口" JSON family (`/bot/v1/{chatbotURI}/...`), used by China Telecom
and China Unicom.

Wire facts come from shared/reference/protocols.md §3.3 (token, send, revoke, notifications) and §2
(GSMA content); where the reference is ambiguous, docs/protocol-choices.md records the reading
taken. What differs between the two carriers (token format, errorCode type, who picks the message
id, the handshake's method) is a class attribute or a small override in `ctcc.py` / `cucc.py`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal

import aiohttp
import orjson
from pydantic import Field, SecretStr

from msg5g.channels.base import (
    Capabilities,
    ChannelAdapter,
    ChannelEndpoint,
    ChatbotAccount,
    InboundSink,
    OutboundMessage,
    SendResult,
    WebhookReply,
    WebhookRequest,
)
from msg5g.channels.carriers.csp_management import CspManagementClient
from msg5g.channels.config import AdapterConfig, ConfigModel
from msg5g.channels.gsma import (
    CT_BOTMESSAGE,
    CT_SHARED_DATA,
    CT_SUGGESTION_RESPONSE,
    CT_SUGGESTIONS,
    CT_TEXT,
    build_bot_message,
    build_suggestion,
    build_suggestions,
    iso_utc,
    parse_geo_uri,
    parse_suggestion_response,
)
from msg5g.channels.tokens import TokenCache
from msg5g.domain.applications import CarrierAudit, ChatbotFiling, CustomerFiling, DeveloperCredentials
from msg5g.domain.chatbots import ChatbotInfo, ChatbotInfoReport, SubMenu
from msg5g.domain.content import (
    CarouselContent,
    Content,
    FileContent,
    MediaFile,
    RichCardContent,
    Suggestion,
    TextContent,
    UplinkContent,
    UplinkFile,
    UplinkSharedData,
    UplinkSpamReport,
    UplinkText,
)
from msg5g.domain.errors import (
    ChannelAuthError,
    ChannelError,
    PermanentChannelError,
    PortedOut,
    RateLimited,
    TransientChannelError,
    WebhookRejected,
)
from msg5g.domain.media import (
    KindLimit,
    MaterialKind,
    MediaAuditReport,
    MediaLimits,
    MediaPart,
    MediaUpload,
    MediaUploadResult,
)
from msg5g.domain.messages import (
    InboundMessage,
    MessageStatus,
    RevokeReport,
    StatusReport,
    TrafficClass,
    WebhookParseResult,
)
from msg5g.kit.clock import http_date, parse_iso, utcnow
from msg5g.kit.phone import InvalidPhoneNumber, normalise_mobile

log = logging.getLogger(__name__)

CT_FT_HTTP = "application/vnd.gsma.rcs-ft-http"  # §3.3.2: the JSON flavour, no +xml

# §3.3.2 / protocol-choices.md: what each errorCode means for the retry policy.
SUCCESS_CODES = {"0"}
TOKEN_REFUSED_CODES = {"40014", "42001"}  # refresh the token once, then it is an auth failure
RATE_LIMIT_CODES = {"31008"}
TRANSIENT_CODES = {"-1"}  # "系统遇到未知异常": the carrier's own trouble
PORTED_OUT_CODES = {"40401"}  # [I] "not our subscriber": the number moved to another carrier
# §3.3.6 status values; revokeOk / revokeFail answer a revoke (REVOKE_RESULTS).
STATUS_MAP: dict[str, MessageStatus] = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "deliveredToNetwork": MessageStatus.DELIVERED,  # converted to SMS by the network
    "displayed": MessageStatus.DISPLAYED,
    "failed": MessageStatus.FAILED,
}
REVOKE_RESULTS = {"revokeOk": True, "revokeFail": False}
HANDSET_CAPABILITY = {"delivered": "rcs", "displayed": "rcs", "deliveredToNetwork": "sms_only"}
# [I] The reference lists no failure code for "the handset cannot take chatbot messages"; the
# simulators use 45001 (docs/protocol-choices.md).
NOT_CAPABLE_CODES = {"45001"}
# `sent` is not asked for: the carrier's answer to the send already says it, and the report would
# cost a callback per message that changes nothing (measured: a third more platform CPU).
REPORT_REQUEST = ["failed", "delivered", "displayed", "deliveredToNetwork"]
TRAFFIC_TYPE = {TrafficClass.MARKETING: "advertisement"}
SIGNATURE_SKEW_SECONDS = 300.0  # protocol-choices.md
RAW_ANSWER_LIMIT = 300  # characters of an unreadable answer kept in the failure reason


def notification_signature(token: str, timestamp: str, nonce: str) -> str:
    """protocol-choices.md: hex(sha256 of token, timestamp and nonce, sorted and concatenated))."""
    return hashlib.sha256("".join(sorted((token, timestamp, nonce))).encode()).hexdigest()


def _code(document: Mapping[str, Any]) -> str | None:
    """CTCC answers errorCode as a string, CUCC as an integer (§3.1); both read as text here."""
    code = document.get("errorCode", document.get("code"))
    return None if code is None else str(code).strip()


def _raw(payload: bytes) -> str:
    return payload[:RAW_ANSWER_LIMIT].decode("utf-8", errors="replace")


# §3.3.4: CUCC refuses files over 20 MB (UT000054); [I] CTCC is taken to have the same limit, and
# both the file types CMCC takes plus GIF and WAV.
_MAX_FILE = 20 * 1024 * 1024
MEDIA_LIMITS = MediaLimits({
    MaterialKind.IMAGE: KindLimit(_MAX_FILE, frozenset({"image/jpeg", "image/png", "image/gif"})),
    MaterialKind.AUDIO: KindLimit(_MAX_FILE, frozenset({"audio/amr", "audio/mpeg", "audio/mp4", "audio/x-wav"})),
    MaterialKind.VIDEO: KindLimit(_MAX_FILE, frozenset({"video/mp4", "video/webm"})),
    MaterialKind.THUMBNAIL: KindLimit(_MAX_FILE, frozenset({"image/jpeg", "image/png"})),
})


class ChatbotJsonSettings(AdapterConfig):
    media_upload_mode: Literal["perm", "temp"] = Field(
        default="perm", description="uploadMode of media uploads (§3.3.4): perm never expires, temp does")
    # §3.4: the CSP's management API, through which the platform applies for chatbots; without it
    # chatbots are entered by hand with the credentials the carrier's portal issued.
    csp_api_url: str | None = Field(default=None, max_length=300, pattern=r"^https?://[^\s/]+(/\S*)?$",
                                    description="CSP management base, e.g. https://isptest.189.cn/cspApi/v1")
    csp_id: str | None = Field(default=None, max_length=40, description="cspId: the CSP's number at the carrier")
    csp_access_key: SecretStr | None = Field(default=None, max_length=200, description="accessKey of the CSP")


class ChatbotJsonCredentials(AdapterConfig):
    """§3.3.1 / §3.4: the developer credentials the CSP portal issues per chatbot."""

    app_id: str = Field(min_length=1, max_length=100, description="appId from updateDeveloper")
    app_key: SecretStr = Field(min_length=1, max_length=200, description="appKey from updateDeveloper")
    notify_token: SecretStr = Field(min_length=1, max_length=16,
                                    description="The token set in updateDeveloper; signs the carrier's callbacks")


class ChatbotJsonChannel(ChannelAdapter):
    """One adapter instance serves every chatbot of its type; tokens are cached per chatbot."""

    manages_chatbot_info: ClassVar[bool] = True
    manages_applications: ClassVar[bool] = True

    capabilities: ClassVar[Capabilities] = Capabilities(max_recipients_per_request=100)
    credentials_model: ClassVar[ConfigModel] = ChatbotJsonCredentials
    settings_model: ClassVar[ConfigModel] = ChatbotJsonSettings
    media_limits: ClassVar[MediaLimits] = MEDIA_LIMITS
    # Whether `temp` uploads are audited too (CTCC) or usable at once (CUCC, §3.3.4's Liaoning note).
    audits_temp_uploads: ClassVar[bool] = True
    # Whether the carrier answers a send with its own messageId (CUCC) instead of echoing ours.
    carrier_assigns_message_id: ClassVar[bool] = False
    notify_path_method: ClassVar[str] = "POST"

    def __init__(self, http: aiohttp.ClientSession, *, timeout_seconds: float = 10.0,
                 inbound: InboundSink | None = None) -> None:
        super().__init__(http, timeout_seconds=timeout_seconds, inbound=inbound)
        self._tokens = TokenCache()
        self._management = CspManagementClient(http, self._timeout)

    def authorization(self, token: str) -> str:
        """The Authorization header for a token as the carrier issued it."""
        return token

    # ---- token -----------------------------------------------------------------------------------

    def _api_url(self, endpoint: ChannelEndpoint, account: ChatbotAccount, operation: str) -> str:
        # protocol-choices.md: the chatbot URI goes into the path raw (':' and '@' are legal there).
        return f"{endpoint.base_url.rstrip('/')}/bot/v1/{account.address}/{operation}"

    def _headers(self, token: str | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json", "Date": http_date()}
        if token is not None:
            headers["Authorization"] = self.authorization(token)
        return headers

    async def _token(self, endpoint: ChannelEndpoint, account: ChatbotAccount) -> str:
        key = (endpoint.channel_id, account.chatbot_id, account.credentials.get("app_id"))
        return await self._tokens.get(key, lambda: self._fetch_token(endpoint, account))

    async def _fetch_token(self, endpoint: ChannelEndpoint, account: ChatbotAccount) -> tuple[str, float]:
        """§3.3.1: POST .../accessToken {appId, appKey} -> {accessToken, expires}."""
        try:
            body = orjson.dumps({"appId": account.credentials["app_id"], "appKey": account.credentials["app_key"]})
        except KeyError as exc:
            raise ChannelAuthError(f"the chatbot has no {exc.args[0]} credential") from None
        status, payload = await self._post(self._api_url(endpoint, account, "accessToken"), body, self._headers())
        document = self._json(payload)
        code = _code(document) if document is not None else None
        token = document.get("accessToken") if document is not None else None
        if 200 <= status < 300 and code in SUCCESS_CODES and isinstance(token, str) and token:
            expires = document.get("expires") if document is not None else None
            lifetime = float(expires) if isinstance(expires, int | float) and expires > 0 else 7200.0
            return token, lifetime
        detail = self._detail(status, code, document, payload)
        if status >= 500 or status == 408:
            raise TransientChannelError(f"token call failed: {detail}", carrier_code=code, http_status=status)
        raise ChannelAuthError(f"the carrier refused our chatbot credentials: {detail}", carrier_code=code,
                               http_status=status)

    # ---- applying for chatbots (§3.4, csp_management.py) ----------------------------------------------

    def applications_refusal(self, endpoint: ChannelEndpoint) -> str | None:
        return self._management.refusal(endpoint)

    async def register_customer(self, endpoint: ChannelEndpoint, filing: CustomerFiling) -> str:
        return await self._management.register_customer(endpoint, filing)

    async def customer_audit(self, endpoint: ChannelEndpoint, customer_ref: str) -> CarrierAudit:
        return await self._management.customer_audit(endpoint, customer_ref)

    async def apply_chatbot(self, endpoint: ChannelEndpoint, filing: ChatbotFiling) -> str:
        return await self._management.apply_chatbot(endpoint, filing)

    async def chatbot_audit(self, endpoint: ChannelEndpoint, chatbot_ref: str) -> CarrierAudit:
        return await self._management.chatbot_audit(endpoint, chatbot_ref)

    async def bring_online(self, endpoint: ChannelEndpoint, chatbot_ref: str) -> None:
        await self._management.bring_online(endpoint, chatbot_ref)

    async def configure_developer(self, endpoint: ChannelEndpoint, chatbot_ref: str, callback_url: str,
                                  token: str) -> DeveloperCredentials:
        return await self._management.configure_developer(endpoint, chatbot_ref, callback_url, token)

    # ---- downlink --------------------------------------------------------------------------------

    async def send(self, endpoint: ChannelEndpoint, account: ChatbotAccount, message: OutboundMessage) -> SendResult:
        return await self._send(endpoint, account, message, [message.recipient])

    async def send_group(self, endpoint: ChannelEndpoint, account: ChatbotAccount, message: OutboundMessage,
                         recipients: list[str]) -> dict[str, SendResult]:
        """§3.3.2: `destinationAddress` lists the group (at most 100); reports come per recipient,
        under one id (ours on CTCC, the one CUCC answers with)."""
        result = await self._send(endpoint, account, message, recipients)
        return dict.fromkeys(recipients, result)

    async def _send(self, endpoint: ChannelEndpoint, account: ChatbotAccount, message: OutboundMessage,
                    recipients: list[str]) -> SendResult:
        body = orjson.dumps(self.build_request(account, message, recipients))
        answer = await self._call_with_token(endpoint, account, "messages", body)
        return self._interpret_send(*answer, message)

    async def _call_with_token(self, endpoint: ChannelEndpoint, account: ChatbotAccount, operation: str,
                               body: bytes | Callable[[], aiohttp.FormData], *, method: str = "POST",
                               headers: Mapping[str, str] | None = None,
                               ) -> tuple[int, str | None, dict[str, Any] | None, bytes]:
        """An authorised call: (HTTP status, errorCode, JSON answer, raw answer). A multipart body
        is given as a factory, since a form can be sent only once."""
        url = self._api_url(endpoint, account, operation)
        for refreshed in (False, True):
            token = await self._token(endpoint, account)
            call_headers = {**self._headers(token), **(headers or {})}
            if callable(body):
                del call_headers["Content-Type"]  # aiohttp writes the multipart boundary
            status, payload = await self._post(url, body() if callable(body) else body, call_headers, method=method)
            document = self._json(payload)
            code = _code(document) if document is not None else None
            if code in TOKEN_REFUSED_CODES and not refreshed:
                # A token can expire (or be revoked) before our cache says so: fetch one new token
                # and try once more; a second refusal is a credentials problem, not a stale token.
                self._tokens.invalidate((endpoint.channel_id, account.chatbot_id, account.credentials.get("app_id")),
                                        token)
                continue
            return status, code, document, payload
        raise AssertionError("unreachable")  # pragma: no cover

    async def revoke(self, endpoint: ChannelEndpoint, account: ChatbotAccount, carrier_message_id: str,
                     recipient: str) -> None:
        """§3.3.3: POST .../revoke; acknowledged at once, the result comes as revokeOk/revokeFail."""
        body = orjson.dumps({"messageId": carrier_message_id, "status": "RevokeRequested",
                             "destinationAddress": [f"tel:{recipient}"]})
        status, code, document, payload = await self._call_with_token(endpoint, account, "revoke", body)
        if 200 <= status < 300 and code in SUCCESS_CODES:
            return
        detail = self._detail(status, code, document, payload)
        if code in TOKEN_REFUSED_CODES or status in {401, 403}:
            raise ChannelAuthError(f"carrier refused our token twice: {detail}", carrier_code=code, http_status=status)
        if status >= 500 or status in {408, 429} or code in TRANSIENT_CODES | RATE_LIMIT_CODES:
            raise TransientChannelError(f"carrier error: {detail}", carrier_code=code, http_status=status)
        raise PermanentChannelError(f"carrier refused the recall: {detail}", carrier_code=code, http_status=status)

    # ---- chatbot information (§3.3.5, docs/protocol-choices.md) --------------------------------------

    async def submit_chatbot_info(self, endpoint: ChannelEndpoint, account: ChatbotAccount, info: ChatbotInfo) -> int:
        """`update/chatBotInfo/optionals`, then `update/chatBotInfo/menu` when there is one; each is audited
        and answered by a `check` of type chatbotInformation."""
        calls = [("update/chatBotInfo/optionals", orjson.dumps(chatbot_optionals(info)))]
        if info.profile.menu is not None:
            calls.append(("update/chatBotInfo/menu", orjson.dumps(
                {"menu": {"entries": [menu_entry(e) for e in info.profile.menu.entries]}})))
        for operation, body in calls:
            status, code, document, payload = await self._call_with_token(endpoint, account, operation, body)
            self._raise_for_answer(status, code, document, payload, "the chatbot information")
        return len(calls)

    # ---- media (§3.3.4) ---------------------------------------------------------------------------

    async def upload_media(self, endpoint: ChannelEndpoint, account: ChatbotAccount,
                           upload: MediaUpload) -> MediaUploadResult:
        """POST .../medias/upload, part `file`; a thumbnail is an upload of its own. Each uploaded
        URL is what the carrier's `check` notification names."""
        mode = str(endpoint.settings.get("media_upload_mode") or "perm")
        file_url, until = await self._upload_one(endpoint, account, upload.file, mode)
        thumbnail_url = None
        if upload.thumbnail is not None:
            thumbnail_url, _ = await self._upload_one(endpoint, account, upload.thumbnail, mode)
        audited = mode == "perm" or self.audits_temp_uploads
        urls = (file_url,) if thumbnail_url is None else (file_url, thumbnail_url)
        return MediaUploadResult(url=file_url, until=until, audit_refs=urls if audited else (),
                                 thumbnail_url=thumbnail_url, delete_ref=" ".join(urls))

    async def _upload_one(self, endpoint: ChannelEndpoint, account: ChatbotAccount, part: MediaPart,
                          mode: str) -> tuple[str, datetime | None]:
        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()
            data.add_field("file", part.data, filename=part.file_name, content_type=part.content_type)
            return data

        status, code, document, payload = await self._call_with_token(
            endpoint, account, "medias/upload", form, headers={"uploadMode": mode})
        infos = document.get("fileInfo") if document is not None else None
        if 200 <= status < 300 and code in SUCCESS_CODES and isinstance(infos, list) and infos:
            info = infos[0]
            url = info.get("url") if isinstance(info, dict) else None
            if isinstance(url, str) and url:
                return url, parse_iso(str(info.get("until") or ""))
        self._raise_for_answer(status, code, document, payload, "the upload")
        raise TransientChannelError(f"the carrier answered the upload without a file URL: {_raw(payload)}")

    async def delete_media(self, endpoint: ChannelEndpoint, account: ChatbotAccount, delete_ref: str) -> None:
        for url in delete_ref.split():
            status, code, document, payload = await self._call_with_token(
                endpoint, account, "medias/delete", b"", method="DELETE", headers={"url": url})
            if not (200 <= status < 300 and code in SUCCESS_CODES) and code != "1":  # 1: already gone
                self._raise_for_answer(status, code, document, payload, "the delete")

    def _raise_for_answer(self, status: int, code: str | None, document: Mapping[str, Any] | None, payload: bytes,
                          what: str) -> None:
        if 200 <= status < 300 and code in SUCCESS_CODES:
            return
        detail = self._detail(status, code, document, payload)
        error: type[ChannelError] = PermanentChannelError
        if code in TOKEN_REFUSED_CODES or status in {401, 403}:
            error = ChannelAuthError
        elif status == 429 or code in RATE_LIMIT_CODES:
            error = RateLimited
        elif status == 408 or code in TRANSIENT_CODES or status >= 500:
            # CUCC answers an oversize upload with HTTP 500 and UT000054 (§3.3.4): a refusal, not an outage.
            error = PermanentChannelError if b"UT000054" in payload else TransientChannelError
        raise error(f"carrier refused {what}: {detail}", carrier_code=code, http_status=status)

    def preview(self, account: ChatbotAccount, message: OutboundMessage) -> bytes:
        return orjson.dumps(self.build_request(account, message, [message.recipient]), option=orjson.OPT_INDENT_2)

    def build_request(self, account: ChatbotAccount, message: OutboundMessage,
                      recipients: Iterable[str]) -> dict[str, Any]:
        """§3.3.2: the JSON body of POST /bot/v1/{chatbotURI}/messages."""
        body: dict[str, Any] = {
            "messageId": message.message_id,
            "messageList": build_message_list(message.content),
            "destinationAddress": [f"tel:{recipient}" for recipient in recipients],
            "senderAddress": account.address,
            "conversationId": str(uuid.uuid4()),
            "contributionId": str(uuid.uuid4()),
            "serviceCapability": [{"capabilityId": "ChatbotSA", "version": '+g.gsma.rcs.botversion="#=1"'}],
            "reportRequest": REPORT_REQUEST,
            "storeSupported": True,
        }
        traffic_type = TRAFFIC_TYPE.get(message.traffic_class)
        if traffic_type:
            body["trafficType"] = traffic_type
        if message.fallback_text:
            # §3.5: the carrier converts to SMS for handsets that cannot take a chatbot message.
            body["smsSupported"] = True
            body["smsContent"] = message.fallback_text
        else:
            body["smsSupported"] = False
        return body

    async def _post(self, url: str, body: bytes | aiohttp.FormData, headers: Mapping[str, str], *,
                    method: str = "POST") -> tuple[int, bytes]:
        try:
            async with self._http.request(method, url, data=body, headers=headers,
                                          timeout=self._timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TransientChannelError("carrier timed out") from exc
        except aiohttp.ClientError as exc:
            raise TransientChannelError(f"carrier unreachable: {exc}") from exc

    @staticmethod
    def _json(payload: bytes) -> dict[str, Any] | None:
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
        return document if isinstance(document, dict) else None

    @staticmethod
    def _detail(status: int, code: str | None, document: Mapping[str, Any] | None, payload: bytes) -> str:
        if document is None:
            return f"HTTP {status}: {_raw(payload)}"
        text = document.get("errorMessage") or document.get("message")
        return f"HTTP {status}" + (f" {code}" if code else "") + (f": {text}" if text else "")

    def _interpret_send(self, status: int, code: str | None, document: dict[str, Any] | None, payload: bytes,
                        message: OutboundMessage) -> SendResult:
        if 200 <= status < 300 and document is not None and code in SUCCESS_CODES:
            carrier_id = document.get("messageId") if self.carrier_assigns_message_id else None
            if self.carrier_assigns_message_id and not (isinstance(carrier_id, str) and carrier_id):
                raise PermanentChannelError(f"the carrier accepted but named no messageId: {_raw(payload)}",
                                            http_status=status)
            return SendResult(carrier_message_id=carrier_id or message.message_id, accepted_at=utcnow(),
                              carrier_status=code)
        detail = self._detail(status, code, document, payload)
        if status == 429 or code in RATE_LIMIT_CODES:
            raise RateLimited(f"carrier rate limit: {detail}", carrier_code=code, http_status=status)
        if code in TOKEN_REFUSED_CODES or status in {401, 403}:
            raise ChannelAuthError(f"carrier refused our token twice: {detail}", carrier_code=code,
                                   http_status=status)
        if status >= 500 or status == 408 or code in TRANSIENT_CODES:
            raise TransientChannelError(f"carrier error: {detail}", carrier_code=code, http_status=status)
        if document is None or code is None:
            raise PermanentChannelError(f"carrier answer not understood: {detail}", http_status=status)
        if code in PORTED_OUT_CODES:
            raise PortedOut(f"the carrier does not serve this number: {detail}", carrier_code=code, http_status=status)
        raise PermanentChannelError(f"carrier refused the message: {detail}", carrier_code=code, http_status=status)

    # ---- callbacks -------------------------------------------------------------------------------

    def webhook_chatbot(self, request: WebhookRequest) -> str | None:
        # §3.3.6: {root}/{kind}/{chatbotId}/...; the handshake names the chatbot in a header.
        segments = [s for s in request.subpath.split("/") if s]
        if segments[:1] == ["notifyPath"] or len(segments) < 2:
            raw = request.headers.get("chatbotid", "")
        else:
            raw = segments[1]
        return _chatbot_digits(raw) or None

    def authenticate_webhook(self, request: WebhookRequest, account: ChatbotAccount) -> None:
        token = account.credentials.get("notify_token")
        if not token:
            raise WebhookRejected("the chatbot has no notify token configured", status=401)
        timestamp = request.headers.get("timestamp", "")
        nonce = request.headers.get("nonce", "")
        signature = request.headers.get("signature", "")
        if not timestamp or not nonce or not signature:
            raise WebhookRejected("missing signature, timestamp or nonce header", status=401)
        try:
            sent_at = float(timestamp) / 1000.0
        except ValueError:
            raise WebhookRejected("unreadable timestamp header", status=401) from None
        if abs(time.time() - sent_at) > SIGNATURE_SKEW_SECONDS:
            raise WebhookRejected("stale timestamp header", status=401)
        expected = notification_signature(token, timestamp, nonce)
        if not hmac.compare_digest(signature.lower().encode(), expected.encode()):
            raise WebhookRejected("bad signature", status=401)

    def parse_webhook(self, request: WebhookRequest) -> WebhookParseResult:
        segments = [s for s in request.subpath.split("/") if s]
        kind = segments[0] if segments else ""
        result = WebhookParseResult()
        if kind == "notifyPath":
            return result
        document = self._json(request.body)
        if document is None:
            raise WebhookRejected("body is not a JSON object")
        if kind == "deliveryNotification":
            infos = document.get("deliveryInfoList")
            if not isinstance(infos, list):
                raise WebhookRejected("no deliveryInfoList in status report")
            for info in infos:
                if not isinstance(info, dict):
                    continue
                if info.get("status") in REVOKE_RESULTS:
                    revoke = _revoke_report(info)
                    if revoke is not None:
                        result.revokes.append(revoke)
                elif (report := _status_report(info)) is not None:
                    result.statuses.append(report)
        elif kind == "messageNotification":
            result.inbound.append(_inbound(document))
        elif kind == "notifyInfoNotification":
            if segments[-1] == "rcsspam":
                spam = _spam_report(document)
                if spam is not None:
                    result.inbound.append(spam)
            elif segments[-1] == "check" and document.get("type") == "media":
                audit = _media_audit(document)
                if audit is not None:
                    result.media_audits.append(audit)
            elif segments[-1] == "check" and document.get("type") == "chatbotInformation":
                approved = str(document.get("result", "")).strip() == "0"
                description = document.get("description")
                result.chatbot_reports.append(ChatbotInfoReport(
                    approved=approved, reason=None if approved or not description else str(description)))
            elif segments[-1] == "informationChange":
                status = document.get("status")
                if status in {"online", "offline"}:
                    description = document.get("description")
                    result.chatbot_reports.append(ChatbotInfoReport(
                        online=status == "online", reason=str(description) if description else None))
        else:
            raise WebhookRejected(f"unexpected notification path {request.subpath!r}")
        return result

    def reply_to_webhook(self, request: WebhookRequest, account: ChatbotAccount) -> WebhookReply:
        if request.subpath.strip("/") == "notifyPath":
            # protocol-choices.md: the handshake is answered with echoStr and our appId as headers.
            return WebhookReply(status=200, headers={"echoStr": request.headers.get("echostr", ""),
                                                     "appId": account.credentials.get("app_id", "")})
        return WebhookReply(status=200)


def build_message_list(content: Content) -> list[dict[str, Any]]:
    """§3.3.2: `messageList`, one item per part: the text, file or card, then the suggestion chips.
    Aggregators reuse this item format (docs/protocol-choices.md)."""
    items: list[dict[str, Any]] = []
    match content:
        case TextContent(text=text):
            items.append({"contentType": CT_TEXT, "contentEncoding": "utf8", "contentText": text})
        case FileContent(file=file, thumbnail=thumbnail):
            entries = [_file_entry("file", file)] + ([_file_entry("thumbnail", thumbnail)] if thumbnail else [])
            items.append({"contentType": CT_FT_HTTP, "contentEncoding": "utf8", "contentText": entries})
        case RichCardContent() | CarouselContent():
            items.append({"contentType": CT_BOTMESSAGE, "contentEncoding": "utf8",
                          "contentText": build_bot_message(content)})
    if content.suggestions:
        items.append({"contentType": CT_SUGGESTIONS, "contentEncoding": "utf8",
                      "contentText": build_suggestions(content.suggestions)})
    return items


def chatbot_optionals(info: ChatbotInfo) -> dict[str, Any]:
    """docs/protocol-choices.md: the §2.6 updatable fields plus name, icon, terms page and SMS port."""
    profile = info.profile
    body: dict[str, Any] = {"serviceName": profile.service_name, "serviceDescription": profile.description,
                            "category": [profile.category]}
    optional = {
        "serviceIcon": info.logo_url, "backgroundImage": info.banner_url, "callBackNumber": profile.service_phone,
        "emailAddress": profile.email, "serviceWebsite": str(profile.website) if profile.website else None,
        "tcPage": str(profile.terms_url) if profile.terms_url else None, "address": profile.address,
        "longitude": profile.longitude, "latitude": profile.latitude, "themeColour": profile.theme_colour,
        "smsNumber": profile.sms_number,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def menu_entry(entry: Suggestion | SubMenu) -> dict[str, Any]:
    """§2.5: a reply, an action, or a sub-menu of them."""
    if isinstance(entry, SubMenu):
        return {"menu": {"displayText": entry.text, "entries": [menu_entry(e) for e in entry.entries]}}
    return build_suggestion(entry)


def _media_audit(document: Mapping[str, Any]) -> MediaAuditReport | None:
    """§3.3.6 `check` of type media: result 0 approved ([I] 1 rejected), the URL in fileInfo."""
    info = document.get("fileInfo")
    url = info.get("url") if isinstance(info, dict) else None
    if not isinstance(url, str) or not url:
        return None
    result = str(document.get("result", "")).strip()
    description = document.get("description")
    return MediaAuditReport(audit_ref=url, approved=result == "0",
                            reason=str(description) if description and result != "0" else None, url=url,
                            until=parse_iso(str(info.get("until") or "")) if isinstance(info, dict) else None)


def _file_entry(role: str, media: MediaFile) -> dict[str, Any]:
    # §3.3.2 sample: fileSize travels as a string.
    entry: dict[str, Any] = {"type": role, "fileSize": str(media.size), "contentType": media.content_type,
                             "url": str(media.url)}
    if media.name:
        entry["fileName"] = media.name
    if media.until:
        entry["until"] = iso_utc(media.until)
    return entry


def _chatbot_digits(value: str) -> str:
    value = value.strip()
    if value.startswith("sip:"):
        return value[4:].split("@", 1)[0]
    return value


def _user(raw: object, field: str) -> str:
    if not isinstance(raw, str):
        raise WebhookRejected(f"missing {field}")
    try:
        return normalise_mobile(raw)
    except InvalidPhoneNumber:
        raise WebhookRejected(f"unreadable {field} {raw!r}") from None


def _moment(raw: object) -> datetime | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _status_report(info: Mapping[str, Any]) -> StatusReport | None:
    message_id, raw_status = info.get("messageId"), info.get("status")
    if not isinstance(message_id, str) or not isinstance(raw_status, str):
        return None
    status = STATUS_MAP.get(raw_status)
    if status is None:
        log.info("status value not applied", extra={"raw_status": raw_status})
        return None
    # rcs-web reads the user from senderAddress in status reports (§3.3.6).
    recipient = None
    address = info.get("senderAddress")
    if isinstance(address, str):
        try:
            recipient = normalise_mobile(address)
        except InvalidPhoneNumber:
            recipient = None
    reason = None
    if status == MessageStatus.FAILED:
        code, text = info.get("errorCode"), info.get("errorMessage")
        reason = "failed" + (f" {code}" if code not in (None, "") else "") + (f": {text}" if text else "")
    elif raw_status == "deliveredToNetwork":
        reason = "delivered as SMS by the network"
    capability = HANDSET_CAPABILITY.get(raw_status)
    if status == MessageStatus.FAILED:
        capability = "sms_only" if str(info.get("errorCode")) in NOT_CAPABLE_CODES else None
    return StatusReport(carrier_message_id=message_id, status=status, recipient=recipient, reason=reason,
                        occurred_at=_moment(info.get("dateTime")), raw_status=raw_status,
                        handset_capability=capability)


def _revoke_report(info: Mapping[str, Any]) -> RevokeReport | None:
    message_id = info.get("messageId")
    if not isinstance(message_id, str):
        return None
    succeeded = REVOKE_RESULTS[str(info.get("status"))]
    recipient = None
    address = info.get("senderAddress")
    if isinstance(address, str):
        try:
            recipient = normalise_mobile(address)
        except InvalidPhoneNumber:
            recipient = None
    reason = None
    if not succeeded:
        code, text = info.get("errorCode"), info.get("errorMessage")
        reason = "the carrier could not recall it" + (f" ({code}" + (f": {text}" if text else "") + ")" if code else "")
    return RevokeReport(carrier_message_id=message_id, succeeded=succeeded, recipient=recipient, reason=reason,
                        occurred_at=_moment(info.get("dateTime")))


def _inbound(document: Mapping[str, Any]) -> InboundMessage:
    items = document.get("messageList")
    if not isinstance(items, list) or not items:
        raise WebhookRejected("inbound message without messageList")
    content: UplinkContent | None = None
    for item in items:
        if isinstance(item, dict) and item.get("contentType") != CT_SUGGESTIONS:
            content = _uplink_content(item)
            break
    if content is None:
        raise WebhookRejected("inbound message without a readable item")
    message_id = document.get("messageId")
    return InboundMessage(
        carrier_message_id=message_id if isinstance(message_id, str) and message_id else None,
        sender=_user(document.get("senderAddress") or document.get("origUser"), "senderAddress"),
        chatbot_address=str(document.get("destinationAddress") or ""),
        content=content,
        conversation_id=_optional_text(document.get("conversationId")),
        contribution_id=_optional_text(document.get("contributionId")),
        in_reply_to=_optional_text(document.get("inReplyTo")),
        received_at=_moment(document.get("dateTime")),
    )


def _optional_text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _structured(value: object) -> Any:
    """contentText is an object in the samples; a JSON string is read the same way."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            raise WebhookRejected("contentText is neither JSON nor an object") from None
    return value


def _uplink_content(item: Mapping[str, Any]) -> UplinkContent:
    content_type = str(item.get("contentType", CT_TEXT)).split(";", 1)[0].strip().lower()
    text = item.get("contentText")
    if content_type == CT_TEXT:
        if not isinstance(text, str):
            raise WebhookRejected("text/plain contentText must be a string")
        if text.startswith("geo:"):
            location = parse_geo_uri(text)
            if location:
                return location
        return UplinkText(text=text)
    if content_type == CT_SUGGESTION_RESPONSE:
        try:
            return parse_suggestion_response(_structured(text))
        except (KeyError, TypeError, AttributeError) as exc:
            raise WebhookRejected(f"unreadable suggestion response: {exc}") from exc
    if content_type in {CT_FT_HTTP, CT_FT_HTTP + "+xml"}:
        return _uplink_file(_structured(text))
    if content_type == CT_SHARED_DATA:
        try:
            specifics = _structured(text)["sharedData"]["deviceSpecifics"]
            return UplinkSharedData(device_specifics=dict(specifics))
        except (KeyError, TypeError, ValueError) as exc:
            raise WebhookRejected(f"unreadable shared client data: {exc}") from exc
    raise WebhookRejected(f"unsupported uplink content type {content_type!r}")


def _uplink_file(entries: object) -> UplinkFile:
    if not isinstance(entries, list):
        raise WebhookRejected("file contentText must be a list")
    files: dict[str, MediaFile] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("url"):
            continue
        try:
            files[str(entry.get("type", "file"))] = MediaFile(
                url=entry["url"], content_type=entry.get("contentType") or "application/octet-stream",
                size=int(entry.get("fileSize") or 0), name=entry.get("fileName") or None,
                until=_moment(entry.get("until")),  # CT/CU may send the string "null" (§3.3.6)
            )
        except (ValueError, TypeError) as exc:
            raise WebhookRejected(f"unreadable file entry: {exc}") from exc
    if "file" not in files:
        raise WebhookRejected("file list without a file entry")
    return UplinkFile(file=files["file"], thumbnail=files.get("thumbnail"))


def _spam_report(document: Mapping[str, Any]) -> InboundMessage | None:
    sender = document.get("senderAddress")
    if not isinstance(sender, str):
        # The reference's spam notice names message ids, not the user; without a sender there is
        # nothing to attribute it to, so it is acknowledged and logged.
        log.warning("spam report without senderAddress", extra={"message_ids": document.get("messageId")})
        return None
    spam_type, free_text = document.get("spamType"), document.get("freeText")
    return InboundMessage(
        carrier_message_id=None, sender=_user(sender, "senderAddress"),
        chatbot_address=str(document.get("destinationAddress") or ""),
        content=UplinkSpamReport(spam_type=spam_type if isinstance(spam_type, str) else None,
                                 free_text=free_text if isinstance(free_text, str) else None),
    )
