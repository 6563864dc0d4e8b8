"""Turn a control-API uplink request into the bodyText a CMCC handset would produce (§1.4, §2.3)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from .constants import (
    CT_FTHTTP,
    CT_SHARED_CLIENT_DATA,
    CT_SPAM_REPORT,
    CT_SUGGESTION_RESPONSE,
    CT_TEXT,
)
from .wire import FileInfo, build_file_descriptor, build_geo_uri, build_spam_report, has_invalid_xml_chars

UPLINK_KINDS = ("text", "postback", "action", "file", "geo", "shared_data", "spam_report")
DEVICE_SPECIFICS = ("deviceModel", "platformVersion", "clientVendor", "clientVersion", "batteryRemainingMinutes")


class UplinkError(ValueError):
    """A control-API uplink body that does not describe one handset message."""


@dataclass(slots=True)
class UplinkContent:
    kind: str
    content_type: str
    body_text: str
    content_encoding: str | None
    # §1.4: spam reports carry no messageId.
    has_message_id: bool = True
    # The raw (un-encoded) body, returned to the caller for checking.
    plain_body: str = ""


def _json(value: object) -> str:
    return orjson.dumps(value).decode("utf-8")


def _text(data: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise UplinkError(f"{key!r} is required")
        return None
    if not isinstance(value, str):
        raise UplinkError(f"{key!r} must be a string")
    return value


def _number(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UplinkError(f"{key!r} must be a number")
    try:
        return float(value)
    except ValueError:
        raise UplinkError(f"{key!r} must be a number") from None


def _size(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UplinkError(f"{key!r} must be a non-negative integer")
    return value


def build_uplink(payload: Mapping[str, Any], chatbot: str) -> UplinkContent:
    kinds = [k for k in UPLINK_KINDS if k in payload]
    if len(kinds) != 1:
        raise UplinkError(f"give exactly one of {', '.join(UPLINK_KINDS)} (got {kinds})")
    kind = kinds[0]
    value = payload[kind]
    if kind == "text":
        if not isinstance(value, str) or not value:
            raise UplinkError("'text' must be a non-empty string")
        content_type, body = CT_TEXT, value
    elif kind == "postback":
        data = _mapping(value, kind)
        reply: dict[str, Any] = {"displayText": _text(data, "display_text")}
        # A reply chip sent without postback (the schema allows it) is answered without one.
        reply_data = _text(data, "data", required=False)
        if reply_data is not None:
            reply["postback"] = {"data": reply_data}
        reply["type"] = "reply"
        # §1.4 decoded real traffic: {"response":{"reply":{displayText, postback{data}, type}}}.
        content_type, body = CT_SUGGESTION_RESPONSE, _json({"response": {"reply": reply}})
    elif kind == "action":
        data = _mapping(value, kind)
        action: dict[str, Any] = {"displayText": _text(data, "display_text")}
        postback = _text(data, "data", required=False)
        if postback is not None:
            action["postback"] = {"data": postback}
        # §1.4: a bare action click arrives as {"response":{"action":{"displayText":...}}}.
        content_type, body = CT_SUGGESTION_RESPONSE, _json({"response": {"action": action}})
    elif kind == "file":
        data = _mapping(value, kind)
        file = FileInfo(
            url=str(_text(data, "url")),
            content_type=str(_text(data, "content_type")),
            size=_size(data, "size"),
            name=_text(data, "name", required=False),
            until=_text(data, "until", required=False),
        )
        thumbnail = None
        if data.get("thumbnail_url") is not None:
            thumbnail = FileInfo(
                url=str(_text(data, "thumbnail_url")),
                content_type=_text(data, "thumbnail_content_type", required=False) or "image/jpeg",
                size=_size(data, "thumbnail_size") if "thumbnail_size" in data else 0,
                until=file.until,
            )
        content_type, body = CT_FTHTTP, build_file_descriptor(file, thumbnail)
    elif kind == "geo":
        data = _mapping(value, kind)
        radius = _number(data, "radius") if "radius" in data else 10.0
        body = build_geo_uri(_number(data, "lat"), _number(data, "lon"), _text(data, "label", required=False), radius)
        content_type = CT_TEXT
    elif kind == "shared_data":
        data = _mapping(value, kind)
        specifics = data.get("deviceSpecifics", data)
        if not isinstance(specifics, Mapping) or not specifics:
            raise UplinkError("'shared_data' must hold device specifics")
        unknown = set(specifics) - set(DEVICE_SPECIFICS)
        if unknown:
            raise UplinkError(f"unknown device specifics {sorted(unknown)}")
        content_type = CT_SHARED_CLIENT_DATA
        body = _json({"sharedData": {"deviceSpecifics": dict(specifics)}})
    else:
        data = _mapping(value, kind)
        body = build_spam_report(
            chatbot, _text(data, "spam_type", required=False) or "", _text(data, "free_text", required=False) or ""
        )
        content_type = CT_SPAM_REPORT
    if has_invalid_xml_chars(body):
        raise UplinkError("the message contains characters XML cannot carry")
    use_base64 = payload.get("base64", False)
    if not isinstance(use_base64, bool):
        raise UplinkError("'base64' must be a boolean")
    if use_base64:
        # §1.4: real CMCC MO traffic carries base64 bodyText with contentEncoding base64.
        encoded = base64.b64encode(body.encode("utf-8")).decode("ascii")
        return UplinkContent(kind, content_type, encoded, "base64", kind != "spam_report", body)
    return UplinkContent(kind, content_type, body, None, kind != "spam_report", body)


def _mapping(value: object, kind: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise UplinkError(f"{kind!r} must be an object")
    return value
