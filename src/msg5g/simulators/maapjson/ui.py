"""A plain server-rendered page where a person plays a CT/CU handset: read the inbox, reply, tap chips."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any
from urllib.parse import urlencode

from .constants import Dialect
from .settings import CAPABILITIES, ChatbotAccount
from .state import Handset

_TITLES: dict[Dialect, str] = {"ctcc": "China Telecom", "cucc": "China Unicom"}

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:60rem;color:#222}
h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:1.5rem}
.msg{border:1px solid #ccc;border-radius:.6rem;padding:.6rem .8rem;margin:.5rem 0;background:#fafafa}
.meta{color:#777;font-size:.8rem}.card{border-left:3px solid #4a7;padding-left:.6rem;margin:.4rem 0}
.chips form{display:inline}.chips button{margin:.15rem;border-radius:1rem;border:1px solid #4a7;
background:#fff;padding:.2rem .7rem;cursor:pointer}.notice{background:#ffc;padding:.4rem .6rem}
table{border-collapse:collapse}td,th{padding:.2rem .6rem;border-bottom:1px solid #eee;text-align:left}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def render_page(
    *,
    dialect: Dialect,
    chatbots: Sequence[ChatbotAccount],
    handsets: Sequence[Handset],
    number: str | None,
    handset: Handset | None,
    entries: Sequence[dict[str, Any]],
    selected_chatbot: str | None,
    notice: str | None,
) -> str:
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{dialect.upper()} MaaP simulator</title>",
        f"<style>{_STYLE}</style></head><body><h1>{_TITLES[dialect]} MaaP simulator: handsets</h1>",
    ]
    if notice:
        parts.append(f"<p class='notice'>{_e(notice)}</p>")
    parts.append(
        "<form method='get' action='/_sim/'>Open handset <input name='number' "
        f"placeholder='+8613800000000' value='{_e(number or '')}'> <button>open</button></form>"
    )
    parts.append(_handset_table(handsets))
    if number:
        parts.append(_handset_view(number, handset, entries, chatbots, selected_chatbot))
    parts.append(
        "<p class='meta'>JSON: /_sim/stats, /_sim/faults, /_sim/media, /_sim/audit, "
        "/_sim/handsets/{number}/inbox</p></body></html>"
    )
    return "".join(parts)


def _handset_table(handsets: Iterable[Handset]) -> str:
    rows = []
    for handset in handsets:
        options = "".join(f"<option{' selected' if c == handset.capability else ''}>{c}</option>" for c in CAPABILITIES)
        rows.append(
            f"<tr><td><a href='/_sim/?{urlencode({'number': handset.number})}'>"
            f"{_e(handset.number)}</a></td><td>{len(handset.inbox)}</td><td>{len(handset.held)}</td>"
            "<td><form method='post' action='/_sim/ui/capability'>"
            f"<input type='hidden' name='number' value='{_e(handset.number)}'>"
            f"<select name='capability'>{options}</select> <button>set</button></form></td></tr>"
        )
    if not rows:
        return "<p class='meta'>No handset has received anything yet.</p>"
    return (
        "<h2>Handsets</h2><table><tr><th>number</th><th>inbox</th><th>held</th>"
        f"<th>capability</th></tr>{''.join(rows)}</table>"
    )


def _handset_view(
    number: str,
    handset: Handset | None,
    entries: Sequence[dict[str, Any]],
    chatbots: Sequence[ChatbotAccount],
    selected_chatbot: str | None,
) -> str:
    capability = handset.capability if handset else "up2"
    out = [f"<h2>{_e(number)} <span class='meta'>({_e(capability)})</span></h2>"]
    if not entries:
        out.append("<p class='meta'>Inbox is empty.</p>")
    for entry in reversed(entries):
        out.append(_entry_html(number, entry))
    bots = "".join(
        f"<option value='{_e(b.chatbot_id)}'"
        f"{' selected' if b.chatbot_id == selected_chatbot else ''}>{_e(b.chatbot_id)}</option>"
        for b in chatbots
    )
    out.append(
        "<h2>Send to a chatbot</h2><form method='post' action='/_sim/ui/uplink'>"
        f"<input type='hidden' name='number' value='{_e(number)}'>"
        f"<select name='chatbot_id'>{bots}</select> <input name='text' size='40' required> "
        "<button>send</button></form>"
    )
    return "".join(out)


def _entry_html(number: str, entry: dict[str, Any]) -> str:
    out = [
        "<div class='msg'><div class='meta'>"
        f"{_e(entry['received_at'])} from {_e(entry['chatbot_id'])} as {_e(entry['delivered_as'])}"
        f" &middot; {_e(', '.join(p['content_type'] for p in entry['parts']) or 'SMS')}"
        f" &middot; {_e(entry['message_id'])}</div>"
    ]
    if entry.get("sms"):
        out.append(f"<p>SMS: {_e(entry['sms'])}</p>")
    if entry.get("text"):
        out.append(f"<p>{_e(entry['text'])}</p>")
    suggestions: list[dict[str, Any]] = []
    card = entry.get("card")
    if isinstance(card, dict):
        message = card.get("message", {})
        single = message.get("generalPurposeCard")
        carousel = message.get("generalPurposeCardCarousel")
        cards = [single["content"]] if single else (carousel or {}).get("content", [])
        for item in cards:
            if not isinstance(item, dict):
                continue
            out.append("<div class='card'>")
            if item.get("title"):
                out.append(f"<b>{_e(item['title'])}</b><br>")
            if item.get("description"):
                out.append(f"{_e(item['description'])}<br>")
            media = item.get("media")
            if isinstance(media, dict) and media.get("mediaUrl"):
                out.append(f"<span class='meta'>media: {_e(media['mediaUrl'])}</span>")
            out.append("</div>")
            suggestions.extend(s for s in item.get("suggestions", []) if isinstance(s, dict))
    chips = entry.get("chips")
    if isinstance(chips, dict):
        suggestions.extend(s for s in chips.get("suggestions", []) if isinstance(s, dict))
    # §3.3.2: the JSON FT list holds the file and perhaps its thumbnail.
    files = entry.get("file")
    if isinstance(files, list):
        for item in files:
            if isinstance(item, dict) and item.get("type") == "file":
                out.append(f"<p>file: {_e(item.get('url', ''))}</p>")
    if suggestions:
        out.append("<div class='chips'>")
        out.extend(_chip(number, entry, s) for s in suggestions)
        out.append("</div>")
    out.append("</div>")
    return "".join(out)


def _chip(number: str, entry: dict[str, Any], suggestion: dict[str, Any]) -> str:
    kind = "reply" if "reply" in suggestion else "action"
    body = suggestion.get(kind, {})
    if not isinstance(body, dict):
        return ""
    text = str(body.get("displayText", ""))
    postback = body.get("postback")
    data = postback.get("data", "") if isinstance(postback, dict) else ""
    form_kind = "postback" if kind == "reply" else "action"
    return (
        "<form method='post' action='/_sim/ui/uplink'>"
        f"<input type='hidden' name='number' value='{_e(number)}'>"
        f"<input type='hidden' name='chatbot_id' value='{_e(entry['chatbot_id'])}'>"
        f"<input type='hidden' name='kind' value='{form_kind}'>"
        f"<input type='hidden' name='data' value='{_e(data)}'>"
        f"<input type='hidden' name='display_text' value='{_e(text)}'>"
        f"<input type='hidden' name='in_reply_to' value='{_e(entry['message_id'])}'>"
        f"<button title='{kind}'>{_e(text)}</button></form>"
    )
