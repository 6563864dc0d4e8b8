"""The chatbot directory: `/v1/directory` (a tenant sees its own unpublished chatbots too),
`/public/directory` and the `/directory` page (published chatbots only, no key), like the carriers'
shared address book, with a "start chat" link per chatbot."""

from __future__ import annotations

from html import escape
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from msg5g.gateway.deps import AccessDep, ServicesDep
from msg5g.gateway.errors import ErrorResponse
from msg5g.services.chatbot_directory import DirectoryHit

router = APIRouter(tags=["directory"])
_errors: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
    422: {"model": ErrorResponse, "description": "Validation failed"},
}
Keyword = Annotated[str, Query(min_length=1, max_length=50, description="Chinese or English keyword.")]
Limit = Annotated[int, Query(ge=1, le=50)]


@router.get("/v1/directory", response_model=list[DirectoryHit], responses=_errors,
            summary="Search chatbots: published ones and the tenant's own")
async def search_directory(q: Keyword, access: AccessDep, services: ServicesDep, category: str | None = None,
                           carrier: str | None = None, status: str | None = None,
                           limit: Limit = 20) -> list[DirectoryHit]:
    """Ranked exact name, then name prefix, then name substring, then category, keyword or description."""
    return await services.chatbot_directory.search(q, viewer_tenant_id=access.tenant_id, category=category,
                                                   carrier=carrier, status=status, limit=limit)


@router.get("/public/directory", response_model=list[DirectoryHit], responses=_errors,
            summary="Search the published chatbots (no key needed)")
async def public_directory(q: Keyword, services: ServicesDep, category: str | None = None,
                           carrier: str | None = None, limit: Limit = 20) -> list[DirectoryHit]:
    return await services.chatbot_directory.search(q, viewer_tenant_id=None, category=category, carrier=carrier,
                                                   limit=limit)


# A page for a phone's browser written out here, as the H5 fallback page is: a form and a list do
# not justify a template engine in the gateway, and every value is escaped.
_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>5G消息 Chatbot 目录</title>
<style>body{{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7}}form{{display:flex;gap:8px;padding:12px}}
input{{flex:1;padding:8px;font-size:16px}}.bot{{background:#fff;margin:8px 12px;padding:12px;border-radius:12px;
display:flex;gap:12px}}.bot img{{width:48px;height:48px;border-radius:50%;object-fit:cover}}.bot h2{{margin:0;
font-size:17px}}.bot p{{margin:4px 0;color:#555}}.chat{{color:#3370ff}}</style></head><body>
<h1 style="font-size:20px;margin:12px">Chatbot 目录</h1>
<form method="get" action="/directory" role="search"><input name="q" value="{q}" aria-label="搜索 Chatbot"
placeholder="搜索名称、简介或行业"><button type="submit">搜索</button></form>
<main>{results}</main></body></html>"""


def _hit(hit: DirectoryHit) -> str:
    logo = f'<img src="{escape(hit.logo_url)}" alt="">' if hit.logo_url else ""
    links = []
    if hit.chatbot_uri:
        links.append(f'<a class="chat" href="{escape(hit.chatbot_uri)}">开始聊天</a>')
    if hit.sms_number:
        links.append(f'<a class="chat" href="sms:{escape(quote(hit.sms_number))}">短信 {escape(hit.sms_number)}</a>')
    return (f'<article class="bot">{logo}<div><h2>{escape(hit.name)}</h2><p>{escape(hit.description)}</p>'
            f'<p>{escape(hit.category)} · {escape(" ".join(hit.carriers))}</p>{" ".join(links)}</div></article>')


@router.get("/directory", response_class=HTMLResponse, include_in_schema=False)
async def directory_page(services: ServicesDep, q: Annotated[str, Query(max_length=50)] = "") -> HTMLResponse:
    hits = await services.chatbot_directory.search(q, viewer_tenant_id=None, limit=50) if q.strip() else []
    if q.strip() and not hits:
        results = '<p style="margin:12px">没有找到相关的 Chatbot。</p>'
    else:
        results = "".join(_hit(h) for h in hits)
    return HTMLResponse(_PAGE.format(q=escape(q), results=results))
