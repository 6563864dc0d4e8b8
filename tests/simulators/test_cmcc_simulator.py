"""Raw-HTTP tests of the China Mobile MaaP simulator (protocols.md §1, §2, §6)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from lxml import etree

from msg5g.simulators.cmcc import ChatbotAccount, ConfigError, SimulatorSettings
from msg5g.simulators.cmcc import __main__ as cli

from .conftest import (
    BOT_APP_ID,
    BOT_ID,
    BOT_PASSWORD,
    NS_COMMON,
    NS_MSG,
    OTHER_APP_ID,
    OTHER_BOT_ID,
    OTHER_PASSWORD,
    USER,
    CspReceiver,
    Sim,
    SimFactory,
    bot_uri,
    child_text,
    cmcc_basic,
    multipart,
    outbound_xml,
    rfc1123,
    xml_root,
)

BOTMESSAGE = "application/vnd.gsma.botmessage.v1.0+json"
BOTSUGGESTION = "application/vnd.gsma.botsuggestion.v1.0+json"
FT_XML = "application/vnd.gsma.rcs-ft-http+xml"
NS_FT = "urn:gsma:params:xml:ns:rcs:rcs:fthttp"


def media(size: Any = 151250) -> dict[str, Any]:
    return {
        "mediaUrl": "https://gz01ft.sbc.rcs.chinamobile.com:10003/s/x.jpg",
        "mediaContentType": "image/jpeg",
        "mediaFileSize": size,
        "height": "MEDIUM_HEIGHT",
    }


def reply(text: str = "Yes", data: str = "yes") -> dict[str, Any]:
    return {"reply": {"displayText": text, "postback": {"data": data}}}


def card(title: str = "Card", suggestions: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    content: dict[str, Any] = {"title": title, "description": "A description", **extra}
    if suggestions is not None:
        content["suggestions"] = suggestions
    return content


def single_card(content: dict[str, Any]) -> str:
    return json.dumps(
        {"message": {"generalPurposeCard": {"layout": {"cardOrientation": "VERTICAL"}, "content": content}}}
    )


def carousel(count: int) -> str:
    cards = [card(f"Card {i}") for i in range(count)]
    return json.dumps(
        {"message": {"generalPurposeCardCarousel": {"layout": {"cardWidth": "MEDIUM_WIDTH"}, "content": cards}}}
    )


def chips(*suggestions: dict[str, Any]) -> str:
    return json.dumps({"suggestions": list(suggestions)})


def error_of(body: bytes) -> tuple[str, str, str | None, str | None]:
    """(exception element, exceptionId, text, variables) of a common:requestError."""
    root = xml_root(body)
    assert root.tag == f"{{{NS_COMMON}}}requestError"
    exception = root[0]
    return (
        exception.tag,
        exception.findtext("exceptionId") or "",
        exception.findtext("text"),
        exception.findtext("variables"),
    )


async def send_ok(sim: Sim, xml: bytes, **kwargs: Any) -> etree._Element:
    status, body, _ = await sim.send(xml, **kwargs)
    assert status == 201, body
    return xml_root(body)


async def settle(seconds: float = 0.15) -> None:
    """Give the simulator time to send anything it still (wrongly) owes."""
    await asyncio.sleep(seconds)


# ---------------------------------------------------------------- downlink basics and auth


@pytest.mark.asyncio
async def test_text_send_answers_201_and_notifies_delivered_then_displayed(sim: Sim, csp: CspReceiver) -> None:
    message_id = str(uuid.uuid4())
    root = await send_ok(sim, outbound_xml(message_id=message_id, client_correlator="567895"))
    assert root.tag == f"{{{NS_MSG}}}outboundMessageRequest"
    assert child_text(root, "messageId") == message_id
    assert child_text(root, "clientCorrelator") == "567895"
    infos = root.findall("deliveryInfoList/deliveryInfo")
    assert [(i.findtext("address"), i.findtext("deliveryStatus")) for i in infos] == [(f"tel:{USER}", "MessageWaiting")]

    received = await csp.wait_for("DeliveryInfoNotification", 2)
    assert all(r.auth_ok for r in received), [r.headers for r in received]
    assert all(r.headers["Content-Type"].startswith("application/xml") for r in received)
    assert all(r.chatbot_id == BOT_ID for r in received)
    assert received[0].root.tag == f"{{{NS_MSG}}}deliveryInfoNotification"
    first, second = received[0].delivery(), received[1].delivery()
    assert first == {
        "address": f"tel:{USER}",
        "messageId": message_id,
        "deliveryStatus": "DeliveredToTerminal",
        "description": "UP2",
    }
    assert second["deliveryStatus"] == "MessageDisplayed"
    assert second["messageId"] == message_id


@pytest.mark.asyncio
async def test_generated_message_id_when_client_sends_none(sim: Sim, csp: CspReceiver) -> None:
    root = await send_ok(sim, outbound_xml())
    message_id = child_text(root, "messageId")
    assert message_id
    assert uuid.UUID(message_id)
    received = await csp.wait_for("DeliveryInfoNotification", 1)
    assert received[0].delivery()["messageId"] == message_id


@pytest.mark.asyncio
async def test_url_encoded_chatbot_uri_accepted(sim: Sim, csp: CspReceiver) -> None:
    url = sim.downlink_url(encoded=True)
    assert "sip%3A" in str(url)
    assert "%40" in str(url)
    root = await send_ok(sim, outbound_xml(), url=url)
    assert child_text(root, "messageId")
    await csp.wait_for("DeliveryInfoNotification", 1)


@pytest.mark.asyncio
@pytest.mark.parametrize("family", ["group/v1", "interaction/v1"])
async def test_group_and_interaction_paths_accepted(sim: Sim, family: str) -> None:
    await send_ok(sim, outbound_xml(), url=sim.downlink_url(family=family))


@pytest.mark.asyncio
async def test_unknown_api_family_is_404(sim: Sim) -> None:
    status, _, _ = await sim.send(outbound_xml(), url=sim.downlink_url(family="v9"))
    assert status == 404


@pytest.mark.asyncio
async def test_path_prefix_is_honoured(make_sim: SimFactory) -> None:
    sim = await make_sim(path_prefix="/mbmp/developer/accesslayer")
    url = sim.downlink_url()
    prefixed = url.with_path("/mbmp/developer/accesslayer" + url.raw_path, encoded=True)
    await send_ok(sim, outbound_xml(), url=prefixed)
    status, _, _ = await sim.send(outbound_xml(), url=url)
    assert status == 404


@pytest.mark.asyncio
async def test_missing_authorization_rejected(sim: Sim, csp: CspReceiver) -> None:
    status, body, headers = await sim.send(outbound_xml(), auth=None)
    assert status == 401
    kind, code, _, _ = error_of(body)
    assert (kind, code) == ("policyException", "POL0001")
    assert "Basic" in headers.get("WWW-Authenticate", "")
    await settle(0.05)
    assert csp.received == []


@pytest.mark.asyncio
async def test_wrong_password_rejected(sim: Sim) -> None:
    status, body, _ = await sim.send(outbound_xml(), password="not-the-password")
    assert status == 401
    assert error_of(body)[1] == "POL0001"


@pytest.mark.asyncio
async def test_signature_over_a_different_date_rejected(sim: Sim) -> None:
    date = rfc1123()
    auth = cmcc_basic(BOT_APP_ID, BOT_PASSWORD, rfc1123(-10))
    status, _, _ = await sim.send(outbound_xml(), date=date, auth=auth)
    assert status == 401


@pytest.mark.asyncio
async def test_other_chatbots_credentials_rejected(sim: Sim) -> None:
    status, body, _ = await sim.send(outbound_xml(), app_id=OTHER_APP_ID, password=OTHER_PASSWORD)
    assert status == 401
    assert error_of(body)[1] == "POL0001"


@pytest.mark.asyncio
async def test_unknown_chatbot_rejected(sim: Sim) -> None:
    status, body, _ = await sim.send(outbound_xml(sender=bot_uri("999")), chatbot="999")
    assert status == 401
    assert error_of(body)[1] == "POL0001"


@pytest.mark.asyncio
async def test_stale_date_rejected(sim: Sim) -> None:
    stale = rfc1123(-301)
    status, body, _ = await sim.send(outbound_xml(), date=stale)
    assert status == 401
    _, code, text, _ = error_of(body)
    assert code == "POL0001"
    assert text
    assert "Date" in text


@pytest.mark.asyncio
async def test_date_within_skew_accepted(sim: Sim) -> None:
    await send_ok(sim, outbound_xml(), date=rfc1123(-200))


@pytest.mark.asyncio
@pytest.mark.parametrize("content_type", ["application/json", "text/xml", "text/plain"])
async def test_wrong_content_type_rejected(sim: Sim, content_type: str) -> None:
    status, body, _ = await sim.send(outbound_xml(), content_type=content_type)
    assert status == 415
    kind, code, _, _ = error_of(body)
    assert (kind, code) == ("serviceException", "SVC0001")


@pytest.mark.asyncio
async def test_xml_content_type_with_charset_accepted(sim: Sim) -> None:
    await send_ok(sim, outbound_xml(), content_type="application/xml; charset=UTF-8")


@pytest.mark.asyncio
async def test_malformed_xml_rejected(sim: Sim) -> None:
    status, body, _ = await sim.send(b"<msg:outboundMessageRequest xmlns:msg='x'><address>")
    assert status == 400
    assert error_of(body)[:2] == ("serviceException", "SVC0002")


@pytest.mark.asyncio
async def test_wrong_root_element_rejected(sim: Sim) -> None:
    status, body, _ = await sim.send(f'<msg:somethingElse xmlns:msg="{NS_MSG}"/>'.encode())
    assert status == 400
    assert error_of(body)[1] == "SVC0002"


@pytest.mark.asyncio
async def test_doctype_rejected(sim: Sim) -> None:
    xml = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>' + outbound_xml().split(b"?>", 1)[1]
    status, _, _ = await sim.send(xml)
    assert status == 400


@pytest.mark.asyncio
async def test_flattened_form_accepted(sim: Sim, csp: CspReceiver) -> None:
    xml = outbound_xml(flattened=True, body="flat hello")
    assert b"outboundIMMessage" not in xml
    await send_ok(sim, xml)
    await csp.wait_for("DeliveryInfoNotification", 2)
    status, inbox = await sim.control("GET", f"/_sim/handsets/{USER}/inbox")
    assert status == 200
    assert inbox[0]["text"] == "flat hello"


@pytest.mark.asyncio
async def test_base64_downlink_body_is_decoded(sim: Sim, csp: CspReceiver) -> None:
    encoded = base64.b64encode("你好".encode()).decode()
    await send_ok(sim, outbound_xml(body=encoded, content_encoding="base64"))
    await csp.wait_for("DeliveryInfoNotification", 1)  # it reaches the handset after delivered_delay_ms
    _, inbox = await sim.control("GET", f"/_sim/handsets/{USER}/inbox")
    assert inbox[0]["text"] == "你好"


@pytest.mark.asyncio
async def test_missing_destination_rejected(sim: Sim) -> None:
    status, body, _ = await sim.send(outbound_xml(destinations=[]))
    assert status == 400
    _, code, _, variables = error_of(body)
    assert code == "SVC0002"
    assert variables == "destinationAddress"


@pytest.mark.asyncio
async def test_non_tel_destination_rejected(sim: Sim) -> None:
    status, body, _ = await sim.send(outbound_xml(destinations=["13800000001"]))
    assert status == 400
    assert error_of(body)[1] == "SVC0004"


@pytest.mark.asyncio
async def test_sender_mismatch_rejected(sim: Sim) -> None:
    status, body, _ = await sim.send(outbound_xml(sender=bot_uri(OTHER_BOT_ID)))
    assert status == 400
    assert error_of(body)[1] == "SVC0002"


@pytest.mark.asyncio
async def test_more_than_100_recipients_is_pol0003(sim: Sim, csp: CspReceiver) -> None:
    destinations = [f"tel:+86138{i:08d}" for i in range(101)]
    status, body, _ = await sim.send(outbound_xml(destinations=destinations))
    assert status == 403
    kind, code, text, variables = error_of(body)
    assert (kind, code, variables) == ("policyException", "POL0003", "destinationAddress")
    assert text == "Too many addresses specified in message part %1"
    await settle(0.05)
    assert csp.received == []


@pytest.mark.asyncio
async def test_group_send_of_100_reports_per_recipient(sim: Sim, csp: CspReceiver) -> None:
    destinations = [f"tel:+86138{i:08d}" for i in range(100)]
    root = await send_ok(sim, outbound_xml(destinations=destinations, reports=["Delivered"]))
    addresses = [i.findtext("address") for i in root.findall("deliveryInfoList/deliveryInfo")]
    assert addresses == destinations
    received = await csp.wait_for("DeliveryInfoNotification", 100)
    assert sorted(r.delivery()["address"] or "" for r in received) == destinations


# ---------------------------------------------------------------- rich content (§1.1, §2)


@pytest.mark.asyncio
async def test_multipart_card_and_chips_with_placeholder_content_length(sim: Sim, csp: CspReceiver) -> None:
    body = multipart(
        [
            (BOTMESSAGE, single_card(card("Hello card", [reply()])), 'inline; filename="Message"'),
            (BOTSUGGESTION, chips(reply("Yes"), reply("No", "no")), 'inline; filename="Chiplist.lst"'),
        ],
        length="[content length]",
    )
    await send_ok(sim, outbound_xml(content_type='multipart/mixed; boundary="next"', body=body, cdata=True))
    await csp.wait_for("DeliveryInfoNotification", 2)
    _, inbox = await sim.control("GET", f"/_sim/handsets/{USER}/inbox")
    entry = inbox[0]
    assert entry["card"]["message"]["generalPurposeCard"]["content"]["title"] == "Hello card"
    assert [s["reply"]["displayText"] for s in entry["chips"]["suggestions"]] == ["Yes", "No"]
    assert [p["kind"] for p in entry["parts"]] == ["card", "chips"]


@pytest.mark.asyncio
async def test_multipart_with_wrong_numeric_content_length_and_other_boundary(sim: Sim, csp: CspReceiver) -> None:
    body = multipart(
        [("text/plain", "pick one", None), (BOTSUGGESTION, chips(reply()), None)], boundary="b0undary", length="3"
    )
    await send_ok(sim, outbound_xml(content_type="multipart/mixed; boundary=b0undary", body=body, cdata=True))
    await csp.wait_for("DeliveryInfoNotification", 1)  # it reaches the handset after delivered_delay_ms
    _, inbox = await sim.control("GET", f"/_sim/handsets/{USER}/inbox")
    assert inbox[0]["text"] == "pick one"
    assert inbox[0]["chips"]["suggestions"][0]["reply"]["postback"]["data"] == "yes"


@pytest.mark.asyncio
async def test_botmessage_alone_accepted(sim: Sim) -> None:
    await send_ok(sim, outbound_xml(content_type=BOTMESSAGE, body=single_card(card()), cdata=True))


@pytest.mark.asyncio
async def test_carousel_of_twelve_accepted(sim: Sim) -> None:
    await send_ok(sim, outbound_xml(content_type=BOTMESSAGE, body=carousel(12), cdata=True))


@pytest.mark.asyncio
@pytest.mark.parametrize("count", [1, 13])
async def test_carousel_size_limits(sim: Sim, count: int) -> None:
    status, body, _ = await sim.send(outbound_xml(content_type=BOTMESSAGE, body=carousel(count), cdata=True))
    assert status == 400
    _, code, text, variables = error_of(body)
    assert code == "SVC0002"
    assert variables == "$.message.generalPurposeCardCarousel.content"
    assert text
    assert variables in text


@pytest.mark.asyncio
async def test_display_text_of_26_chars_rejected(sim: Sim) -> None:
    body = multipart([("text/plain", "hi", None), (BOTSUGGESTION, chips(reply("x" * 26)), None)])
    status, answer, _ = await sim.send(
        outbound_xml(content_type='multipart/mixed; boundary="next"', body=body, cdata=True)
    )
    assert status == 400
    _, code, _, variables = error_of(answer)
    assert (code, variables) == ("SVC0002", "$.suggestions[0].reply.displayText")


@pytest.mark.asyncio
async def test_display_text_of_25_chars_accepted(sim: Sim) -> None:
    body = multipart([("text/plain", "hi", None), (BOTSUGGESTION, chips(reply("x" * 25)), None)])
    await send_ok(sim, outbound_xml(content_type='multipart/mixed; boundary="next"', body=body, cdata=True))


@pytest.mark.asyncio
async def test_five_card_suggestions_rejected(sim: Sim) -> None:
    doc = single_card(card(suggestions=[reply(f"s{i}", f"d{i}") for i in range(5)]))
    status, body, _ = await sim.send(outbound_xml(content_type=BOTMESSAGE, body=doc, cdata=True))
    assert status == 400
    assert error_of(body)[3] == "$.message.generalPurposeCard.content.suggestions"


@pytest.mark.asyncio
async def test_twelve_chips_rejected(sim: Sim) -> None:
    body = multipart([("text/plain", "hi", None), (BOTSUGGESTION, chips(*[reply() for _ in range(12)]), None)])
    status, answer, _ = await sim.send(
        outbound_xml(content_type='multipart/mixed; boundary="next"', body=body, cdata=True)
    )
    assert status == 400
    assert error_of(answer)[3] == "$.suggestions"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"message": {}}, "$.message"),
        (
            {"message": {"generalPurposeCard": {"layout": {"cardOrientation": "HORIZONTAL"}, "content": card()}}},
            "$.message.generalPurposeCard.layout.imageAlignment",
        ),
        (
            {"message": {"generalPurposeCard": {"layout": {"cardOrientation": "VERTICAL"}, "content": {}}}},
            "$.message.generalPurposeCard.content",
        ),
        (
            {
                "message": {
                    "generalPurposeCard": {"layout": {"cardOrientation": "VERTICAL"}, "content": {"title": "t" * 201}}
                }
            },
            "$.message.generalPurposeCard.content.title",
        ),
        (
            {
                "message": {
                    "generalPurposeCard": {
                        "layout": {"cardOrientation": "VERTICAL"},
                        "content": card(media={**media(), "height": "HUGE"}),
                    }
                }
            },
            "$.message.generalPurposeCard.content.media.height",
        ),
        (
            {
                "message": {
                    "generalPurposeCard": {
                        "layout": {"cardOrientation": "VERTICAL"},
                        "content": card(media={**media(), "thumbnailUrl": "https://t/x"}),
                    }
                }
            },
            "$.message.generalPurposeCard.content.media.thumbnailContentType",
        ),
        (
            {
                "message": {
                    "generalPurposeCard": {
                        "layout": {"cardOrientation": "VERTICAL"},
                        "content": card(suggestions=[{"action": {"displayText": "go"}}]),
                    }
                }
            },
            "$.message.generalPurposeCard.content.suggestions[0].action",
        ),
        (
            {
                "message": {
                    "generalPurposeCard": {
                        "layout": {"cardOrientation": "VERTICAL"},
                        "content": card(
                            suggestions=[
                                {
                                    "action": {
                                        "displayText": "go",
                                        "urlAction": {"openUrl": {"url": "https://x", "application": "app"}},
                                    }
                                }
                            ]
                        ),
                    }
                }
            },
            "$.message.generalPurposeCard.content.suggestions[0].action.urlAction.openUrl.application",
        ),
        (
            {
                "message": {
                    "generalPurposeCardCarousel": {"layout": {"cardWidth": "LARGE_WIDTH"}, "content": [card(), card()]}
                }
            },
            "$.message.generalPurposeCardCarousel.layout.cardWidth",
        ),
    ],
)
async def test_invalid_card_rejected_with_json_path(sim: Sim, doc: dict[str, Any], path: str) -> None:
    status, body, _ = await sim.send(outbound_xml(content_type=BOTMESSAGE, body=json.dumps(doc), cdata=True))
    assert status == 400, body
    _, code, text, variables = error_of(body)
    assert code == "SVC0002"
    assert variables == path
    assert text
    assert path in text


@pytest.mark.asyncio
async def test_all_action_kinds_accepted(sim: Sim) -> None:
    actions: list[dict[str, Any]] = [
        {"urlAction": {"openUrl": {"url": "https://example.com", "application": "webview", "viewMode": "half"}}},
        {"dialerAction": {"dialPhoneNumber": {"phoneNumber": "+8615300000000"}}},
        {"mapAction": {"showLocation": {"location": {"latitude": 24.6, "longitude": 118.0, "label": "Xiamen"}}}},
        {"mapAction": {"requestLocationPush": {}}},
        {
            "calendarAction": {
                "createCalendarEvent": {
                    "startTime": "2024-03-14T00:00:00Z",
                    "endTime": "2024-03-14T01:00:00Z",
                    "title": "Meeting",
                }
            }
        },
        {"composeAction": {"composeTextMessage": {"phoneNumber": "+8615300000000", "text": "hi"}}},
        {"composeAction": {"composeRecordingMessage": {"phoneNumber": "+8615300000000", "type": "AUDIO"}}},
        {"deviceAction": {"requestDeviceSpecifics": {}}},
        {"settingsAction": {"disableAnonymization": {}}},
        {"settingsAction": {"enableDisplayedNotifications": {}}},
    ]
    suggestions = [
        {"action": {"displayText": f"a{i}", "postback": {"data": f"p{i}"}, **a}} for i, a in enumerate(actions)
    ]
    body = multipart([("text/plain", "all actions", None), (BOTSUGGESTION, chips(*suggestions), None)])
    await send_ok(sim, outbound_xml(content_type='multipart/mixed; boundary="next"', body=body, cdata=True))


@pytest.mark.asyncio
async def test_media_file_size_string_lenient_by_default(sim: Sim) -> None:
    doc = single_card(card(media=media("151250")))
    await send_ok(sim, outbound_xml(content_type=BOTMESSAGE, body=doc, cdata=True))


@pytest.mark.asyncio
async def test_media_file_size_string_rejected_in_strict_mode(make_sim: SimFactory) -> None:
    sim = await make_sim(strict_schema=True)
    status, body, _ = await sim.send(
        outbound_xml(content_type=BOTMESSAGE, body=single_card(card(media=media("151250"))), cdata=True)
    )
    assert status == 400
    assert error_of(body)[3] == "$.message.generalPurposeCard.content.media.mediaFileSize"
    await send_ok(sim, outbound_xml(content_type=BOTMESSAGE, body=single_card(card(media=media(151250))), cdata=True))


@pytest.mark.asyncio
async def test_ft_http_file_body_accepted_and_shown(sim: Sim, csp: CspReceiver) -> None:
    ft = (
        f'<?xml version="1.0" encoding="UTF-8"?><file xmlns="{NS_FT}">'
        '<file-info type="file"><file-size>52239</file-size><file-name>a.jpg</file-name>'
        "<content-type>image/jpeg</content-type>"
        '<data url="https://gz01ft.sbc.rcs.chinamobile.com:10001/s/1FD.jpg" until="2030-01-07T14:15:40Z"/>'
        "</file-info></file>"
    )
    await send_ok(sim, outbound_xml(content_type=FT_XML, body=ft, cdata=True))
    await csp.wait_for("DeliveryInfoNotification", 1)  # it reaches the handset after delivered_delay_ms
    _, inbox = await sim.control("GET", f"/_sim/handsets/{USER}/inbox")
    assert inbox[0]["file"]["file"] == {
        "url": "https://gz01ft.sbc.rcs.chinamobile.com:10001/s/1FD.jpg",
        "until": "2030-01-07T14:15:40Z",
        "size": 52239,
        "name": "a.jpg",
        "content_type": "image/jpeg",
    }


@pytest.mark.asyncio
async def test_ft_http_without_file_info_rejected(sim: Sim) -> None:
    status, _, _ = await sim.send(outbound_xml(content_type=FT_XML, body=f'<file xmlns="{NS_FT}"/>', cdata=True))
    assert status == 400


@pytest.mark.asyncio
async def test_unsupported_body_content_type_rejected(sim: Sim) -> None:
    status, body, _ = await sim.send(outbound_xml(content_type="image/png", body="x"))
    assert status == 400
    assert error_of(body)[3] == "contentType"


# ---------------------------------------------------------------- idempotency and reports


@pytest.mark.asyncio
async def test_duplicate_message_id_delivered_once(sim: Sim, csp: CspReceiver) -> None:
    message_id = str(uuid.uuid4())
    xml = outbound_xml(message_id=message_id)
    first = await send_ok(sim, xml)
    second = await send_ok(sim, xml)
    assert child_text(first, "messageId") == child_text(second, "messageId") == message_id
    await csp.wait_for("DeliveryInfoNotification", 2)
    await settle()
    assert len(csp.deliveries()) == 2
    status, record = await sim.control("GET", f"/_sim/messages/{message_id}")
    assert status == 200
    assert record["received"] == 2
    assert record["delivered"] == 1
    assert record["recipients"] == [f"tel:{USER}"]
    assert record["notifications_sent"] == ["DeliveredToTerminal", "MessageDisplayed"]
    _, inbox = await sim.control("GET", f"/_sim/handsets/{USER}/inbox")
    assert len(inbox) == 1


@pytest.mark.asyncio
async def test_same_message_id_new_recipient_is_delivered(sim: Sim, csp: CspReceiver) -> None:
    message_id = str(uuid.uuid4())
    await send_ok(sim, outbound_xml(message_id=message_id, reports=["Delivered"]))
    await send_ok(
        sim,
        outbound_xml(message_id=message_id, reports=["Delivered"], destinations=[f"tel:{USER}", "tel:+8613800000002"]),
    )
    await csp.wait_for("DeliveryInfoNotification", 2)
    await settle(0.05)
    _, record = await sim.control("GET", f"/_sim/messages/{message_id}")
    assert record["delivered"] == 2
    assert len(csp.deliveries()) == 2


@pytest.mark.asyncio
async def test_unknown_message_is_404(sim: Sim) -> None:
    status, _ = await sim.control("GET", "/_sim/messages/nope")
    assert status == 404


@pytest.mark.asyncio
async def test_report_request_delivered_only(sim: Sim, csp: CspReceiver) -> None:
    await send_ok(sim, outbound_xml(reports=["Delivered"]))
    await csp.wait_for("DeliveryInfoNotification", 1)
    await settle()
    assert [r.delivery()["deliveryStatus"] for r in csp.deliveries()] == ["DeliveredToTerminal"]


@pytest.mark.asyncio
async def test_report_request_displayed_only(sim: Sim, csp: CspReceiver) -> None:
    await send_ok(sim, outbound_xml(reports=["Displayed"]))
    await csp.wait_for("DeliveryInfoNotification", 1)
    await settle()
    assert [r.delivery()["deliveryStatus"] for r in csp.deliveries()] == ["MessageDisplayed"]


@pytest.mark.asyncio
async def test_report_request_sent_adds_message_sent_first(sim: Sim, csp: CspReceiver) -> None:
    await send_ok(sim, outbound_xml(reports=["Sent", "Delivered", "Displayed", "Failed"]))
    received = await csp.wait_for("DeliveryInfoNotification", 3)
    assert [r.delivery()["deliveryStatus"] for r in received] == [
        "MessageSent",
        "DeliveredToTerminal",
        "MessageDisplayed",
    ]


@pytest.mark.asyncio
async def test_report_request_failed_only_sends_nothing_on_success(sim: Sim, csp: CspReceiver) -> None:
    await send_ok(sim, outbound_xml(reports=["Failed"]))
    await settle()
    assert csp.received == []


@pytest.mark.asyncio
async def test_notification_retried_after_csp_errors(sim: Sim, csp: CspReceiver) -> None:
    csp.plan = [500, 503]
    message_id = str(uuid.uuid4())
    await send_ok(sim, outbound_xml(message_id=message_id, reports=["Delivered"]))
    received = await csp.wait_for("DeliveryInfoNotification", 3)
    assert {r.delivery()["deliveryStatus"] for r in received} == {"DeliveredToTerminal"}
    _, record = await sim.control("GET", f"/_sim/messages/{message_id}")
    assert record["notifications"][0]["attempts"] == 3
    assert record["notifications"][0]["ok"] is True


@pytest.mark.asyncio
async def test_notification_gives_up_after_three_retries(sim: Sim, csp: CspReceiver) -> None:
    csp.plan = [500] * 10
    message_id = str(uuid.uuid4())
    await send_ok(sim, outbound_xml(message_id=message_id, reports=["Delivered"]))
    await csp.wait_for("DeliveryInfoNotification", 4)
    await settle()
    assert len(csp.deliveries()) == 4
    _, stats = await sim.control("GET", "/_sim/stats")
    assert stats["notifications_failed"] == 1


# ---------------------------------------------------------------- faults (§6.15)


@pytest.mark.asyncio
async def test_burst_5xx_then_success(sim: Sim, csp: CspReceiver) -> None:
    status, faults = await sim.control("PUT", "/_sim/faults", {"burst_5xx": 3})
    assert status == 200
    assert faults["burst_5xx"] == 3
    message_id = str(uuid.uuid4())
    xml = outbound_xml(message_id=message_id)
    statuses = []
    for _ in range(3):
        status, body, headers = await sim.send(xml)
        statuses.append(status)
        assert b"nginx" in body
        assert headers["Content-Type"].startswith("text/html")
    assert statuses == [500, 502, 503]
    await settle(0.05)
    assert csp.received == []
    await send_ok(sim, xml)
    await csp.wait_for("DeliveryInfoNotification", 2)
    _, record = await sim.control("GET", f"/_sim/messages/{message_id}")
    assert (record["received"], record["faulted"], record["accepted"], record["delivered"]) == (4, 3, 1, 1)


@pytest.mark.asyncio
async def test_timeout_fault_hangs_then_next_request_is_accepted(sim: Sim, csp: CspReceiver) -> None:
    await sim.control("PUT", "/_sim/faults", {"timeout_next": 1, "hang_seconds": 0.4})
    message_id = str(uuid.uuid4())
    xml = outbound_xml(message_id=message_id)
    with pytest.raises(asyncio.TimeoutError):
        await sim.send(xml, timeout=0.15)
    await send_ok(sim, xml)
    await csp.wait_for("DeliveryInfoNotification", 2)
    await settle(0.4)
    _, record = await sim.control("GET", f"/_sim/messages/{message_id}")
    assert record["delivered"] == 1
    assert record["faulted"] == 1
    assert len(csp.deliveries()) == 2


@pytest.mark.asyncio
async def test_error_rate_one_answers_nginx_503(sim: Sim) -> None:
    await sim.control("PUT", "/_sim/faults", {"error_rate": 1.0})
    status, body, _ = await sim.send(outbound_xml())
    assert status == 503
    assert b"<center>nginx</center>" in body
    await sim.control("PUT", "/_sim/faults", {"error_rate": 0})
    await send_ok(sim, outbound_xml())


@pytest.mark.asyncio
async def test_latency_fault_delays_the_answer(sim: Sim) -> None:
    await sim.control("PUT", "/_sim/faults", {"latency_ms": 200})
    started = time.monotonic()
    await send_ok(sim, outbound_xml())
    assert time.monotonic() - started >= 0.19


@pytest.mark.asyncio
async def test_latency_fault_delays_the_answer_not_the_work(sim: Sim, csp: CspReceiver) -> None:
    await sim.control("PUT", "/_sim/faults", {"latency_ms": 400})
    message_id = str(uuid.uuid4())
    with pytest.raises(asyncio.TimeoutError):
        await sim.send(outbound_xml(message_id=message_id), timeout=0.1)
    # The client gave up, yet the carrier accepted: the report arrives, and a retry is a duplicate.
    await csp.wait_for("DeliveryInfoNotification", 2)
    await sim.control("PUT", "/_sim/faults", {"latency_ms": 0})
    await send_ok(sim, outbound_xml(message_id=message_id))
    _, record = await sim.control("GET", f"/_sim/messages/{message_id}")
    assert (record["received"], record["accepted"], record["delivered"]) == (2, 2, 1)


@pytest.mark.asyncio
async def test_duplicate_notifications_fault(sim: Sim, csp: CspReceiver) -> None:
    await sim.control("PUT", "/_sim/faults", {"duplicate_notifications": True})
    await send_ok(sim, outbound_xml())
    received = await csp.wait_for("DeliveryInfoNotification", 4)
    await settle()
    assert [r.delivery()["deliveryStatus"] for r in received] == [
        "DeliveredToTerminal",
        "DeliveredToTerminal",
        "MessageDisplayed",
        "MessageDisplayed",
    ]


@pytest.mark.asyncio
async def test_out_of_order_fault_sends_displayed_first(sim: Sim, csp: CspReceiver) -> None:
    await sim.control("PUT", "/_sim/faults", {"out_of_order": True})
    await send_ok(sim, outbound_xml())
    received = await csp.wait_for("DeliveryInfoNotification", 2)
    assert [r.delivery()["deliveryStatus"] for r in received] == ["MessageDisplayed", "DeliveredToTerminal"]


@pytest.mark.asyncio
async def test_faults_endpoint_rejects_unknown_keys(sim: Sim) -> None:
    status, body = await sim.control("PUT", "/_sim/faults", {"explode": True})
    assert status == 400
    assert "explode" in body["error"]
    status, faults = await sim.control("GET", "/_sim/faults")
    assert status == 200
    assert faults["error_rate"] == 0


@pytest.mark.asyncio
async def test_faults_from_settings(make_sim: SimFactory) -> None:
    sim = await make_sim(faults={"burst_5xx": 1})
    status, _, _ = await sim.send(outbound_xml())
    assert status == 500
    await send_ok(sim, outbound_xml())


# ---------------------------------------------------------------- device capability (§1.3, §3.5)


@pytest.mark.asyncio
async def test_capability_none_with_sms_fallback(sim: Sim, csp: CspReceiver) -> None:
    await sim.control("PUT", f"/_sim/handsets/{USER}", {"capability": "none"})
    extra = "<shortMessageSupported>true</shortMessageSupported><smsBodyText>hello, sms</smsBodyText>"
    await send_ok(sim, outbound_xml(reports=["Delivered", "Displayed", "SMS"], extra_im=extra))
    received = await csp.wait_for("DeliveryInfoNotification", 1)
    await settle()
    assert len(csp.deliveries()) == 1
    info = received[0].delivery()
    assert (info["deliveryStatus"], info["description"]) == ("DeliveredToNetwork", "SMS")
    _, inbox = await sim.control("GET", f"/_sim/handsets/{USER}/inbox")
    assert inbox[0]["delivered_as"] == "sms"
    assert inbox[0]["sms"] == "hello, sms"


@pytest.mark.asyncio
async def test_capability_none_without_fallback_is_delivery_impossible(sim: Sim, csp: CspReceiver) -> None:
    await sim.control("PUT", f"/_sim/handsets/{USER}", {"capability": "none"})
    message_id = str(uuid.uuid4())
    await send_ok(sim, outbound_xml(message_id=message_id))
    received = await csp.wait_for("DeliveryInfoNotification", 1)
    info = received[0].delivery()
    assert info["deliveryStatus"] == "DeliveryImpossible"
    assert (info["description"] or "").startswith("SVC")
    _, record = await sim.control("GET", f"/_sim/messages/{message_id}")
    assert record["delivered"] == 0


@pytest.mark.asyncio
async def test_capability_up1_has_no_up2_description(sim: Sim, csp: CspReceiver) -> None:
    await sim.control("PUT", f"/_sim/handsets/{USER}", {"capability": "up1"})
    await send_ok(sim, outbound_xml(reports=["Delivered"]))
    received = await csp.wait_for("DeliveryInfoNotification", 1)
    info = received[0].delivery()
    assert info["deliveryStatus"] == "DeliveredToTerminal"
    assert "description" not in info


@pytest.mark.asyncio
async def test_offline_handset_is_held_then_delivered_when_online(sim: Sim, csp: CspReceiver) -> None:
    await sim.control("PUT", f"/_sim/handsets/{USER}", {"capability": "offline"})
    message_id = str(uuid.uuid4())
    await send_ok(sim, outbound_xml(message_id=message_id))
    await settle()
    assert csp.received == []
    _, record = await sim.control("GET", f"/_sim/messages/{message_id}")
    assert record["recipient_states"] == {f"tel:{USER}": "held"}
    await sim.control("PUT", f"/_sim/handsets/{USER}", {"capability": "up2"})
    await csp.wait_for("DeliveryInfoNotification", 2)
    _, record = await sim.control("GET", f"/_sim/messages/{message_id}")
    assert record["delivered"] == 1


@pytest.mark.asyncio
async def test_sip_address_form_in_notifications(sim: Sim, csp: CspReceiver) -> None:
    await sim.control("PUT", f"/_sim/handsets/{USER}", {"address_form": "sip"})
    await send_ok(sim, outbound_xml(reports=["Delivered"]))
    received = await csp.wait_for("DeliveryInfoNotification", 1)
    address = received[0].delivery()["address"] or ""
    assert address.startswith(f"sip:{USER}@")
    assert address.endswith(".3gppnetwork.org")


# ---------------------------------------------------------------- uplink (§1.4, §2.3, §2.4)


async def uplink(sim: Sim, payload: dict[str, Any], number: str = USER) -> dict[str, Any]:
    status, result = await sim.control("POST", f"/_sim/handsets/{number}/uplink", {"chatbot_id": BOT_ID, **payload})
    assert status == 200, result
    assert isinstance(result, dict)
    return result


def decoded_body(fields: dict[str, str | None]) -> str:
    body = fields["bodyText"] or ""
    return base64.b64decode(body).decode() if fields.get("contentEncoding") == "base64" else body


@pytest.mark.asyncio
async def test_uplink_base64_text(sim: Sim, csp: CspReceiver) -> None:
    result = await uplink(sim, {"text": "你好, chatbot", "base64": True})
    assert result["status"] == 204
    received = await csp.wait_for("InboundMessageNotification", 1)
    message = received[0]
    assert message.auth_ok
    assert message.chatbot_id == BOT_ID
    assert message.root.tag == f"{{{NS_MSG}}}inboundMessageNotification"
    fields = message.inbound()
    assert fields["contentEncoding"] == "base64"
    assert fields["contentType"] == "text/plain"
    assert base64.b64decode(fields["bodyText"] or "").decode() == "你好, chatbot"
    assert fields["destinationAddress"] == bot_uri()
    assert fields["senderAddress"] == f"tel:{USER}"
    assert fields["messageId"] == result["message_id"]
    assert fields["conversationID"]
    assert fields["contributionID"]
    assert fields["dateTime"]


@pytest.mark.asyncio
async def test_uplink_plain_text_has_no_content_encoding(sim: Sim, csp: CspReceiver) -> None:
    await uplink(sim, {"text": "a < b & c"})
    fields = (await csp.wait_for("InboundMessageNotification", 1))[0].inbound()
    assert "contentEncoding" not in fields
    assert fields["bodyText"] == "a < b & c"


@pytest.mark.asyncio
async def test_uplink_postback(sim: Sim, csp: CspReceiver) -> None:
    await uplink(sim, {"postback": {"data": "2020", "display_text": "我的跨年礼物"}, "base64": True})
    fields = (await csp.wait_for("InboundMessageNotification", 1))[0].inbound()
    assert fields["contentType"] == "application/vnd.gsma.botsuggestion.response.v1.0+json"
    assert json.loads(decoded_body(fields)) == {
        "response": {"reply": {"displayText": "我的跨年礼物", "postback": {"data": "2020"}, "type": "reply"}}
    }


@pytest.mark.asyncio
async def test_uplink_bare_action_click(sim: Sim, csp: CspReceiver) -> None:
    await uplink(sim, {"action": {"display_text": "立即问医"}})
    fields = (await csp.wait_for("InboundMessageNotification", 1))[0].inbound()
    assert json.loads(decoded_body(fields)) == {"response": {"action": {"displayText": "立即问医"}}}


@pytest.mark.asyncio
async def test_uplink_file(sim: Sim, csp: CspReceiver) -> None:
    file = {
        "url": "https://gz01ft.sbc.rcs.chinamobile.com:10001/s/2FD.amr",
        "content_type": "audio/amr",
        "size": 4096,
        "name": "voice.amr",
        "thumbnail_url": "https://gz01ft.sbc.rcs.chinamobile.com:10001/s/2TD",
        "thumbnail_content_type": "image/png",
        "thumbnail_size": 100,
    }
    await uplink(sim, {"file": file})
    fields = (await csp.wait_for("InboundMessageNotification", 1))[0].inbound()
    assert fields["contentType"] == FT_XML
    root = etree.fromstring(decoded_body(fields).encode())
    assert root.tag == f"{{{NS_FT}}}file"
    infos = {i.get("type"): i for i in root.findall(f"{{{NS_FT}}}file-info")}
    main = infos["file"]
    assert main.findtext(f"{{{NS_FT}}}file-size") == "4096"
    assert main.findtext(f"{{{NS_FT}}}file-name") == "voice.amr"
    assert main.findtext(f"{{{NS_FT}}}content-type") == "audio/amr"
    data = main.find(f"{{{NS_FT}}}data")
    assert data is not None
    assert data.get("url") == file["url"]
    thumb = infos["thumbnail"].find(f"{{{NS_FT}}}data")
    assert thumb is not None
    assert thumb.get("url") == file["thumbnail_url"]


@pytest.mark.asyncio
async def test_uplink_geo(sim: Sim, csp: CspReceiver) -> None:
    await uplink(sim, {"geo": {"lat": 50.7311865, "lon": 7.0914591, "label": "Qingfeng Steamed Dumpling Shop"}})
    fields = (await csp.wait_for("InboundMessageNotification", 1))[0].inbound()
    assert fields["contentType"] == "text/plain"
    text = decoded_body(fields)
    assert text.startswith("geo:50.7311865,7.0914591;")
    params = dict(p.split("=", 1) for p in text.split(";")[1:])
    assert params["crs"] == "gcj02"
    assert unquote(params["rcs-l"]) == "Qingfeng Steamed Dumpling Shop"
    assert " " not in params["rcs-l"]


@pytest.mark.asyncio
async def test_uplink_shared_data(sim: Sim, csp: CspReceiver) -> None:
    await uplink(sim, {"shared_data": {"deviceModel": "P40", "clientVendor": "HW", "batteryRemainingMinutes": 90}})
    fields = (await csp.wait_for("InboundMessageNotification", 1))[0].inbound()
    assert fields["contentType"] == "application/vnd.gsma.botsharedclientdata.v1.0+json"
    assert json.loads(decoded_body(fields)) == {
        "sharedData": {"deviceSpecifics": {"deviceModel": "P40", "clientVendor": "HW", "batteryRemainingMinutes": 90}}
    }


@pytest.mark.asyncio
async def test_uplink_spam_report_has_no_message_id(sim: Sim, csp: CspReceiver) -> None:
    result = await uplink(sim, {"spam_report": {"free_text": "天天骚扰"}})
    assert result["message_id"] is None
    fields = (await csp.wait_for("InboundMessageNotification", 1))[0].inbound()
    assert "messageId" not in fields
    assert fields["contentType"] == "application/vnd.gsma.rcsspam-report+xml"
    report = etree.fromstring(decoded_body(fields).encode())
    ns = "urn:gsma:params:xml:ns:rcs:rcs:spamreport"
    assert report.tag == f"{{{ns}}}SR"
    assert report.findtext(f"{{{ns}}}Chatbot") == bot_uri()
    assert report.findtext(f"{{{ns}}}free-text") == "天天骚扰"


@pytest.mark.asyncio
async def test_uplink_sip_sender_form(sim: Sim, csp: CspReceiver) -> None:
    await uplink(sim, {"text": "hi", "sender_form": "sip"})
    fields = (await csp.wait_for("InboundMessageNotification", 1))[0].inbound()
    assert fields["senderAddress"] == f"sip:{USER}@bj.ims.mnc000.mcc460.3gppnetwork.org"
    assert fields["origUser"] == f"sip:{USER[3:]}@bj.ims.mnc000.mcc460.3gppnetwork.org"


@pytest.mark.asyncio
async def test_uplink_in_reply_to_links_conversation(sim: Sim, csp: CspReceiver) -> None:
    message_id = str(uuid.uuid4())
    await send_ok(sim, outbound_xml(message_id=message_id))
    await uplink(sim, {"postback": {"data": "yes", "display_text": "Yes"}, "in_reply_to": message_id})
    fields = (await csp.wait_for("InboundMessageNotification", 1))[0].inbound()
    assert fields["conversationID"] == "conv-1"
    assert fields["inReplyToContributionID"] == "contrib-1"
    assert fields["contributionID"] != "contrib-1"


@pytest.mark.asyncio
async def test_uplink_reports_csp_status(sim: Sim, csp: CspReceiver) -> None:
    csp.plan = [500, 500, 500, 500]
    result = await uplink(sim, {"text": "hi"})
    assert (result["status"], result["ok"], result["attempts"]) == (500, False, 4)


@pytest.mark.asyncio
async def test_uplink_validation_errors(sim: Sim) -> None:
    status, body = await sim.control("POST", f"/_sim/handsets/{USER}/uplink", {"chatbot_id": BOT_ID})
    assert status == 400
    assert "exactly one" in body["error"]
    status, _ = await sim.control("POST", f"/_sim/handsets/{USER}/uplink", {"chatbot_id": "1", "text": "x"})
    assert status == 404


# ---------------------------------------------------------------- control API and handset page


@pytest.mark.asyncio
async def test_chatbot_added_at_runtime(sim: Sim, csp: CspReceiver) -> None:
    csp.accounts["125200401110000"] = ("rt-app", "rt-pass")
    status, body = await sim.control(
        "PUT",
        "/_sim/chatbots/125200401110000",
        {"app_id": "rt-app", "password": "rt-pass", "notify_url": csp.base_url + "/csp"},
    )
    assert status == 201
    assert body["chatbot_uri"] == bot_uri("125200401110000")
    xml = outbound_xml(sender=bot_uri("125200401110000"), reports=["Delivered"])
    await send_ok(sim, xml, chatbot="125200401110000", app_id="rt-app", password="rt-pass")
    received = await csp.wait_for("DeliveryInfoNotification", 1)
    assert received[0].auth_ok
    assert received[0].chatbot_id == "125200401110000"


@pytest.mark.asyncio
async def test_stats_and_reset(sim: Sim, csp: CspReceiver) -> None:
    await send_ok(sim, outbound_xml())
    await sim.send(outbound_xml(), auth=None)
    await csp.wait_for("DeliveryInfoNotification", 2)
    _, stats = await sim.control("GET", "/_sim/stats")
    assert stats["requests"] == 2
    assert stats["accepted"] == 1
    assert stats["rejected_by_code"] == {"POL0001": 1}
    assert stats["delivered"] == 1
    assert stats["notifications_sent"] == 2
    status, _ = await sim.control("POST", "/_sim/reset")
    assert status == 200
    _, stats = await sim.control("GET", "/_sim/stats")
    assert stats["requests"] == 0
    _, inbox = await sim.control("GET", f"/_sim/handsets/{USER}/inbox")
    assert inbox == []
    await send_ok(sim, outbound_xml())


@pytest.mark.asyncio
async def test_healthz(sim: Sim) -> None:
    assert await sim.control("GET", "/_sim/healthz") == (200, {"status": "ok"})


@pytest.mark.asyncio
async def test_handset_page_shows_inbox_and_taps_a_chip(sim: Sim, csp: CspReceiver) -> None:
    body = multipart([("text/plain", "Pick <one>", None), (BOTSUGGESTION, chips(reply("Yes", "pb-yes")), None)])
    await send_ok(sim, outbound_xml(content_type='multipart/mixed; boundary="next"', body=body, cdata=True))
    await csp.wait_for("DeliveryInfoNotification", 1)  # it reaches the handset after delivered_delay_ms
    status, html = await sim.control("GET", f"/_sim/?number={quote(USER)}")
    assert status == 200
    assert "Pick &lt;one&gt;" in html
    assert "pb-yes" in html
    form = {"number": USER, "chatbot_id": BOT_ID, "kind": "postback", "data": "pb-yes", "display_text": "Yes"}
    async with sim.session.post(sim.base_url + "/_sim/ui/uplink", data=form, allow_redirects=False) as response:
        assert response.status == 303
    fields = (await csp.wait_for("InboundMessageNotification", 1))[0].inbound()
    assert json.loads(decoded_body(fields))["response"]["reply"]["postback"]["data"] == "pb-yes"


@pytest.mark.asyncio
async def test_reset_can_restore_faults_and_handsets(sim: Sim) -> None:
    await sim.control("PUT", "/_sim/faults", {"latency_ms": 5})
    await sim.control("PUT", f"/_sim/handsets/{USER}", {"capability": "none"})
    await sim.control("POST", "/_sim/reset", {})
    _, faults = await sim.control("GET", "/_sim/faults")
    _, handset = await sim.control("GET", f"/_sim/handsets/{USER}")
    assert (faults["latency_ms"], handset["capability"]) == (5, "none")
    await sim.control("POST", "/_sim/reset", {"faults": True, "handsets": True})
    _, faults = await sim.control("GET", "/_sim/faults")
    _, handset = await sim.control("GET", f"/_sim/handsets/{USER}")
    assert (faults["latency_ms"], handset["capability"]) == (0, "up2")


def test_settings_from_config_file_and_cli_flags(tmp_path: Path) -> None:
    config = tmp_path / "sim.json"
    config.write_text(
        json.dumps(
            {
                "chatbots": [
                    {"chatbot_id": BOT_ID, "app_id": BOT_APP_ID, "password": BOT_PASSWORD, "notify_url": "http://c/n"}
                ],
                "path_prefix": "mbmp/developer/accesslayer/",
                "faults": {"delivered_delay_ms": 7},
                "handsets": {USER: "offline"},
            }
        )
    )
    args = cli._parser().parse_args(
        [
            "--config",
            str(config),
            "--chatbot",
            f"{OTHER_BOT_ID}:{OTHER_APP_ID}:pw:http://csp:8080/cb",
            "--strict-schema",
        ]
    )
    settings = cli.build_settings(args)
    assert [b.chatbot_id for b in settings.chatbots] == [BOT_ID, OTHER_BOT_ID]
    assert settings.chatbots[1].notify_url == "http://csp:8080/cb"
    assert settings.path_prefix == "/mbmp/developer/accesslayer"
    assert settings.strict_schema is True
    assert settings.faults.delivered_delay_ms == 7
    assert settings.handsets == {USER: "offline"}
    with pytest.raises(ConfigError):
        ChatbotAccount.from_flag("not-enough:parts")
    with pytest.raises(ConfigError):
        SimulatorSettings.from_mapping({"no_such_setting": 1})


GSMA_SCHEMA = Path("/work/shared/reference/gsma/chatbot_message_schema.json")


def _schema_corpus() -> list[dict[str, Any]]:
    def act(**kind: Any) -> dict[str, Any]:
        return {"action": {"displayText": "act", "postback": {"data": "p"}, **kind}}

    def vertical(content: dict[str, Any]) -> dict[str, Any]:
        return {"message": {"generalPurposeCard": {"layout": {"cardOrientation": "VERTICAL"}, "content": content}}}

    url = {"urlAction": {"openUrl": {"url": "https://example.com", "application": "browser"}}}
    dial = {"dialerAction": {"dialPhoneNumber": {"phoneNumber": "+8615300000000"}}}
    return [
        vertical(card()),
        vertical(card(media=media())),
        vertical(card(media=media("151250"))),
        vertical(card(media=media(-1))),
        vertical(card(media={**media(), "thumbnailUrl": "https://t/x"})),
        vertical(
            card(
                media={
                    **media(),
                    "thumbnailUrl": "https://t/x",
                    "thumbnailContentType": "image/png",
                    "thumbnailFileSize": 10,
                }
            )
        ),
        vertical({}),
        vertical(card(title="t" * 200)),
        vertical(card(title="t" * 201)),
        vertical(card(description="d" * 2001)),
        vertical(card(suggestions=[reply() for _ in range(4)])),
        vertical(card(suggestions=[reply() for _ in range(5)])),
        vertical(card(suggestions=[])),
        {"message": {"generalPurposeCard": {"layout": {"cardOrientation": "HORIZONTAL"}, "content": card()}}},
        {
            "message": {
                "generalPurposeCard": {
                    "layout": {"cardOrientation": "HORIZONTAL", "imageAlignment": "LEFT"},
                    "content": card(),
                }
            }
        },
        json.loads(carousel(1)),
        json.loads(carousel(2)),
        json.loads(carousel(12)),
        json.loads(carousel(13)),
        {"message": {"generalPurposeCardCarousel": {"layout": {}, "content": [card(), card()]}}},
        {"message": {}},
        {"suggestions": [reply() for _ in range(11)]},
        {"suggestions": [reply() for _ in range(12)]},
        {"suggestions": []},
        {"suggestions": [reply("x" * 25)]},
        {"suggestions": [reply("x" * 26)]},
        {"suggestions": [reply(data="d" * 2048)]},
        {"suggestions": [reply(data="d" * 2049)]},
        {"suggestions": [{"reply": {"displayText": "a"}, "action": {"displayText": "b", **url}}]},
        {"suggestions": [act(**url)]},
        {"suggestions": [act()]},
        {"suggestions": [act(**url, **dial)]},
        {"suggestions": [act(**dial)]},
        {"suggestions": [act(urlAction={"openUrl": {"url": "https://x"}})]},
        {"suggestions": [act(mapAction={"showLocation": {"location": {"query": "food"}}})]},
        {
            "suggestions": [
                act(mapAction={"showLocation": {"location": {"query": "food", "latitude": 1, "longitude": 2}}})
            ]
        },
        {
            "suggestions": [
                act(
                    calendarAction={
                        "createCalendarEvent": {"startTime": "2024-03-14T00:00:00Z", "endTime": "2024-03-14T01:00:00Z"}
                    }
                )
            ]
        },
        {"suggestions": [act(composeAction={"composeTextMessage": {"phoneNumber": "+1", "text": "t" * 101}})]},
        {"suggestions": [act(composeAction={"composeRecordingMessage": {"phoneNumber": "+1", "type": "VIDEO"}})]},
        {"suggestions": [act(deviceAction={"requestDeviceSpecifics": {}})]},
        {"suggestions": [act(settingsAction={"disableAnonymization": {}, "enableDisplayedNotifications": {}})]},
        {"message": json.loads(carousel(2))["message"], "suggestions": [reply()]},
    ]


@pytest.mark.asyncio
async def test_strict_mode_agrees_with_the_gsma_schema(make_sim: SimFactory) -> None:
    """Independent check of the hand-written limits: strict acceptance == GSMA schema verdict."""
    if not GSMA_SCHEMA.exists():
        pytest.skip("GSMA schema not available")
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft4Validator(json.loads(GSMA_SCHEMA.read_text(encoding="utf-8")))
    sim = await make_sim(strict_schema=True)
    disagreements = []
    for doc in _schema_corpus():
        schema_ok = validator.is_valid(doc)
        if "suggestions" in doc and "message" not in doc:
            body = multipart([("text/plain", "hi", None), (BOTSUGGESTION, json.dumps(doc), None)])
            xml = outbound_xml(content_type='multipart/mixed; boundary="next"', body=body, cdata=True)
        else:
            xml = outbound_xml(content_type=BOTMESSAGE, body=json.dumps(doc), cdata=True)
        status, answer, _ = await sim.send(xml)
        if (status == 201) != schema_ok:
            disagreements.append((doc, schema_ok, status, answer))
    assert disagreements == []
