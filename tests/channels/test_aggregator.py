"""The aggregator adapter reads the third-party push formats of protocols.md §3.5/§3.6.

The fixtures are the reference's payloads as printed; where the reference masks or elides a value
(`152XXXXXXXX`, `"..."`), a concrete value of the same shape stands in, and the test says so.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from msg5g.channels import ChatbotAccount, OutboundMessage, WebhookRequest
from msg5g.channels.carriers import aggregator_api
from msg5g.channels.carriers.aggregator import AggregatorChannel
from msg5g.domain.content import TextContent, UplinkLocation, UplinkSuggestionResponse, UplinkText
from msg5g.domain.errors import (
    ChannelAuthError,
    PermanentChannelError,
    RateLimited,
    TransientChannelError,
    WebhookRejected,
)
from msg5g.domain.messages import MessageStatus, TrafficClass

APPKEY = "agg-secret"
ACCOUNT = ChatbotAccount(chatbot_id="bot-1", carrier_chatbot_id="agg-bot-7", address="agg-bot-7",
                         credentials={"appid": "60001", "appkey": APPKEY})
BEIJING = timezone(timedelta(hours=8))

# §3.6, verbatim.
MEDIA_EVENT = {"event": "Media", "id": "ZjU3eu", "file": "https://ftnj01.xnq.r.10086.cn:10099/s/0030320240403...FD.png",
               "filesize": 1259515, "status": "0", "expired": "2024-04-10T11:45:33Z",
               "timestamp": "2024-04-03 09:42:50"}
TEMPLATE_EVENT = {"event": "Template", "templateID": "S49Ecf", "status": "0", "timestamp": "2024-04-03 09:42:50"}
# §3.6 with the masked number and the elided sendID/timestamp filled in.
MESSAGE_EVENT = {"event": "Message", "sendID": "4ee9be30aa0e4ab8b1d9", "to": "15200000001", "status": "SMS",
                 "timestamp": "2024-04-03 09:42:50"}
INVOKE_EVENT = {"event": "Invoke", "sendID": "4ee9be30aa0e4ab8b1d9", "status": "Revoked",
                "timestamp": "2024-04-03 09:42:50"}
# §3.6 Dahantc MO push with the placeholders filled in.
DAHANTC_MO = {"result": "0", "desc": "成功", "rcsReplyForwards": [
    {"chatbot": "agg-bot-7", "msgid": "mo-1001", "dateTime": "2024-04-03 09:42:50", "phone": "13800000001",
     "conversationId": "conv-1", "contributionId": "contrib-1", "inReplyTo": "contrib-0", "replyType": 1,
     "replyContent": "查询账单"}]}


def _adapter() -> AggregatorChannel:
    return AggregatorChannel.__new__(AggregatorChannel)


def _push(body: Any, *, appkey: str = APPKEY, skew: int = 0) -> WebhookRequest:
    raw = json.dumps(body, ensure_ascii=False).encode()
    timestamp = str(int(time.time()) + skew)
    signature = hashlib.sha256(appkey.encode() + timestamp.encode() + raw).hexdigest()
    return WebhookRequest(method="POST", subpath="agg-bot-7", query={}, body=raw,
                          headers={"content-type": "application/json", "x-timestamp": timestamp,
                                   "x-signature": signature})


def test_pushes_name_their_chatbot_in_the_path() -> None:
    assert _adapter().webhook_chatbot(_push(MESSAGE_EVENT)) == "agg-bot-7"


def test_signed_push_is_accepted_and_wrong_or_stale_ones_refused() -> None:
    _adapter().authenticate_webhook(_push(MESSAGE_EVENT), ACCOUNT)
    for request in (_push(MESSAGE_EVENT, appkey="other"), _push(MESSAGE_EVENT, skew=-1000)):
        with pytest.raises(WebhookRejected):
            _adapter().authenticate_webhook(request, ACCOUNT)


def test_message_event_becomes_a_status_report_in_beijing_time() -> None:
    report = _adapter().parse_webhook(_push(MESSAGE_EVENT)).statuses[0]
    assert report.carrier_message_id == "4ee9be30aa0e4ab8b1d9"
    assert report.status == MessageStatus.DELIVERED
    assert report.reason == "delivered as SMS (回落为短信)"
    assert report.recipient == "+8615200000001"
    assert report.occurred_at == datetime(2024, 4, 3, 9, 42, 50, tzinfo=BEIJING)


@pytest.mark.parametrize(("status", "expected"), [("DeliveredToTerminal", MessageStatus.DELIVERED),
                                             ("DeliveryImpossible", MessageStatus.FAILED),
                                             ("MMS", MessageStatus.DELIVERED),
                                             ("MessageDisplayed", MessageStatus.DISPLAYED)])
def test_every_final_status_maps(status: str, expected: MessageStatus) -> None:
    assert _adapter().parse_webhook(_push({**MESSAGE_EVENT, "status": status})).statuses[0].status == expected


@pytest.mark.parametrize("event", [MEDIA_EVENT, TEMPLATE_EVENT, INVOKE_EVENT], ids=["media", "template", "invoke"])
def test_audit_and_revoke_events_are_acknowledged(event: dict[str, Any]) -> None:
    result = _adapter().parse_webhook(_push(event))
    assert result.statuses == []
    assert result.inbound == []


def test_dahantc_mo_push_becomes_an_uplink() -> None:
    inbound = _adapter().parse_webhook(_push(DAHANTC_MO)).inbound[0]
    assert inbound.content == UplinkText(text="查询账单")
    assert inbound.sender == "+8613800000001"
    assert inbound.carrier_message_id == "mo-1001"
    assert inbound.in_reply_to == "contrib-0"
    assert inbound.received_at == datetime(2024, 4, 3, 9, 42, 50, tzinfo=BEIJING)


def test_geo_text_and_button_postback_mo() -> None:
    def first(reply_type: int, content: str) -> Any:
        forward = {**DAHANTC_MO["rcsReplyForwards"][0], "replyType": reply_type, "replyContent": content}  # type: ignore[index]
        return _adapter().parse_webhook(_push({**DAHANTC_MO, "rcsReplyForwards": [forward]})).inbound[0].content

    location = first(1, "geo:22.5385,114.0572;crs=gcj02")
    assert isinstance(location, UplinkLocation)
    assert location.latitude == pytest.approx(22.5385)
    tapped = first(2, json.dumps({"response": {"reply": {"displayText": "立即还款", "postback": {"data": "pay"}}}}))
    assert isinstance(tapped, UplinkSuggestionResponse)
    assert tapped.postback_data == "pay"


@pytest.mark.parametrize("body", [{"event": "Nope"}, {"event": "Message"}, {"rcsReplyForwards": "x"},
                                  {"rcsReplyForwards": [{"phone": "13800000001", "replyType": 9,
                                                         "replyContent": "?"}]}])
def test_unreadable_pushes_are_rejected(body: dict[str, Any]) -> None:
    with pytest.raises(WebhookRejected):
        _adapter().parse_webhook(_push(body))


def test_invented_send_body_and_signature() -> None:
    message = OutboundMessage(message_id="m-1", recipient="+8615200000001", content=TextContent(text="你好"),
                              traffic_class=TrafficClass.NOTIFICATION, fallback_text="短信")
    body = aggregator_api.send_body(ACCOUNT, message, ["+8615200000001"])
    document = json.loads(body)
    assert document == {"chatbot": "agg-bot-7", "to": ["15200000001"], "client_ref": "m-1",
                        "sms": {"content": "短信"},
                        "messageList": [{"contentType": "text/plain", "contentEncoding": "utf8",
                                         "contentText": "你好"}]}
    headers = aggregator_api.request_headers(ACCOUNT, body, now=1_700_000_000)
    assert headers["X-Signature"] == hashlib.sha256(b"60001" + APPKEY.encode() + b"1700000000" + body).hexdigest()


@pytest.mark.parametrize(("status", "payload", "error"), [
    (200, {"status": "error", "code": "101", "msg": "bad sign"}, ChannelAuthError),
    (200, {"status": "error", "code": "201", "msg": "invalid number"}, PermanentChannelError),
    (429, {"status": "error", "code": "429", "msg": "slow down"}, RateLimited),
    (500, {"status": "error", "code": "500", "msg": "oops"}, TransientChannelError),
    (502, "<html>bad gateway</html>", TransientChannelError),
    (200, "not json", PermanentChannelError),
])
def test_answers_map_onto_the_retry_policy(status: int, payload: Any, error: type[Exception]) -> None:
    raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    with pytest.raises(error):
        aggregator_api.read_answer(status, raw)
