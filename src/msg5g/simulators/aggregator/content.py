"""Checks of a send's `messageList` (§3.3.2 items, GSMA rules of §2.1, §2.2, §2.4).

The limits are written out by hand from the reference's description of the GSMA schema; the
schema file is never loaded. The aggregator forwards to all three carriers, so it applies the
strict reading CTCC's validator applies (§2.1: integer file sizes, thumbnail fields together);
URL syntax is not checked because CTCC accepted ``"url":"www.baidu.com"`` (§2.1 example).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .constants import (
    CT_BOTMESSAGE,
    CT_BOTSUGGESTION,
    CT_FILE,
    CT_TEXT,
    ENCODINGS,
    FILE_ENTRY_KEYS,
    FILE_ENTRY_TYPES,
    ITEM_KEYS,
    MAX_FILE_ENTRIES,
)

ItemKind = Literal["text", "card", "chips", "file"]

# §2.1 / §2.2 limits.
TITLE_MAX = 200
DESCRIPTION_MAX = 2000
CONTENT_DESCRIPTION_MAX = 200
CAROUSEL_MIN, CAROUSEL_MAX = 2, 12
CARD_SUGGESTIONS_MAX = 4
CHIPS_MAX = 11
DISPLAY_TEXT_MAX = 25
POSTBACK_MAX = 2048
FONT_STYLES = frozenset({"italics", "bold", "underline"})
HEIGHTS = frozenset({"SHORT_HEIGHT", "MEDIUM_HEIGHT", "TALL_HEIGHT"})
CARD_WIDTHS = frozenset({"SMALL_WIDTH", "MEDIUM_WIDTH"})
ORIENTATIONS = frozenset({"VERTICAL", "HORIZONTAL"})
ALIGNMENTS = frozenset({"LEFT", "RIGHT"})
URL_APPLICATIONS = frozenset({"browser", "webview"})
VIEW_MODES = frozenset({"full", "half", "tall"})
RECORDING_TYPES = frozenset({"AUDIO", "VIDEO"})
ACTION_KINDS = (
    "urlAction",
    "dialerAction",
    "mapAction",
    "calendarAction",
    "composeAction",
    "deviceAction",
    "settingsAction",
)
# Root objects of a GSMA document; only the first two travel chatbot -> user.
ROOT_KEYS = ("message", "suggestions", "response", "sharedData")
KINDS: dict[str, ItemKind] = {CT_TEXT: "text", CT_BOTMESSAGE: "card", CT_BOTSUGGESTION: "chips", CT_FILE: "file"}


class ContentError(Exception):
    """Content that breaks a rule; `path` is a JSON path into the request body."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(slots=True)
class Item:
    """One accepted messageList item, as the handset shows it."""

    content_type: str
    kind: ItemKind
    value: Any

    def as_json(self) -> dict[str, Any]:
        return {"content_type": self.content_type, "kind": self.kind, "content": self.value}


def parse_message_list(value: Any, path: str = "messageList") -> list[Item]:
    """Validate a messageList (§3.3.2) and return its items; raises ContentError on the first fault."""
    if not isinstance(value, list) or not value:
        raise ContentError(path, "must be a non-empty array")
    items: list[Item] = []
    seen: set[str] = set()
    for index, raw in enumerate(value):
        where = f"{path}[{index}]"
        item = _item(raw, where)
        if item.content_type in seen:
            # [invented] one item per type; see constants.
            raise ContentError(where, f"a second {item.content_type} item is not allowed")
        seen.add(item.content_type)
        items.append(item)
    if all(item.kind == "chips" for item in items):
        raise ContentError(path, "suggestions need a text, card or file item to attach to")
    return items


def _item(raw: Any, path: str) -> Item:
    obj = _obj(raw, path)
    unknown = sorted(set(obj) - ITEM_KEYS)
    if unknown:
        raise ContentError(path, f"unknown fields {unknown}")
    content_type = _required(obj, "contentType", path)
    if not isinstance(content_type, str) or content_type not in KINDS:
        raise ContentError(f"{path}.contentType", f"unsupported content type {content_type!r}")
    if "contentEncoding" in obj and obj["contentEncoding"] not in ENCODINGS:
        raise ContentError(f"{path}.contentEncoding", f"must be utf8, got {obj['contentEncoding']!r}")
    text = _required(obj, "contentText", path)
    where = f"{path}.contentText"
    kind = KINDS[content_type]
    validator = RichContentValidator()
    if kind == "text":
        _str(text, where, 1)
    elif kind == "card":
        validator.root(_json_value(text, where), where, "message")
    elif kind == "chips":
        validator.root(_json_value(text, where), where, "suggestions")
    else:
        _file_entries(text, where)
    return Item(content_type, kind, text)


def _json_value(value: Any, path: str) -> Any:
    if isinstance(value, str):
        # [invented] §3.3.2 shows JSON content as objects; a JSON string is an adapter mistake.
        raise ContentError(path, "must be a JSON object, not a string")
    return value


def _file_entries(value: Any, path: str) -> None:
    """§3.3.2 / §2.4 JSON flavour: [{"type":"file"|"thumbnail","url","contentType","fileSize",...}]."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_FILE_ENTRIES:
        raise ContentError(path, f"must be an array of 1..{MAX_FILE_ENTRIES} file entries")
    seen: set[str] = set()
    for index, raw in enumerate(value):
        where = f"{path}[{index}]"
        entry = _obj(raw, where)
        unknown = sorted(set(entry) - FILE_ENTRY_KEYS)
        if unknown:
            raise ContentError(where, f"unknown fields {unknown}")
        kind = _enum(_required(entry, "type", where), f"{where}.type", FILE_ENTRY_TYPES)
        if kind in seen:
            raise ContentError(f"{where}.type", f"a second {kind!r} entry is not allowed")
        seen.add(kind)
        url = _str(_required(entry, "url", where), f"{where}.url", 1)
        if not url.startswith(("http://", "https://")):
            raise ContentError(f"{where}.url", f"must be an http(s) URL, got {url!r}")
        _str(_required(entry, "contentType", where), f"{where}.contentType", 1)
        size = _required(entry, "fileSize", where)
        # §3.3.2 sends fileSize as a decimal string ("178887"); an integer means the same.
        if isinstance(size, bool) or not (
            (isinstance(size, int) and size >= 0) or (isinstance(size, str) and size.isascii() and size.isdigit())
        ):
            raise ContentError(f"{where}.fileSize", "must be a non-negative integer or decimal string")
        for key in ("fileName", "until"):
            if key in entry:
                _str(entry[key], f"{where}.{key}", 1)
    if "file" not in seen:
        raise ContentError(path, "a 'file' entry is mandatory")


class RichContentValidator:
    """Walks a GSMA botmessage / botsuggestion document and raises ContentError on the first fault."""

    def root(self, doc: Any, path: str, expected: str) -> None:
        obj = _obj(doc, path)
        present = [key for key in ROOT_KEYS if key in obj]
        if present != [expected]:
            raise ContentError(path, f"must hold exactly {{{expected!r}: ...}} (found {present})")
        if expected == "message":
            self.message(obj["message"], f"{path}.message")
        else:
            self.suggestion_list(obj["suggestions"], f"{path}.suggestions", 1, CHIPS_MAX)

    def message(self, value: Any, path: str) -> None:
        obj = _obj(value, path)
        kind = _exactly_one(obj, ("generalPurposeCard", "generalPurposeCardCarousel"), path)
        sub = f"{path}.{kind}"
        body = _obj(obj[kind], sub)
        layout = _required(body, "layout", sub)
        content = _required(body, "content", sub)
        if kind == "generalPurposeCard":
            self.card_layout(layout, f"{sub}.layout")
            self.card(content, f"{sub}.content")
        else:
            self.carousel_layout(layout, f"{sub}.layout")
            cards = _array(content, f"{sub}.content", CAROUSEL_MIN, CAROUSEL_MAX)
            for i, card in enumerate(cards):
                self.card(card, f"{sub}.content[{i}]")

    # -- layout and cards (§2.1) --

    def card_layout(self, value: Any, path: str) -> None:
        obj = _obj(value, path)
        orientation = _enum(_required(obj, "cardOrientation", path), f"{path}.cardOrientation", ORIENTATIONS)
        if orientation == "HORIZONTAL":
            _enum(_required(obj, "imageAlignment", path), f"{path}.imageAlignment", ALIGNMENTS)
        self._layout_common(obj, path)

    def carousel_layout(self, value: Any, path: str) -> None:
        obj = _obj(value, path)
        _enum(_required(obj, "cardWidth", path), f"{path}.cardWidth", CARD_WIDTHS)
        self._layout_common(obj, path)

    @staticmethod
    def _layout_common(obj: dict[str, Any], path: str) -> None:
        for key in ("titleFontStyle", "descriptionFontStyle"):
            if key in obj:
                styles = _array(obj[key], f"{path}.{key}", 1, 3)
                for i, style in enumerate(styles):
                    _enum(style, f"{path}.{key}[{i}]", FONT_STYLES)
        if "style" in obj:
            _str(obj["style"], f"{path}.style", 1)

    def card(self, value: Any, path: str) -> None:
        obj = _obj(value, path)
        if not any(key in obj for key in ("media", "title", "description")):
            raise ContentError(path, "a card needs at least one of media, title, description")
        if "media" in obj:
            self.media(obj["media"], f"{path}.media")
        if "title" in obj:
            _str(obj["title"], f"{path}.title", 1, TITLE_MAX)
        if "description" in obj:
            _str(obj["description"], f"{path}.description", 1, DESCRIPTION_MAX)
        if "suggestions" in obj:
            self.suggestion_list(obj["suggestions"], f"{path}.suggestions", 1, CARD_SUGGESTIONS_MAX)

    @staticmethod
    def media(value: Any, path: str) -> None:
        obj = _obj(value, path)
        _str(_required(obj, "mediaUrl", path), f"{path}.mediaUrl", 1)
        _str(_required(obj, "mediaContentType", path), f"{path}.mediaContentType")
        _size(_required(obj, "mediaFileSize", path), f"{path}.mediaFileSize")
        _enum(_required(obj, "height", path), f"{path}.height", HEIGHTS)
        if "thumbnailUrl" in obj:
            _str(obj["thumbnailUrl"], f"{path}.thumbnailUrl", 1)
            _str(_required(obj, "thumbnailContentType", path), f"{path}.thumbnailContentType")
            _size(_required(obj, "thumbnailFileSize", path), f"{path}.thumbnailFileSize")
        else:
            if "thumbnailContentType" in obj:
                _str(obj["thumbnailContentType"], f"{path}.thumbnailContentType")
            if "thumbnailFileSize" in obj:
                _size(obj["thumbnailFileSize"], f"{path}.thumbnailFileSize")
        if "contentDescription" in obj:
            _str(obj["contentDescription"], f"{path}.contentDescription", 1, CONTENT_DESCRIPTION_MAX)

    # -- suggestions (§2.2) --

    def suggestion_list(self, value: Any, path: str, low: int, high: int) -> None:
        for i, item in enumerate(_array(value, path, low, high)):
            self.suggestion(item, f"{path}[{i}]")

    def suggestion(self, value: Any, path: str) -> None:
        obj = _obj(value, path)
        kind = _exactly_one(obj, ("reply", "action"), path)
        sub = f"{path}.{kind}"
        body = _obj(obj[kind], sub)
        _str(_required(body, "displayText", sub), f"{sub}.displayText", 1, DISPLAY_TEXT_MAX)
        if "postback" in body:
            postback = _obj(body["postback"], f"{sub}.postback")
            _str(_required(postback, "data", f"{sub}.postback"), f"{sub}.postback.data", 0, POSTBACK_MAX)
        if kind == "action":
            self.action(body, sub)

    def action(self, obj: dict[str, Any], path: str) -> None:
        kind = _exactly_one(obj, ACTION_KINDS, path)
        sub = f"{path}.{kind}"
        spec = _obj(obj[kind], sub)
        checks = {
            "urlAction": self._url_action,
            "dialerAction": self._dialer_action,
            "mapAction": self._map_action,
            "calendarAction": self._calendar_action,
            "composeAction": self._compose_action,
            "deviceAction": self._device_action,
            "settingsAction": self._settings_action,
        }
        checks[kind](spec, sub)

    @staticmethod
    def _url_action(spec: dict[str, Any], path: str) -> None:
        _exactly_one(spec, ("openUrl",), path)
        sub = f"{path}.openUrl"
        open_url = _obj(spec["openUrl"], sub)
        _str(_required(open_url, "url", sub), f"{sub}.url", 1)
        application = _enum(_required(open_url, "application", sub), f"{sub}.application", URL_APPLICATIONS)
        if application == "webview":
            if "viewMode" in open_url:
                _enum(open_url["viewMode"], f"{sub}.viewMode", VIEW_MODES)
            if "parameters" in open_url:
                _str(open_url["parameters"], f"{sub}.parameters", 1, 200)

    @staticmethod
    def _dialer_action(spec: dict[str, Any], path: str) -> None:
        kind = _exactly_one(spec, ("dialPhoneNumber", "dialEnrichedCall", "dialVideoCall"), path)
        sub = f"{path}.{kind}"
        dial = _obj(spec[kind], sub)
        _str(_required(dial, "phoneNumber", sub), f"{sub}.phoneNumber", 1)
        if kind == "dialEnrichedCall" and "subject" in dial:
            _str(dial["subject"], f"{sub}.subject", 0, 60)
        if "fallbackUrl" in dial:
            _str(dial["fallbackUrl"], f"{sub}.fallbackUrl", 1)

    @staticmethod
    def _map_action(spec: dict[str, Any], path: str) -> None:
        kind = _exactly_one(spec, ("showLocation", "requestLocationPush"), path)
        sub = f"{path}.{kind}"
        body = _obj(spec[kind], sub)
        if kind == "requestLocationPush":
            return
        loc = f"{sub}.location"
        location = _obj(_required(body, "location", sub), loc)
        has_coordinates = "latitude" in location or "longitude" in location
        if has_coordinates == ("query" in location):
            raise ContentError(loc, "needs exactly one of latitude+longitude or query")
        if has_coordinates:
            for key in ("latitude", "longitude"):
                _number(_required(location, key, loc), f"{loc}.{key}")
        else:
            _str(location["query"], f"{loc}.query", 1, 200)
        if "label" in location:
            _str(location["label"], f"{loc}.label", 1, 100)
        if "fallbackUrl" in body:
            _str(body["fallbackUrl"], f"{sub}.fallbackUrl", 1)

    @staticmethod
    def _calendar_action(spec: dict[str, Any], path: str) -> None:
        _exactly_one(spec, ("createCalendarEvent",), path)
        sub = f"{path}.createCalendarEvent"
        event = _obj(spec["createCalendarEvent"], sub)
        for key in ("startTime", "endTime"):
            _datetime(_required(event, key, sub), f"{sub}.{key}")
        _str(_required(event, "title", sub), f"{sub}.title", 1, 100)
        if "description" in event:
            _str(event["description"], f"{sub}.description", 1, 500)
        if "fallbackUrl" in event:
            _str(event["fallbackUrl"], f"{sub}.fallbackUrl", 1)

    @staticmethod
    def _compose_action(spec: dict[str, Any], path: str) -> None:
        kind = _exactly_one(spec, ("composeTextMessage", "composeRecordingMessage"), path)
        sub = f"{path}.{kind}"
        body = _obj(spec[kind], sub)
        _str(_required(body, "phoneNumber", sub), f"{sub}.phoneNumber", 1)
        if kind == "composeTextMessage":
            _str(_required(body, "text", sub), f"{sub}.text", 0, 100)
        else:
            _enum(_required(body, "type", sub), f"{sub}.type", RECORDING_TYPES)

    @staticmethod
    def _device_action(spec: dict[str, Any], path: str) -> None:
        _exactly_one(spec, ("requestDeviceSpecifics",), path)
        _obj(spec["requestDeviceSpecifics"], f"{path}.requestDeviceSpecifics")

    @staticmethod
    def _settings_action(spec: dict[str, Any], path: str) -> None:
        kind = _exactly_one(spec, ("disableAnonymization", "enableDisplayedNotifications"), path)
        _obj(spec[kind], f"{path}.{kind}")


# --- primitives -----------------------------------------------------------------------------------


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ContentError(path, "must be an object")
    return value


def _required(obj: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in obj:
        raise ContentError(f"{path}.{key}", "is required")
    return obj[key]


def _exactly_one(obj: Mapping[str, Any], keys: tuple[str, ...], path: str) -> str:
    present = [key for key in keys if key in obj]
    if len(present) != 1:
        raise ContentError(path, f"must hold exactly one of {', '.join(keys)} (found {present})")
    return present[0]


def _array(value: Any, path: str, low: int, high: int) -> list[Any]:
    if not isinstance(value, list):
        raise ContentError(path, "must be an array")
    if not low <= len(value) <= high:
        raise ContentError(path, f"has {len(value)} items, allowed {low}..{high}")
    return value


def _str(value: Any, path: str, low: int = 0, high: int | None = None) -> str:
    if not isinstance(value, str):
        raise ContentError(path, "must be a string")
    if len(value) < low or (high is not None and len(value) > high):
        limit = f"{low}..{high}" if high is not None else f">= {low}"
        raise ContentError(path, f"length {len(value)} outside {limit}")
    return value


def _enum(value: Any, path: str, allowed: frozenset[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ContentError(path, f"must be one of {', '.join(sorted(allowed))}, got {value!r}")
    return value


def _number(value: Any, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ContentError(path, "must be a number")


def _size(value: Any, path: str) -> None:
    # §2.1: CTCC's validator refused "mediaFileSize":"151250"; an aggregator serving CTCC must too.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ContentError(path, "must be an integer >= 0")


def _datetime(value: Any, path: str) -> None:
    text = _str(value, path, 1)
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise ContentError(path, f"must be an RFC 3339 date-time, got {text!r}") from None
