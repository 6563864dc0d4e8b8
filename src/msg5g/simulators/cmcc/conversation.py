"""The chat a handset shows for one chatbot, read from what the simulator stored.

Downlinks come as `Simulator.render_entry` gives them (the parts `content.parse_body` found in the body
the CSP sent); uplinks as `Simulator.send_uplink` recorded them. Both are merged in time order into items
a handset page draws: text bubbles, cards and carousels with their buttons, files, and the chips of the
last message. Every tappable suggestion gets a `ref` inside its message, so a tap names (message, ref)
and the simulator answers with the suggestion it really sent, never with what a form claims.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import unquote

import orjson

from .content import ACTION_KINDS, ContentError, parse_file_info

Direction = Literal["in", "out"]
BlockKind = Literal["text", "card", "carousel", "file", "other"]
_SAFE_SCHEMES = ("http://", "https://")


def safe_url(value: object) -> str | None:
    """The URL if a page may link or load it: http(s) only, as `javascript:` and `data:` run or hide code."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text.lower().startswith(_SAFE_SCHEMES) or any(c.isspace() or ord(c) < 32 for c in text):
        return None
    return text


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def timestamp(iso: object) -> float:
    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except ValueError:
        return 0.0


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One chip or card button: what it shows and what tapping it sends."""

    ref: int
    kind: Literal["reply", "action"]
    text: str
    postback: str | None
    # The GSMA action (openUrl, dialPhoneNumber, showLocation, ...) of a suggested action.
    action: str | None = None
    # An http(s) URL the tap opens (openUrl), or the fallback URL of a dial, map or calendar action.
    url: str | None = None
    # What else a phone would do on the tap: the number it dials, the place it shows, the event it adds.
    detail: str | None = None

    def uplink(self) -> dict[str, Any]:
        """The control-API uplink body a tap makes (§2.3): a reply's postback, an action's click."""
        if self.kind == "reply":
            reply: dict[str, Any] = {"display_text": self.text}
            if self.postback is not None:
                reply["data"] = self.postback
            return {"postback": reply}
        action: dict[str, Any] = {"display_text": self.text}
        if self.postback is not None:
            action["data"] = self.postback
        return {"action": action}


@dataclass(frozen=True, slots=True)
class Media:
    url: str | None
    thumbnail_url: str | None
    content_type: str
    description: str | None
    height: str | None
    # The URL as sent, shown as text when it is not one a page may load.
    raw_url: str


@dataclass(frozen=True, slots=True)
class CardView:
    title: str | None
    description: str | None
    media: Media | None
    buttons: list[Suggestion]


@dataclass(frozen=True, slots=True)
class FileView:
    url: str | None
    raw_url: str
    content_type: str
    size: int | None
    name: str | None
    thumbnail_url: str | None


@dataclass(slots=True)
class Block:
    kind: BlockKind
    text: str | None = None
    cards: list[CardView] = field(default_factory=list)
    # Card layout (§2.1): VERTICAL|HORIZONTAL, LEFT|RIGHT, and a carousel's SMALL|MEDIUM width.
    orientation: str | None = None
    image_alignment: str | None = None
    width: str | None = None
    file: FileView | None = None
    content_type: str | None = None


@dataclass(slots=True)
class ChatItem:
    direction: Direction
    at: str
    ts: float
    message_id: str | None
    blocks: list[Block]
    chips: list[Suggestion] = field(default_factory=list)
    # Downlinks: how it reached the handset (rcs, up1 for the UP1.0 fallback body, sms).
    delivered_as: str | None = None
    content_type: str | None = None
    # Uplinks: which kind the handset sent, and whether the CSP took it.
    kind: str | None = None
    ok: bool = True
    error: str | None = None
    # A spam report or shared device data: nothing a person reads as a message, so drawn as a note.
    note: bool = False

    def suggestions(self) -> Iterable[Suggestion]:
        for block in self.blocks:
            for card in block.cards:
                yield from card.buttons
        yield from self.chips


@dataclass(slots=True)
class Conversation:
    number: str
    chatbot_id: str
    version: str
    items: list[ChatItem]

    @property
    def chips(self) -> list[Suggestion]:
        """Chips belong to the newest message only; anything after it, a reply of one's own too, hides them."""
        if self.items and self.items[-1].direction == "in":
            return self.items[-1].chips
        return []

    def find(self, message_id: str, ref: int) -> Suggestion | None:
        for item in self.items:
            if item.direction == "in" and item.message_id == message_id:
                return next((s for s in item.suggestions() if s.ref == ref), None)
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "chatbot_id": self.chatbot_id,
            "version": self.version,
            "messages": [asdict(item) for item in self.items],
            "chips": [asdict(chip) for chip in self.chips],
        }


def build(
    number: str,
    chatbot_id: str,
    version: str,
    entries: Iterable[Mapping[str, Any]],
    uplinks: Iterable[Mapping[str, Any]],
) -> Conversation:
    """The conversation of `number` with `chatbot_id`, oldest first; ties keep downlinks before uplinks."""
    items = [downlink_item(e) for e in entries if e.get("chatbot_id") == chatbot_id]
    items.extend(uplink_item(u) for u in uplinks if u.get("chatbot_id") == chatbot_id)
    items.sort(key=lambda item: item.ts)
    return Conversation(number, chatbot_id, version, items)


# ---------------------------------------------------------------- downlinks


class _Refs:
    """Numbers the suggestions of one message in the order they are drawn."""

    def __init__(self) -> None:
        self.next = 0

    def suggestions(self, raw: object) -> list[Suggestion]:
        out = []
        for item in raw if isinstance(raw, list) else []:
            suggestion = _suggestion(item, self.next)
            if suggestion is not None:
                out.append(suggestion)
                self.next += 1
        return out


def downlink_item(entry: Mapping[str, Any]) -> ChatItem:
    received_at = str(entry.get("received_at", ""))
    item = ChatItem(
        direction="in",
        at=received_at,
        ts=timestamp(received_at),
        message_id=_str(entry.get("message_id")),
        blocks=[],
        delivered_as=_str(entry.get("delivered_as")),
        content_type=_str(entry.get("content_type")),
    )
    if entry.get("delivered_as") == "sms":
        item.blocks.append(Block("text", text=_str(entry.get("sms")) or ""))
        return item
    refs = _Refs()
    for part in entry.get("parts") or []:
        kind = part.get("kind")
        if kind == "text":
            item.blocks.append(Block("text", text=_str(part.get("text")) or ""))
        elif kind == "card":
            block = _card_message(_dict(_dict(part.get("json")).get("message")), refs)
            if block is not None:
                item.blocks.append(block)
        elif kind == "chips":
            item.chips.extend(refs.suggestions(_dict(part.get("json")).get("suggestions")))
        elif kind == "file":
            item.blocks.append(Block("file", file=_file_view(_dict(part.get("file")))))
        else:
            item.blocks.append(
                Block("other", text=_str(part.get("text")) or "", content_type=_str(part.get("content_type")))
            )
    return item


def _card_message(message: dict[str, Any], refs: _Refs) -> Block | None:
    single = _dict(message.get("generalPurposeCard"))
    if single:
        layout = _dict(single.get("layout"))
        return Block(
            "card",
            cards=[_card(_dict(single.get("content")), refs)],
            orientation=_str(layout.get("cardOrientation")),
            image_alignment=_str(layout.get("imageAlignment")),
        )
    carousel = _dict(message.get("generalPurposeCardCarousel"))
    if carousel:
        content = carousel.get("content")
        cards = [_card(c, refs) for c in content if isinstance(c, dict)] if isinstance(content, list) else []
        return Block("carousel", cards=cards, width=_str(_dict(carousel.get("layout")).get("cardWidth")))
    return None


def _card(content: dict[str, Any], refs: _Refs) -> CardView:
    media = _dict(content.get("media"))
    return CardView(
        title=_str(content.get("title")),
        description=_str(content.get("description")),
        media=_media(media) if media else None,
        buttons=refs.suggestions(content.get("suggestions")),
    )


def _media(media: dict[str, Any]) -> Media:
    raw = _str(media.get("mediaUrl")) or ""
    return Media(
        url=safe_url(raw),
        thumbnail_url=safe_url(media.get("thumbnailUrl")),
        content_type=_str(media.get("mediaContentType")) or "",
        description=_str(media.get("contentDescription")),
        height=_str(media.get("height")),
        raw_url=raw,
    )


def _file_view(info: dict[str, Any]) -> FileView:
    file = _dict(info.get("file"))
    thumbnail = _dict(info.get("thumbnail"))
    raw = _str(file.get("url")) or ""
    size = file.get("size")
    return FileView(
        url=safe_url(raw),
        raw_url=raw,
        content_type=_str(file.get("content_type")) or "",
        size=size if isinstance(size, int) else None,
        name=_str(file.get("name")),
        thumbnail_url=safe_url(thumbnail.get("url")),
    )


def _suggestion(raw: object, ref: int) -> Suggestion | None:
    obj = _dict(raw)
    if isinstance(obj.get("reply"), dict):
        kind: Literal["reply", "action"] = "reply"
    elif isinstance(obj.get("action"), dict):
        kind = "action"
    else:
        return None
    body: dict[str, Any] = obj[kind]
    postback = _dict(body.get("postback"))
    data = _str(postback.get("data")) if "data" in postback else None
    text = _str(body.get("displayText")) or ""
    if kind == "reply":
        return Suggestion(ref, kind, text, data)
    action, url, detail = _action(body)
    return Suggestion(ref, kind, text, data, action, url, detail)


def _action(body: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(GSMA action name, http(s) URL it opens, what it would do) of a suggested action (§2.2)."""
    family = next((k for k in ACTION_KINDS if isinstance(body.get(k), dict)), None)
    if family is None:
        return None, None, None
    spec: dict[str, Any] = body[family]
    name = next((k for k, v in spec.items() if isinstance(v, dict)), None)
    if name is None:
        return None, None, None
    inner: dict[str, Any] = spec[name]
    if name == "openUrl":
        return name, safe_url(inner.get("url")), _str(inner.get("url"))
    url = safe_url(inner.get("fallbackUrl"))
    if family in ("dialerAction", "composeAction"):
        detail = " ".join(t for t in (_str(inner.get("phoneNumber")), _str(inner.get("text"))) if t)
    elif name == "showLocation":
        location = _dict(inner.get("location"))
        where = _str(location.get("query"))
        if where is None and "latitude" in location:
            where = f"{location.get('latitude')},{location.get('longitude')}"
        detail = " ".join(t for t in (_str(location.get("label")), where) if t)
    elif name == "createCalendarEvent":
        detail = " ".join(t for t in (_str(inner.get("title")), _str(inner.get("startTime"))) if t)
    else:
        detail = ""
    return name, url, detail or None


# ---------------------------------------------------------------- uplinks


def uplink_item(uplink: Mapping[str, Any]) -> ChatItem:
    sent_at = str(uplink.get("sent_at", ""))
    kind = _str(uplink.get("kind")) or "text"
    body = _str(uplink.get("body_text")) or ""
    ok = uplink.get("ok") is True
    error = None
    if not ok:
        status = uplink.get("status")
        error = f"CSP answered {status}" if status is not None else str(uplink.get("error") or "CSP unreachable")
    text, note = _uplink_text(kind, body)
    blocks = [Block("text", text=text)]
    if kind == "file":
        # A descriptor the handset could not have written stays the text it is.
        with suppress(ContentError):
            blocks = [Block("file", file=_file_view(parse_file_info(body, "bodyText", strict=False)))]
    return ChatItem(
        direction="out",
        at=sent_at,
        ts=timestamp(sent_at),
        message_id=_str(uplink.get("message_id")),
        blocks=blocks,
        content_type=_str(uplink.get("content_type")),
        kind=kind,
        ok=ok,
        error=error,
        note=note,
    )


def _uplink_text(kind: str, body: str) -> tuple[str, bool]:
    """What the handset shows for what it sent: the tapped suggestion's text, a place, a file's name."""
    if kind in ("postback", "action"):
        response = _dict(_loads(body).get("response"))
        tapped = _dict(response.get("reply") or response.get("action"))
        return _str(tapped.get("displayText")) or "", False
    if kind == "geo":
        return "📍 " + _geo_label(body), False
    if kind == "shared_data":
        return "shared device information", True
    if kind == "spam_report":
        return "reported the chatbot as spam", True
    if kind == "file":
        return "sent a file", False
    return body, False


def _loads(text: str) -> dict[str, Any]:
    try:
        return _dict(orjson.loads(text))
    except orjson.JSONDecodeError:
        return {}


def _geo_label(body: str) -> str:
    """`geo:lat,lon;...;rcs-l=Label` (§1.1) -> the label, else the coordinates."""
    coordinates, *params = body.removeprefix("geo:").split(";")
    for param in params:
        key, _, value = param.partition("=")
        if key == "rcs-l" and value:
            return unquote(value)
    return coordinates

