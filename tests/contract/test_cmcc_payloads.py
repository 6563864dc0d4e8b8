"""The China Mobile downlink on the wire, for generated content of every kind.

Content is built with the domain models, turned into a request body by
`ChinaMobileChannel.build_request` (no I/O), then read back the way a carrier would: the XML with
lxml, the multipart bodyText with a splitter of our own (RFC 2046), the GSMA JSON parts validated
against the GSMA chatbot message schema (draft-04) and the FT-HTTP descriptors parsed for sizes and
URLs. Wire facts: shared/reference/protocols.md §1.1 (envelope, multipart), §2.1-§2.2 (bot message,
suggestions), §2.4 (FT-HTTP).

The schema is read from `shared/reference/gsma/` beside the project (or MSG5G_GSMA_SCHEMA_DIR) and
never copied into the repository; without it the schema tests are skipped.

Generated text also carries CR, lines that look like the multipart boundary and characters next to
the XML-incompatible ones; the tests at the end pin the cases that were once bugs.
"""

from __future__ import annotations

import asyncio
import email.message
import itertools
import json
import os
import re
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import best_match
from lxml import etree
from pydantic import ValidationError

from msg5g.channels.base import ChatbotAccount, OutboundMessage
from msg5g.channels.carriers.cmcc import ChinaMobileChannel
from msg5g.domain.content import (
    CalendarEventAction,
    Card,
    CardMedia,
    CarouselContent,
    ComposeRecordingAction,
    ComposeTextAction,
    Content,
    DeviceSpecificsAction,
    DialAction,
    FileContent,
    MediaFile,
    MediaHeight,
    OpenUrlAction,
    ReplySuggestion,
    RequestLocationAction,
    RichCardContent,
    SettingsAction,
    ShowLocationAction,
    Suggestion,
    TextContent,
)
from msg5g.domain.messages import TrafficClass

MESSAGING_NS = "urn:oma:xml:rest:netapi:messaging:1"
FT_NS = "urn:gsma:params:xml:ns:rcs:rcs:fthttp"
CT_TEXT = "text/plain"
CT_BOTMESSAGE = "application/vnd.gsma.botmessage.v1.0+json"
CT_SUGGESTIONS = "application/vnd.gsma.botsuggestion.v1.0+json"
CT_FT_HTTP = "application/vnd.gsma.rcs-ft-http+xml"

ACCOUNT = ChatbotAccount(
    chatbot_id="our-chatbot-id", carrier_chatbot_id="125200401111528",
    address="sip:125200401111528@botplatform.rcs.chinamobile.com",
    credentials={"app_id": "125200401111528", "password": "secret"},
)
RECIPIENT = "+8613800138000"

SETTINGS = settings(max_examples=40, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---- fixtures ------------------------------------------------------------------------------------------


def _schema_dir() -> Path:
    configured = os.environ.get("MSG5G_GSMA_SCHEMA_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[3] / "shared/reference/gsma"


_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]]|%[0-9A-Fa-f]{2})*")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII)

# jsonschema checks "uri" and "date-time" only with optional packages this venv lacks; these two
# checks (RFC 3986 absolute URI characters, RFC 3339 date-time) stand in for them.
FORMAT_CHECKER = FormatChecker(formats=())


def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or _URI.fullmatch(value) is not None


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.fullmatch(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))  # raises for 2021-13-40
    return True


FORMAT_CHECKER.checks("uri", raises=ValueError)(_is_uri)
FORMAT_CHECKER.checks("date-time", raises=ValueError)(_is_date_time)


@pytest.fixture(scope="module")
def validator() -> Draft4Validator:
    path = _schema_dir() / "chatbot_message_schema.json"
    if not path.is_file():
        pytest.skip(f"the GSMA chatbot message schema is not at {path}; set MSG5G_GSMA_SCHEMA_DIR to its folder")
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema, format_checker=FORMAT_CHECKER)


async def _open_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()


@pytest.fixture(scope="module")
def channel() -> Iterator[ChinaMobileChannel]:
    """The adapter needs a session, which needs a loop; build_request itself does no I/O."""
    loop = asyncio.new_event_loop()
    try:
        session = loop.run_until_complete(_open_session())
        try:
            yield ChinaMobileChannel(session)
        finally:
            loop.run_until_complete(session.close())
    finally:
        loop.close()


# ---- strategies: the domain models at their limits -----------------------------------------------------

CHINESE = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
# Every character XML 1.0 can carry: no C0/C1 controls but TAB, LF and CR, no surrogates, no U+FFFE/U+FFFF.
XML_SAFE = st.one_of(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff"),
    st.sampled_from("\t\n\r"),
)
ALPHABET = st.one_of(CHINESE, XML_SAFE, st.sampled_from("<>&'\"]]>{}\\"))


def text_of(min_size: int, max_size: int, alphabet: st.SearchStrategy[str] = ALPHABET) -> st.SearchStrategy[str]:
    """Short strings, plus strings of exactly the maximum length (the limit is what breaks things)."""
    short = st.text(alphabet, min_size=min_size, max_size=min(max_size, 24))
    longest = st.text(alphabet, min_size=1, max_size=5).map(lambda seed: (seed * max_size)[:max_size])
    return st.one_of(short, longest)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


URL_PATH_CHARS = st.one_of(st.sampled_from(string.ascii_letters + string.digits + "-._~"), CHINESE)
URLS = st.builds(
    lambda scheme, host, path, query: f"{scheme}://{host}/{path}{query}",
    st.sampled_from(["https", "http"]),
    st.sampled_from(["gz01ft.sbc.rcs.chinamobile.com:10003", "maaptest.189.cn", "example.com", "127.0.0.1:8080"]),
    st.lists(st.text(URL_PATH_CHARS, min_size=1, max_size=10), max_size=4).map("/".join),
    st.sampled_from(["", "?a=1", "?name=图片&size=2"]),
)
# Naive datetimes are UTC in this project (kit/clock.as_utc); other offsets are an xfail test below.
MOMENTS = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1),
                       timezones=st.one_of(st.none(), st.just(UTC)))
CONTENT_TYPES = st.one_of(
    st.sampled_from(["image/jpeg", "image/png", "video/mp4", "audio/amr", "application/octet-stream"]),
    st.from_regex(r"[a-z]{1,12}/[a-z0-9.+-]{1,20}", fullmatch=True),
)
PHONES = st.one_of(st.from_regex(r"\+?[0-9]{3,20}", fullmatch=True), text_of(3, 32))

MEDIA_FILES = st.builds(MediaFile, url=URLS, content_type=CONTENT_TYPES, size=st.integers(0, 2**40),
                        name=maybe(text_of(1, 255)), until=maybe(MOMENTS))

DISPLAY = text_of(1, 25)
POSTBACK = maybe(text_of(0, 2048))


@st.composite
def calendar_events(draw: st.DrawFn) -> CalendarEventAction:
    start = draw(MOMENTS).replace(tzinfo=UTC)  # calendar times must carry a zone
    end = start + draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)))
    return CalendarEventAction(text=draw(DISPLAY), postback_data=draw(POSTBACK), start_time=start, end_time=end,
                               title=draw(text_of(1, 100)), description=draw(maybe(text_of(1, 500))))


SUGGESTIONS_BY_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "reply": st.builds(ReplySuggestion, text=DISPLAY, postback_data=POSTBACK),
    "open_url": st.builds(OpenUrlAction, text=DISPLAY, postback_data=POSTBACK, url=URLS,
                          application=st.sampled_from(["browser", "webview"]),
                          view_mode=maybe(st.sampled_from(["full", "half", "tall"]))),
    "dial": st.builds(DialAction, text=DISPLAY, postback_data=POSTBACK, phone_number=PHONES),
    "show_location": st.builds(ShowLocationAction, text=DISPLAY, postback_data=POSTBACK,
                               latitude=st.floats(-90, 90, allow_nan=False),
                               longitude=st.floats(-180, 180, allow_nan=False),
                               label=maybe(text_of(1, 100)), fallback_url=maybe(URLS)),
    "request_location": st.builds(RequestLocationAction, text=DISPLAY, postback_data=POSTBACK),
    "create_calendar_event": calendar_events(),
    "compose_text": st.builds(ComposeTextAction, text=DISPLAY, postback_data=POSTBACK, phone_number=PHONES,
                              draft=text_of(1, 100)),
    "compose_recording": st.builds(ComposeRecordingAction, text=DISPLAY, postback_data=POSTBACK,
                                   phone_number=PHONES, recording=st.sampled_from(["AUDIO", "VIDEO"])),
    "request_device_specifics": st.builds(DeviceSpecificsAction, text=DISPLAY, postback_data=POSTBACK),
    "settings": st.builds(SettingsAction, text=DISPLAY, postback_data=POSTBACK,
                          setting=st.sampled_from(["disable_anonymization", "enable_displayed_notifications"])),
}
SUGGESTIONS: st.SearchStrategy[Suggestion] = st.one_of(*SUGGESTIONS_BY_TYPE.values())
CHIPS = st.lists(SUGGESTIONS, max_size=11)

CARD_MEDIA = st.builds(CardMedia, file=MEDIA_FILES, thumbnail=maybe(MEDIA_FILES),
                       height=st.sampled_from(list(MediaHeight)), description=maybe(text_of(1, 200)))


@st.composite
def cards(draw: st.DrawFn, suggestions: st.SearchStrategy[list[Any]] | None = None) -> Card:
    title, description, media = draw(maybe(text_of(1, 200))), draw(maybe(text_of(1, 2000))), draw(maybe(CARD_MEDIA))
    if title is None and description is None and media is None:
        title = "标题"
    return Card(title=title, description=description, media=media,
                suggestions=draw(suggestions if suggestions is not None else st.lists(SUGGESTIONS, max_size=4)))


@st.composite
def rich_cards(draw: st.DrawFn) -> RichCardContent:
    orientation = draw(st.sampled_from(["VERTICAL", "HORIZONTAL"]))
    alignment = draw(maybe(st.sampled_from(["LEFT", "RIGHT"]))) if orientation == "HORIZONTAL" else None
    return RichCardContent(card=draw(cards()), orientation=orientation, image_alignment=alignment,
                           suggestions=draw(CHIPS))


CAROUSEL_SIZES = st.integers(2, 12)


def carousels(card_count: st.SearchStrategy[int] = CAROUSEL_SIZES) -> st.SearchStrategy[CarouselContent]:
    return st.builds(
        lambda width, cs, chips: CarouselContent(card_width=width, cards=cs, suggestions=chips),
        st.sampled_from(["SMALL", "MEDIUM"]),
        card_count.flatmap(lambda n: st.lists(cards(), min_size=n, max_size=n)),
        CHIPS,
    )


TEXTS = st.builds(TextContent, text=text_of(1, 3072, st.one_of(CHINESE, ALPHABET)), suggestions=CHIPS)
FILES = st.builds(FileContent, file=MEDIA_FILES, thumbnail=maybe(MEDIA_FILES), suggestions=CHIPS)
def outbound(content: Content, traffic: TrafficClass = TrafficClass.NOTIFICATION,
             fallback: str | None = None) -> OutboundMessage:
    return OutboundMessage(message_id=str(uuid.uuid4()), recipient=RECIPIENT, content=content,
                           traffic_class=traffic, fallback_text=fallback)


ENVELOPES = st.tuples(st.sampled_from(list(TrafficClass)), maybe(text_of(1, 1000)))


# ---- reading the wire back -----------------------------------------------------------------------------


@dataclass
class Part:
    headers: dict[str, str]  # lower-cased names
    body: str


@dataclass
class Wire:
    root: Any  # lxml element
    content_type: str
    body_text: str


def parse_envelope(xml: bytes, message: OutboundMessage) -> Wire:
    assert xml.startswith(b"<?xml"), xml[:60]
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    assert root.tag == f"{{{MESSAGING_NS}}}outboundMessageRequest"
    tel = f"tel:{message.recipient}"
    assert root.findtext("address") == tel
    assert [e.text for e in root.findall("destinationAddress")] == [tel]
    assert root.findtext("senderAddress") == ACCOUNT.address
    assert root.findtext("clientCorrelator") == message.message_id
    im = root.find("outboundIMMessage")
    assert im is not None
    assert im.findtext("messageId") == message.message_id
    uuid.UUID(im.findtext("conversationID") or "")
    uuid.UUID(im.findtext("contributionID") or "")
    assert im.findtext("serviceCapability/capabilityId") == "ChatbotSA"
    assert im.findtext("serviceCapability/version") == '+g.gsma.rcs.botversion="#=1"'
    traffic = [e.text for e in im.findall("trafficType")]
    assert traffic == (["advertisement"] if message.traffic_class is TrafficClass.MARKETING else []), traffic
    reports = [e.text for e in im.findall("reportRequest")]
    assert {"Delivered", "Displayed", "Failed"} <= set(reports), reports
    if message.fallback_text:
        assert im.findtext("shortMessageSupported") == "true"
        assert im.findtext("smsBodyText") == message.fallback_text
        assert "SMS" in reports
    else:
        assert im.find("smsBodyText") is None
        assert "SMS" not in reports
    content_type, body_text = im.findtext("contentType"), im.findtext("bodyText")
    assert content_type is not None
    assert body_text is not None
    return Wire(root=root, content_type=content_type, body_text=body_text)


def media_type(content_type: str) -> tuple[str, dict[str, str]]:
    header = email.message.Message()
    header["content-type"] = content_type
    params = {k.lower(): v for k, v in (header.get_params() or [])[1:]}
    return header.get_content_type(), params


def split_multipart(body: str, boundary: str) -> list[Part]:
    """RFC 2046 §5.1.1, read after XML parsing (which turns the CRLFs inside CDATA into LFs)."""
    dash = re.escape("--" + boundary)
    delimiters = list(re.finditer(rf"(?:^|\r?\n){dash}(?P<close>--)?[ \t]*(?=\r?\n|$)", body))
    assert delimiters, f"no boundary {boundary!r} in {body[:80]!r}"
    assert delimiters[0].start() == 0, f"preamble before the first boundary: {body[:80]!r}"
    assert delimiters[-1].group("close"), "no close delimiter"
    assert not any(d.group("close") for d in delimiters[:-1]), "close delimiter before the end"
    assert body[delimiters[-1].end():].strip("\r\n") == "", "epilogue after the close delimiter"
    parts = []
    for opening, closing in itertools.pairwise(delimiters):
        raw = re.sub(r"^\r?\n", "", body[opening.end():closing.start()], count=1)
        pieces = re.split(r"\r?\n\r?\n", raw, maxsplit=1)
        assert len(pieces) == 2, f"part without a blank line after its headers: {raw[:80]!r}"
        head, payload = pieces
        headers: dict[str, str] = {}
        for line in re.split(r"\r?\n", head):
            name, colon, value = line.partition(":")
            assert colon, f"bad header line {line!r}"
            headers[name.strip().lower()] = value.strip()
        parts.append(Part(headers=headers, body=payload))
    return parts


def check_part_lengths(parts: list[Part]) -> None:
    for part in parts:
        assert "content-type" in part.headers, part.headers
        assert part.headers.get("content-length") == str(len(part.body.encode("utf-8"))), (
            part.headers, len(part.body.encode("utf-8")))


def validate(validator: Draft4Validator, document: Any) -> None:
    error = best_match(validator.iter_errors(document))
    assert error is None, f"{error.message} at {list(error.absolute_path)}"


def as_instant(moment: datetime) -> datetime:
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)).replace(microsecond=0)


def parse_instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


# ---- what each part must say ---------------------------------------------------------------------------


def check_suggestion(model: Any, wire: dict[str, Any]) -> None:
    assert len(wire) == 1, wire
    kind, body = next(iter(wire.items()))
    assert body["displayText"] == model.text
    if isinstance(model, ReplySuggestion):
        assert kind == "reply"
        assert body["postback"] == {"data": model.postback_data or model.text}
        return
    assert kind == "action"
    assert body.get("postback") == (None if model.postback_data is None else {"data": model.postback_data})
    actions = {k: v for k, v in body.items() if k not in {"displayText", "postback"}}
    assert len(actions) == 1, body
    match model:
        case OpenUrlAction():
            open_url = actions["urlAction"]["openUrl"]
            assert open_url["url"] == str(model.url)
            assert open_url["application"] == model.application
            expected_mode = model.view_mode if model.application == "webview" else None
            assert open_url.get("viewMode") == expected_mode
        case DialAction():
            assert actions["dialerAction"]["dialPhoneNumber"]["phoneNumber"] == model.phone_number
        case ShowLocationAction():
            show = actions["mapAction"]["showLocation"]
            assert show["location"]["latitude"] == model.latitude
            assert show["location"]["longitude"] == model.longitude
            assert show["location"].get("label") == model.label
            assert show.get("fallbackUrl") == (str(model.fallback_url) if model.fallback_url else None)
        case RequestLocationAction():
            assert actions == {"mapAction": {"requestLocationPush": {}}}
        case CalendarEventAction():
            event = actions["calendarAction"]["createCalendarEvent"]
            assert parse_instant(event["startTime"]) == as_instant(model.start_time), event
            assert parse_instant(event["endTime"]) == as_instant(model.end_time), event
            assert event["title"] == model.title
            assert event.get("description") == model.description
        case ComposeTextAction():
            assert actions["composeAction"]["composeTextMessage"] == {"phoneNumber": model.phone_number,
                                                                      "text": model.draft}
        case ComposeRecordingAction():
            assert actions["composeAction"]["composeRecordingMessage"] == {"phoneNumber": model.phone_number,
                                                                           "type": model.recording}
        case DeviceSpecificsAction():
            assert actions == {"deviceAction": {"requestDeviceSpecifics": {}}}
        case SettingsAction():
            key = {"disable_anonymization": "disableAnonymization",
                   "enable_displayed_notifications": "enableDisplayedNotifications"}[model.setting]
            assert actions == {"settingsAction": {key: {}}}
        case _:
            raise AssertionError(f"unexpected suggestion model {model!r}")


def check_chips(part: Part, content: Content, validator: Draft4Validator) -> None:
    assert part.headers["content-type"] == CT_SUGGESTIONS
    assert part.headers.get("content-disposition") == 'inline; filename="Chiplist.lst"'
    document = json.loads(part.body)
    validate(validator, document)
    assert set(document) == {"suggestions"}
    assert len(document["suggestions"]) == len(content.suggestions)
    for model, wire in zip(content.suggestions, document["suggestions"], strict=True):
        check_suggestion(model, wire)


def check_card(card: Card, wire: dict[str, Any]) -> None:
    assert wire.get("title") == card.title
    assert wire.get("description") == card.description
    if card.media is None:
        assert "media" not in wire
    else:
        media, file, thumbnail = wire["media"], card.media.file, card.media.thumbnail
        assert (media["mediaUrl"], media["mediaContentType"], media["mediaFileSize"]) == (
            str(file.url), file.content_type, file.size)
        assert media["height"] == f"{card.media.height.value}_HEIGHT"
        assert media.get("contentDescription") == card.media.description
        if thumbnail is None:
            assert not {"thumbnailUrl", "thumbnailContentType", "thumbnailFileSize"} & set(media)
        else:
            assert (media["thumbnailUrl"], media["thumbnailContentType"], media["thumbnailFileSize"]) == (
                str(thumbnail.url), thumbnail.content_type, thumbnail.size)
    assert len(wire.get("suggestions", [])) == len(card.suggestions)
    for model, suggestion in zip(card.suggestions, wire.get("suggestions", []), strict=True):
        check_suggestion(model, suggestion)


def check_bot_message(part: Part, content: RichCardContent | CarouselContent, validator: Draft4Validator) -> None:
    assert part.headers["content-type"] == CT_BOTMESSAGE
    assert part.headers.get("content-disposition") == 'inline; filename="Message"'
    document = json.loads(part.body)
    validate(validator, document)
    message = document["message"]
    if isinstance(content, RichCardContent):
        card = message["generalPurposeCard"]
        expected_layout: dict[str, str] = {"cardOrientation": content.orientation}
        if content.orientation == "HORIZONTAL":
            expected_layout["imageAlignment"] = content.image_alignment or "LEFT"
        assert card["layout"] == expected_layout
        check_card(content.card, card["content"])
    else:
        carousel = message["generalPurposeCardCarousel"]
        assert carousel["layout"] == {"cardWidth": f"{content.card_width}_WIDTH"}
        assert len(carousel["content"]) == len(content.cards)
        for model, wire in zip(content.cards, carousel["content"], strict=True):
            check_card(model, wire)


def check_file_descriptor(xml: str, file: MediaFile, thumbnail: MediaFile | None) -> None:
    """§2.4: `<file>` with `file-info` for the thumbnail first, then the file."""
    root = etree.fromstring(xml.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))
    assert root.tag == f"{{{FT_NS}}}file"
    infos = root.findall(f"{{{FT_NS}}}file-info")
    expected = ([("thumbnail", thumbnail)] if thumbnail else []) + [("file", file)]
    assert [i.get("type") for i in infos] == [role for role, _ in expected]
    for info, (_, media) in zip(infos, expected, strict=True):
        assert media is not None
        assert info.findtext(f"{{{FT_NS}}}file-size") == str(media.size)
        assert info.findtext(f"{{{FT_NS}}}file-name") == media.name
        assert info.findtext(f"{{{FT_NS}}}content-type") == media.content_type
        data = info.find(f"{{{FT_NS}}}data")
        assert data is not None
        assert data.get("url") == str(media.url)
        until = data.get("until")
        if media.until is None:
            assert until is None
        else:
            assert until is not None, until
            assert _is_date_time(until), until
            assert parse_instant(until) == as_instant(media.until), (until, media.until)


def check_message(channel: ChinaMobileChannel, validator: Draft4Validator, message: OutboundMessage) -> None:
    wire = parse_envelope(channel.build_request(ACCOUNT, message), message)
    content = message.content
    kind, params = media_type(wire.content_type)
    if isinstance(content, TextContent) and not content.suggestions:
        assert kind == CT_TEXT
        assert wire.body_text == content.text
        return
    if isinstance(content, FileContent) and not content.suggestions:
        assert kind == CT_FT_HTTP
        check_file_descriptor(wire.body_text, content.file, content.thumbnail)
        return
    assert kind == "multipart/mixed", wire.content_type
    boundary = params["boundary"]
    if f"--{boundary}" in content.model_dump_json():
        raise BoundaryInContent(boundary)  # must not happen: the adapter picks a boundary the content lacks
    parts = split_multipart(wire.body_text, boundary)
    check_part_lengths(parts)
    expected_count = 1 + (1 if content.suggestions else 0)
    assert len(parts) == expected_count, [p.headers for p in parts]
    first = parts[0]
    match content:
        case TextContent():
            assert first.headers["content-type"] == CT_TEXT
            assert "content-disposition" not in first.headers
            assert first.body == content.text
        case FileContent():
            assert first.headers["content-type"] == CT_FT_HTTP
            check_file_descriptor(first.body, content.file, content.thumbnail)
        case RichCardContent() | CarouselContent():
            check_bot_message(first, content, validator)
    if content.suggestions:
        check_chips(parts[-1], content, validator)


class BoundaryInContent(Exception):
    """The generated content happens to contain the multipart delimiter."""


def check_generated(channel: ChinaMobileChannel, validator: Draft4Validator, message: OutboundMessage) -> None:
    """check_message inside a property: content that collides with the boundary is discarded, not failed."""
    try:
        check_message(channel, validator, message)
    except BoundaryInContent:
        assume(False)


# ---- the properties ------------------------------------------------------------------------------------


@SETTINGS
@given(content=TEXTS, envelope=ENVELOPES)
def test_text(channel: ChinaMobileChannel, validator: Draft4Validator, content: TextContent,
              envelope: tuple[TrafficClass, str | None]) -> None:
    check_generated(channel, validator, outbound(content, *envelope))


@SETTINGS
@given(content=FILES, envelope=ENVELOPES)
def test_file(channel: ChinaMobileChannel, validator: Draft4Validator, content: FileContent,
              envelope: tuple[TrafficClass, str | None]) -> None:
    check_generated(channel, validator, outbound(content, *envelope))


@SETTINGS
@given(content=rich_cards(), envelope=ENVELOPES)
def test_rich_card(channel: ChinaMobileChannel, validator: Draft4Validator, content: RichCardContent,
                   envelope: tuple[TrafficClass, str | None]) -> None:
    check_generated(channel, validator, outbound(content, *envelope))


@pytest.mark.parametrize("card_count", [2, 12])
@settings(SETTINGS, max_examples=15)
@given(data=st.data())
def test_carousel_at_its_limits(channel: ChinaMobileChannel, validator: Draft4Validator, card_count: int,
                                data: st.DataObject) -> None:
    content = data.draw(carousels(st.just(card_count)))
    check_generated(channel, validator, outbound(content))


@SETTINGS
@given(content=carousels())
def test_carousel(channel: ChinaMobileChannel, validator: Draft4Validator, content: CarouselContent) -> None:
    check_generated(channel, validator, outbound(content))


@pytest.mark.parametrize("suggestion_type", sorted(SUGGESTIONS_BY_TYPE))
@settings(SETTINGS, max_examples=15)
@given(data=st.data())
def test_every_suggestion_type_as_chip_and_on_a_card(channel: ChinaMobileChannel, validator: Draft4Validator,
                                                     suggestion_type: str, data: st.DataObject) -> None:
    of_type = SUGGESTIONS_BY_TYPE[suggestion_type]
    chips = data.draw(st.lists(of_type, min_size=1, max_size=11), label="chips")
    check_generated(channel, validator, outbound(TextContent(text="请选择", suggestions=chips)))
    card = data.draw(cards(st.lists(of_type, min_size=1, max_size=4)), label="card")
    check_generated(channel, validator, outbound(RichCardContent(card=card)))


@pytest.mark.parametrize(("chip_count", "card_suggestion_count"), [(0, 0), (11, 4), (0, 4), (11, 0)])
@settings(SETTINGS, max_examples=10)
@given(data=st.data())
def test_suggestion_counts_at_their_limits(channel: ChinaMobileChannel, validator: Draft4Validator,
                                           chip_count: int, card_suggestion_count: int,
                                           data: st.DataObject) -> None:
    chips = data.draw(st.lists(SUGGESTIONS, min_size=chip_count, max_size=chip_count))
    card = data.draw(cards(st.lists(SUGGESTIONS, min_size=card_suggestion_count, max_size=card_suggestion_count)))
    check_generated(channel, validator, outbound(RichCardContent(card=card, suggestions=chips)))
    check_generated(channel, validator, outbound(CarouselContent(cards=[card, card], suggestions=chips)))


def test_models_refuse_what_the_schema_refuses() -> None:
    """The other half of the contract: beyond the schema's limits the model refuses, nothing reaches the wire."""
    reply = ReplySuggestion(text="好")
    too_much: list[Any] = [
        lambda: TextContent(text="字" * 3073),
        lambda: TextContent(text="x", suggestions=[reply] * 12),
        lambda: Card(title="t", suggestions=[reply] * 5),
        lambda: CarouselContent(cards=[Card(title="t")]),
        lambda: CarouselContent(cards=[Card(title="t")] * 13),
        lambda: ReplySuggestion(text="字" * 26),
        lambda: ReplySuggestion(text=""),
        lambda: ReplySuggestion(text="x", postback_data="p" * 2049),
        lambda: Card(title="t" * 201),
        lambda: Card(description="d" * 2001),
        lambda: Card(),
        lambda: CardMedia(file=MediaFile(url="https://e.com/a", content_type="image/png", size=1),
                          description="d" * 201),
        lambda: MediaFile(url="https://e.com/a", content_type="image/png", size=-1),
        lambda: ComposeTextAction(text="x", phone_number="123", draft="d" * 101),
        lambda: CalendarEventAction(text="x", title="t" * 101, start_time=datetime(2030, 1, 1, tzinfo=UTC),
                                    end_time=datetime(2030, 1, 2, tzinfo=UTC)),
        lambda: ShowLocationAction(text="x", latitude=91, longitude=0),
        lambda: RichCardContent(card=Card(title="t"), orientation="VERTICAL", image_alignment="LEFT"),
    ]
    for build in too_much:
        with pytest.raises(ValidationError):
            build()


# ---- known bugs, pinned --------------------------------------------------------------------------------


def test_content_length_survives_cr_in_text(channel: ChinaMobileChannel, validator: Draft4Validator) -> None:
    content = TextContent(text="第一行\r\n第二行\r第三行", suggestions=[ReplySuggestion(text="好")])
    check_message(channel, validator, outbound(content))


def test_boundary_never_appears_in_a_part(channel: ChinaMobileChannel) -> None:
    text = "回复以下选项\n--next\nContent-Type: text/plain\n\n伪造的部分"
    message = outbound(TextContent(text=text, suggestions=[ReplySuggestion(text="好")]))
    wire = parse_envelope(channel.build_request(ACCOUNT, message), message)
    parts = split_multipart(wire.body_text, media_type(wire.content_type)[1]["boundary"])
    assert [p.headers["content-type"] for p in parts] == [CT_TEXT, CT_SUGGESTIONS]
    assert parts[0].body == text


CHINA = timezone(timedelta(hours=8))


def test_calendar_times_with_an_offset_keep_their_instant(channel: ChinaMobileChannel,
                                                          validator: Draft4Validator) -> None:
    event = CalendarEventAction(text="加入日历", title="会议", start_time=datetime(2030, 1, 1, 10, tzinfo=CHINA),
                                end_time=datetime(2030, 1, 1, 11, tzinfo=CHINA))
    check_message(channel, validator, outbound(TextContent(text="会议邀请", suggestions=[event])))


def test_file_until_with_an_offset_keeps_its_instant(channel: ChinaMobileChannel,
                                                     validator: Draft4Validator) -> None:
    file = MediaFile(url="https://gz01ft.sbc.rcs.chinamobile.com:10003/s/abcFD.jpg", content_type="image/jpeg",
                     size=52239, until=datetime(2030, 1, 7, 22, 15, 40, tzinfo=CHINA))
    check_message(channel, validator, outbound(FileContent(file=file)))


def test_calendar_time_is_always_rfc3339(channel: ChinaMobileChannel, validator: Draft4Validator) -> None:
    event = CalendarEventAction(text="加入日历", title="纪念日", start_time=datetime(999, 1, 1, tzinfo=UTC),
                                end_time=datetime(999, 1, 2, tzinfo=UTC))
    check_message(channel, validator, outbound(TextContent(text="纪念日", suggestions=[event])))


@pytest.mark.parametrize("character", ["\x01", "\x0b", "\x1f", "\ufffe"],
                         ids=["U+0001", "U+000B", "U+001F", "U+FFFE"])
@pytest.mark.parametrize("with_chips", [False, True], ids=["plain", "multipart"])
def test_every_text_the_model_accepts_reaches_the_wire(channel: ChinaMobileChannel, validator: Draft4Validator,
                                                       character: str, with_chips: bool) -> None:
    text = f"账单{character}已出"
    try:
        content = TextContent(text=text, suggestions=[ReplySuggestion(text="好")] if with_chips else [])
    except ValidationError:
        return  # refused up front: what the gateway should do
    check_message(channel, validator, outbound(content))
