"""The China Mobile simulator's handset page over plain HTTP: it escapes what chatbots send, links only
http(s) URLs, and its chip and card-button forms send the uplink the tapped suggestion really carries."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from lxml import html as lxml_html

from .conftest import BOT_ID, USER, CspReceiver, Sim, multipart, outbound_xml

pytestmark = pytest.mark.asyncio

BOTMESSAGE = "application/vnd.gsma.botmessage.v1.0+json"
BOTSUGGESTION = "application/vnd.gsma.botsuggestion.v1.0+json"
MULTIPART = 'multipart/mixed; boundary="next"'
HOSTILE_TEXT = "<script>alert('text')</script>"
HOSTILE_TITLE = "<img src=x onerror=alert(1)>"
HOSTILE_DESCRIPTION = "\"'><svg onload=alert(2)>"
HOSTILE_POSTBACK = "\"><script>alert(5)</script>"
HOSTILE_CHIP = "<b onclick=x>hi</b>"


def reply(text: str, data: str) -> dict[str, Any]:
    return {"reply": {"displayText": text, "postback": {"data": data}}}


def open_url(text: str, url: str, data: str | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"urlAction": {"openUrl": {"url": url, "application": "browser"}}, "displayText": text}
    if data is not None:
        action["postback"] = {"data": data}
    return {"action": action}


def card_message(content: dict[str, Any]) -> str:
    return json.dumps(
        {"message": {"generalPurposeCard": {"layout": {"cardOrientation": "VERTICAL"}, "content": content}}}
    )


def chips(*suggestions: dict[str, Any]) -> str:
    return json.dumps({"suggestions": list(suggestions)})


async def downlink(sim: Sim, body: str, content_type: str = MULTIPART) -> str:
    """Send one message to USER and wait until it has reached the handset; its message id."""
    _, before = await sim.control("GET", f"/_sim/handsets/{USER}/inbox")
    message_id = f"mid-{time.monotonic_ns()}"
    xml = outbound_xml(content_type=content_type, body=body, cdata=True, message_id=message_id)
    status, answer, _ = await sim.send(xml)
    assert status == 201, answer
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        _, inbox = await sim.control("GET", f"/_sim/handsets/{USER}/inbox")
        if len(inbox) > len(before):
            return message_id
        await asyncio.sleep(0.01)
    raise AssertionError("the downlink never reached the handset")


async def page(sim: Sim) -> tuple[lxml_html.HtmlElement, str, dict[str, str]]:
    url = f"{sim.base_url}/_sim/?number={quote(USER)}&chatbot_id={BOT_ID}"
    async with sim.session.get(url) as response:
        assert response.status == 200
        text = await response.text()
        return lxml_html.fromstring(text), text, {k.lower(): v for k, v in response.headers.items()}


def tap_form(doc: lxml_html.HtmlElement, text: str) -> tuple[str, dict[str, str], lxml_html.HtmlElement]:
    """(action, fields, form) of the tap form whose button reads `text`, as a browser would submit it."""
    [button] = [b for b in doc.xpath("//form[contains(@class, 'tap')]//button") if b.text_content().strip() == text]
    form = button.getparent()
    while form.tag != "form":
        form = form.getparent()
    fields = {i.get("name"): i.get("value") or "" for i in form.xpath(".//input")}
    return form.get("action"), fields, form


def decoded(fields: dict[str, str | None]) -> Any:
    body = fields["bodyText"] or ""
    if fields.get("contentEncoding") == "base64":
        body = base64.b64decode(body).decode()
    return json.loads(body)


def assert_inert(doc: lxml_html.HtmlElement) -> None:
    """Nothing in the document runs: no inline handler, no script but the page's own, no javascript: URL."""
    scripts = doc.xpath("//script")
    assert [s.get("src") for s in scripts] == ["/_sim/ui/handset.js"], [lxml_html.tostring(s) for s in scripts]
    for element in doc.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), lxml_html.tostring(element)
            if name in ("href", "src", "poster", "action", "data-open-url"):
                assert value.startswith(("/", "http://", "https://")), (name, value)
    assert not doc.xpath("//svg | //iframe | //object | //embed | //b[text()='hi']")


async def test_page_escapes_hostile_content_and_links_only_http_urls(sim: Sim) -> None:
    card = {
        "title": HOSTILE_TITLE,
        "description": HOSTILE_DESCRIPTION,
        "media": {"mediaUrl": "javascript:alert(3)", "mediaContentType": "image/png", "mediaFileSize": 1,
                  "height": "SHORT_HEIGHT", "contentDescription": "\"><img src=y onerror=alert(6)>"},
        "suggestions": [open_url("Evil link", "javascript:alert(4)"), reply("Pay", HOSTILE_POSTBACK)],
    }
    body = multipart([
        ("text/plain", HOSTILE_TEXT, None),
        (BOTMESSAGE, card_message(card), None),
        (BOTSUGGESTION, chips(reply(HOSTILE_CHIP, "chip"), open_url("Safe link", "https://example.com/a?b=1&c='2'")),
         None),
    ])
    await downlink(sim, body)

    doc, text, headers = await page(sim)
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert_inert(doc)
    for raw in ("<img src=x", "<svg", "<script>alert"):
        assert raw not in text
    [bubble] = doc.xpath("//div[@id='log']//div[contains(@class, 'bubble') and contains(@class, 'in')]")
    assert bubble.text_content() == HOSTILE_TEXT
    assert doc.xpath("string(//h3[@class='card-title'])") == HOSTILE_TITLE
    assert doc.xpath("string(//p[@class='card-description'])") == HOSTILE_DESCRIPTION
    assert doc.xpath("//div[contains(@class, 'media') and contains(@class, 'broken')]")  # shown, not loaded
    assert not doc.xpath("//img")
    # The javascript: action is a button that sends the click, not a link; the https one opens in a new tab.
    _, _, evil = tap_form(doc, "↗ Evil link")
    assert (evil.get("target"), evil.get("data-open-url")) == (None, None)
    _, _, safe = tap_form(doc, "↗ Safe link")
    assert safe.get("data-open-url") == "https://example.com/a?b=1&c='2'"
    assert safe.get("target") == "_blank"
    assert "noopener" in safe.get("rel")
    [pay] = [b for b in doc.xpath("//button[@data-text='Pay']")]
    assert pay.get("title") == f"postback: {HOSTILE_POSTBACK}"
    assert doc.xpath("//div[@class='chips']//button/@data-text") == [HOSTILE_CHIP, "Safe link"]

    # The log the script polls for is the same escaped rendering.
    _, conversation = await sim.control("GET", f"/_sim/handsets/{USER}/conversation?chatbot_id={BOT_ID}")
    fragment = lxml_html.fromstring(f"<div>{conversation['html']}</div>")
    for element in fragment.iter():
        assert not any(name.startswith("on") for name in element.attrib), lxml_html.tostring(element)
    assert "<svg" not in conversation["html"]
    assert "<img" not in conversation["html"]
    [message] = conversation["messages"]
    assert message["blocks"][1]["cards"][0]["title"] == HOSTILE_TITLE
    assert message["blocks"][1]["cards"][0]["media"]["url"] is None


async def test_chip_form_sends_the_suggestions_own_postback(sim: Sim, csp: CspReceiver) -> None:
    body = multipart([
        ("text/plain", "Pick one", None),
        (BOTSUGGESTION, chips(reply("Yes", HOSTILE_POSTBACK), open_url("Open", "https://example.com/x", "pb-open"),
                              open_url("Bare", "https://example.com/y")), None),
    ])
    message_id = await downlink(sim, body)
    doc, _, _ = await page(sim)
    action, fields, _ = tap_form(doc, "Yes")
    assert action == "/_sim/ui/tap"
    assert (fields["message_id"], fields["base64"]) == (message_id, "on")
    assert "data" not in fields  # the form names the suggestion; the simulator knows its postback

    async with sim.session.post(sim.base_url + action, data=fields, allow_redirects=False) as response:
        assert response.status == 303
        location = urlsplit(response.headers["location"])
    assert location.path == "/_sim/"
    assert parse_qs(location.query)["notice"] == ["sent postback: CSP answered 204"]
    [received] = await csp.wait_for("InboundMessageNotification", 1)
    inbound = received.inbound()
    assert inbound["contentEncoding"] == "base64"
    assert decoded(inbound) == {
        "response": {"reply": {"displayText": "Yes", "postback": {"data": HOSTILE_POSTBACK}, "type": "reply"}}
    }
    # The tap answers the message: same conversation, and it names the contribution it replies to.
    assert inbound["conversationID"] == "conv-1"
    assert inbound["inReplyToContributionID"] == "contrib-1"

    # An open-URL action sends its click with its postback and opens the URL; one without postback, a bare
    # click. The chips left the page with the reply, but the message still has them.
    doc, _, _ = await page(sim)
    assert not doc.xpath("//div[@class='chips']")
    open_fields = {**fields, "ref": "1"}
    async with sim.session.post(sim.base_url + action, data=open_fields, allow_redirects=False) as response:
        assert response.status == 303
        assert response.headers["location"] == "https://example.com/x"
    bare_fields = {**fields, "ref": "2", "base64": "off"}
    async with sim.session.post(sim.base_url + action, data=bare_fields, headers={"Accept": "application/json"},
                                allow_redirects=False) as response:
        assert response.status == 200
        answer = await response.json()
    assert answer["open_url"] == "https://example.com/y"
    assert (answer["uplink"]["kind"], answer["uplink"]["content_encoding"]) == ("action", None)
    received = await csp.wait_for("InboundMessageNotification", 3)
    assert decoded(received[1].inbound()) == {"response": {"action": {"displayText": "Open",
                                                                      "postback": {"data": "pb-open"}}}}
    assert decoded(received[2].inbound()) == {"response": {"action": {"displayText": "Bare"}}}

    # A form naming a suggestion the message does not have sends nothing.
    forged = {**fields, "ref": "7"}
    async with sim.session.post(sim.base_url + action, data=forged, headers={"Accept": "application/json"}) as r:
        assert r.status == 404
    async with sim.session.post(sim.base_url + action, data={**fields, "message_id": "nope"},
                                allow_redirects=False) as r:
        assert r.status == 303
        assert "no such suggestion" in parse_qs(urlsplit(r.headers["location"]).query)["notice"][0]
    await asyncio.sleep(0.05)
    assert len(csp.inbounds()) == 3


async def test_conversation_shows_both_directions_in_order_and_polls_cheaply(sim: Sim, csp: CspReceiver) -> None:
    doc, _, _ = await page(sim)
    [composer] = doc.xpath("//form[contains(@class, 'composer')]")
    assert (composer.get("action"), composer.get("method")) == ("/_sim/ui/uplink", "post")
    fields = {i.get("name"): i.get("value") or "" for i in composer.xpath(".//input[@type='hidden']")}
    assert fields == {"number": USER, "chatbot_id": BOT_ID, "base64": "on", "kind": "text"}
    assert doc.xpath("//noscript/meta[@http-equiv='refresh']")  # news without script, too
    assert doc.xpath("//div[@id='chat']/@data-poll") == [
        f"/_sim/handsets/{quote(USER, safe='')}/conversation?chatbot_id={BOT_ID}"
    ]

    async with sim.session.post(sim.base_url + "/_sim/ui/uplink", data={**fields, "text": "你好 <b>"},
                                headers={"Accept": "application/json"}) as response:
        assert response.status == 200
        sent = await response.json()
    assert (sent["kind"], sent["ok"], sent["content_encoding"]) == ("text", True, "base64")
    await csp.wait_for("InboundMessageNotification", 1)
    path = f"/_sim/handsets/{USER}/conversation?chatbot_id={BOT_ID}"
    _, first = await sim.control("GET", path)
    await downlink(sim, multipart([("text/plain", "再来", None),
                                   (BOTSUGGESTION, chips(reply("Again", "again")), None)]))
    await downlink(sim, "您好", "text/plain")

    _, view = await sim.control("GET", f"{path}&since={quote(first['version'])}")
    assert view["changed"] is True
    assert view["version"] != first["version"]
    directions = [(m["direction"], m["blocks"][0]["text"] if m["blocks"] else None) for m in view["messages"]]
    assert directions == [("out", "你好 <b>"), ("in", "再来"), ("in", "您好")]
    assert view["chips"] == []  # chips belong to the newest message only, and it has none
    log = lxml_html.fromstring(f"<div>{view['html']}</div>")
    rows = log.xpath("//div[contains(@class, 'row')]")
    assert [r.get("class") for r in rows] == ["row out", "row in", "row in"]
    assert rows[0].xpath("string(.//div[contains(@class, 'bubble')])") == "你好 <b>"
    assert not log.xpath("//div[@class='chips']")

    _, unchanged = await sim.control("GET", f"{path}&since={quote(view['version'])}")
    assert unchanged == {"number": USER, "chatbot_id": BOT_ID, "version": view["version"],
                         "status": f"{USER} · 5G 消息 (UP2.0)", "changed": False}

    # Another chatbot's messages are another conversation.
    status, other = await sim.control("GET", f"/_sim/handsets/{USER}/conversation?chatbot_id=125200401111999")
    assert (status, other["messages"]) == (200, [])
    status, _ = await sim.control("GET", f"/_sim/handsets/{USER}/conversation")
    assert status == 400


async def test_chips_show_under_the_last_message_only_and_carousels_scroll(sim: Sim) -> None:
    cards = [{"title": f"卡片{i}", "description": "d", "suggestions": [reply(f"选{i}", f"pick-{i}")]} for i in range(3)]
    carousel = json.dumps({"message": {"generalPurposeCardCarousel": {"layout": {"cardWidth": "MEDIUM_WIDTH"},
                                                                       "content": cards}}})
    await downlink(sim, multipart([(BOTMESSAGE, carousel, None), (BOTSUGGESTION, chips(reply("更多", "more")), None)]))
    doc, _, _ = await page(sim)
    [row] = doc.xpath("//div[contains(@class, 'carousel')]")
    assert row.xpath("./article/@class") == ["card medium"] * 3
    assert row.xpath(".//button/@data-text") == ["选0", "选1", "选2"]
    assert doc.xpath("//div[@class='chips']//button/@data-text") == ["更多"]
    _, fields, _ = tap_form(doc, "选1")
    assert fields["ref"] == "1"

    await sim.control("POST", f"/_sim/handsets/{USER}/uplink", {"chatbot_id": BOT_ID, "text": "ok"})
    doc, _, _ = await page(sim)
    assert not doc.xpath("//div[@class='chips']")
    assert doc.xpath("//div[contains(@class, 'carousel')]//button/@data-text") == ["选0", "选1", "选2"]


async def test_script_and_style_are_served(sim: Sim) -> None:
    for name, media_type in (("handset.js", "text/javascript"), ("handset.css", "text/css")):
        async with sim.session.get(f"{sim.base_url}/_sim/ui/{name}") as response:
            assert response.status == 200
            assert response.content_type == media_type
            assert len(await response.text()) > 500
    async with sim.session.get(f"{sim.base_url}/_sim/ui/secrets.json") as response:
        assert response.status == 404
