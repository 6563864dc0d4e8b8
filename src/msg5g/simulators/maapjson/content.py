"""Checks of the `messageList` a CSP sends (§2.1, §2.2, §3.3.2, §6.4), like CTCC's schema validator.

The limits are written out here by hand from the reference's description of the GSMA schema; the
schema file itself is never loaded. CT/CU validate strictly (§2: CTCC answered 40008 to a card
that failed `oneOf`), so there is no lenient mode: `mediaFileSize` must be an integer and rich
content must be a JSON object, not a JSON string holding one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .constants import (
    CT_BOTMESSAGE,
    CT_BOTSUGGESTION,
    CT_FTHTTP,
    CT_TEXT,
    DOWNLINK_CONTENT_TYPES,
    E_CONTENT_TEXT,
    E_SCHEMA,
    MSG_CONTENT_TEXT_MISSING,
    MSG_NODE_MISSING,
    MSG_SCHEMA_PREFIX,
)
from .wire import WireError, param_error

PartKind = Literal["text", "card", "chips", "file"]

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
# §2: root objects of the GSMA document; only the first two travel chatbot -> user.
ROOT_KEYS = ("message", "suggestions", "response", "sharedData")
# §3.3.2 (easy5g): a file part holds the file and at most a thumbnail.
FILE_ENTRY_TYPES = frozenset({"file", "thumbnail"})
# [I] contentEncoding, when given, names UTF-8 (§3.3.2 shows "utf8").
ENCODINGS = frozenset({"utf8", "utf-8"})

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
_SCHEMA_WHAT = {
    CT_BOTMESSAGE: "卡片消息json校验失败",
    CT_BOTSUGGESTION: "建议回复json校验失败",
    CT_FTHTTP: "文件消息json校验失败",
    CT_TEXT: "文本消息校验失败",
}


class ContentError(Exception):
    """Rich content that breaks a GSMA limit; `path` is a JSON pointer-like path."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(slots=True)
class Part:
    """One messageList item, checked; `data` is the contentText as sent."""

    content_type: str
    kind: PartKind
    data: Any

    def as_json(self) -> dict[str, Any]:
        return {"content_type": self.content_type, "kind": self.kind, "content_text": self.data}


def schema_error(content_type: str, error: ContentError) -> WireError:
    what = _SCHEMA_WHAT.get(content_type, "json校验失败")
    return WireError(E_SCHEMA, f"{MSG_SCHEMA_PREFIX}{what}! error: {error.path} {error.reason}")


def parse_message_list(value: Any) -> list[Part]:
    """Validate `messageList` (§3.3.2); WireError with 20002 / 83996 / 40008 on the first fault."""
    if value is None:
        raise param_error("一级必选节点messageList不存在")
    if not isinstance(value, list) or not value:
        raise param_error("messageList必须为非空数组")
    parts: list[Part] = []
    for index, item in enumerate(value):
        where = f"/messageList/{index}"
        if not isinstance(item, dict):
            raise WireError(E_SCHEMA, f"{MSG_SCHEMA_PREFIX}{where} must be an object")
        content_type = item.get("contentType")
        if content_type is None:
            raise WireError(E_CONTENT_TEXT, MSG_NODE_MISSING.format(name="contentType"))
        if "contentText" not in item or item["contentText"] is None:
            raise WireError(E_CONTENT_TEXT, MSG_CONTENT_TEXT_MISSING)
        encoding = item.get("contentEncoding")
        if encoding is not None and (not isinstance(encoding, str) or encoding.lower() not in ENCODINGS):
            raise WireError(E_SCHEMA, f"{MSG_SCHEMA_PREFIX}{where}/contentEncoding must be utf8, got {encoding!r}")
        if not isinstance(content_type, str) or content_type not in DOWNLINK_CONTENT_TYPES:
            raise WireError(E_SCHEMA, f"{MSG_SCHEMA_PREFIX}{where}/contentType unsupported: {content_type!r}")
        try:
            parts.append(_part(content_type, item["contentText"], f"{where}/contentText"))
        except ContentError as exc:
            raise schema_error(content_type, exc) from None
    chips = [p for p in parts if p.kind == "chips"]
    # [I] chips ride along with a message (§3.3.2 example: text + botsuggestion); one list at most.
    if len(chips) > 1:
        raise WireError(E_SCHEMA, f"{MSG_SCHEMA_PREFIX}messageList holds more than one {CT_BOTSUGGESTION} item")
    if len(chips) == len(parts):
        raise WireError(E_SCHEMA, f"{MSG_SCHEMA_PREFIX}{CT_BOTSUGGESTION} needs a message item beside it")
    return parts


def _part(content_type: str, text: Any, path: str) -> Part:
    validator = RichContentValidator()
    if content_type == CT_TEXT:
        if not isinstance(text, str) or not text:
            raise ContentError(path, "text/plain contentText must be a non-empty string")
        return Part(content_type, "text", text)
    if content_type == CT_BOTMESSAGE:
        validator.root(text, path, "message")
        return Part(content_type, "card", text)
    if content_type == CT_BOTSUGGESTION:
        validator.root(text, path, "suggestions")
        return Part(content_type, "chips", text)
    validator.file_list(text, path)
    return Part(content_type, "file", text)


class RichContentValidator:
    """Walks a GSMA botmessage / botsuggestion document and raises ContentError on the first fault."""

    # -- roots --

    def root(self, doc: Any, path: str, expected: str) -> None:
        if isinstance(doc, str):
            raise ContentError(path, "must be a JSON object, not a string")
        obj = self._obj(doc, path)
        present = [key for key in ROOT_KEYS if key in obj]
        if present != [expected]:
            raise ContentError(path, f"must hold exactly {expected!r} (found {present})")
        if expected == "message":
            self.message(obj["message"], f"{path}/message")
        else:
            self.suggestion_list(obj["suggestions"], f"{path}/suggestions", 1, CHIPS_MAX)

    def message(self, value: Any, path: str) -> None:
        obj = self._obj(value, path)
        kind = self._exactly_one(obj, ("generalPurposeCard", "generalPurposeCardCarousel"), path)
        sub = f"{path}/{kind}"
        body = self._obj(obj[kind], sub)
        layout = self._required(body, "layout", sub)
        content = self._required(body, "content", sub)
        if kind == "generalPurposeCard":
            self.card_layout(layout, f"{sub}/layout")
            self.card(content, f"{sub}/content")
        else:
            self.carousel_layout(layout, f"{sub}/layout")
            cards = self._array(content, f"{sub}/content", CAROUSEL_MIN, CAROUSEL_MAX)
            for i, card in enumerate(cards):
                self.card(card, f"{sub}/content/{i}")

    # -- layout and cards (§2.1) --

    def card_layout(self, value: Any, path: str) -> None:
        obj = self._obj(value, path)
        orientation = self._enum(self._required(obj, "cardOrientation", path), f"{path}/cardOrientation", ORIENTATIONS)
        if orientation == "HORIZONTAL":
            self._enum(self._required(obj, "imageAlignment", path), f"{path}/imageAlignment", ALIGNMENTS)
        self._layout_common(obj, path)

    def carousel_layout(self, value: Any, path: str) -> None:
        obj = self._obj(value, path)
        # One cardWidth for the whole carousel: every card has the same width by construction.
        self._enum(self._required(obj, "cardWidth", path), f"{path}/cardWidth", CARD_WIDTHS)
        self._layout_common(obj, path)

    def _layout_common(self, obj: dict[str, Any], path: str) -> None:
        for key in ("titleFontStyle", "descriptionFontStyle"):
            if key in obj:
                styles = self._array(obj[key], f"{path}/{key}", 1, 3)
                for i, style in enumerate(styles):
                    self._enum(style, f"{path}/{key}/{i}", FONT_STYLES)
        if "style" in obj:
            self._uri(obj["style"], f"{path}/style")

    def card(self, value: Any, path: str) -> None:
        obj = self._obj(value, path)
        if not any(key in obj for key in ("media", "title", "description")):
            raise ContentError(path, "a card needs at least one of media, title, description")
        if "media" in obj:
            self.media(obj["media"], f"{path}/media")
        if "title" in obj:
            self._str(obj["title"], f"{path}/title", 1, TITLE_MAX)
        if "description" in obj:
            self._str(obj["description"], f"{path}/description", 1, DESCRIPTION_MAX)
        if "suggestions" in obj:
            self.suggestion_list(obj["suggestions"], f"{path}/suggestions", 1, CARD_SUGGESTIONS_MAX)

    def media(self, value: Any, path: str) -> None:
        obj = self._obj(value, path)
        self._uri(self._required(obj, "mediaUrl", path), f"{path}/mediaUrl")
        self._str(self._required(obj, "mediaContentType", path), f"{path}/mediaContentType", 1)
        self._size(self._required(obj, "mediaFileSize", path), f"{path}/mediaFileSize")
        self._enum(self._required(obj, "height", path), f"{path}/height", HEIGHTS)
        if "thumbnailUrl" in obj:
            self._uri(obj["thumbnailUrl"], f"{path}/thumbnailUrl")
            self._str(self._required(obj, "thumbnailContentType", path), f"{path}/thumbnailContentType", 1)
            self._size(self._required(obj, "thumbnailFileSize", path), f"{path}/thumbnailFileSize")
        if "contentDescription" in obj:
            self._str(obj["contentDescription"], f"{path}/contentDescription", 1, CONTENT_DESCRIPTION_MAX)

    # -- files (§3.3.2 rcs-ft-http JSON flavour) --

    def file_list(self, value: Any, path: str) -> None:
        entries = self._array(value, path, 1, 2)
        seen: list[str] = []
        for i, entry in enumerate(entries):
            where = f"{path}/{i}"
            obj = self._obj(entry, where)
            kind = self._enum(self._required(obj, "type", where), f"{where}/type", FILE_ENTRY_TYPES)
            if kind in seen:
                raise ContentError(f"{where}/type", f"only one {kind!r} entry is allowed")
            seen.append(kind)
            self._uri(self._required(obj, "url", where), f"{where}/url")
            self._str(self._required(obj, "contentType", where), f"{where}/contentType", 1)
            size = self._required(obj, "fileSize", where)
            # §3.3.2: the accepted CTCC sample sends "fileSize":"178887"; upload answers use integers.
            if not (isinstance(size, str) and size.isdigit()):
                self._size(size, f"{where}/fileSize")
            if "fileName" in obj:
                self._str(obj["fileName"], f"{where}/fileName", 1)
            if "until" in obj:
                self._datetime(obj["until"], f"{where}/until")
        if "file" not in seen:
            raise ContentError(path, "a file entry (type 'file') is mandatory")

    # -- suggestions (§2.2) --

    def suggestion_list(self, value: Any, path: str, low: int, high: int) -> None:
        items = self._array(value, path, low, high)
        for i, item in enumerate(items):
            self.suggestion(item, f"{path}/{i}")

    def suggestion(self, value: Any, path: str) -> None:
        obj = self._obj(value, path)
        kind = self._exactly_one(obj, ("reply", "action"), path)
        sub = f"{path}/{kind}"
        body = self._obj(obj[kind], sub)
        self._str(self._required(body, "displayText", sub), f"{sub}/displayText", 1, DISPLAY_TEXT_MAX)
        if "postback" in body:
            postback = self._obj(body["postback"], f"{sub}/postback")
            self._str(self._required(postback, "data", f"{sub}/postback"), f"{sub}/postback/data", 0, POSTBACK_MAX)
        if kind == "action":
            self.action(body, sub)

    def action(self, obj: dict[str, Any], path: str) -> None:
        kind = self._exactly_one(obj, ACTION_KINDS, path)
        sub = f"{path}/{kind}"
        spec = self._obj(obj[kind], sub)
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

    def _url_action(self, spec: dict[str, Any], path: str) -> None:
        self._exactly_one(spec, ("openUrl",), path)
        sub = f"{path}/openUrl"
        open_url = self._obj(spec["openUrl"], sub)
        # §2.1's accepted CTCC card used "url":"www.baidu.com": any non-empty string passes here.
        self._str(self._required(open_url, "url", sub), f"{sub}/url", 1)
        application = self._enum(self._required(open_url, "application", sub), f"{sub}/application", URL_APPLICATIONS)
        if application == "webview":
            if "viewMode" in open_url:
                self._enum(open_url["viewMode"], f"{sub}/viewMode", VIEW_MODES)
            if "parameters" in open_url:
                self._str(open_url["parameters"], f"{sub}/parameters", 1, 200)

    def _dialer_action(self, spec: dict[str, Any], path: str) -> None:
        kind = self._exactly_one(spec, ("dialPhoneNumber", "dialEnrichedCall", "dialVideoCall"), path)
        sub = f"{path}/{kind}"
        dial = self._obj(spec[kind], sub)
        self._str(self._required(dial, "phoneNumber", sub), f"{sub}/phoneNumber", 1)
        if kind == "dialEnrichedCall" and "subject" in dial:
            self._str(dial["subject"], f"{sub}/subject", 0, 60)
        if "fallbackUrl" in dial:
            self._uri(dial["fallbackUrl"], f"{sub}/fallbackUrl")

    def _map_action(self, spec: dict[str, Any], path: str) -> None:
        kind = self._exactly_one(spec, ("showLocation", "requestLocationPush"), path)
        sub = f"{path}/{kind}"
        body = self._obj(spec[kind], sub)
        if kind == "requestLocationPush":
            return
        loc = f"{sub}/location"
        location = self._obj(self._required(body, "location", sub), loc)
        has_coordinates = "latitude" in location or "longitude" in location
        if has_coordinates == ("query" in location):
            raise ContentError(loc, "needs exactly one of latitude+longitude or query")
        if has_coordinates:
            for key in ("latitude", "longitude"):
                self._number(self._required(location, key, loc), f"{loc}/{key}")
        else:
            self._str(location["query"], f"{loc}/query", 1, 200)
        if "label" in location:
            self._str(location["label"], f"{loc}/label", 1, 100)
        if "fallbackUrl" in body:
            self._uri(body["fallbackUrl"], f"{sub}/fallbackUrl")

    def _calendar_action(self, spec: dict[str, Any], path: str) -> None:
        self._exactly_one(spec, ("createCalendarEvent",), path)
        sub = f"{path}/createCalendarEvent"
        event = self._obj(spec["createCalendarEvent"], sub)
        for key in ("startTime", "endTime"):
            self._datetime(self._required(event, key, sub), f"{sub}/{key}")
        self._str(self._required(event, "title", sub), f"{sub}/title", 1, 100)
        if "description" in event:
            self._str(event["description"], f"{sub}/description", 1, 500)
        if "fallbackUrl" in event:
            self._uri(event["fallbackUrl"], f"{sub}/fallbackUrl")

    def _compose_action(self, spec: dict[str, Any], path: str) -> None:
        kind = self._exactly_one(spec, ("composeTextMessage", "composeRecordingMessage"), path)
        sub = f"{path}/{kind}"
        body = self._obj(spec[kind], sub)
        self._str(self._required(body, "phoneNumber", sub), f"{sub}/phoneNumber", 1)
        if kind == "composeTextMessage":
            self._str(self._required(body, "text", sub), f"{sub}/text", 0, 100)
        else:
            self._enum(self._required(body, "type", sub), f"{sub}/type", RECORDING_TYPES)

    def _device_action(self, spec: dict[str, Any], path: str) -> None:
        self._exactly_one(spec, ("requestDeviceSpecifics",), path)
        self._obj(spec["requestDeviceSpecifics"], f"{path}/requestDeviceSpecifics")

    def _settings_action(self, spec: dict[str, Any], path: str) -> None:
        kind = self._exactly_one(spec, ("disableAnonymization", "enableDisplayedNotifications"), path)
        self._obj(spec[kind], f"{path}/{kind}")

    # -- primitives --

    @staticmethod
    def _obj(value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ContentError(path, "must be an object")
        return value

    @staticmethod
    def _required(obj: dict[str, Any], key: str, path: str) -> Any:
        if key not in obj:
            raise ContentError(f"{path}/{key}", "is required")
        return obj[key]

    @staticmethod
    def _exactly_one(obj: dict[str, Any], keys: tuple[str, ...], path: str) -> str:
        present = [key for key in keys if key in obj]
        if len(present) != 1:
            # CTCC's own wording (§2): "instance failed to match exactly one schema".
            raise ContentError(
                path, f"instance failed to match exactly one schema (matched {len(present)} of {', '.join(keys)})"
            )
        return present[0]

    @staticmethod
    def _array(value: Any, path: str, low: int, high: int) -> list[Any]:
        if not isinstance(value, list):
            raise ContentError(path, "must be an array")
        if not low <= len(value) <= high:
            raise ContentError(path, f"has {len(value)} items, allowed {low}..{high}")
        return value

    @staticmethod
    def _str(value: Any, path: str, low: int = 0, high: int | None = None) -> str:
        if not isinstance(value, str):
            raise ContentError(path, "must be a string")
        if len(value) < low or (high is not None and len(value) > high):
            limit = f"{low}..{high}" if high is not None else f">= {low}"
            raise ContentError(path, f"length {len(value)} outside {limit}")
        return value

    @staticmethod
    def _enum(value: Any, path: str, allowed: frozenset[str]) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise ContentError(path, f"must be one of {', '.join(sorted(allowed))}, got {value!r}")
        return value

    @staticmethod
    def _number(value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ContentError(path, "must be a number")

    @staticmethod
    def _size(value: Any, path: str) -> None:
        # §2.1: the schema wants an integer; CTCC's validator refused numeric strings.
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ContentError(path, "must be an integer >= 0")

    def _uri(self, value: Any, path: str) -> None:
        text = self._str(value, path, 1)
        if not _URI.match(text):
            raise ContentError(path, f"must be an absolute URI, got {text!r}")

    def _datetime(self, value: Any, path: str) -> None:
        text = self._str(value, path, 1)
        try:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ContentError(path, f"must be an RFC 3339 date-time, got {text!r}") from None
