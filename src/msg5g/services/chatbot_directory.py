"""The chatbot directory's search: chatbots by keyword, in Chinese and in other scripts, across tenants.

A chatbot is indexed with `index` whenever what the directory shows of it changes (its name,
description, category, keywords, the carriers it is on, its status) and removed with `remove`.
`search` finds the chatbots that have every term of the query (services/directory_terms.py: CJK
bigrams and unigrams, word prefixes) in their name, category, keywords or description, and ranks
them exact name > name prefix > name substring > every term in the name > category > keyword >
description, shorter names first within a level.

Visibility: a published chatbot (live on at least one carrier) is public; an unpublished one is
found only by its own tenant (`viewer_tenant_id`). None is the public, never anyone's unpublished ones.

Cost (storage/directory_repository.py has the tables): a one-term query (most are: 银行, 客服, bank)
walks that term's postings in rank order and stops at the page, however common the term; filters
are checked on the postings themselves, so even one that rejects nearly all of them costs one
sequential scan of the term's postings and no lookups. A query of several terms counts each term's
postings (up to SCAN_CAP + 1) and is driven by the rarest: its postings, in its rank order, are
joined to the others' by index seeks until CANDIDATE_CAP candidates are found, and those are ranked
here. When even the rarest term is in more than SCAN_CAP chatbots, only its first SCAN_CAP postings
are looked at (those of them that pass the filters kept). A category or status filter that at most
FILTER_CAP chatbots pass (and fewer than have the rarest term) drives the search instead: each of
those chatbots is looked up in the terms (服务 among the 40 offline 房产 ones). So a query costs at
most about SCAN_CAP postings' work, FILTER_CAP lookups or, where the filters reject nearly every
posting of a one-term query's common term (a rare carrier, or a category or status many chatbots
have but few of those with the term), one sequential, index-only scan of that term's postings:
about 15 ms on SQLite and 20 on PostgreSQL for a term in all of 100,000 chatbots, 30 and 20 when the
filter is a carrier (bench/directory.py, `worst`).

What the caps can lose: the rarest term's name matches come first in its rank order, so the top of
the list is right unless more than CANDIDATE_CAP chatbots' names start with that term and have the
other terms too; beyond that, an entry can be missing far down the list, among description
matches, or where only very common terms meet rarely or under filters that more than FILTER_CAP
chatbots pass but few of those with the terms.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from msg5g.domain.errors import ValidationFailed
from msg5g.kit.clock import utcnow
from msg5g.services.context import ServiceContext
from msg5g.services.directory_terms import (
    NAME_LENGTH_CAP,
    MatchLevel,
    document_terms,
    level_of,
    normalise,
    query_terms,
    rank,
    score,
)
from msg5g.storage.directory_repository import Candidate, DirectoryFilters, DirectoryRecord, DirectoryRepository

CANDIDATE_CAP = 200  # at most this many candidates of a query of several terms are ranked
SCAN_CAP = 2000  # ... found among the first this many postings of its rarest term, when even that is so common
FILTER_CAP = 500  # a category or status filter that at most this many chatbots pass drives the search
MAX_LIMIT = 100
MAX_OFFSET = 1000
MAX_QUERY_LENGTH = 100

Carrier = Annotated[str, StringConstraints(pattern=r"^[^,\s]{1,20}$")]  # a channel type: cmcc, ctcc...
Keyword = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class DirectoryEntry(BaseModel):
    """What the directory knows of one chatbot (a chatbot profile, domain.chatbots.ChatbotProfile)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile_id: str = Field(min_length=1, max_length=36)
    tenant_id: str = Field(min_length=1, max_length=36)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    category: str = Field(default="", max_length=40)
    keywords: tuple[Keyword, ...] = Field(default=(), max_length=20)
    carriers: tuple[Carrier, ...] = Field(default=(), max_length=8)  # the carriers it is on
    status: str = Field(default="draft", min_length=1, max_length=20)  # e.g. live, submitted, offline, draft
    published: bool = False  # live on at least one carrier: found by everyone
    sms_number: str | None = Field(default=None, max_length=30)
    chatbot_uri: str | None = Field(default=None, max_length=300)
    logo_url: str | None = Field(default=None, max_length=1000)


class DirectoryHit(BaseModel):
    """A search result: the chatbot's public fields and why it matched (a MatchLevel's reason)."""

    model_config = ConfigDict(frozen=True)

    profile_id: str
    name: str
    description: str
    category: str
    keywords: tuple[str, ...]
    carriers: tuple[str, ...]
    status: str
    published: bool
    sms_number: str | None
    chatbot_uri: str | None
    logo_url: str | None
    reason: str  # exact_name | name_prefix | name_substring | name_words | category | keyword | description

    @classmethod
    def of(cls, row: DirectoryRecord, level: MatchLevel) -> DirectoryHit:
        return cls(profile_id=row.profile_id, name=row.name, description=row.description, category=row.category,
                   keywords=tuple(row.keywords), carriers=tuple(row.carriers), status=row.status,
                   published=row.published, sms_number=row.sms_number, chatbot_uri=row.chatbot_uri,
                   logo_url=row.logo_url, reason=level.reason)


class ChatbotDirectory:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    async def index(self, entry: DirectoryEntry) -> None:
        """Add a chatbot or replace what the directory has of it (and all its old terms)."""
        await self.index_many([entry])

    async def index_many(self, entries: list[DirectoryEntry]) -> None:
        """`index` for many at once, in one transaction (a backfill); a repeated profile: the last wins."""
        latest = {entry.profile_id: entry for entry in entries}
        now = utcnow()
        rows = [{**entry.model_dump(), "keywords": list(entry.keywords), "carriers": list(entry.carriers),
                 "updated_at": now} for entry in latest.values()]
        terms = {}
        for entry in latest.values():
            name_key = normalise(entry.name)
            terms[entry.profile_id] = {
                term: score(level, name_key)
                for term, level in document_terms(entry.name, entry.category, entry.keywords, entry.description).items()
            }
        async with self._ctx.db.transaction() as session:
            await DirectoryRepository(session).upsert(rows, terms)

    async def remove(self, profile_id: str) -> bool:
        async with self._ctx.db.transaction() as session:
            return await DirectoryRepository(session).remove(profile_id)

    async def search(self, query: str, *, viewer_tenant_id: str | None, category: str | None = None,
                     carrier: str | None = None, status: str | None = None, limit: int = 20,
                     offset: int = 0) -> list[DirectoryHit]:
        if not 1 <= limit <= MAX_LIMIT:
            raise ValidationFailed(f"limit must be 1-{MAX_LIMIT}", field="limit")
        if not 0 <= offset <= MAX_OFFSET:
            raise ValidationFailed(f"offset must be 0-{MAX_OFFSET}", field="offset")
        query = query[:MAX_QUERY_LENGTH]
        query_key, terms = normalise(query), query_terms(query)
        if not terms:
            return []
        filters = DirectoryFilters(viewer_tenant_id=viewer_tenant_id, category=category, carrier=carrier,
                                   status=status)
        async with self._ctx.db.reader() as session:
            repository = DirectoryRepository(session)
            single = terms == [query_key]
            counts = {} if single else await repository.term_counts(terms, SCAN_CAP + 1)
            if not all(counts.values()):
                return []  # some term is in no chatbot at all
            by_rarity = sorted(terms, key=lambda term: counts.get(term, 0))  # stable: else in the query's order
            passing = FILTER_CAP + 1
            if category is not None or status is not None:
                passing = await repository.filtered_count(filters, FILTER_CAP + 1)
            if passing <= FILTER_CAP and passing < min(counts.values(), default=SCAN_CAP + 1):
                # Few chatbots pass the filters (fewer than have any of the terms): look at each of them
                # rather than walk postings most of which the filters would reject.
                candidates = await repository.filtered_candidates(by_rarity, filters,
                                                                  limit=max(CANDIDATE_CAP, offset + limit))
                ranked = _ranked(candidates, query_key)
            elif single:
                # One term: its postings are in rank order already; the page is the first rows of the walk.
                found = await repository.page(query_key, filters, limit=limit, offset=offset)
                return [DirectoryHit.of(record, level_of(score)) for score, record in found]
            else:
                ranked = await self._candidates_ranked(repository, query_key, by_rarity, counts, filters,
                                                       offset + limit)
            page = ranked[offset:offset + limit]
            records = await repository.records(doc_id for doc_id, _ in page) if page else {}
        # An entry removed between the two reads (PostgreSQL reads each statement afresh) is left out.
        return [DirectoryHit.of(records[doc_id], level) for doc_id, level in page if doc_id in records]

    async def _candidates_ranked(self, repository: DirectoryRepository, query_key: str, by_rarity: list[str],
                                 counts: dict[str, int], filters: DirectoryFilters,
                                 wanted: int) -> list[tuple[int, MatchLevel]]:
        """A query of several terms: its candidates, driven by the rarest term, ranked."""
        driving = by_rarity[0]
        until = await repository.last_posting(driving, SCAN_CAP) if counts[driving] > SCAN_CAP else None
        candidates = await repository.candidates(driving, by_rarity[1:], filters, limit=max(CANDIDATE_CAP, wanted),
                                                 until=until)
        return _ranked(candidates, query_key)


def _ranked(candidates: list[Candidate], query_key: str) -> list[tuple[int, MatchLevel]]:
    """(doc id, level), best first: by level, then the shorter name, then the older entry. The terms'
    scores may come in any order: rank() takes their maximum, and all share the name's length."""
    ranked = []
    for candidate in candidates:
        level = rank(normalise(candidate.name), query_key, [level_of(score) for score in candidate.scores])
        ranked.append((level, candidate.scores[0] % (NAME_LENGTH_CAP + 1), candidate.doc_id))
    ranked.sort()
    return [(doc_id, level) for level, _, doc_id in ranked]
