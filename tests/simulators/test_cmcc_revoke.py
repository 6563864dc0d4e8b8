"""Raw-HTTP tests of revoke (撤回) in the China Mobile MaaP simulator (protocols.md §1.5).

The revoke XML, the URL and the Basic header are built by hand (conftest), never with the
simulator's own wire helpers; the choices tested are docs/protocol-choices.md "China Mobile revoke".
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from lxml import etree
from yarl import URL

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
    Received,
    Sim,
    SimFactory,
    bot_uri,
    child_text,
    cmcc_basic,
    outbound_xml,
    rfc1123,
    xml_root,
)

ADDRESS = f"tel:{USER}"
SECOND = "+8613800000002"
RESULT = "MessageStatusNotification"
DELIVERY = "DeliveryInfoNotification"
# Long enough that a revoke sent right after the downlink always finds the message on its way.
SLOW_MS = 400


def revoke_xml(address: str = ADDRESS, status: str = "RevokeRequested", extra: str = "") -> bytes:
    """§1.5 revoke body, as the reference shows it."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<msg:messageStatusReport xmlns:msg="{NS_MSG}">'
        f"<status>{status}</status><address>{address}</address>{extra}"
        "</msg:messageStatusReport>"
    ).encode()


def report_doc(inner: str) -> bytes:
    return f'<msg:messageStatusReport xmlns:msg="{NS_MSG}">{inner}</msg:messageStatusReport>'.encode()


def revoke_url(
    sim: Sim, message_id: str, *, chatbot: str = BOT_ID, encoded: bool = False, family: str = "v1", prefix: str = ""
) -> URL:
    uri = bot_uri(chatbot)
    shown = quote(uri, safe="") if encoded else uri
    return URL(
        f"{sim.base_url}{prefix}/messaging/{family}/outbound/{shown}/requests/{quote(message_id, safe='')}/status",
        encoded=True,
    )


async def revoke(
    sim: Sim,
    message_id: str,
    xml: bytes | None = None,
    *,
    url: URL | None = None,
    method: str = "PUT",
    app_id: str = BOT_APP_ID,
    password: str = BOT_PASSWORD,
    date: str | None = None,
    auth: str | None = "auto",
    content_type: str = "application/xml",
) -> tuple[int, bytes, dict[str, str]]:
    date = date or rfc1123()
    headers = {"Date": date, "Content-Type": content_type}
    if auth == "auto":
        headers["Authorization"] = cmcc_basic(app_id, password, date)
    elif auth is not None:
        headers["Authorization"] = auth
    target = url or revoke_url(sim, message_id)
    body = revoke_xml() if xml is None else xml
    async with sim.session.request(method, target, data=body, headers=headers) as response:
        return response.status, await response.read(), dict(response.headers)


async def send(sim: Sim, *, destinations: list[str] | None = None, reports: list[str] | None = None) -> str:
    message_id = str(uuid.uuid4())
    status, body, _ = await sim.send(outbound_xml(message_id=message_id, destinations=destinations, reports=reports))
    assert status == 201, body
    return message_id


async def slow_delivery(sim: Sim) -> None:
    status, _ = await sim.control("PUT", "/_sim/faults", {"delivered_delay_ms": SLOW_MS})
    assert status == 200


def error_of(body: bytes) -> tuple[str, str]:
    """(exception element, exceptionId) of a common:requestError."""
    root = xml_root(body)
    assert root.tag == f"{{{NS_COMMON}}}requestError"
    return etree.QName(root[0]).localname, root[0].findtext("exceptionId") or ""


def result_of(received: Received) -> dict[str, Any]:
    root = received.root
    assert root.tag == f"{{{NS_MSG}}}messageStatusReport"
    link = root.find("link")
    return {
        "address": child_text(root, "address"),
        "messageId": child_text(root, "messageId"),
        "status": child_text(root, "status"),
        "link": None if link is None else (link.get("rel"), link.get("href")),
    }


async def record_of(sim: Sim, message_id: str) -> dict[str, Any]:
    status, record = await sim.control("GET", f"/_sim/messages/{message_id}")
    assert status == 200, record
    return dict(record)


async def inbox_of(sim: Sim, number: str = USER) -> list[Any]:
    status, inbox = await sim.control("GET", f"/_sim/handsets/{number}/inbox")
    assert status == 200
    return list(inbox)


async def settle(seconds: float) -> None:
    """Give the simulator time to do anything it still (wrongly) owes."""
    await asyncio.sleep(seconds)


# ---------------------------------------------------------------- recalled before delivery


@pytest.mark.asyncio
async def test_revoke_before_delivery_is_echoed_and_recalls_the_message(sim: Sim, csp: CspReceiver) -> None:
    await slow_delivery(sim)
    message_id = await send(sim)
    status, body, headers = await revoke(sim, message_id)
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/xml")
    root = xml_root(body)
    assert root.tag == f"{{{NS_MSG}}}messageStatusReport"
    assert (child_text(root, "status"), child_text(root, "address"), child_text(root, "messageId")) == (
        "RevokeRequested",
        ADDRESS,
        message_id,
    )

    [result] = await csp.wait_for(RESULT, 1)
    assert result.auth_ok, result.headers
    assert result.chatbot_id == BOT_ID
    assert result.headers["Content-Type"].startswith("application/xml")
    outcome = result_of(result)
    assert (outcome["address"], outcome["messageId"], outcome["status"]) == (ADDRESS, message_id, "Revoked")
    rel, href = outcome["link"]
    assert rel == "OutboundMessageRequest"
    assert href.endswith(f"/requests/{message_id}/status")

    # Well past the delivered delay: the handset never got it and nothing reports a delivery.
    await settle(SLOW_MS / 1000 + 0.3)
    assert csp.deliveries() == []
    assert len(csp.of(RESULT)) == 1
    assert await inbox_of(sim) == []
    record = await record_of(sim, message_id)
    assert record["recipient_states"] == {ADDRESS: "revoked"}
    assert record["delivered"] == 0
    assert record["revoke_requests"] == 1
    assert record["revocations"] == {ADDRESS: "Revoked"}
    assert record["revoked"] == [ADDRESS]
    assert record["notifications_sent"] == ["Revoked"]
    _, stats = await sim.control("GET", "/_sim/stats")
    assert (stats["revoke_requests"], stats["revoked"], stats["revoke_failed"], stats["delivered"]) == (1, 1, 0, 0)


@pytest.mark.asyncio
async def test_revoke_result_queues_behind_message_sent(sim: Sim, csp: CspReceiver) -> None:
    await slow_delivery(sim)
    message_id = await send(sim, reports=["Sent", "Delivered", "Displayed"])
    await csp.wait_for(DELIVERY, 1)
    status, body, _ = await revoke(sim, message_id)
    assert status == 200, body
    await csp.wait_for(RESULT, 1)
    await settle(SLOW_MS / 1000 + 0.3)
    assert [r.delivery()["deliveryStatus"] for r in csp.deliveries()] == ["MessageSent"]
    assert (await record_of(sim, message_id))["notifications_sent"] == ["MessageSent", "Revoked"]


@pytest.mark.asyncio
async def test_revoke_one_recipient_of_a_group_send(sim: Sim, csp: CspReceiver) -> None:
    await slow_delivery(sim)
    message_id = await send(sim, destinations=[ADDRESS, f"tel:{SECOND}"], reports=["Delivered"])
    status, _, _ = await revoke(sim, message_id)
    assert status == 200
    [result] = await csp.wait_for(RESULT, 1)
    assert result_of(result)["status"] == "Revoked"
    [delivery] = await csp.wait_for(DELIVERY, 1, timeout=SLOW_MS / 1000 + 2)
    assert delivery.delivery()["address"] == f"tel:{SECOND}"
    await settle(0.2)
    assert len(csp.deliveries()) == 1
    assert await inbox_of(sim) == []
    assert len(await inbox_of(sim, SECOND)) == 1
    record = await record_of(sim, message_id)
    assert record["recipient_states"] == {ADDRESS: "revoked", f"tel:{SECOND}": "delivered"}
    assert record["delivered"] == 1


@pytest.mark.asyncio
async def test_revoke_while_offline_is_never_delivered_when_the_handset_comes_online(
    sim: Sim, csp: CspReceiver
) -> None:
    await sim.control("PUT", f"/_sim/handsets/{USER}", {"capability": "offline"})
    message_id = await send(sim)
    assert (await record_of(sim, message_id))["recipient_states"] == {ADDRESS: "held"}
    status, body, _ = await revoke(sim, message_id)
    assert status == 200, body
    [result] = await csp.wait_for(RESULT, 1)
    assert result.auth_ok
    assert result_of(result)["status"] == "Revoked"
    _, handset = await sim.control("GET", f"/_sim/handsets/{USER}")
    assert handset["held_count"] == 0

    await sim.control("PUT", f"/_sim/handsets/{USER}", {"capability": "up2"})
    await settle(0.3)
    assert csp.deliveries() == []
    assert await inbox_of(sim) == []
    record = await record_of(sim, message_id)
    assert record["recipient_states"] == {ADDRESS: "revoked"}
    assert record["delivered"] == 0
    assert record["revoked"] == [ADDRESS]


@pytest.mark.asyncio
async def test_revoke_again_reports_revoked_again(sim: Sim, csp: CspReceiver) -> None:
    await slow_delivery(sim)
    message_id = await send(sim)
    for _ in range(2):
        status, _, _ = await revoke(sim, message_id)
        assert status == 200
    results = await csp.wait_for(RESULT, 2)
    assert [result_of(r)["status"] for r in results] == ["Revoked", "Revoked"]
    assert (await record_of(sim, message_id))["revoke_requests"] == 2


@pytest.mark.asyncio
async def test_revoke_result_is_retried_like_other_notifications(sim: Sim, csp: CspReceiver) -> None:
    await slow_delivery(sim)
    message_id = await send(sim)
    csp.plan = [503]
    status, _, _ = await revoke(sim, message_id)
    assert status == 200
    results = await csp.wait_for(RESULT, 2)
    assert [result_of(r)["status"] for r in results] == ["Revoked", "Revoked"]
    [notification] = (await record_of(sim, message_id))["notifications"]
    assert (notification["status"], notification["ok"], notification["attempts"]) == ("Revoked", True, 2)


# ---------------------------------------------------------------- too late


@pytest.mark.asyncio
async def test_revoke_after_delivery_fails(sim: Sim, csp: CspReceiver) -> None:
    message_id = await send(sim)
    await csp.wait_for(DELIVERY, 2)
    status, body, _ = await revoke(sim, message_id)
    assert status == 200, body
    assert child_text(xml_root(body), "status") == "RevokeRequested"
    [result] = await csp.wait_for(RESULT, 1)
    assert result.auth_ok
    outcome = result_of(result)
    assert (outcome["address"], outcome["messageId"], outcome["status"]) == (ADDRESS, message_id, "RevokeFailed")
    assert len(await inbox_of(sim)) == 1
    record = await record_of(sim, message_id)
    assert record["recipient_states"] == {ADDRESS: "delivered"}
    assert record["revocations"] == {ADDRESS: "RevokeFailed"}
    assert record["revoked"] == []
    _, stats = await sim.control("GET", "/_sim/stats")
    assert (stats["revoked"], stats["revoke_failed"]) == (0, 1)


@pytest.mark.asyncio
async def test_revoke_of_a_failed_delivery_fails(sim: Sim, csp: CspReceiver) -> None:
    await sim.control("PUT", f"/_sim/handsets/{USER}", {"capability": "none"})
    message_id = await send(sim)
    status, _, _ = await revoke(sim, message_id)
    assert status == 200
    [result] = await csp.wait_for(RESULT, 1)
    assert result_of(result)["status"] == "RevokeFailed"


# ---------------------------------------------------------------- addressing


@pytest.mark.asyncio
async def test_url_encoded_chatbot_uri_works(sim: Sim, csp: CspReceiver) -> None:
    await slow_delivery(sim)
    message_id = await send(sim)
    url = revoke_url(sim, message_id, encoded=True)
    assert "sip%3A" in str(url)
    assert "%40" in str(url)
    status, body, _ = await revoke(sim, message_id, url=url)
    assert status == 200, body
    [result] = await csp.wait_for(RESULT, 1)
    assert result_of(result)["status"] == "Revoked"


@pytest.mark.asyncio
async def test_resource_url_of_the_send_answer_plus_status_works(make_sim: SimFactory, csp: CspReceiver) -> None:
    prefix = "/mbmp/developer/accesslayer"
    sim = await make_sim(path_prefix=prefix, faults={"delivered_delay_ms": SLOW_MS})
    message_id = str(uuid.uuid4())
    downlink = sim.downlink_url(family="group/v1")
    status, body, _ = await sim.send(
        outbound_xml(message_id=message_id), url=downlink.with_path(prefix + downlink.raw_path, encoded=True)
    )
    assert status == 201, body
    resource = child_text(xml_root(body), "resourceURL")
    assert resource is not None
    status, body, _ = await revoke(sim, message_id, url=URL(resource + "/status", encoded=True))
    assert status == 200, body
    [result] = await csp.wait_for(RESULT, 1)
    assert result_of(result)["link"] == ("OutboundMessageRequest", resource + "/status")


@pytest.mark.asyncio
async def test_unknown_message_id_is_404(sim: Sim, csp: CspReceiver) -> None:
    status, body, _ = await revoke(sim, str(uuid.uuid4()))
    assert status == 404
    assert error_of(body) == ("serviceException", "SVC0002")
    await settle(0.1)
    assert csp.received == []
    _, stats = await sim.control("GET", "/_sim/stats")
    assert (stats["revoke_requests"], stats["revoke_rejected"]) == (1, 1)


@pytest.mark.asyncio
async def test_message_id_of_another_chatbot_is_404(sim: Sim) -> None:
    await slow_delivery(sim)
    message_id = await send(sim)
    url = revoke_url(sim, message_id, chatbot=OTHER_BOT_ID)
    status, body, _ = await revoke(sim, message_id, url=url, app_id=OTHER_APP_ID, password=OTHER_PASSWORD)
    assert status == 404
    assert error_of(body) == ("serviceException", "SVC0002")
    assert (await record_of(sim, message_id))["recipient_states"] == {ADDRESS: "pending"}


@pytest.mark.asyncio
async def test_address_the_message_was_not_sent_to_is_404(sim: Sim) -> None:
    await slow_delivery(sim)
    message_id = await send(sim)
    status, body, _ = await revoke(sim, message_id, revoke_xml(address=f"tel:{SECOND}"))
    assert status == 404
    assert error_of(body) == ("serviceException", "SVC0002")


# ---------------------------------------------------------------- auth and body errors


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "kwargs",
    [
        {"auth": None},
        {"password": "not-the-password"},
        {"app_id": OTHER_APP_ID, "password": OTHER_PASSWORD},
        {"date": rfc1123(-3600)},
        {"auth": "Bearer abc"},
    ],
    ids=["missing", "wrong-password", "other-chatbot", "stale-date", "not-basic"],
)
async def test_bad_auth_is_401_and_revokes_nothing(sim: Sim, csp: CspReceiver, kwargs: dict[str, Any]) -> None:
    await slow_delivery(sim)
    message_id = await send(sim, reports=["Delivered"])
    status, body, headers = await revoke(sim, message_id, **kwargs)
    assert status == 401
    assert error_of(body) == ("policyException", "POL0001")
    assert "Basic" in headers.get("WWW-Authenticate", "")
    # The message was not recalled: it is still delivered.
    [delivery] = await csp.wait_for(DELIVERY, 1, timeout=SLOW_MS / 1000 + 2)
    assert delivery.delivery()["deliveryStatus"] == "DeliveredToTerminal"
    assert csp.of(RESULT) == []


@pytest.mark.asyncio
async def test_unknown_chatbot_is_401(sim: Sim) -> None:
    status, body, _ = await revoke(sim, "x", url=revoke_url(sim, "x", chatbot="125200401110000"))
    assert status == 401
    assert error_of(body) == ("policyException", "POL0001")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "xml",
    [
        b"<msg:messageStatusReport",
        f'<msg:outboundMessageRequest xmlns:msg="{NS_MSG}"><status>RevokeRequested</status>'
        f"<address>{ADDRESS}</address></msg:outboundMessageRequest>".encode(),
        f'<msg:messageStatusReport xmlns:msg="urn:example"><status>RevokeRequested</status>'
        f"<address>{ADDRESS}</address></msg:messageStatusReport>".encode(),
        report_doc("<status>RevokeRequested</status>"),
        report_doc(f"<address>{ADDRESS}</address>"),
        revoke_xml(status="Delivered"),
        revoke_xml(status=""),
        revoke_xml(address="13800000001"),
        revoke_xml(extra=f"<address>tel:{SECOND}</address>"),
        revoke_xml(extra="<messageId>some-other-id</messageId>"),
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>',
        b"",
    ],
    ids=[
        "malformed",
        "wrong-root",
        "wrong-namespace",
        "no-address",
        "no-status",
        "status-not-revoke",
        "empty-status",
        "address-not-tel",
        "two-addresses",
        "other-message-id",
        "doctype",
        "empty",
    ],
)
async def test_bad_body_is_400_svc0002(sim: Sim, csp: CspReceiver, xml: bytes) -> None:
    await slow_delivery(sim)
    message_id = await send(sim)
    status, body, _ = await revoke(sim, message_id, xml)
    assert status == 400, body
    assert error_of(body) == ("serviceException", "SVC0002")
    assert (await record_of(sim, message_id))["recipient_states"] == {ADDRESS: "pending"}
    await settle(0.05)
    assert csp.of(RESULT) == []


@pytest.mark.asyncio
async def test_message_id_in_the_body_matching_the_path_is_accepted(sim: Sim) -> None:
    await slow_delivery(sim)
    message_id = await send(sim)
    status, body, _ = await revoke(sim, message_id, revoke_xml(extra=f"<messageId>{message_id}</messageId>"))
    assert status == 200, body


@pytest.mark.asyncio
async def test_wrong_content_type_is_415(sim: Sim) -> None:
    await slow_delivery(sim)
    message_id = await send(sim)
    status, body, _ = await revoke(sim, message_id, content_type="application/json")
    assert status == 415
    assert error_of(body) == ("serviceException", "SVC0001")


@pytest.mark.asyncio
async def test_revoke_path_only_takes_put(sim: Sim) -> None:
    await slow_delivery(sim)
    message_id = await send(sim)
    status, _, headers = await revoke(sim, message_id, method="POST")
    assert status == 405
    assert headers["Allow"] == "PUT"
