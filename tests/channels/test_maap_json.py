"""The CT/CU JSON adapters build §3.3.2 bodies and read every §3.3.6 notification variant.

Payloads are written here by hand from shared/reference/protocols.md; the round trip through the
simulators is in tests/channels/test_conformance.py.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from msg5g.channels import ChatbotAccount, OutboundMessage, WebhookRequest
from msg5g.channels.carriers.ctcc import ChinaTelecomChannel
from msg5g.channels.carriers.cucc import ChinaUnicomChannel
from msg5g.channels.carriers.maap_json import ChatbotJsonChannel
from msg5g.domain.content import (
    FileContent,
    MediaFile,
    TextContent,
    UplinkFile,
    UplinkLocation,
    UplinkSharedData,
    UplinkSpamReport,
    UplinkSuggestionResponse,
    UplinkText,
)
from msg5g.domain.errors import WebhookRejected
from msg5g.domain.messages import MessageStatus, TrafficClass

TOKEN = "n0t1fyT0ken"
ACCOUNT = ChatbotAccount(chatbot_id="bot-1", carrier_chatbot_id="106598858810000006",
                         address="sip:106598858810000006@botplatform.rcs.vnet.cn",
                         credentials={"app_id": "xSnu0001", "app_key": "k", "notify_token": TOKEN})


def _adapter(cls: type[ChatbotJsonChannel] = ChinaTelecomChannel) -> ChatbotJsonChannel:
    adapter = cls.__new__(cls)  # building and parsing need no HTTP session
    return adapter


def _signed(subpath: str, body: Any, *, method: str = "POST", token: str = TOKEN, skew_ms: int = 0,
            extra: dict[str, str] | None = None) -> WebhookRequest:
    timestamp = str(int(time.time() * 1000) + skew_ms)
    nonce = "abcDEF123"
    signature = hashlib.sha256("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    headers = {"content-type": "application/json", "timestamp": timestamp, "nonce": nonce, "signature": signature,
               **(extra or {})}
    raw = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
    return WebhookRequest(method=method, subpath=subpath, headers=headers, query={}, body=raw)


def _message(content: Any, **extra: Any) -> OutboundMessage:
    return OutboundMessage(message_id="0195f0a0-0000-7000-8000-000000000001", recipient="+8615300000001",
                           content=content, traffic_class=extra.pop("traffic_class", TrafficClass.NOTIFICATION),
                           **extra)


def test_text_body_follows_the_reference_sample() -> None:
    body = _adapter().build_request(ACCOUNT, _message(TextContent(text="你好chatbot")), ["+8615300000001"])
    assert body["messageId"] == "0195f0a0-0000-7000-8000-000000000001"
    assert body["messageList"] == [{"contentType": "text/plain", "contentEncoding": "utf8",
                                    "contentText": "你好chatbot"}]
    assert body["destinationAddress"] == ["tel:+8615300000001"]
    assert body["senderAddress"] == ACCOUNT.address
    assert body["smsSupported"] is False
    assert "smsContent" not in body
    assert set(body["reportRequest"]) == {"delivered", "displayed", "failed", "deliveredToNetwork"}
    assert "trafficType" not in body


def test_marketing_with_fallback_text_sets_traffic_type_and_sms_fields() -> None:
    message = _message(TextContent(text="促销"), traffic_class=TrafficClass.MARKETING, fallback_text="短信版")
    body = _adapter().build_request(ACCOUNT, message, ["+8615300000001"])
    assert body["trafficType"] == "advertisement"
    assert body["smsSupported"] is True
    assert body["smsContent"] == "短信版"


def test_file_body_lists_file_then_thumbnail_with_string_sizes() -> None:
    content = FileContent(
        file=MediaFile(url="https://ft.example/a.jpg", content_type="image/jpeg", size=178887, name="a.jpg",
                       until=datetime(2026, 12, 5, 12, 0, tzinfo=UTC)),
        thumbnail=MediaFile(url="https://ft.example/t.jpg", content_type="image/jpeg", size=9216))
    item = _adapter().build_request(ACCOUNT, _message(content), ["+8615300000001"])["messageList"][0]
    assert item["contentType"] == "application/vnd.gsma.rcs-ft-http"
    assert [entry["type"] for entry in item["contentText"]] == ["file", "thumbnail"]
    assert item["contentText"][0] == {"type": "file", "fileSize": "178887", "fileName": "a.jpg",
                                      "contentType": "image/jpeg", "url": "https://ft.example/a.jpg",
                                      "until": "2026-12-05T12:00:00Z"}


def test_suggestions_travel_as_a_second_item() -> None:
    content = TextContent.model_validate({"text": "选一个", "suggestions": [
        {"type": "reply", "text": "是", "postback_data": "yes"}]})
    items = _adapter().build_request(ACCOUNT, _message(content), ["+8615300000001"])["messageList"]
    assert items[1]["contentType"] == "application/vnd.gsma.botsuggestion.v1.0+json"
    assert items[1]["contentText"]["suggestions"][0]["reply"]["postback"] == {"data": "yes"}


def test_unicom_prefixes_its_bare_token_and_telecom_sends_its_own_unchanged() -> None:
    assert _adapter(ChinaUnicomChannel).authorization("8c1f-uuid") == "accessToken 8c1f-uuid"
    assert _adapter(ChinaTelecomChannel).authorization("accessToken eEE=") == "accessToken eEE="
    assert ChinaUnicomChannel.chatbot_address("12580012011402") == "sip:12580012011402@botplatform.rcs.chinaunicom.cn"


@pytest.mark.parametrize(("subpath", "headers", "expected"), [
    ("deliveryNotification/106598858810000006/status", {}, "106598858810000006"),
    ("messageNotification/106598858810000006/messages", {}, "106598858810000006"),
    ("notifyInfoNotification/106598858810000006/notice/rcsspam", {}, "106598858810000006"),
    ("notifyPath", {"chatbotid": "sip:106598858810000006@botplatform.rcs.vnet.cn"}, "106598858810000006"),
])
def test_chatbot_is_read_from_path_or_handshake_header(subpath: str, headers: dict[str, str], expected: str) -> None:
    request = WebhookRequest(method="POST", subpath=subpath, headers=headers, query={}, body=b"")
    assert _adapter().webhook_chatbot(request) == expected


def test_signature_over_sorted_token_timestamp_nonce_is_accepted() -> None:
    _adapter().authenticate_webhook(_signed("deliveryNotification/1/status", {}), ACCOUNT)


@pytest.mark.parametrize("request_", [
    _signed("deliveryNotification/1/status", {}, token="wrong"),
    _signed("deliveryNotification/1/status", {}, skew_ms=-600_000),
    WebhookRequest(method="POST", subpath="deliveryNotification/1/status", headers={}, query={}, body=b"{}"),
], ids=["wrong-token", "stale", "unsigned"])
def test_unsigned_stale_or_wrongly_signed_notifications_are_refused(request_: WebhookRequest) -> None:
    with pytest.raises(WebhookRejected) as caught:
        _adapter().authenticate_webhook(request_, ACCOUNT)
    assert caught.value.status == 401


def test_status_report_reads_user_from_sender_address() -> None:
    body = {"deliveryInfoList": [
        {"messageId": "m-1", "dateTime": "2026-12-01T08:00:00Z", "status": "delivered",
         "destinationAddress": ACCOUNT.address, "senderAddress": "tel:+8615300000001"},
        {"messageId": "m-2", "dateTime": "2026-12-01T08:00:01Z", "status": "failed", "errorCode": "40401",
         "errorMessage": "用户非本网用户", "destinationAddress": ACCOUNT.address,
         "senderAddress": "tel:+8615300000002"},
        {"messageId": "m-3", "status": "deliveredToNetwork", "senderAddress": "tel:+8615300000003"},
        {"messageId": "m-4", "status": "revokeOk", "senderAddress": "tel:+8615300000004"},
    ]}
    statuses = _adapter().parse_webhook(_signed("deliveryNotification/106598858810000006/status", body)).statuses
    assert [(s.carrier_message_id, s.status) for s in statuses] == [
        ("m-1", MessageStatus.DELIVERED), ("m-2", MessageStatus.FAILED), ("m-3", MessageStatus.DELIVERED)]
    assert statuses[0].recipient == "+8615300000001"
    assert statuses[0].occurred_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert statuses[1].reason == "failed 40401: 用户非本网用户"
    assert statuses[2].reason == "delivered as SMS by the network"


def _mo(item: dict[str, Any]) -> dict[str, Any]:
    return {"messageId": "mo-1", "dateTime": "2026-12-01T08:00:00Z", "senderAddress": "tel:+8613800000001",
            "destinationAddress": ACCOUNT.address, "conversationId": "c-1", "contributionId": "k-1",
            "inReplyTo": "k-0", "messageList": [item]}


def test_suggestion_response_uplink_as_in_the_reference() -> None:
    item = {"contentType": "application/vnd.gsma.botsuggestion.response.v1.0+json", "contentEncoding": "utf8",
            "contentText": {"response": {"reply": {"displayText": "是的", "postback": {"data": "yes-1"}}}}}
    inbound = _adapter().parse_webhook(_signed("messageNotification/1/messages", _mo(item))).inbound[0]
    assert isinstance(inbound.content, UplinkSuggestionResponse)
    assert inbound.content.postback_data == "yes-1"
    assert inbound.content.text == "是的"
    assert inbound.sender == "+8613800000001"
    assert inbound.carrier_message_id == "mo-1"
    assert inbound.conversation_id == "c-1"
    assert inbound.in_reply_to == "k-0"


def test_text_geo_file_and_shared_data_uplinks() -> None:
    adapter = _adapter(ChinaUnicomChannel)

    def parse(item: dict[str, Any]) -> Any:
        return adapter.parse_webhook(_signed("messageNotification/1/messages", _mo(item))).inbound[0].content

    assert parse({"contentType": "text/plain", "contentText": "查余额"}) == UplinkText(text="查余额")
    geo = parse({"contentType": "text/plain", "contentText": "geo:22.5385,114.0572;crs=gcj02;rcs-l=%E7%A6%8F%E7%94%B0"})
    assert isinstance(geo, UplinkLocation)
    assert geo.label == "福田"
    assert geo.crs == "gcj02"
    file = parse({"contentType": "application/vnd.gsma.rcs-ft-http", "contentText": [
        {"type": "thumbnail", "fileSize": "9216", "fileName": "t.jpg", "contentType": "image/jpeg",
         "url": "https://httpserver01.ct5g.cn:10001/s/t.jpg", "until": "null"},
        {"type": "file", "fileSize": "178887", "fileName": "DSC_1.JPG", "contentType": "image/jpeg",
         "url": "https://httpserver01.ct5g.cn:10001/s/FD.jpg", "until": "2026-12-04T12:17:07Z"}]})
    assert isinstance(file, UplinkFile)
    assert file.file.size == 178887
    assert file.thumbnail is not None
    assert file.thumbnail.until is None  # the carrier's "null" string
    shared = parse({"contentType": "application/vnd.gsma.botsharedclientdata.v1.0+json",
                    "contentText": {"sharedData": {"deviceSpecifics": {"deviceModel": "P50"}}}})
    assert shared == UplinkSharedData(device_specifics={"deviceModel": "P50"})


def test_spam_report_with_a_sender_becomes_an_uplink() -> None:
    body = {"messageId": ["m-1"], "spamType": "fraud", "freeText": "骗子", "senderAddress": "tel:+8613800000001"}
    result = _adapter().parse_webhook(_signed("notifyInfoNotification/1/notice/rcsspam", body))
    assert result.inbound[0].content == UplinkSpamReport(spam_type="fraud", free_text="骗子")


def test_audit_notifications_are_acknowledged_without_effect() -> None:
    body = {"type": "media", "result": "0", "remark": "x:tid-1", "fileInfo": {"until": "null"}}
    result = _adapter().parse_webhook(_signed("notifyInfoNotification/1/check", body))
    assert not result.statuses
    assert not result.inbound


@pytest.mark.parametrize(("subpath", "body"), [
    ("messageNotification/1/messages", {"senderAddress": "tel:+8613800000001", "messageList": []}),
    ("messageNotification/1/messages", _mo({"contentType": "application/x-unknown", "contentText": "?"})),
    ("deliveryNotification/1/status", {"nothing": True}),
    ("somethingElse/1/x", {}),
])
def test_unreadable_notifications_are_rejected(subpath: str, body: dict[str, Any]) -> None:
    with pytest.raises(WebhookRejected):
        _adapter().parse_webhook(_signed(subpath, body))


@pytest.mark.parametrize("cls", [ChinaTelecomChannel, ChinaUnicomChannel])
def test_notify_path_handshake_echoes_echo_str_and_names_the_app_id(cls: type[ChatbotJsonChannel]) -> None:
    request = _signed("notifyPath", None, method=cls.notify_path_method,
                      extra={"echostr": "e-123", "chatbotid": "106598858810000006"})
    adapter = _adapter(cls)
    adapter.authenticate_webhook(request, ACCOUNT)
    assert adapter.parse_webhook(request).statuses == []
    reply = adapter.reply_to_webhook(request, ACCOUNT)
    assert reply.status == 200
    assert reply.headers == {"echoStr": "e-123", "appId": "xSnu0001"}
