"""The handset page: a phone's messaging app a person plays, one handset number and one chatbot at a time.

Server-rendered, so it works without script: a reply is a form post, a tap is a form post naming the
message and the suggestion (the simulator sends what that suggestion really says), and a meta refresh
inside <noscript> brings news. /_sim/ui/handset.js makes the same forms post in the background and polls
/_sim/handsets/{number}/conversation, which answers with the log drawn by `render_log` below.

Everything shown comes from a chatbot, so from whoever can send to the simulator: every value is
escaped, and only http(s) URLs become links or images (`conversation.safe_url`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from html import escape
from urllib.parse import quote, urlencode

from .conversation import Block, CardView, ChatItem, Conversation, FileView, Media, Suggestion
from .settings import CAPABILITIES, ChatbotAccount
from .state import Handset

# The simulated handset is in China: it shows China Standard Time, whatever the server's zone.
CST = timezone(timedelta(hours=8), "CST")
# Without script the page reloads itself this often; long enough to type a short reply.
REFRESH_SECONDS = 10
_HEIGHTS = {"SHORT_HEIGHT": "short", "MEDIUM_HEIGHT": "medium", "TALL_HEIGHT": "tall"}
_ACTION_ICONS = {
    "openUrl": "↗",
    "dialPhoneNumber": "☎",
    "dialEnrichedCall": "☎",
    "dialVideoCall": "☎",
    "showLocation": "⌖",
    "requestLocationPush": "⌖",
    "createCalendarEvent": "▦",
    "composeTextMessage": "✎",
    "composeRecordingMessage": "●",
}


def _e(value: object) -> str:
    return escape(str(value), quote=True)


@dataclass(frozen=True, slots=True)
class Phone:
    """Whose handset, talking to which chatbot, sending uplinks base64-encoded (as real CMCC MO traffic) or not."""

    number: str
    chatbot_id: str
    base64: bool = True

    def hidden(self) -> str:
        return (
            f"<input type='hidden' name='number' value='{_e(self.number)}'>"
            f"<input type='hidden' name='chatbot_id' value='{_e(self.chatbot_id)}'>"
            f"<input type='hidden' name='base64' value='{'on' if self.base64 else 'off'}'>"
        )

    def page_url(self, **extra: str) -> str:
        query = {"number": self.number, "chatbot_id": self.chatbot_id, **extra}
        if not self.base64:
            query["encoding"] = "plain"
        return "/_sim/?" + urlencode(query)

    def poll_url(self) -> str:
        query = {"chatbot_id": self.chatbot_id}
        if not self.base64:
            query["encoding"] = "plain"
        return f"/_sim/handsets/{quote(self.number, safe='')}/conversation?{urlencode(query)}"


def status_text(number: str, handset: Handset | None, default_capability: str) -> str:
    """The handset's state line: its capability, and what the MaaP holds for it while it is offline."""
    capability = handset.capability if handset else default_capability
    labels = {"up2": "5G 消息 (UP2.0)", "up1": "UP1.0", "none": "SMS only", "offline": "offline"}
    text = f"{number} · {labels.get(capability, capability)}"
    if handset is not None and handset.held:
        text += f" · {len(handset.held)} held"
    return text


def render_page(
    *,
    chatbots: Sequence[ChatbotAccount],
    handsets: Sequence[Handset],
    number: str | None,
    handset: Handset | None,
    phone: Phone | None,
    conversation: Conversation | None,
    partners: Sequence[str],
    status: str,
    notice: str | None,
) -> str:
    refresh = f"<noscript><meta http-equiv='refresh' content='{REFRESH_SECONDS}'></noscript>" if phone else ""
    title = f"{number} · CMCC MaaP simulator" if number else "CMCC MaaP simulator"
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{_e(title)}</title>{refresh}",
        "<link rel='stylesheet' href='/_sim/ui/handset.css'>",
        "<script src='/_sim/ui/handset.js' defer></script></head><body>",
        "<header class='top'><h1>China Mobile MaaP simulator: handsets</h1>",
        _open_form(chatbots, number, phone),
        "</header>",
    ]
    if notice:
        parts.append(f"<p class='notice' role='status'>{_e(notice)}</p>")
    parts.append("<main class='layout'>")
    if phone is not None and conversation is not None:
        parts.append(_phone(phone, conversation, status))
    elif number:
        parts.append("<p class='meta'>The simulator knows no chatbot yet: add one with PUT /_sim/chatbots/{id}.</p>")
    parts.append("<aside class='side'>")
    if number:
        parts.append(_handset_panel(number, handset, phone, partners))
    parts.append(_handset_table(handsets))
    parts.append(
        "<p class='meta'>JSON: /_sim/handsets/{number}/conversation?chatbot_id=, /_sim/handsets/{number}/inbox, "
        "/_sim/stats, /_sim/faults</p></aside></main></body></html>"
    )
    return "".join(parts)


def _open_form(chatbots: Sequence[ChatbotAccount], number: str | None, phone: Phone | None) -> str:
    selected = phone.chatbot_id if phone else None
    bots = "".join(
        f"<option value='{_e(b.chatbot_id)}'{' selected' if b.chatbot_id == selected else ''}>"
        f"{_e(b.chatbot_id)}</option>"
        for b in chatbots
    )
    plain = phone is not None and not phone.base64
    return (
        "<form class='open' method='get' action='/_sim/'>"
        "<label>Handset <input name='number' placeholder='+8613800000000' "
        f"value='{_e(number or '')}' required></label> "
        f"<label>Chatbot <select name='chatbot_id'>{bots}</select></label> "
        "<label>Uplinks <select name='encoding'>"
        f"<option value='base64'{'' if plain else ' selected'}>base64 (as CMCC handsets)</option>"
        f"<option value='plain'{' selected' if plain else ''}>plain</option></select></label> "
        "<button>open</button></form>"
    )


def _phone(phone: Phone, conversation: Conversation, status: str) -> str:
    return (
        f"<section class='phone' aria-label='Handset {_e(phone.number)}'>"
        f"<div class='statusbar'><span class='clock'>{_clock(datetime.now(UTC).timestamp())}</span>"
        f"<span class='carrier'>中国移动</span><span class='status' data-status>{_e(status)}</span></div>"
        "<div class='appbar'><span class='avatar' aria-hidden='true'>🤖</span>"
        f"<span class='who'><b>{_e(phone.chatbot_id)}</b>"
        f"<small>sip:{_e(phone.chatbot_id)}@botplatform.rcs.chinamobile.com</small></span></div>"
        f"<div class='chat' id='chat' data-poll='{_e(phone.poll_url())}' data-version='{_e(conversation.version)}'>"
        f"<div id='log' role='log' aria-live='polite'>{render_log(phone, conversation)}</div>"
        "<div id='pending'></div></div>"
        "<form class='composer' method='post' action='/_sim/ui/uplink'>"
        f"{phone.hidden()}<input type='hidden' name='kind' value='text'>"
        "<input name='text' aria-label='Message' placeholder='发送消息' autocomplete='off' required>"
        "<button type='submit'>Send</button></form></section>"
    )


def render_log(phone: Phone, conversation: Conversation) -> str:
    """The conversation, oldest first, with the newest message's chips at the end."""
    if not conversation.items:
        return "<p class='empty'>No messages with this chatbot yet. Say something.</p>"
    out: list[str] = []
    day = ""
    for item in conversation.items:
        shown_day = _day(item.ts)
        if shown_day != day:
            day = shown_day
            out.append(f"<div class='day'>{_e(day)}</div>")
        out.append(_item(phone, item))
    chips = conversation.chips
    if chips:
        message_id = conversation.items[-1].message_id or ""
        out.append("<div class='chips' role='group' aria-label='Suggestions'>")
        out.extend(_tap(phone, message_id, chip, "chip") for chip in chips)
        out.append("</div>")
    return "".join(out)


def _item(phone: Phone, item: ChatItem) -> str:
    side = item.direction
    message_id = item.message_id or ""
    body = "".join(_block(phone, message_id, side, block) for block in item.blocks)
    meta = [f"<time datetime='{_e(item.at)}'>{_clock(item.ts)}</time>"]
    if side == "in":
        if item.delivered_as == "sms":
            meta.append("SMS")
        elif item.delivered_as == "up1":
            meta.append("UP1.0 fallback")
    else:
        if item.kind in ("postback", "action"):
            meta.append("tapped")
        meta.append("sent" if item.ok else f"<span class='failed'>not delivered: {_e(item.error or '')}</span>")
    classes = f"row {side}" + (" note" if item.note else "")
    title = f"{item.content_type or ''} {message_id}".strip()
    return (
        f"<div class='{classes}' data-message-id='{_e(message_id)}' title='{_e(title)}'>"
        f"{body}<div class='meta'>{' · '.join(meta)}</div></div>"
    )


def _block(phone: Phone, message_id: str, side: str, block: Block) -> str:
    if block.kind == "text":
        return f"<div class='bubble {side}'>{_e(block.text or '')}</div>"
    if block.kind == "card":
        card = block.cards[0] if block.cards else None
        if card is None:
            return ""
        horizontal = block.orientation == "HORIZONTAL"
        layout = " horizontal" + (" right" if block.image_alignment == "RIGHT" else "") if horizontal else ""
        return _card(phone, message_id, card, f"card{layout}")
    if block.kind == "carousel":
        width = "small" if block.width == "SMALL_WIDTH" else "medium"
        cards = "".join(_card(phone, message_id, card, f"card {width}") for card in block.cards)
        return f"<div class='carousel' role='group' aria-label='Cards'>{cards}</div>"
    if block.kind == "file" and block.file is not None:
        return f"<div class='bubble {side} file'>{_file(block.file)}</div>"
    label = f"[{block.content_type}] " if block.content_type else ""
    return f"<div class='bubble {side} other'>{_e(label)}{_e(block.text or '')}</div>"


def _card(phone: Phone, message_id: str, card: CardView, classes: str) -> str:
    out = [f"<article class='{classes}'><div class='card-main'>"]
    if card.media is not None:
        out.append(_media(card.media))
    out.append("<div class='card-body'>")
    if card.title:
        out.append(f"<h3 class='card-title'>{_e(card.title)}</h3>")
    if card.description:
        out.append(f"<p class='card-description'>{_e(card.description)}</p>")
    out.append("</div></div>")
    if card.buttons:
        out.append("<div class='card-buttons'>")
        out.extend(_tap(phone, message_id, button, "card-button") for button in card.buttons)
        out.append("</div>")
    out.append("</article>")
    return "".join(out)


def _media(media: Media) -> str:
    height = _HEIGHTS.get(media.height or "", "medium")
    alt = _e(media.description or "")
    kind = media.content_type.partition("/")[0].lower()
    if media.url is None:
        return f"<div class='media {height} broken'>{_e(media.raw_url)}</div>"
    url = _e(media.url)
    if kind == "video":
        poster = f" poster='{_e(media.thumbnail_url)}'" if media.thumbnail_url else ""
        return f"<video class='media {height}' controls preload='none' src='{url}'{poster} aria-label='{alt}'></video>"
    if kind == "audio":
        return f"<audio class='media audio' controls preload='none' src='{url}' aria-label='{alt}'></audio>"
    shown = _e(media.thumbnail_url or media.url)
    return (
        f"<a class='media {height}' href='{url}' target='_blank' rel='noopener noreferrer'>"
        f"<img src='{shown}' alt='{alt}' loading='lazy' referrerpolicy='no-referrer'></a>"
    )


def _file(file: FileView) -> str:
    name = file.name or file.raw_url.rpartition("/")[2] or "file"
    size = f" · {_size(file.size)}" if file.size is not None else ""
    label = f"<span class='file-name'>📄 {_e(name)}</span><small>{_e(file.content_type)}{_e(size)}</small>"
    if file.url is None:
        return f"{label}<small class='broken'>{_e(file.raw_url)}</small>"
    image = file.thumbnail_url or (file.url if file.content_type.startswith("image/") else None)
    preview = f"<img src='{_e(image)}' alt='{_e(name)}' loading='lazy' referrerpolicy='no-referrer'>" if image else ""
    return f"<a href='{_e(file.url)}' target='_blank' rel='noopener noreferrer'>{preview}{label}</a>"


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} B"


def _tap(phone: Phone, message_id: str, suggestion: Suggestion, classes: str) -> str:
    """A form whose post sends the uplink a tap sends; an open-URL one also opens the URL, in a new tab."""
    hints = []
    if suggestion.postback is not None:
        hints.append(f"postback: {suggestion.postback}")
    if suggestion.action:
        hints.append(f"{suggestion.action}: {suggestion.detail or ''}".rstrip(": "))
    opens = suggestion.url if suggestion.action == "openUrl" else None
    target = f" target='_blank' rel='noopener noreferrer' data-open-url='{_e(opens)}'" if opens else ""
    icon = _ACTION_ICONS.get(suggestion.action or "", "")
    shown = f"<span class='icon' aria-hidden='true'>{icon}</span> " if icon else ""
    return (
        f"<form class='tap' method='post' action='/_sim/ui/tap'{target}>{phone.hidden()}"
        f"<input type='hidden' name='message_id' value='{_e(message_id)}'>"
        f"<input type='hidden' name='ref' value='{suggestion.ref}'>"
        f"<button type='submit' class='{classes} {suggestion.kind}' title='{_e(' · '.join(hints))}' "
        f"data-text='{_e(suggestion.text)}'>{shown}{_e(suggestion.text)}</button></form>"
    )


def _handset_panel(number: str, handset: Handset | None, phone: Phone | None, partners: Sequence[str]) -> str:
    capability = handset.capability if handset else None
    options = "".join(f"<option{' selected' if c == capability else ''}>{c}</option>" for c in CAPABILITIES)
    # Setting the capability comes back to this same conversation.
    hidden = phone.hidden() if phone else f"<input type='hidden' name='number' value='{_e(number)}'>"
    out = [
        f"<section class='panel'><h2>{_e(number)}</h2>",
        f"<form method='post' action='/_sim/ui/capability'>{hidden}"
        f"<label>Capability <select name='capability'>{options}</select></label> <button>set</button></form>",
    ]
    if partners:
        out.append("<h3>Conversations</h3><ul class='partners'>")
        for chatbot_id in partners:
            here = phone is not None and phone.chatbot_id == chatbot_id
            link = Phone(number, chatbot_id, phone.base64 if phone else True).page_url()
            current = " aria-current='page'" if here else ""
            out.append(f"<li><a href='{_e(link)}'{current}>{_e(chatbot_id)}</a></li>")
        out.append("</ul>")
    out.append("</section>")
    return "".join(out)


def _handset_table(handsets: Iterable[Handset]) -> str:
    rows = []
    for handset in handsets:
        options = "".join(f"<option{' selected' if c == handset.capability else ''}>{c}</option>" for c in CAPABILITIES)
        rows.append(
            f"<tr><td><a href='/_sim/?{_e(urlencode({'number': handset.number}))}'>"
            f"{_e(handset.number)}</a></td><td>{len(handset.inbox)}</td><td>{len(handset.held)}</td>"
            "<td><form method='post' action='/_sim/ui/capability'>"
            f"<input type='hidden' name='number' value='{_e(handset.number)}'>"
            f"<select name='capability' aria-label='Capability of {_e(handset.number)}'>{options}</select> "
            "<button>set</button></form></td></tr>"
        )
    if not rows:
        return "<p class='meta'>No handset has received anything yet.</p>"
    return (
        "<section class='panel'><h2>Handsets</h2><table><tr><th>number</th><th>inbox</th><th>held</th>"
        f"<th>capability</th></tr>{''.join(rows)}</table></section>"
    )


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, CST).strftime("%H:%M")


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, CST).strftime("%Y-%m-%d")
