"""China Mobile: the OMA REST NetAPI messaging XML flavour of the MaaP Chatbot API.

Every wire fact here comes from shared/reference/protocols.md §1 (send, notifications, auth) and §2
(GSMA content formats); the section is named next to each rule. Behaviour the reference only
implies is marked [I] and kept in the block of constants below so it can be corrected in one place.
"""

from __future__ import annotations

import base64
import email
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlparse

import aiohttp
from lxml import etree
from pydantic import Field, SecretStr

from msg5g.channels.base import (
    Capabilities,
    ChannelAdapter,
    ChannelEndpoint,
    ChatbotAccount,
    OutboundMessage,
    SendResult,
    WebhookRequest,
)
from msg5g.channels.carriers import cmcc_templates as templates
from msg5g.channels.config import AdapterConfig, ConfigModel
from msg5g.channels.gsma import (
    CT_BOTMESSAGE,
    CT_SHARED_DATA,
    CT_SUGGESTION_RESPONSE,
    CT_SUGGESTIONS,
    CT_TEXT,
    build_bot_message,
    build_suggestions,
    iso_utc,
    parse_geo_uri,
    parse_suggestion_response,
)
from msg5g.domain.content import (
    CarouselContent,
    FileContent,
    MediaFile,
    RichCardContent,
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
from msg5g.kit.clock import http_date, parse_http_date, parse_iso, utcnow
from msg5g.kit.phone import InvalidPhoneNumber, normalise_mobile

log = logging.getLogger(__name__)

MESSAGING_NS = "urn:oma:xml:rest:netapi:messaging:1"
FT_NS = "urn:gsma:params:xml:ns:rcs:rcs:fthttp"
CHATBOT_DOMAIN = "botplatform.rcs.chinamobile.com"  # §0 chatbot addressing

CT_FT_HTTP = "application/vnd.gsma.rcs-ft-http+xml"
CT_SPAM_REPORT = "application/vnd.gsma.rcsspam-report+xml"

# ---- inferred behaviour [I], kept together so it can be corrected in one place --------------------
# [I] §1.8: the reference gives no MaaP->CSP authentication for CMCC notifications; we expect the
#     same Basic scheme the CSP uses downlink, signed with the chatbot's own credentials and a fresh
#     Date header, and refuse anything else.
# [I] §1.2: success is HTTP 200/201 with an XML echo carrying messageId, or JSON {"code":"00000"};
#     both are accepted. 31008 (CSP V2.4.3) means rate limited.
# [I] §1.1: the boundary "next" is what every CMCC sample uses; any boundary is legal MIME.
BOUNDARY = "next"
RATE_LIMIT_CODES = {"31008"}
# [I] "not our subscriber" (携号转网): no code in the reference; docs/protocol-choices.md.
PORTED_OUT_CODES = {"SVC0005"}
TRAFFIC_TYPE = {TrafficClass.MARKETING: "advertisement"}  # §1.1 trafficType values
DATE_SKEW = timedelta(minutes=5)
# -----------------------------------------------------------------------------------------------

# §1.3 deliveryStatus values and what they mean for the unified status.
DELIVERY_STATUS_MAP: dict[str, MessageStatus] = {
    "MessageSent": MessageStatus.SENT,
    "MessageWaiting": MessageStatus.SENT,
    "DeliveredToTerminal": MessageStatus.DELIVERED,
    "DeliveredToNetwork": MessageStatus.DELIVERED,  # converted to SMS by the network
    "DeliveredToSMS": MessageStatus.DELIVERED,
    "DeliverdToSMS": MessageStatus.DELIVERED,  # sic, a spelling seen in the Huawei table
    "DeliveredToVms": MessageStatus.DELIVERED,
    "MessageDisplayed": MessageStatus.DISPLAYED,
    "DeliveryImpossible": MessageStatus.FAILED,
    "DeliveredToSMSFailed": MessageStatus.FAILED,
    "DeliverdToSMSFailed": MessageStatus.FAILED,
    "DeliveredToVmsFailed": MessageStatus.FAILED,
}


# What an outcome says of the handset (§3.5): delivered to the terminal means it takes chatbot
# messages; converted to SMS, or [I] impossible to deliver, means it does not.
HANDSET_CAPABILITY = {"DeliveredToTerminal": "rcs", "MessageDisplayed": "rcs", "DeliveredToNetwork": "sms_only",
                      "DeliveredToSMS": "sms_only", "DeliverdToSMS": "sms_only", "DeliveryImpossible": "sms_only"}


def chatbot_address(carrier_chatbot_id: str) -> str:
    return f"sip:{carrier_chatbot_id}@{CHATBOT_DOMAIN}"


def basic_authorization(app_id: str, password: str, date: str) -> str:
    """§1.8: Basic base64(appId + ":" + hex(sha256(hex(sha256(password)) + Date)))."""
    token = hashlib.sha256(password.encode()).hexdigest()
    signature = hashlib.sha256((token + date).encode()).hexdigest()
    return "Basic " + base64.b64encode(f"{app_id}:{signature}".encode()).decode()


# Carrier XML is parsed by lxml (C, several times faster than the ElementTree that defusedxml
# wraps) with everything that makes XML dangerous switched off: no DTD loading, no entity
# resolution, no network; a document with a DOCTYPE is refused outright.
_SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                               remove_comments=True, remove_pis=True)
Element = etree._Element


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: Element, name: str) -> Iterator[Element]:
    return (child for child in element if isinstance(child.tag, str) and _local(child.tag) == name)


def _text(element: Element | None, name: str) -> str | None:
    if element is None:
        return None
    for child in _children(element, name):
        return (child.text or "").strip()
    return None


def _parse_xml(body: bytes) -> Element:
    try:
        root = etree.fromstring(body, _SAFE_PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise WebhookRejected(f"malformed XML: {exc}") from exc
    if root is None:
        raise WebhookRejected("empty XML document")
    if getattr(root.getroottree().docinfo, "doctype", ""):  # lxml-stubs lack DocInfo.doctype
        raise WebhookRejected("XML with a DOCTYPE is refused")
    return root


# §3.2 limits (rcs-web comments): image 2 MB JPG/PNG, audio 5 MB ≤ 90 s AMR/MP3/M4A, video 10 MB ≤ 60 s
# MP4/WEBM, thumbnail 200 KB.
MEDIA_LIMITS = MediaLimits({
    MaterialKind.IMAGE: KindLimit(2 * 1024 * 1024, frozenset({"image/jpeg", "image/png"})),
    MaterialKind.AUDIO: KindLimit(5 * 1024 * 1024, frozenset({"audio/amr", "audio/mpeg", "audio/mp4"}), 90),
    MaterialKind.VIDEO: KindLimit(10 * 1024 * 1024, frozenset({"video/mp4", "video/webm"}), 60),
    MaterialKind.THUMBNAIL: KindLimit(200 * 1024, frozenset({"image/jpeg", "image/png"})),
})


class ChinaMobileSettings(AdapterConfig):
    file_server_url: str | None = Field(
        default=None, max_length=500,
        description="The MaaP's file server root for media uploads (§3.2); the channel's base URL when empty")


class ChinaMobileCredentials(AdapterConfig):
    """§1.8: the chatbot's appId and the password its Basic signature is made from."""

    app_id: str = Field(min_length=1, max_length=100, description="The chatbot's appId at the MaaP")
    password: SecretStr = Field(min_length=1, max_length=200)


class ChinaMobileChannel(ChannelAdapter):
    type: ClassVar[str] = "cmcc"
    display_name: ClassVar[str] = "China Mobile (中国移动)"
    carrier: ClassVar[str | None] = "cmcc"
    capabilities: ClassVar[Capabilities] = Capabilities(max_recipients_per_request=100)
    chatbot_domain: ClassVar[str] = CHATBOT_DOMAIN
    credentials_model: ClassVar[ConfigModel] = ChinaMobileCredentials
    settings_model: ClassVar[ConfigModel] = ChinaMobileSettings
    media_limits: ClassVar[MediaLimits] = MEDIA_LIMITS
    audits_templates: ClassVar[bool] = True

    # ---- downlink ------------------------------------------------------------------------------

    async def send(self, endpoint: ChannelEndpoint, account: ChatbotAccount, message: OutboundMessage) -> SendResult:
        return await self._send(endpoint, account, message, [message.recipient])

    async def send_group(self, endpoint: ChannelEndpoint, account: ChatbotAccount, message: OutboundMessage,
                         recipients: list[str]) -> dict[str, SendResult]:
        """§1.6: repeated destinationAddress, at most 100; reports come per recipient."""
        result = await self._send(endpoint, account, message, recipients)
        return dict.fromkeys(recipients, result)

    async def _send(self, endpoint: ChannelEndpoint, account: ChatbotAccount, message: OutboundMessage,
                    recipients: list[str]) -> SendResult:
        body = self.build_request(account, message, recipients)
        status, payload = await self._call("POST", endpoint, account, "", body, {"Address": message.recipient})
        return self._interpret_send_response(status, payload, message)

    async def _call(self, method: str, endpoint: ChannelEndpoint, account: ChatbotAccount, path: str, body: bytes,
                    extra_headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """One signed XML call under .../outbound/{chatbotURI}/requests (§1.1, §1.8)."""
        # §1.1: the chatbot URI goes into the path; CMCC accepts it URL-encoded.
        url = f"{endpoint.base_url.rstrip('/')}/messaging/v1/outbound/{quote(account.address, safe='')}/requests{path}"
        date = http_date()
        headers = {
            "Authorization": basic_authorization(account.credentials["app_id"], account.credentials["password"], date),
            "Date": date,
            "Content-Type": "application/xml; charset=utf-8",
            **(extra_headers or {}),
        }
        try:
            async with self._http.request(method, url, data=body, headers=headers, timeout=self._timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TransientChannelError("carrier timed out") from exc
        except aiohttp.ClientError as exc:
            raise TransientChannelError(f"carrier unreachable: {exc}") from exc

    async def revoke(self, endpoint: ChannelEndpoint, account: ChatbotAccount, carrier_message_id: str,
                     recipient: str) -> None:
        """§1.5: PUT .../requests/{messageId}/status with a RevokeRequested messageStatusReport."""
        root = etree.Element(etree.QName(MESSAGING_NS, "messageStatusReport"), nsmap={"msg": MESSAGING_NS})
        etree.SubElement(root, "status").text = "RevokeRequested"
        etree.SubElement(root, "address").text = f"tel:{recipient}"
        body = bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
        status, payload = await self._call("PUT", endpoint, account, f"/{quote(carrier_message_id, safe='')}/status",
                                           body)
        if 200 <= status < 300:
            return
        code, text, _ = _read_response(payload)
        detail = f"HTTP {status}" + (f" {code}" if code else "") + (f": {text}" if text else "")
        if status in {401, 403}:
            raise ChannelAuthError(f"carrier refused our credentials: {detail}", carrier_code=code, http_status=status)
        if status >= 500 or status in {408, 429}:
            raise TransientChannelError(f"carrier error: {detail}", carrier_code=code, http_status=status)
        raise PermanentChannelError(f"carrier refused the recall: {detail}", carrier_code=code, http_status=status)

    # ---- media and templates (§3.2; the template submission is invented, docs/protocol-choices.md) --

    def _signed_headers(self, account: ChatbotAccount) -> dict[str, str]:
        date = http_date()
        return {"Authorization": basic_authorization(account.credentials["app_id"], account.credentials["password"],
                                                     date), "Date": date}

    async def _request(self, method: str, url: str, account: ChatbotAccount, *, data: Any = None,
                       headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
        try:
            async with self._http.request(method, url, data=data, timeout=self._timeout,
                                          headers={**self._signed_headers(account), **(headers or {})}) as response:
                return response.status, response.headers, await response.read()
        except TimeoutError as exc:
            raise TransientChannelError("carrier timed out") from exc
        except aiohttp.ClientError as exc:
            raise TransientChannelError(f"carrier unreachable: {exc}") from exc

    def _file_server(self, endpoint: ChannelEndpoint) -> str:
        return str(endpoint.settings.get("file_server_url") or endpoint.base_url).rstrip("/")

    def _identity_headers(self, account: ChatbotAccount) -> dict[str, str]:
        return {"X-3GPP-Intended-Identity": account.address, "User-Agent": f"SP/{account.address}",
                "Terminal-type": "Chatbot"}

    async def upload_media(self, endpoint: ChannelEndpoint, account: ChatbotAccount,
                           upload: MediaUpload) -> MediaUploadResult:
        """§3.2: POST {file server}/Content with parts File and Thumbnail; the answer's `tid` names it."""
        form = aiohttp.FormData()
        if upload.thumbnail is not None:
            form.add_field("Thumbnail", upload.thumbnail.data, filename=upload.thumbnail.file_name,
                           content_type=upload.thumbnail.content_type)
        form.add_field("File", upload.file.data, filename=upload.file.file_name, content_type=upload.file.content_type)
        status, headers, payload = await self._request("POST", f"{self._file_server(endpoint)}/Content", account,
                                                       data=form, headers=self._identity_headers(account))
        _raise_for_status(status, payload, "the upload")
        tid = headers.get("tid")
        if not tid:
            raise TransientChannelError("the carrier answered the upload without a tid")
        file, thumbnail = _file_infos(payload)
        if file is None:
            raise TransientChannelError("the carrier answered the upload without a file URL")
        return MediaUploadResult(url=file[0], until=file[1], audit_refs=(tid,),
                                 thumbnail_url=thumbnail[0] if thumbnail else None, delete_ref=tid)

    async def delete_media(self, endpoint: ChannelEndpoint, account: ChatbotAccount, delete_ref: str) -> None:
        status, _, payload = await self._request("DELETE", f"{self._file_server(endpoint)}/Content", account,
                                                 headers={**self._identity_headers(account), "tid": delete_ref})
        if status != 404:  # already gone is what we wanted
            _raise_for_status(status, payload, "the delete")

    async def submit_template(self, endpoint: ChannelEndpoint, account: ChatbotAccount, name: str,
                              sample: OutboundMessage) -> str:
        content_type, body_text = self._encode_content(sample)
        status, _, payload = await self._request(
            "POST", templates.submission_url(endpoint.base_url, account.address), account,
            data=templates.submission_body(name, content_type, body_text), headers={"Content-Type": "application/json"})
        _raise_for_status(status, payload, "the template")
        return templates.template_id_of(payload)

    def preview(self, account: ChatbotAccount, message: OutboundMessage) -> bytes:
        return self.build_request(account, message)

    def build_request(self, account: ChatbotAccount, message: OutboundMessage,
                      recipients: list[str] | None = None) -> bytes:
        content_type, body_text = self._encode_content(message)
        destinations = [f"tel:{r}" for r in (recipients or [message.recipient])]
        root = etree.Element(etree.QName(MESSAGING_NS, "outboundMessageRequest"), nsmap={"msg": MESSAGING_NS})
        etree.SubElement(root, "address").text = destinations[0]  # §1.6: repeats the first recipient
        for destination in destinations:
            etree.SubElement(root, "destinationAddress").text = destination
        etree.SubElement(root, "senderAddress").text = account.address
        etree.SubElement(root, "clientCorrelator").text = message.message_id
        im = etree.SubElement(root, "outboundIMMessage")
        etree.SubElement(im, "messageId").text = message.message_id
        etree.SubElement(im, "contentType").text = content_type
        etree.SubElement(im, "contentEncoding").text = "utf8"
        etree.SubElement(im, "conversationID").text = str(uuid.uuid4())
        etree.SubElement(im, "contributionID").text = str(uuid.uuid4())
        capability = etree.SubElement(im, "serviceCapability")
        etree.SubElement(capability, "capabilityId").text = "ChatbotSA"
        etree.SubElement(capability, "version").text = '+g.gsma.rcs.botversion="#=1"'
        traffic_type = TRAFFIC_TYPE.get(message.traffic_class)
        if traffic_type:
            etree.SubElement(im, "trafficType").text = traffic_type
        # Escaped text rather than CDATA: XML parsers turn CR/CRLF into LF even inside CDATA, which
        # would make the carrier read multipart parts shorter than their Content-Length says.
        etree.SubElement(im, "bodyText").text = body_text
        etree.SubElement(im, "storeSupported").text = "true"
        reports = ["Delivered", "Displayed", "Failed"]
        if message.fallback_text:
            # §3.5: network fallback to SMS for handsets that cannot take a chatbot message.
            etree.SubElement(im, "shortMessageSupported").text = "true"
            etree.SubElement(im, "smsBodyText").text = message.fallback_text
            reports.append("SMS")
        for report in reports:
            etree.SubElement(im, "reportRequest").text = report
        return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))

    def _encode_content(self, message: OutboundMessage) -> tuple[str, str]:
        content = message.content
        parts: list[tuple[str, str, str]] = []  # (content type, disposition filename, body)
        match content:
            case TextContent(text=text, suggestions=[]):
                return CT_TEXT, text
            case TextContent(text=text):
                parts.append((CT_TEXT, "", text))
            case FileContent(file=file, thumbnail=thumbnail, suggestions=[]):
                return CT_FT_HTTP, _file_descriptor(file, thumbnail)
            case FileContent(file=file, thumbnail=thumbnail):
                parts.append((CT_FT_HTTP, "", _file_descriptor(file, thumbnail)))
            case RichCardContent() | CarouselContent():
                parts.append((CT_BOTMESSAGE, "Message", _dumps(build_bot_message(content))))
        if content.suggestions:
            parts.append((CT_SUGGESTIONS, "Chiplist.lst", _dumps(build_suggestions(content.suggestions))))
        boundary = _boundary_for(parts)
        return f'multipart/mixed; boundary="{boundary}"', _multipart(parts, boundary)

    def _interpret_send_response(self, status: int, payload: bytes, message: OutboundMessage) -> SendResult:
        code, text, carrier_id = _read_response(payload)
        if 200 <= status < 300 and (code is None or code in {"00000", "0"}):
            return SendResult(carrier_message_id=carrier_id or message.message_id, accepted_at=utcnow(),
                              carrier_status=str(status))
        detail = f"HTTP {status}" + (f" {code}" if code else "") + (f": {text}" if text else "")
        if status == 429 or code in RATE_LIMIT_CODES:
            raise RateLimited(f"carrier rate limit: {detail}", carrier_code=code, http_status=status)
        if status in {401, 403}:
            raise ChannelAuthError(f"carrier refused our credentials: {detail}", carrier_code=code, http_status=status)
        if status >= 500 or status == 408:
            raise TransientChannelError(f"carrier error: {detail}", carrier_code=code, http_status=status)
        if code in PORTED_OUT_CODES:
            raise PortedOut(f"the carrier does not serve this number: {detail}", carrier_code=code, http_status=status)
        raise PermanentChannelError(f"carrier refused the message: {detail}", carrier_code=code, http_status=status)

    # ---- callbacks -------------------------------------------------------------------------------

    def webhook_chatbot(self, request: WebhookRequest) -> str | None:
        # §1.3: notifications land on {notifyURL}/{NotificationType}/{chatbot}; the chatbot may
        # arrive as bare digits or as a (URL-encoded) sip: URI.
        segments = [s for s in request.subpath.split("/") if s]
        if len(segments) < 2:
            return request.query.get("chatbotURI") and _chatbot_digits(unquote(request.query["chatbotURI"]))
        return _chatbot_digits(unquote(segments[-1]))

    def authenticate_webhook(self, request: WebhookRequest, account: ChatbotAccount) -> None:
        date = request.headers.get("date", "")
        moment = parse_http_date(date)
        if moment is None:
            raise WebhookRejected("missing or unreadable Date header", status=401)
        if abs(utcnow() - moment) > DATE_SKEW:
            raise WebhookRejected("stale Date header", status=401)
        expected = basic_authorization(account.credentials["app_id"], account.credentials["password"], date)
        if not hmac.compare_digest(request.headers.get("authorization", "").encode(), expected.encode()):
            raise WebhookRejected("bad Authorization", status=401)

    def parse_webhook(self, request: WebhookRequest) -> WebhookParseResult:
        kind = next((s for s in request.subpath.split("/") if s), "")
        if request.headers.get("content-type", "").startswith("application/json"):
            return self._parse_json_notification(kind, request.body)
        if "tid" in request.headers:
            return _media_audit(request)
        root = _parse_xml(request.body)
        root_name = _local(root.tag)
        result = WebhookParseResult()
        if root_name == "deliveryInfoNotification":
            result.statuses.extend(_delivery_reports(root))
        elif root_name == "inboundMessageNotification":
            for inbound in _children(root, "inboundMessage"):
                result.inbound.append(_inbound(inbound))
            if not result.inbound and _text(root, "senderAddress"):
                result.inbound.append(_inbound(root))  # flattened form, §1.1 notes
        elif root_name in {"messageStatusReport", "messageStatusNotification"}:
            # §1.5 revoke results (docs/protocol-choices.md): Revoked or RevokeFailed per address.
            reports = [root] if root_name == "messageStatusReport" else list(_children(root, "messageStatusReport"))
            result.revokes.extend(r for r in (_revoke_report(e) for e in reports) if r)
        else:
            raise WebhookRejected(f"unexpected notification {root_name!r}")
        return result

    def _parse_json_notification(self, kind: str, body: bytes) -> WebhookParseResult:
        # §1.3: Huawei's JSON rendering of the same objects.
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise WebhookRejected(f"malformed JSON: {exc}") from exc
        result = WebhookParseResult()
        if kind == templates.AUDIT_NOTIFICATION:
            result.template_audits.append(templates.audit_report(document))
            return result
        infos = document.get("deliveryInfo") if isinstance(document, dict) else None
        for info in infos if isinstance(infos, list) else [infos] if isinstance(infos, dict) else []:
            report = _status_report(info.get("messageId"), info.get("deliveryStatus"), info.get("address"),
                                    info.get("description"))
            if report:
                result.statuses.append(report)
        if not result.statuses and kind == "DeliveryInfoNotification":
            raise WebhookRejected("no deliveryInfo in notification")
        return result


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _boundary_for(parts: list[tuple[str, str, str]]) -> str:
    """ "next", as every CMCC sample uses, unless a part contains it; then a random one."""
    if not any(f"--{BOUNDARY}" in body for _, _, body in parts):
        return BOUNDARY
    while True:
        boundary = f"{BOUNDARY}-{uuid.uuid4().hex}"
        if not any(f"--{boundary}" in body for _, _, body in parts):
            return boundary


def _multipart(parts: list[tuple[str, str, str]], boundary: str) -> str:
    chunks = []
    for content_type, filename, body in parts:
        headers = [f"Content-Type: {content_type}"]
        if filename:
            headers.append(f'Content-Disposition: inline; filename="{filename}"')
        headers.append(f"Content-Length: {len(body.encode())}")
        chunks.append(f"--{boundary}\r\n" + "\r\n".join(headers) + "\r\n\r\n" + body + "\r\n")
    return "".join(chunks) + f"--{boundary}--\r\n"


def _file_descriptor(file: MediaFile, thumbnail: MediaFile | None) -> str:
    """§2.4: the FT-HTTP file descriptor, thumbnail first."""
    root = etree.Element(etree.QName(FT_NS, "file"), nsmap={None: FT_NS})  # type: ignore[dict-item]
    for role, media in (("thumbnail", thumbnail), ("file", file)):
        if media is None:
            continue
        info = etree.SubElement(root, etree.QName(FT_NS, "file-info"), type=role)
        etree.SubElement(info, etree.QName(FT_NS, "file-size")).text = str(media.size)
        if media.name:
            etree.SubElement(info, etree.QName(FT_NS, "file-name")).text = media.name
        etree.SubElement(info, etree.QName(FT_NS, "content-type")).text = media.content_type
        data = etree.SubElement(info, etree.QName(FT_NS, "data"), url=str(media.url))
        if media.until:
            data.set("until", iso_utc(media.until))
    return str(etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode())


def _raise_for_status(status: int, payload: bytes, what: str) -> None:
    if 200 <= status < 300:
        return
    code, text, _ = _read_response(payload)
    detail = f"HTTP {status}" + (f" {code}" if code else "") + (f": {text}" if text else "")
    error: type[ChannelError] = PermanentChannelError
    if status in {401, 403}:
        error = ChannelAuthError
    elif status == 429:
        error = RateLimited
    elif status >= 500 or status == 408:
        error = TransientChannelError
    raise error(f"carrier refused {what}: {detail}", carrier_code=code, http_status=status)


def _file_infos(payload: bytes) -> tuple[tuple[str, Any] | None, tuple[str, Any] | None]:
    """(url, until) of the file and of the thumbnail in an FT-HTTP descriptor (§2.4)."""
    try:
        root = _parse_xml(payload)
    except WebhookRejected:
        return None, None
    found: dict[str, tuple[str, Any]] = {}
    for info in _children(root, "file-info"):
        data = next(_children(info, "data"), None)
        if data is not None and data.get("url"):
            found[info.get("type") or "file"] = (str(data.get("url")), parse_iso(data.get("until") or ""))
    return found.get("file"), found.get("thumbnail")


def _media_audit(request: WebhookRequest) -> WebhookParseResult:
    """§3.2 (easy5g's notify): headers tid and Authstatus ('0' approved), the FT-HTTP XML body."""
    status = request.headers.get("authstatus", "").strip()
    if not status:
        raise WebhookRejected("a media audit needs an Authstatus header")
    file, _ = _file_infos(request.body) if request.body.strip() else (None, None)
    reason = request.headers.get("authdesc")
    report = MediaAuditReport(audit_ref=request.headers["tid"], approved=status == "0",
                              reason=unquote(reason) if reason else None,
                              url=file[0] if file else None, until=file[1] if file else None)
    return WebhookParseResult(media_audits=[report])


def _read_response(payload: bytes) -> tuple[str | None, str | None, str | None]:
    """(error or result code, text, carrier message id) from an XML or JSON send response."""
    stripped = payload.strip()
    if not stripped:
        return None, None, None
    if stripped[:1] in {b"{", b"["}:
        try:
            document = json.loads(stripped)
        except ValueError:
            return None, stripped[:200].decode(errors="replace"), None
        if isinstance(document, dict):
            code = document.get("code")
            return (str(code) if code is not None else None), document.get("msg"), document.get("messageId")
        return None, None, None
    if not stripped.startswith(b"<") or stripped[:15].lower().startswith((b"<html", b"<!doctype")):
        return None, stripped[:200].decode(errors="replace"), None
    try:
        root = _parse_xml(stripped)
    except WebhookRejected:
        return None, stripped[:200].decode(errors="replace"), None
    if _local(root.tag) == "requestError":
        for exception in list(root):
            return _text(exception, "exceptionId"), _text(exception, "text"), None
        return "requestError", None, None
    message_id = _text(root, "messageId")
    if message_id is None:
        im = next(_children(root, "outboundIMMessage"), None)
        message_id = _text(im, "messageId")
    return None, None, message_id


def _chatbot_digits(value: str) -> str:
    if value.startswith("sip:"):
        return value[4:].split("@", 1)[0]
    return value


def _status_report(message_id: str | None, raw_status: str | None, address: str | None,
                   description: str | None) -> StatusReport | None:
    if not message_id or not raw_status:
        return None
    status = DELIVERY_STATUS_MAP.get(raw_status)
    if status is None:
        log.warning("unknown CMCC deliveryStatus", extra={"raw_status": raw_status})
        return None
    recipient = None
    if address:
        try:
            recipient = normalise_mobile(address)
        except InvalidPhoneNumber:
            recipient = None
    reason = None
    if status == MessageStatus.FAILED:
        reason = f"{raw_status}{': ' + description if description else ''}"
    elif raw_status == "DeliveredToNetwork":
        reason = "delivered as SMS by the network"
    return StatusReport(carrier_message_id=message_id, status=status, recipient=recipient, reason=reason,
                        raw_status=raw_status, handset_capability=HANDSET_CAPABILITY.get(raw_status))


REVOKE_RESULTS = {"Revoked": True, "RevokeFailed": False, "RevokeFail": False}


def _revoke_report(element: Element) -> RevokeReport | None:
    message_id, status = _text(element, "messageId"), _text(element, "status")
    if not message_id or status not in REVOKE_RESULTS:
        log.info("message status report not applied", extra={"status": status})
        return None
    recipient = None
    address = _text(element, "address")
    if address:
        try:
            recipient = normalise_mobile(address)
        except InvalidPhoneNumber:
            recipient = None
    return RevokeReport(carrier_message_id=message_id, succeeded=REVOKE_RESULTS[status], recipient=recipient,
                        reason=None if REVOKE_RESULTS[status] else "the carrier could not recall it (delivered)")


def _delivery_reports(root: Element) -> Iterator[StatusReport]:
    infos = list(_children(root, "deliveryInfo"))
    if not infos:
        raise WebhookRejected("no deliveryInfo in notification")
    for info in infos:
        report = _status_report(_text(info, "messageId"), _text(info, "deliveryStatus"), _text(info, "address"),
                                _text(info, "description"))
        if report:
            yield report


def _inbound(element: Element) -> InboundMessage:
    sender_raw = _text(element, "senderAddress") or _text(element, "origUser") or ""
    try:
        sender = normalise_mobile(sender_raw)
    except InvalidPhoneNumber as exc:
        raise WebhookRejected(f"unreadable senderAddress {sender_raw!r}") from exc
    full_content_type = _text(element, "contentType") or CT_TEXT
    content_type = full_content_type.split(";", 1)[0].strip().lower()
    body = _text(element, "bodyText") or ""
    if (_text(element, "contentEncoding") or "").lower() == "base64":
        # §1.4: real CMCC traffic carries bodyText base64-encoded when contentEncoding says so.
        try:
            body = base64.b64decode(body, validate=False).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            raise WebhookRejected("bodyText is not valid base64 UTF-8") from exc
    return InboundMessage(
        carrier_message_id=_text(element, "messageId") or None,
        sender=sender,
        chatbot_address=_text(element, "destinationAddress") or "",
        content=_multipart_uplink(full_content_type, body) if content_type.startswith("multipart/")
        else _uplink_content(content_type, body),
        conversation_id=_text(element, "conversationID"),
        contribution_id=_text(element, "contributionID"),
        in_reply_to=_text(element, "inReplyToContributionID"),
    )


def _multipart_uplink(content_type: str, body: str) -> UplinkContent:
    """§1.1: multipart bodies inside bodyText. The stdlib MIME parser splits on the boundary and
    ignores Content-Length, which CMCC traffic is known to get wrong."""
    document = email.message_from_string(f"Content-Type: {content_type}\r\n\r\n{body}")
    parts = [part for part in document.walk() if not part.is_multipart()]
    for part in parts:
        part_type = part.get_content_type()
        if part_type == CT_SUGGESTIONS:
            continue  # chips the handset echoes back carry no user input
        if (part.get("Content-Transfer-Encoding") or "").lower() in {"base64", "quoted-printable"}:
            raw = part.get_payload(decode=True)
            text = raw.decode(part.get_content_charset() or "utf-8", errors="replace") if isinstance(raw, bytes) else ""
        else:
            text = str(part.get_payload())
        return _uplink_content(part_type, text.strip())
    raise WebhookRejected("multipart uplink without a readable part")


def _uplink_content(content_type: str, body: str) -> UplinkContent:
    if content_type == CT_TEXT:
        if body.startswith("geo:"):
            location = parse_geo_uri(body)
            if location:
                return location
        return UplinkText(text=body)
    if content_type == CT_SUGGESTION_RESPONSE:
        try:
            return parse_suggestion_response(json.loads(body))
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected(f"unreadable suggestion response: {exc}") from exc
    if content_type in {CT_FT_HTTP, "application/vnd.gsma.rcs-ft-http"}:
        return _parse_file_descriptor(body)
    if content_type == CT_SHARED_DATA:
        try:
            specifics = json.loads(body)["sharedData"]["deviceSpecifics"]
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected(f"unreadable shared client data: {exc}") from exc
        return UplinkSharedData(device_specifics=dict(specifics))
    if content_type == CT_SPAM_REPORT:
        root = _parse_xml(body.encode())
        return UplinkSpamReport(spam_type=_text(root, "spam-type") or None, free_text=_text(root, "free-text") or None)
    raise WebhookRejected(f"unsupported uplink content type {content_type!r}")


def _parse_file_descriptor(body: str) -> UplinkFile:
    root = _parse_xml(body.encode())
    files: dict[str, MediaFile] = {}
    for info in _children(root, "file-info"):
        data = next(_children(info, "data"), None)
        if data is None or not data.get("url"):
            continue
        url = data.get("url", "")
        files[info.get("type", "file")] = MediaFile(
            url=url,
            content_type=_text(info, "content-type") or "application/octet-stream",
            size=int(_text(info, "file-size") or 0),
            name=_text(info, "file-name") or urlparse(url).path.rsplit("/", 1)[-1] or None,
        )
    if "file" not in files:
        raise WebhookRejected("file descriptor without a file")
    return UplinkFile(file=files["file"], thumbnail=files.get("thumbnail"))
