"""H5 fallback (回落H5): an SMS with a short link to a page of ours that shows the rich message.

The link is a random token (a capability URL: whoever has the SMS may open it); each open is
counted, so a campaign sees how many SMS recipients looked at the card.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from pydantic import TypeAdapter

from msg5g.domain.content import Content
from msg5g.domain.errors import NotFound
from msg5g.kit.clock import utcnow
from msg5g.services.context import ServiceContext
from msg5g.storage.repositories import MessageRepository, PlatformRepository
from msg5g.storage.tables import H5Link

_content_adapter: TypeAdapter[Content] = TypeAdapter(Content)
LINK_PATH = "/h/"


@dataclass(frozen=True, slots=True)
class H5Page:
    content: Content
    clicks: int


class H5Pages:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    async def link_for(self, tenant_id: str, message_id: str) -> str:
        """The message's page URL, made once (a resend after a crash gets the same link)."""
        async with self._ctx.db.transaction() as session:
            repo = PlatformRepository(session)
            link = await repo.h5_link_of_message(tenant_id, message_id)
            if link is None:
                link = H5Link(token=secrets.token_urlsafe(9), tenant_id=tenant_id, message_id=message_id, clicks=0,
                              created_at=utcnow(), last_click_at=None)
                await repo.add(link)
            token = link.token
        return f"{self._ctx.settings.resolved_public_base_url()}{LINK_PATH}{token}"

    async def open(self, token: str) -> H5Page:
        """The page behind a link, counting the open."""
        async with self._ctx.db.transaction() as session:
            link = await PlatformRepository(session).h5_link(token)
            if link is None:
                raise NotFound("no such page", code="page_not_found")
            link.clicks += 1
            link.last_click_at = utcnow()
            repo = MessageRepository(session, link.tenant_id)
            message = await repo.get(link.message_id)
            submission = await repo.submission(message.submission_id) if message else None
            if submission is None:
                raise NotFound("no such page", code="page_not_found")
            clicks = link.clicks
            content = _content_adapter.validate_python(submission.content)
        return H5Page(content=content, clicks=clicks)

    async def clicks(self, tenant_id: str, message_id: str) -> int | None:
        async with self._ctx.db.reader() as session:
            link = await PlatformRepository(session).h5_link_of_message(tenant_id, message_id)
        return link.clicks if link else None
