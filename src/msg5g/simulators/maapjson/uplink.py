"""Turn a control-API uplink request into what a CT/CU handset's message looks like (§2.3, §3.3.6).

The control body has the same shape as the CMCC simulator's, so one test helper drives both.
`menu_path` taps an entry of the chatbot's approved persistent menu (§2.5): the handset sends what
tapping the same suggestion chip would, so it is the `postback` / `action` wire shape again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .constants import CT_FTHTTP, CT_SHARED_CLIENT_DATA, CT_SUGGESTION_RESPONSE, CT_TEXT
from .wire import geo_uri

UPLINK_KINDS = ("text", "postback", "action", "file", "geo", "shared_data", "spam_report")
MENU_PATH = "menu_path"
DEVICE_SPECIFICS = ("deviceModel", "platformVersion", "clientVendor", "clientVersion", "batteryRemainingMinutes")


class UplinkError(ValueError):
    """A control-API uplink body that does not describe one handset message."""


@dataclass(slots=True)
class UplinkContent:
    kind: str
    # One messageList item {contentType, contentEncoding, contentText}, or None for a spam report.
    item: dict[str, Any] | None
    spam_type: str = ""
    free_text: str = ""
    message_ids: list[str] | None = None


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


def _item(content_type: str, content_text: Any) -> dict[str, Any]:
    return {"contentType": content_type, "contentEncoding": "utf8", "contentText": content_text}


def build_uplink(payload: Mapping[str, Any]) -> UplinkContent:
    kinds = [k for k in UPLINK_KINDS if k in payload]
    if len(kinds) != 1:
        raise UplinkError(f"give exactly one of {', '.join(UPLINK_KINDS)} (got {kinds})")
    kind = kinds[0]
    value = payload[kind]
    if kind == "text":
        if not isinstance(value, str) or not value:
            raise UplinkError("'text' must be a non-empty string")
        return UplinkContent(kind, _item(CT_TEXT, value))
    data = _mapping(value, kind)
    if kind == "postback":
        reply = {"displayText": _text(data, "display_text"), "postback": {"data": _text(data, "data")}, "type": "reply"}
        # §2.3 decoded real traffic: {"response":{"reply":{displayText, postback{data}, type}}}.
        return UplinkContent(kind, _item(CT_SUGGESTION_RESPONSE, {"response": {"reply": reply}}))
    if kind == "action":
        action: dict[str, Any] = {"displayText": _text(data, "display_text")}
        postback = _text(data, "data", required=False)
        if postback is not None:
            action["postback"] = {"data": postback}
        # §2.3: a bare action click arrives as {"response":{"action":{"displayText":...}}}.
        return UplinkContent(kind, _item(CT_SUGGESTION_RESPONSE, {"response": {"action": action}}))
    if kind == "file":
        return UplinkContent(kind, _item(CT_FTHTTP, _file_entries(data)))
    if kind == "geo":
        radius = _number(data, "radius") if "radius" in data else None
        text = geo_uri(_number(data, "lat"), _number(data, "lon"), _text(data, "label", required=False), radius)
        # §3.3.6: a location arrives as text/plain holding a geo URI.
        return UplinkContent(kind, _item(CT_TEXT, text))
    if kind == "shared_data":
        specifics = data.get("deviceSpecifics", data)
        if not isinstance(specifics, Mapping) or not specifics:
            raise UplinkError("'shared_data' must hold device specifics")
        unknown = set(specifics) - set(DEVICE_SPECIFICS)
        if unknown:
            raise UplinkError(f"unknown device specifics {sorted(unknown)}")
        return UplinkContent(kind, _item(CT_SHARED_CLIENT_DATA, {"sharedData": {"deviceSpecifics": dict(specifics)}}))
    ids = data.get("message_ids")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
        raise UplinkError("'message_ids' must be a list of strings")
    return UplinkContent(
        kind,
        None,
        spam_type=_text(data, "spam_type", required=False) or "",
        free_text=_text(data, "free_text", required=False) or "",
        message_ids=ids,
    )


def menu_tap(menu: Mapping[str, Any] | None, path: object) -> UplinkContent:
    """The uplink of tapping the entry at `path` (indexes from the top level down) of `menu`.

    `menu` is an approved (so already validated, §2.5) `{"menu":{"entries":[...]}}`. Every index
    but the last must open a sub-menu; the last must name a reply or an action, which is what is sent.
    """
    if not isinstance(path, list) or not path or not all(type(i) is int and i >= 0 for i in path):
        raise UplinkError(f"{MENU_PATH!r} must be a non-empty list of non-negative integers")
    if menu is None:
        raise UplinkError("this chatbot has no approved menu")
    entries: list[dict[str, Any]] = menu["menu"]["entries"]
    for depth, index in enumerate(path):
        if index >= len(entries):
            raise UplinkError(f"menu path {path[: depth + 1]} is not in the menu")
        entry = entries[index]
        if depth < len(path) - 1:
            if "menu" not in entry:
                raise UplinkError(f"menu path {path[: depth + 1]} is not a sub-menu")
            entries = entry["menu"]["entries"]
    if "menu" in entry:
        raise UplinkError(f"menu path {path} opens a sub-menu; tap one of its entries")
    kind = "reply" if "reply" in entry else "action"
    body = entry[kind]
    # §2.3: displayText and postback as the chatbot defined them; a reply also says its type.
    response: dict[str, Any] = {"displayText": body["displayText"]}
    if "postback" in body:
        response["postback"] = {"data": body["postback"]["data"]}
    if kind == "reply":
        response["type"] = "reply"
    return UplinkContent(MENU_PATH, _item(CT_SUGGESTION_RESPONSE, {"response": {kind: response}}))


def _file_entries(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """§3.3.6: the JSON rcs-ft-http list, file first, then an optional thumbnail."""
    url = str(_text(data, "url"))
    file: dict[str, Any] = {
        "type": "file",
        "fileSize": _size(data, "size"),
        "fileName": _text(data, "name", required=False) or url.rpartition("/")[2],
        "contentType": _text(data, "content_type"),
        "url": url,
    }
    until = _text(data, "until", required=False)
    if until is not None:
        file["until"] = until
    entries = [file]
    if data.get("thumbnail_url") is not None:
        thumbnail: dict[str, Any] = {
            "type": "thumbnail",
            "fileSize": _size(data, "thumbnail_size") if "thumbnail_size" in data else 0,
            "contentType": _text(data, "thumbnail_content_type", required=False) or "image/jpeg",
            "url": _text(data, "thumbnail_url"),
        }
        if until is not None:
            thumbnail["until"] = until
        entries.append(thumbnail)
    return entries


def _mapping(value: object, kind: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise UplinkError(f"{kind!r} must be an object")
    return value
