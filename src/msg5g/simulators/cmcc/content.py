"""Checks of the GSMA rich content a CSP puts in `bodyText` (§1.1, §2.1, §2.2, §2.4, §6.4).

The limits are written out here by hand from the reference's description of the GSMA schema;
the schema file itself is never loaded. Two modes: the default mirrors CMCC's observed leniency
(§2.1: numeric strings for file sizes, empty thumbnail fields), `strict=True` mirrors a
schema validator such as CTCC's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson

from .constants import (
    CT_BOTMESSAGE,
    CT_BOTSUGGESTION,
    CT_FTHTTP,
    CT_MULTIPART,
    CT_STATIC_TEMPLATE,
    CT_TEXT,
    NS_FTHTTP,
)
from .wire import WireError, parse_file_descriptor, parse_media_type, split_multipart

PartKind = Literal["text", "card", "chips", "file", "template", "other"]

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
# Root objects of the GSMA document; only the first two travel chatbot -> user.
ROOT_KEYS = ("message", "suggestions", "response", "sharedData")

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")


class ContentError(Exception):
    """Rich content that breaks a GSMA limit; `path` is a JSON path (or part/XML location)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(slots=True)
class Part:
    content_type: str
    kind: PartKind
    text: str | None = None
    data: Any = None
    disposition: str | None = None
    declared_length: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"content_type": self.content_type, "kind": self.kind}
        if self.text is not None:
            out["text"] = self.text
        if self.data is not None:
            out["json" if self.kind in ("card", "chips", "template") else "file"] = self.data
        if self.disposition:
            out["disposition"] = self.disposition
        return out


class RichContentValidator:
    """Walks a GSMA botmessage / botsuggestion document and raises ContentError on the first fault."""

    def __init__(self, *, strict: bool) -> None:
        self.strict = strict

    # -- roots --

    def root(self, doc: Any, expected: str) -> None:
        obj = self._obj(doc, "$")
        present = [key for key in ROOT_KEYS if key in obj]
        if len(present) != 1:
            raise ContentError("$", f"must hold exactly one of message, suggestions (found {present})")
        key = present[0]
        if key not in ("message", "suggestions"):
            raise ContentError(f"$.{key}", "is not chatbot-to-user content")
        if key != expected and self.strict:
            raise ContentError(f"$.{key}", f"this part must hold {expected!r}")
        if key == "message":
            self.message(obj["message"], "$.message")
        else:
            self.suggestion_list(obj["suggestions"], "$.suggestions", 1, CHIPS_MAX)

    def message(self, value: Any, path: str) -> None:
        obj = self._obj(value, path)
        kind = self._exactly_one(obj, ("generalPurposeCard", "generalPurposeCardCarousel"), path)
        sub = f"{path}.{kind}"
        body = self._obj(obj[kind], sub)
        layout = self._required(body, "layout", sub)
        content = self._required(body, "content", sub)
        if kind == "generalPurposeCard":
            self.card_layout(layout, f"{sub}.layout")
            self.card(content, f"{sub}.content")
        else:
            self.carousel_layout(layout, f"{sub}.layout")
            cards = self._array(content, f"{sub}.content", CAROUSEL_MIN, CAROUSEL_MAX)
            for i, card in enumerate(cards):
                self.card(card, f"{sub}.content[{i}]")

    # -- layout and cards (§2.1) --

    def card_layout(self, value: Any, path: str) -> None:
        obj = self._obj(value, path)
        orientation = self._enum(self._required(obj, "cardOrientation", path), f"{path}.cardOrientation", ORIENTATIONS)
        if orientation == "HORIZONTAL":
            self._enum(self._required(obj, "imageAlignment", path), f"{path}.imageAlignment", ALIGNMENTS)
        self._layout_common(obj, path)

    def carousel_layout(self, value: Any, path: str) -> None:
        obj = self._obj(value, path)
        self._enum(self._required(obj, "cardWidth", path), f"{path}.cardWidth", CARD_WIDTHS)
        self._layout_common(obj, path)

    def _layout_common(self, obj: dict[str, Any], path: str) -> None:
        for key in ("titleFontStyle", "descriptionFontStyle"):
            if key in obj:
                styles = self._array(obj[key], f"{path}.{key}", 1, 3)
                for i, style in enumerate(styles):
                    self._enum(style, f"{path}.{key}[{i}]", FONT_STYLES)
        if "style" in obj:
            self._uri(obj["style"], f"{path}.style")

    def card(self, value: Any, path: str) -> None:
        obj = self._obj(value, path)
        if not any(key in obj for key in ("media", "title", "description")):
            raise ContentError(path, "a card needs at least one of media, title, description")
        if "media" in obj:
            self.media(obj["media"], f"{path}.media")
        if "title" in obj:
            self._str(obj["title"], f"{path}.title", 1, TITLE_MAX)
        if "description" in obj:
            self._str(obj["description"], f"{path}.description", 1, DESCRIPTION_MAX)
        if "suggestions" in obj:
            self.suggestion_list(obj["suggestions"], f"{path}.suggestions", 1, CARD_SUGGESTIONS_MAX)

    def media(self, value: Any, path: str) -> None:
        obj = self._obj(value, path)
        self._uri(self._required(obj, "mediaUrl", path), f"{path}.mediaUrl")
        self._str(self._required(obj, "mediaContentType", path), f"{path}.mediaContentType")
        self._size(self._required(obj, "mediaFileSize", path), f"{path}.mediaFileSize")
        self._enum(self._required(obj, "height", path), f"{path}.height", HEIGHTS)
        thumbnail_url = obj.get("thumbnailUrl")
        # §2.1: CMCC tolerated empty thumbnail fields; lenient mode reads "" as "absent".
        if "thumbnailUrl" in obj and (self.strict or thumbnail_url != ""):
            self._uri(thumbnail_url, f"{path}.thumbnailUrl")
            self._str(self._required(obj, "thumbnailContentType", path), f"{path}.thumbnailContentType")
            self._size(self._required(obj, "thumbnailFileSize", path), f"{path}.thumbnailFileSize")
        else:
            if "thumbnailContentType" in obj:
                self._str(obj["thumbnailContentType"], f"{path}.thumbnailContentType")
            if "thumbnailFileSize" in obj and (self.strict or obj["thumbnailFileSize"] != ""):
                self._size(obj["thumbnailFileSize"], f"{path}.thumbnailFileSize")
        if "contentDescription" in obj:
            self._str(obj["contentDescription"], f"{path}.contentDescription", 1, CONTENT_DESCRIPTION_MAX)

    # -- suggestions (§2.2) --

    def suggestion_list(self, value: Any, path: str, low: int, high: int) -> None:
        items = self._array(value, path, low, high)
        for i, item in enumerate(items):
            self.suggestion(item, f"{path}[{i}]")

    def suggestion(self, value: Any, path: str) -> None:
        obj = self._obj(value, path)
        kind = self._exactly_one(obj, ("reply", "action"), path)
        sub = f"{path}.{kind}"
        body = self._obj(obj[kind], sub)
        self._str(self._required(body, "displayText", sub), f"{sub}.displayText", 1, DISPLAY_TEXT_MAX)
        if "postback" in body:
            postback = self._obj(body["postback"], f"{sub}.postback")
            self._str(self._required(postback, "data", f"{sub}.postback"), f"{sub}.postback.data", 0, POSTBACK_MAX)
        if kind == "action":
            self.action(body, sub)

    def action(self, obj: dict[str, Any], path: str) -> None:
        kind = self._exactly_one(obj, ACTION_KINDS, path)
        sub = f"{path}.{kind}"
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
        sub = f"{path}.openUrl"
        open_url = self._obj(spec["openUrl"], sub)
        self._uri(self._required(open_url, "url", sub), f"{sub}.url")
        application = self._enum(self._required(open_url, "application", sub), f"{sub}.application", URL_APPLICATIONS)
        if application == "webview":
            if "viewMode" in open_url:
                self._enum(open_url["viewMode"], f"{sub}.viewMode", VIEW_MODES)
            if "parameters" in open_url:
                self._str(open_url["parameters"], f"{sub}.parameters", 1, 200)

    def _dialer_action(self, spec: dict[str, Any], path: str) -> None:
        kind = self._exactly_one(spec, ("dialPhoneNumber", "dialEnrichedCall", "dialVideoCall"), path)
        sub = f"{path}.{kind}"
        dial = self._obj(spec[kind], sub)
        self._str(self._required(dial, "phoneNumber", sub), f"{sub}.phoneNumber", 1)
        if kind == "dialEnrichedCall" and "subject" in dial:
            self._str(dial["subject"], f"{sub}.subject", 0, 60)
        if "fallbackUrl" in dial:
            self._uri(dial["fallbackUrl"], f"{sub}.fallbackUrl")

    def _map_action(self, spec: dict[str, Any], path: str) -> None:
        kind = self._exactly_one(spec, ("showLocation", "requestLocationPush"), path)
        sub = f"{path}.{kind}"
        body = self._obj(spec[kind], sub)
        if kind == "requestLocationPush":
            return
        location = self._obj(self._required(body, "location", sub), f"{sub}.location")
        loc = f"{sub}.location"
        has_coordinates = "latitude" in location or "longitude" in location
        if has_coordinates == ("query" in location):
            raise ContentError(loc, "needs exactly one of latitude+longitude or query")
        if has_coordinates:
            for key in ("latitude", "longitude"):
                self._number(self._required(location, key, loc), f"{loc}.{key}")
        else:
            self._str(location["query"], f"{loc}.query", 1, 200)
        if "label" in location:
            self._str(location["label"], f"{loc}.label", 1, 100)
        if "fallbackUrl" in body:
            self._uri(body["fallbackUrl"], f"{sub}.fallbackUrl")

    def _calendar_action(self, spec: dict[str, Any], path: str) -> None:
        self._exactly_one(spec, ("createCalendarEvent",), path)
        sub = f"{path}.createCalendarEvent"
        event = self._obj(spec["createCalendarEvent"], sub)
        for key in ("startTime", "endTime"):
            self._datetime(self._required(event, key, sub), f"{sub}.{key}")
        self._str(self._required(event, "title", sub), f"{sub}.title", 1, 100)
        if "description" in event:
            self._str(event["description"], f"{sub}.description", 1, 500)
        if "fallbackUrl" in event:
            self._uri(event["fallbackUrl"], f"{sub}.fallbackUrl")

    def _compose_action(self, spec: dict[str, Any], path: str) -> None:
        kind = self._exactly_one(spec, ("composeTextMessage", "composeRecordingMessage"), path)
        sub = f"{path}.{kind}"
        body = self._obj(spec[kind], sub)
        self._str(self._required(body, "phoneNumber", sub), f"{sub}.phoneNumber", 1)
        if kind == "composeTextMessage":
            self._str(self._required(body, "text", sub), f"{sub}.text", 0, 100)
        else:
            self._enum(self._required(body, "type", sub), f"{sub}.type", RECORDING_TYPES)

    def _device_action(self, spec: dict[str, Any], path: str) -> None:
        self._exactly_one(spec, ("requestDeviceSpecifics",), path)
        self._obj(spec["requestDeviceSpecifics"], f"{path}.requestDeviceSpecifics")

    def _settings_action(self, spec: dict[str, Any], path: str) -> None:
        kind = self._exactly_one(spec, ("disableAnonymization", "enableDisplayedNotifications"), path)
        self._obj(spec[kind], f"{path}.{kind}")

    # -- primitives --

    @staticmethod
    def _obj(value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ContentError(path, "must be an object")
        return value

    @staticmethod
    def _required(obj: dict[str, Any], key: str, path: str) -> Any:
        if key not in obj:
            raise ContentError(f"{path}.{key}", "is required")
        return obj[key]

    @staticmethod
    def _exactly_one(obj: dict[str, Any], keys: tuple[str, ...], path: str) -> str:
        present = [key for key in keys if key in obj]
        if len(present) != 1:
            raise ContentError(path, f"must hold exactly one of {', '.join(keys)} (found {present})")
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

    def _size(self, value: Any, path: str) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise ContentError(path, "must be >= 0")
            return
        # §2.1: CMCC accepted "mediaFileSize":"151250"; a schema validator does not.
        if not self.strict and isinstance(value, str) and value.isdigit():
            return
        raise ContentError(path, "must be an integer >= 0")

    def _uri(self, value: Any, path: str) -> None:
        text = self._str(value, path, 1)
        if self.strict and not _URI.match(text):
            raise ContentError(path, f"must be an absolute URI, got {text!r}")

    def _datetime(self, value: Any, path: str) -> None:
        text = self._str(value, path, 1)
        if self.strict:
            try:
                datetime.fromisoformat(text)
            except ValueError:
                raise ContentError(path, f"must be an RFC 3339 date-time, got {text!r}") from None


def _loads(text: str, path: str) -> Any:
    try:
        return orjson.loads(text.strip())
    except orjson.JSONDecodeError as exc:
        raise ContentError(path, f"invalid JSON: {exc}") from None


def parse_file_info(text: str, path: str, *, strict: bool) -> dict[str, Any]:
    """FT-HTTP descriptor (§2.4) -> {"file": {...}, "thumbnail": {...} | None}."""
    try:
        root = parse_file_descriptor(text)
    except WireError as exc:
        raise ContentError(path, exc.text) from None
    tag = root.tag if isinstance(root.tag, str) else ""
    namespace, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    if local != "file" or (strict and namespace != NS_FTHTTP):
        raise ContentError(path, f'root must be <file xmlns="{NS_FTHTTP}">')
    found: dict[str, dict[str, Any]] = {}
    for info in root:
        if not isinstance(info.tag, str) or info.tag.rpartition("}")[2] != "file-info":
            continue
        kind = info.get("type", "")
        where = f"{path}/file-info[@type='{kind}']"
        item: dict[str, Any] = {}
        for child in info:
            if not isinstance(child.tag, str):
                continue
            name = child.tag.rpartition("}")[2]
            if name == "data":
                item["url"] = child.get("url")
                if child.get("until"):
                    item["until"] = child.get("until")
            elif name == "file-size":
                size = (child.text or "").strip()
                if not size.isdigit():
                    raise ContentError(f"{where}/file-size", "must be a non-negative integer")
                item["size"] = int(size)
            elif name == "file-name":
                item["name"] = (child.text or "").strip()
            elif name == "content-type":
                item["content_type"] = (child.text or "").strip()
        for key in ("url", "size", "content_type"):
            if not item.get(key) and item.get(key) != 0:
                raise ContentError(f"{where}", f"missing {key.replace('_', '-')}")
        found[kind] = item
    if "file" not in found:
        raise ContentError(path, 'needs a <file-info type="file">')
    return {"file": found["file"], "thumbnail": found.get("thumbnail")}


def parse_body(content_type: str, body_text: str, *, strict: bool) -> list[Part]:
    """Validate `bodyText` for its `contentType` and return the parts a handset would show."""
    main, params = parse_media_type(content_type)
    validator = RichContentValidator(strict=strict)
    if main == CT_TEXT:
        if not body_text:
            raise ContentError("bodyText", "text/plain body is empty")
        return [Part(CT_TEXT, "text", text=body_text)]
    if main == CT_BOTMESSAGE:
        doc = _loads(body_text, "bodyText")
        validator.root(doc, "message")
        return [Part(main, "card", data=doc)]
    if main == CT_FTHTTP:
        return [Part(main, "file", data=parse_file_info(body_text, "bodyText", strict=strict))]
    if main == CT_STATIC_TEMPLATE:
        doc = _loads(body_text, "bodyText")
        if not isinstance(doc, dict) or not isinstance(doc.get("templateID"), str):
            raise ContentError("bodyText", 'static-template needs {"templateID": "..."}')
        return [Part(main, "template", data=doc)]
    if main == CT_MULTIPART:
        boundary = params.get("boundary")
        if not boundary:
            raise ContentError("contentType", "multipart/mixed needs a boundary parameter")
        return _multipart(body_text, boundary, validator)
    raise ContentError("contentType", f"unsupported content type {main!r}")


def _multipart(body_text: str, boundary: str, validator: RichContentValidator) -> list[Part]:
    raw_parts = split_multipart(body_text, boundary)
    if not raw_parts:
        raise ContentError("bodyText", f"no part delimited by --{boundary}")
    parts: list[Part] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_parts, start=1):
        ctype, _ = parse_media_type(raw.content_type)
        where = f"part {index} ({ctype})"
        disposition = raw.headers.get("content-disposition")
        length = raw.headers.get("content-length")
        if ctype in (CT_BOTMESSAGE, CT_BOTSUGGESTION):
            if ctype in seen:
                raise ContentError(where, "only one part of this type is allowed")
            seen.add(ctype)
            doc = _loads(raw.body, where)
            try:
                validator.root(doc, "message" if ctype == CT_BOTMESSAGE else "suggestions")
            except ContentError as exc:
                raise ContentError(exc.path, f"in {where}: {exc.reason}") from None
            kind: PartKind = "card" if "message" in doc else "chips"
            parts.append(Part(ctype, kind, data=doc, disposition=disposition, declared_length=length))
        elif ctype == CT_TEXT:
            parts.append(Part(ctype, "text", text=raw.body, disposition=disposition, declared_length=length))
        elif ctype == CT_FTHTTP:
            info = parse_file_info(raw.body, where, strict=validator.strict)
            parts.append(Part(ctype, "file", data=info, disposition=disposition, declared_length=length))
        elif validator.strict:
            raise ContentError(where, "unsupported part content type")
        else:
            parts.append(Part(ctype, "other", text=raw.body, disposition=disposition, declared_length=length))
    return parts
