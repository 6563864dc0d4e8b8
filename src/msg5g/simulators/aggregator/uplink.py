"""Turn a control-API uplink request into the replyType/replyContent of a Dahantc MO push (§3.6, §2.3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from .constants import REPLY_TYPE_SUGGESTION, REPLY_TYPE_TEXT
from .wire import geo_uri

UPLINK_KINDS = ("text", "postback", "action", "geo")


class UplinkError(ValueError):
    """A control-API uplink body that does not describe one handset message."""


@dataclass(slots=True)
class UplinkContent:
    kind: str
    reply_type: int
    reply_content: str


def build_uplink(payload: Mapping[str, Any]) -> UplinkContent:
    kinds = [k for k in UPLINK_KINDS if k in payload]
    if len(kinds) != 1:
        raise UplinkError(f"give exactly one of {', '.join(UPLINK_KINDS)} (got {kinds})")
    kind = kinds[0]
    value = payload[kind]
    if kind == "text":
        if not isinstance(value, str) or not value:
            raise UplinkError("'text' must be a non-empty string")
        return UplinkContent(kind, REPLY_TYPE_TEXT, value)
    data = _mapping(value, kind)
    if kind == "geo":
        radius = _number(data, "radius") if "radius" in data else None
        text = geo_uri(_number(data, "lat"), _number(data, "lon"), _text(data, "label", required=False), radius)
        # §3.6: a geo location is a replyType 1 text.
        return UplinkContent(kind, REPLY_TYPE_TEXT, text)
    suggestion: dict[str, Any] = {"displayText": _text(data, "display_text")}
    postback = _text(data, "data", required=kind == "postback")
    if postback is not None:
        suggestion["postback"] = {"data": postback}
    # [I] choices: replyType 2 carries the JSON text of {"response":{"reply"|"action":{...}}} (§2.3).
    key = "reply" if kind == "postback" else "action"
    content = orjson.dumps({"response": {key: suggestion}}).decode("utf-8")
    return UplinkContent(kind, REPLY_TYPE_SUGGESTION, content)


def _mapping(value: object, kind: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise UplinkError(f"{kind!r} must be an object")
    return value


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
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UplinkError(f"{key!r} must be a number")
    return float(value)
