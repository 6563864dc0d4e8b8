"""Sensitive-word lists: the platform's (managed by operators) and each tenant's own, compiled into
one matcher per tenant and kept for a few seconds (a change made here shows at once)."""

from __future__ import annotations

import time

from pydantic import BaseModel, Field

from msg5g.content.sensitive import WordAction, WordMatcher
from msg5g.domain.errors import NotFound
from msg5g.kit.clock import utcnow
from msg5g.kit.ids import new_id
from msg5g.services.context import ServiceContext
from msg5g.storage.repositories import PlatformRepository, WordRepository
from msg5g.storage.tables import PlatformSensitiveWord, SensitiveWord

_TTL_SECONDS = 10.0


class WordEntry(BaseModel):
    word: str = Field(min_length=1, max_length=100)
    action: WordAction = WordAction.BLOCK


class WordList(BaseModel):
    words: list[WordEntry]


class SensitiveWords:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._matchers: dict[str, tuple[float, WordMatcher]] = {}

    async def matcher(self, tenant_id: str) -> WordMatcher:
        cached = self._matchers.get(tenant_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        async with self._ctx.db.reader() as session:
            platform = await PlatformRepository(session).platform_words()
            own = await WordRepository(session, tenant_id).words()
        matcher = WordMatcher([(w.word, WordAction(w.action)) for w in platform]
                              + [(w.word, WordAction(w.action)) for w in own])
        self._matchers[tenant_id] = (time.monotonic() + _TTL_SECONDS, matcher)
        return matcher

    async def tenant_list(self, tenant_id: str) -> WordList:
        async with self._ctx.db.reader() as session:
            rows = await WordRepository(session, tenant_id).words()
        return WordList(words=[WordEntry(word=r.word, action=WordAction(r.action)) for r in rows])

    async def add_tenant_words(self, tenant_id: str, entries: list[WordEntry]) -> WordList:
        async with self._ctx.db.transaction() as session:
            repo = WordRepository(session, tenant_id)
            existing = {r.word: r for r in await repo.words()}
            for entry in entries:
                word = entry.word.strip()
                if word in existing:
                    existing[word].action = entry.action.value
                elif word:
                    row = SensitiveWord(id=new_id(), tenant_id=tenant_id, word=word, action=entry.action.value,
                                        created_at=utcnow())
                    await repo.add(row)
                    existing[word] = row
        self._matchers.pop(tenant_id, None)
        return await self.tenant_list(tenant_id)

    async def remove_tenant_word(self, tenant_id: str, word: str) -> None:
        async with self._ctx.db.transaction() as session:
            if not await WordRepository(session, tenant_id).remove(word):
                raise NotFound("no such word on the tenant's list", code="word_not_found")
        self._matchers.pop(tenant_id, None)

    async def platform_list(self) -> WordList:
        async with self._ctx.db.reader() as session:
            rows = await PlatformRepository(session).platform_words()
        return WordList(words=[WordEntry(word=r.word, action=WordAction(r.action)) for r in rows])

    async def add_platform_words(self, entries: list[WordEntry]) -> WordList:
        async with self._ctx.db.transaction() as session:
            repo = PlatformRepository(session)
            for entry in entries:
                if entry.word.strip():
                    await repo.add_platform_word(PlatformSensitiveWord(
                        word=entry.word.strip(), action=entry.action.value, created_at=utcnow()))
        self._matchers.clear()
        return await self.platform_list()

    async def remove_platform_word(self, word: str) -> None:
        async with self._ctx.db.transaction() as session:
            if not await PlatformRepository(session).remove_platform_word(word):
                raise NotFound("no such word on the platform list", code="word_not_found")
        self._matchers.clear()
