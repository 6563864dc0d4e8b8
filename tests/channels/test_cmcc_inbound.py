"""The China Mobile adapter reads every notification variant the reference records (§1.3, §1.4)."""

from __future__ import annotations

import base64
import json

import pytest

from msg5g.channels import WebhookRequest
from msg5g.channels.carriers.cmcc import ChinaMobileChannel
from msg5g.domain.content import UplinkFile, UplinkLocation, UplinkSuggestionResponse, UplinkText
from msg5g.domain.errors import WebhookRejected
from msg5g.domain.messages import MessageStatus

NS = 'xmlns:msg="urn:oma:xml:rest:netapi:messaging:1"'


def _adapter() -> ChinaMobileChannel:
    return ChinaMobileChannel.__new__(ChinaMobileChannel)  # parsing needs no HTTP session


def _request(subpath: str, body: str | bytes, content_type: str = "application/xml") -> WebhookRequest:
    raw = body.encode() if isinstance(body, str) else body
    return WebhookRequest(method="POST", subpath=subpath, headers={"content-type": content_type}, query={}, body=raw)


@pytest.mark.parametrize("chatbot", ["125200401111528", "sip%3A125200401111528%40botplatform.rcs.chinamobile.com",
                                     "sip:125200401111528@botplatform.rcs.chinamobile.com"])
def test_chatbot_is_read_from_raw_and_url_encoded_paths(chatbot: str) -> None:
    request = _request(f"DeliveryInfoNotification/{chatbot}", "")
    assert _adapter().webhook_chatbot(request) == "125200401111528"


def test_delivery_report_with_ims_address_and_link_sibling() -> None:
    body = f"""<?xml version="1.0"?><msg:deliveryInfoNotification {NS}>
      <deliveryInfo><address>sip:+8613800138000@zj.5GMC.ims.mnc000.mcc460.3gppnetwork.org</address>
        <messageId>m-1</messageId><deliveryStatus>DeliveredToTerminal</deliveryStatus><description>UP2</description>
      </deliveryInfo>
      <link rel="OutboundMessageRequest" href="https://maap.example/requests/m-1"/>
    </msg:deliveryInfoNotification>"""
    [report] = _adapter().parse_webhook(_request("DeliveryInfoNotification/1", body)).statuses
    assert report.carrier_message_id == "m-1"
    assert report.status == MessageStatus.DELIVERED
    assert report.recipient == "+8613800138000"


@pytest.mark.parametrize(("raw", "status"), [
    ("MessageDisplayed", MessageStatus.DISPLAYED), ("DeliveryImpossible", MessageStatus.FAILED),
    ("DeliveredToNetwork", MessageStatus.DELIVERED), ("DeliverdToSMS", MessageStatus.DELIVERED),
    ("MessageSent", MessageStatus.SENT),
])
def test_delivery_status_words(raw: str, status: MessageStatus) -> None:
    body = (f"<msg:deliveryInfoNotification {NS}><deliveryInfo><address>tel:+8613800138000</address>"
            f"<messageId>m</messageId><deliveryStatus>{raw}</deliveryStatus></deliveryInfo>"
            "</msg:deliveryInfoNotification>")
    [report] = _adapter().parse_webhook(_request("DeliveryInfoNotification/1", body)).statuses
    assert report.status == status


def test_huawei_json_rendering_of_a_delivery_report() -> None:
    body = json.dumps({"deliveryInfo": {"address": "tel:+8613800138000", "messageId": "m-2",
                                        "deliveryStatus": "MessageDisplayed", "description": "SVC5001"}})
    [report] = _adapter().parse_webhook(_request("DeliveryInfoNotification/1", body, "application/json")).statuses
    assert (report.carrier_message_id, report.status) == ("m-2", MessageStatus.DISPLAYED)


def test_base64_text_uplink_from_an_ims_sender() -> None:
    encoded = base64.b64encode("你好".encode()).decode()
    body = f"""<msg:inboundMessageNotification {NS}><inboundMessage>
      <destinationAddress>sip:125200401111528@botplatform.rcs.chinamobile.com</destinationAddress>
      <senderAddress>sip:+8613800138000@bj.ims.mnc000.mcc460.3gppnetwork.org</senderAddress>
      <messageId>in-1</messageId><contentType>text/plain</contentType><contentEncoding>base64</contentEncoding>
      <bodyText>{encoded}</bodyText><conversationID>c-1</conversationID></inboundMessage>
    </msg:inboundMessageNotification>"""
    [inbound] = _adapter().parse_webhook(_request("InboundMessageNotification/1", body)).inbound
    assert inbound.sender == "+8613800138000"
    assert inbound.content == UplinkText(text="你好")
    assert inbound.conversation_id == "c-1"


def test_flattened_inbound_and_geo_text() -> None:
    body = (f"<msg:inboundMessageNotification {NS}><senderAddress>tel:+8613800138000</senderAddress>"
            "<messageId>in-2</messageId><contentType>text/plain</contentType>"
            "<bodyText>geo:50.7311865,7.0914591;crs=gcj02;u=10;rcs-l=Qingfeng%20Steamed%20Dumpling%20Shop</bodyText>"
            "</msg:inboundMessageNotification>")
    [inbound] = _adapter().parse_webhook(_request("InboundMessageNotification/1", body)).inbound
    assert isinstance(inbound.content, UplinkLocation)
    assert inbound.content.label == "Qingfeng Steamed Dumpling Shop"
    assert inbound.content.crs == "gcj02"


def test_suggestion_response_and_bare_action_click() -> None:
    for document, expected in [
        ({"response": {"reply": {"displayText": "我的跨年礼物", "postback": {"data": "2020"}, "type": "reply"}}},
         UplinkSuggestionResponse(response_type="reply", text="我的跨年礼物", postback_data="2020")),
        ({"response": {"action": {"displayText": "立即问医"}}},
         UplinkSuggestionResponse(response_type="action", text="立即问医", postback_data=None)),
    ]:
        encoded = base64.b64encode(json.dumps(document, ensure_ascii=False).encode()).decode()
        body = (f"<msg:inboundMessageNotification {NS}><inboundMessage><senderAddress>tel:+8613800138000"
                "</senderAddress><messageId>x</messageId>"
                "<contentType>application/vnd.gsma.botsuggestion.response.v1.0+json</contentType>"
                f"<contentEncoding>base64</contentEncoding><bodyText>{encoded}</bodyText></inboundMessage>"
                "</msg:inboundMessageNotification>")
        [inbound] = _adapter().parse_webhook(_request("InboundMessageNotification/1", body)).inbound
        assert inbound.content == expected


def test_file_descriptor_uplink() -> None:
    descriptor = """<?xml version="1.0" encoding="UTF-8"?>
<file xmlns="urn:gsma:params:xml:ns:rcs:rcs:fthttp">
  <file-info type="thumbnail"><file-size>40045</file-size><content-type>image/png</content-type>
    <data url="https://ft.example.com/s/1TD" until="2021-01-07T14:15:40Z"/></file-info>
  <file-info type="file"><file-size>52239</file-size><file-name>a.jpg</file-name><content-type>image/jpeg</content-type>
    <data url="https://ft.example.com/s/1FD.jpg" until="2021-01-07T14:15:40Z"/></file-info>
</file>"""
    body = (f"<msg:inboundMessageNotification {NS}><inboundMessage><senderAddress>tel:+8613800138000"
            "</senderAddress><messageId>f</messageId><contentType>application/vnd.gsma.rcs-ft-http+xml</contentType>"
            f"<bodyText><![CDATA[{descriptor}]]></bodyText></inboundMessage></msg:inboundMessageNotification>")
    [inbound] = _adapter().parse_webhook(_request("InboundMessageNotification/1", body)).inbound
    assert isinstance(inbound.content, UplinkFile)
    assert inbound.content.file.size == 52239
    assert inbound.content.thumbnail is not None
    assert inbound.content.thumbnail.content_type == "image/png"


@pytest.mark.parametrize("body", [
    "<not-closed>", "", f"<msg:somethingElse {NS}/>",
    '<!DOCTYPE x [<!ENTITY a "b">]><msg:deliveryInfoNotification ' + NS + "/>",
    f"<msg:deliveryInfoNotification {NS}></msg:deliveryInfoNotification>",
])
def test_malformed_or_unexpected_notifications_are_refused(body: str) -> None:
    with pytest.raises(WebhookRejected):
        _adapter().parse_webhook(_request("DeliveryInfoNotification/1", body))


def test_multipart_uplink_with_a_wrong_content_length() -> None:
    multipart = ("--next\r\nContent-Type: text/plain\r\nContent-Length: [content length]\r\n\r\n我要还款\r\n"
                 "--next\r\nContent-Type: application/vnd.gsma.botsuggestion.v1.0+json\r\nContent-Length: 3\r\n\r\n"
                 '{"suggestions":[]}\r\n--next--\r\n')
    body = (f"<msg:inboundMessageNotification {NS}><inboundMessage><senderAddress>tel:+8613800138000"
            '</senderAddress><messageId>mp</messageId><contentType>multipart/mixed; boundary="next"</contentType>'
            f"<bodyText><![CDATA[{multipart}]]></bodyText></inboundMessage></msg:inboundMessageNotification>")
    [inbound] = _adapter().parse_webhook(_request("InboundMessageNotification/1", body)).inbound
    assert inbound.content == UplinkText(text="我要还款")
