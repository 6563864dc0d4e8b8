"""A third-party aggregator: one CSP that resells all three carriers, so one channel serves numbers
of any carrier.

Its pushes follow the third-party formats of shared/reference/protocols.md field for field:
Submail-style `Message` / `Invoke` / `Media` / `Template` events (§3.5, §3.6) and the Dahantc-style
MO push (`rcsReplyForwards`, §3.6). Its send API is not in the reference; that invented part lives
in `aggregator_api.py` alone.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar
from urllib.parse import urlencode

import aiohttp
import orjson
from pydantic import Field, SecretStr

from msg5g.channels.base import (
    Capabilities,
    ChannelAdapter,
    ChannelEndpoint,
    ChatbotAccount,
    OutboundMessage,
    SendResult,
    WebhookReply,
    WebhookRequest,
)
from msg5g.channels.carriers import aggregator_api as api
from msg5g.channels.config import AdapterConfig, ConfigModel
from msg5g.channels.gsma import parse_geo_uri, parse_suggestion_response
from msg5g.domain.content import UplinkContent, UplinkText
from msg5g.domain.errors import PermanentChannelError, TransientChannelError, WebhookRejected
from msg5g.domain.media import MediaAuditReport, MediaLimits, MediaUpload, MediaUploadResult, TemplateAuditReport
from msg5g.domain.messages import InboundMessage, MessageStatus, RevokeReport, StatusReport, WebhookParseResult
from msg5g.kit.clock import parse_iso, utcnow
from msg5g.kit.phone import InvalidPhoneNumber, normalise_mobile

log = logging.getLogger(__name__)

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")  # §3.6 timestamps are local time
SIGNATURE_SKEW_SECONDS = 300.0
# §3.5 / §3.6 Submail final statuses; MessageDisplayed is the read report (protocol-choices.md [I]).
STATUS_MAP: dict[str, tuple[MessageStatus, str | None]] = {
    "DeliveredToTerminal": (MessageStatus.DELIVERED, None),
    "SMS": (MessageStatus.DELIVERED, "delivered as SMS (回落为短信)"),
    "MMS": (MessageStatus.DELIVERED, "delivered as MMS (回落为彩信)"),
    "MessageDisplayed": (MessageStatus.DISPLAYED, None),
    "DeliveryImpossible": (MessageStatus.FAILED, "DeliveryImpossible"),
}
HANDSET_CAPABILITY = {"DeliveredToTerminal": "rcs", "MessageDisplayed": "rcs", "SMS": "sms_only", "MMS": "sms_only",
                      "DeliveryImpossible": "sms_only"}
REPLY_TEXT, REPLY_SUGGESTION = 1, 2  # Dahantc replyType; 2 is protocol-choices.md [I]


class AggregatorCredentials(AdapterConfig):
    """[invented] the sub-account (appid) the aggregator issued for this chatbot, and its key."""

    appid: str = Field(min_length=1, max_length=64)
    appkey: SecretStr = Field(min_length=1, max_length=200)


class AggregatorChannel(ChannelAdapter):
    type: ClassVar[str] = "aggregator"
    display_name: ClassVar[str] = "Third-party aggregator (聚合通道)"
    capabilities: ClassVar[Capabilities] = Capabilities(max_recipients_per_request=api.MAX_RECIPIENTS)
    carrier_assigns_message_id: ClassVar[bool] = True  # the sendID
    credentials_model: ClassVar[ConfigModel] = AggregatorCredentials
    media_limits: ClassVar[MediaLimits] = api.MEDIA_LIMITS
    audits_templates: ClassVar[bool] = True

    @classmethod
    def chatbot_address(cls, carrier_chatbot_id: str) -> str:
        return carrier_chatbot_id  # the aggregator names chatbots by its own id, not a SIP URI

    async def send(self, endpoint: ChannelEndpoint, account: ChatbotAccount, message: OutboundMessage) -> SendResult:
        results = await self.send_group(endpoint, account, message, [message.recipient])
        return results[message.recipient]

    async def send_group(self, endpoint: ChannelEndpoint, account: ChatbotAccount, message: OutboundMessage,
                         recipients: list[str]) -> dict[str, SendResult]:
        """[invented] `to` lists up to 200 numbers; the answer names a sendID per number."""
        body = api.send_body(account, message, recipients)
        status, payload = await self._call("POST", endpoint, api.SEND_PATH, account, body)
        document = api.read_answer(status, payload)
        entries = document.get("send_list")
        by_number = {str(e.get("to")): e for e in entries if isinstance(e, dict)} if isinstance(entries, list) else {}
        results: dict[str, SendResult] = {}
        now = utcnow()
        for recipient in recipients:
            entry = by_number.get(api.national(recipient), {})
            send_id = entry.get("sendID")
            if not isinstance(send_id, str) or not send_id:
                raise PermanentChannelError(f"aggregator accepted but named no sendID for a number: {payload[:300]!r}",
                                            http_status=status)
            results[recipient] = SendResult(carrier_message_id=send_id, accepted_at=now,
                                            carrier_status=str(entry.get("carrier")))
        return results

    async def revoke(self, endpoint: ChannelEndpoint, account: ChatbotAccount, carrier_message_id: str,
                     recipient: str) -> None:
        body = orjson.dumps({"sendID": carrier_message_id})
        status, payload = await self._call("POST", endpoint, api.REVOKE_PATH, account, body)
        api.read_answer(status, payload)

    async def query_capability(self, endpoint: ChannelEndpoint, account: ChatbotAccount, recipient: str) -> bool | None:
        query = urlencode({"chatbot": account.carrier_chatbot_id, "to": api.national(recipient)})
        status, payload = await self._call("GET", endpoint, f"{api.CAPABILITY_PATH}?{query}", account, b"")
        document = api.read_answer(status, payload)
        rcs = document.get("rcs")
        return rcs if isinstance(rcs, bool) else None

    async def upload_media(self, endpoint: ChannelEndpoint, account: ChatbotAccount,
                           upload: MediaUpload) -> MediaUploadResult:
        try:
            body, content_type = await api.media_body(account, upload)
        except KeyError as exc:
            raise PermanentChannelError(f"the chatbot has no {exc.args[0]} credential") from None
        status, payload = await self._call("POST", endpoint, api.MEDIA_PATH, account, body, content_type=content_type)
        return api.media_result(api.read_answer(status, payload))

    async def delete_media(self, endpoint: ChannelEndpoint, account: ChatbotAccount, delete_ref: str) -> None:
        """[invented] the aggregator offers no delete: its files expire on their own (§3.6, 7 days)."""

    async def submit_template(self, endpoint: ChannelEndpoint, account: ChatbotAccount, name: str,
                              sample: OutboundMessage) -> str:
        status, payload = await self._call("POST", endpoint, api.TEMPLATE_PATH, account,
                                           api.template_body(account, name, sample))
        template_id = api.read_answer(status, payload).get("templateID")
        if not isinstance(template_id, str) or not template_id:
            raise TransientChannelError("the aggregator answered the template without a templateID")
        return template_id

    def preview(self, account: ChatbotAccount, message: OutboundMessage) -> bytes:
        return orjson.dumps(orjson.loads(api.send_body(account, message, [message.recipient])),
                            option=orjson.OPT_INDENT_2)

    async def _call(self, method: str, endpoint: ChannelEndpoint, path: str, account: ChatbotAccount,
                    body: bytes, *, content_type: str = "application/json") -> tuple[int, bytes]:
        url = endpoint.base_url.rstrip("/") + path
        try:
            headers = api.request_headers(account, body, content_type=content_type)
        except KeyError as exc:
            raise PermanentChannelError(f"the chatbot has no {exc.args[0]} credential") from None
        try:
            async with self._http.request(method, url, data=body or None, headers=headers,
                                          timeout=self._timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TransientChannelError("aggregator timed out") from exc
        except aiohttp.ClientError as exc:
            raise TransientChannelError(f"aggregator unreachable: {exc}") from exc

    # ---- pushes ----------------------------------------------------------------------------------

    def webhook_chatbot(self, request: WebhookRequest) -> str | None:
        # protocol-choices.md: each chatbot's appid pushes to .../{chatbot}.
        segments = [s for s in request.subpath.split("/") if s]
        return segments[0] if segments else None

    def authenticate_webhook(self, request: WebhookRequest, account: ChatbotAccount) -> None:
        timestamp = request.headers.get("x-timestamp", "")
        signature = request.headers.get("x-signature", "")
        if not timestamp or not signature:
            raise WebhookRejected("missing X-Timestamp or X-Signature", status=401)
        try:
            skew = abs(time.time() - float(timestamp))
        except ValueError:
            raise WebhookRejected("unreadable X-Timestamp", status=401) from None
        if skew > SIGNATURE_SKEW_SECONDS:
            raise WebhookRejected("stale X-Timestamp", status=401)
        expected = api.push_signature(account.credentials.get("appkey", ""), timestamp, request.body)
        if not hmac.compare_digest(signature.lower().encode(), expected.encode()):
            raise WebhookRejected("bad X-Signature", status=401)

    def parse_webhook(self, request: WebhookRequest) -> WebhookParseResult:
        try:
            document = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            raise WebhookRejected("push is not JSON") from None
        if not isinstance(document, dict):
            raise WebhookRejected("push is not a JSON object")
        result = WebhookParseResult()
        if "rcsReplyForwards" in document:
            forwards = document["rcsReplyForwards"]
            if not isinstance(forwards, list):
                raise WebhookRejected("rcsReplyForwards must be a list")
            result.inbound.extend(_inbound(f) for f in forwards if isinstance(f, dict))
            return result
        event = document.get("event")
        if event == "Message":
            report = _status_report(document)
            if report is not None:
                result.statuses.append(report)
        elif event == "Invoke":
            revoke = _revoke_report(document)
            if revoke is not None:
                result.revokes.append(revoke)
        elif event == "Media":
            media_id = document.get("id")
            if not isinstance(media_id, str) or not media_id:
                raise WebhookRejected("Media event without id")
            file = document.get("file")
            result.media_audits.append(MediaAuditReport(
                audit_ref=media_id, approved=str(document.get("status")) == "0",
                reason=_text(document.get("reason")), url=file if isinstance(file, str) and file else None,
                until=parse_iso(str(document.get("expired") or ""))))
        elif event == "Template":
            template_id = document.get("templateID")
            if not isinstance(template_id, str) or not template_id:
                raise WebhookRejected("Template event without templateID")
            result.template_audits.append(TemplateAuditReport(
                template_id, str(document.get("status")) == "0", _text(document.get("reason"))))
        else:
            raise WebhookRejected(f"unknown push {str(event)[:40]!r}")
        return result

    def reply_to_webhook(self, request: WebhookRequest, account: ChatbotAccount) -> WebhookReply:
        return WebhookReply(status=200, headers={"Content-Type": "application/json"},
                            body=b'{"status":"success"}')


def beijing_time(raw: object) -> datetime | None:
    """§3.6: "yyyy-MM-dd HH:mm:ss" in Beijing time."""
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    except ValueError:
        return None


def _number(raw: object, field: str) -> str:
    if not isinstance(raw, str | int):
        raise WebhookRejected(f"missing {field}")
    try:
        return normalise_mobile(str(raw))
    except InvalidPhoneNumber:
        raise WebhookRejected(f"unreadable {field} {raw!r}") from None


def _status_report(event: Mapping[str, Any]) -> StatusReport | None:
    send_id, raw_status = event.get("sendID"), event.get("status")
    if not isinstance(send_id, str) or not isinstance(raw_status, str):
        raise WebhookRejected("Message event without sendID or status")
    mapped = STATUS_MAP.get(raw_status)
    if mapped is None:
        log.warning("unknown aggregator status", extra={"raw_status": raw_status})
        return None
    status, reason = mapped
    return StatusReport(carrier_message_id=send_id, status=status, recipient=_number(event.get("to"), "to"),
                        reason=reason, occurred_at=beijing_time(event.get("timestamp")), raw_status=raw_status,
                        handset_capability=HANDSET_CAPABILITY.get(raw_status))


REVOKE_RESULTS = {"Revoked": True, "RevokeFailed": False}  # §3.6 Invoke statuses


def _revoke_report(event: Mapping[str, Any]) -> RevokeReport | None:
    send_id, status = event.get("sendID"), event.get("status")
    if not isinstance(send_id, str) or status not in REVOKE_RESULTS:
        log.warning("unreadable Invoke event", extra={"status": status})
        return None
    succeeded = REVOKE_RESULTS[str(status)]
    recipient = None
    if event.get("to"):
        try:
            recipient = _number(event.get("to"), "to")
        except WebhookRejected:
            recipient = None
    return RevokeReport(carrier_message_id=send_id, succeeded=succeeded, recipient=recipient,
                        reason=None if succeeded else "the aggregator could not recall it",
                        occurred_at=beijing_time(event.get("timestamp")))


def _inbound(forward: Mapping[str, Any]) -> InboundMessage:
    content = _reply_content(forward.get("replyType"), forward.get("replyContent"))
    message_id = forward.get("msgid")
    return InboundMessage(
        carrier_message_id=str(message_id) if message_id else None,
        sender=_number(forward.get("phone"), "phone"),
        chatbot_address=str(forward.get("chatbot") or ""),
        content=content,
        conversation_id=_text(forward.get("conversationId")),
        contribution_id=_text(forward.get("contributionId")),
        in_reply_to=_text(forward.get("inReplyTo")),
        received_at=beijing_time(forward.get("dateTime")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _reply_content(reply_type: object, reply_content: object) -> UplinkContent:
    try:
        kind = int(str(reply_type))
    except ValueError:
        raise WebhookRejected(f"unknown replyType {reply_type!r}") from None
    if not isinstance(reply_content, str):
        raise WebhookRejected("replyContent must be a string")
    if kind == REPLY_TEXT:
        if reply_content.startswith("geo:"):
            location = parse_geo_uri(reply_content)
            if location:
                return location
        return UplinkText(text=reply_content)
    if kind == REPLY_SUGGESTION:
        try:
            return parse_suggestion_response(orjson.loads(reply_content))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise WebhookRejected(f"unreadable suggestion response: {exc}") from exc
    raise WebhookRejected(f"unsupported replyType {kind}")
