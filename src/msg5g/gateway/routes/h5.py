"""/h/{token}: the page an H5 fallback SMS links to, showing the rich message (public by design)."""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse

from msg5g.domain.content import (
    Card,
    CarouselContent,
    Content,
    FileContent,
    OpenUrlAction,
    RichCardContent,
    TextContent,
)
from msg5g.gateway.deps import ServicesDep

router = APIRouter(tags=["h5 fallback"])
Token = Annotated[str, Path(min_length=8, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]

# A page for a phone's browser, written out here: four lines of CSS do not justify a template
# engine in the gateway, and every value is escaped.
_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7}}.card{{background:#fff;margin:12px;
border-radius:12px;overflow:hidden;box-shadow:0 1px 3px #0002}}.card img{{width:100%;display:block}}
.card h2{{margin:12px 16px 4px;font-size:18px}}.card p{{margin:4px 16px 12px;color:#444}}
.chips a{{display:inline-block;margin:0 0 12px 16px;padding:6px 12px;border:1px solid #3370ff;border-radius:16px;
color:#3370ff;text-decoration:none}}</style></head><body>{body}</body></html>"""


def _card(card: Card) -> str:
    parts = ['<div class="card">']
    if card.media:
        parts.append(f'<img src="{escape(str(card.media.file.url))}" alt="">')
    if card.title:
        parts.append(f"<h2>{escape(card.title)}</h2>")
    if card.description:
        parts.append(f"<p>{escape(card.description)}</p>")
    links = [s for s in card.suggestions if isinstance(s, OpenUrlAction)]
    if links:
        parts.append('<div class="chips">' + "".join(
            f'<a href="{escape(str(s.url))}">{escape(s.text)}</a>' for s in links) + "</div>")
    parts.append("</div>")
    return "".join(parts)


def render(content: Content) -> tuple[str, str]:
    match content:
        case RichCardContent(card=card):
            return card.title or "5G消息", _card(card)
        case CarouselContent(cards=cards):
            return cards[0].title or "5G消息", "".join(_card(c) for c in cards)
        case FileContent(file=file):
            return file.name or "5G消息", f'<div class="card"><p><a href="{escape(str(file.url))}">' \
                                            f'{escape(file.name or str(file.url))}</a></p></div>'
        case TextContent(text=text):
            return "5G消息", f'<div class="card"><p>{escape(text)}</p></div>'
    return "5G消息", ""


@router.get("/h/{token}", response_class=HTMLResponse, summary="The page behind an H5 fallback SMS link",
            responses={404: {"description": "No such page"}})
async def h5_page(token: Token, services: ServicesDep) -> HTMLResponse:
    page = await services.h5.open(token)
    title, body = render(page.content)
    return HTMLResponse(_PAGE.format(title=escape(title), body=body),
                        headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"})
