"""The chatbot directory's queries: an inverted index in two ordinary tables, the same on SQLite and
PostgreSQL (no FTS5, no pg_trgm: FTS5's trigram tokenizer finds nothing for a two-character
Chinese keyword, and pg_trgm drops CJK characters under a C locale).

`directory_entries` holds one row per chatbot (its public fields, its tenant, whether it is
published) under a compact integer `id`. `directory_terms` holds the postings: one row per
(term, entry), with

* `score`: the entry's rank for a query of that term alone, the match level
  (services/directory_terms.MatchLevel: exact name, name prefix, name substring, category,
  keyword, description) times 256 plus the name's length, so that shorter names come first;
* copies of what a search filters on: `owner_tenant_id` (None when published, which is who may
  see it), `category`, `status` and `carriers` (",cmcc,ctcc,").

The primary key is (term, score, doc_id): on SQLite the table is WITHOUT ROWID, so a term's
postings are stored together in rank order; on PostgreSQL the key's index INCLUDEs the filter
columns, so walking it is an index-only scan. A one-term query (most are: 银行, 客服, bank) walks them
in that order, applies the filters on the posting itself and stops after offset + limit rows:
however many thousand chatbots share the term, a page costs about offset + limit rows unless the
filters reject most of them, and even then it is a sequential scan of one key range with no lookup
per row. A query of several terms (招商银行 is 招商, 商银, 银行) is driven by its rarest term, counted
with a cap (`term_counts`), and intersected with the others by seeks on the unique (doc_id, term)
index; the service ranks those candidates, at most a few hundred, in Python. That index also
finds an entry's postings when it is indexed again or removed. When a category or status filter
passes only a few entries, the search starts from those instead (`directory_entries` has indexes on
both) and looks each one's terms up on the same index.

Every write replaces an entry's postings (and their copied filter columns) in the transaction
that writes the entry, so the postings never disagree with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.storage.tables import DirectoryEntryRow, DirectoryTerm, core_table

_ENTRY_COLUMNS = ("profile_id", "tenant_id", "name", "description", "category", "keywords", "carriers", "status",
                  "published", "sms_number", "chatbot_uri", "logo_url", "updated_at")
_RECORD_COLUMNS = ("id", "profile_id", "name", "description", "category", "keywords", "carriers", "status",
                   "published", "sms_number", "chatbot_uri", "logo_url")
_ENTRIES = core_table(DirectoryEntryRow)
_TERMS = core_table(DirectoryTerm)


@dataclass(frozen=True, slots=True)
class DirectoryFilters:
    viewer_tenant_id: str | None  # None: the public, who see published entries only
    category: str | None = None
    carrier: str | None = None
    status: str | None = None

    def parameters(self) -> dict[str, Any]:
        values: dict[str, Any] = {"viewer": self.viewer_tenant_id, "category": self.category, "status": self.status}
        if self.carrier is not None:
            escaped = self.carrier.replace("/", "//").replace("%", "/%").replace("_", "/_")
            values["carrier"] = f"%,{escaped},%"
        return {key: value for key, value in values.items() if value is not None}

    def shape(self) -> tuple[bool, ...]:
        return (self.viewer_tenant_id is not None, self.category is not None, self.carrier is not None,
                self.status is not None)


@dataclass(frozen=True, slots=True)
class DirectoryRecord:
    """An entry as a search returns it: its public fields."""

    id: int
    profile_id: str
    name: str
    description: str
    category: str
    keywords: list[str]
    carriers: list[str]
    status: str
    published: bool
    sms_number: str | None
    chatbot_uri: str | None
    logo_url: str | None


@dataclass(frozen=True, slots=True)
class Candidate:
    doc_id: int
    scores: tuple[int, ...]  # the driving term's, then the others', in the order they were given
    name: str


def carriers_column(carriers: Iterable[str]) -> str:
    return "," + ",".join(carriers) + ","


# Search statements are built once per shape (how many terms, which filters) with bound parameters:
# building an SQLAlchemy statement costs more than running one of these on a warm database.


def _conditions(postings: Any, shape: tuple[bool, ...]) -> list[ColumnElement[bool]]:
    viewer, category, carrier, status = shape
    owner = postings.c.owner_tenant_id
    conditions = [postings.c.term == bindparam("term"),
                  or_(owner.is_(None), owner == bindparam("viewer")) if viewer else owner.is_(None)]
    if category:
        conditions.append(postings.c.category == bindparam("category"))
    if carrier:
        conditions.append(postings.c.carriers.like(bindparam("carrier"), escape="/"))
    if status:
        conditions.append(postings.c.status == bindparam("status"))
    return conditions


@lru_cache(maxsize=64)
def _page_statement(shape: tuple[bool, ...]) -> Select[Any]:
    postings = _TERMS.alias("driving")
    return (select(postings.c.score, *(_ENTRIES.c[column] for column in _RECORD_COLUMNS))
            .join_from(postings, _ENTRIES, _ENTRIES.c.id == postings.c.doc_id)
            .where(*_conditions(postings, shape))
            .order_by(postings.c.score, postings.c.doc_id)
            .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer)))


@lru_cache(maxsize=256)
def _candidates_statement(others: int, shape: tuple[bool, ...], bounded: bool) -> Select[Any]:
    driving = _TERMS.alias("driving")
    conditions = _conditions(driving, shape)
    if bounded:  # postings up to a given one only: a range of the primary key, still walked in order
        conditions.append(tuple_(driving.c.score, driving.c.doc_id)
                          <= tuple_(bindparam("last_score", type_=Integer), bindparam("last_doc", type_=Integer)))
    joined: Any = driving
    scores = []
    for index in range(others):  # each other term joined by a seek on (doc_id, term), in the order given
        other = _TERMS.alias(f"other{index}")
        joined = joined.join(other, (other.c.doc_id == driving.c.doc_id) & (other.c.term == bindparam(f"other{index}")))
        scores.append(other.c.score)
    joined = joined.join(_ENTRIES, _ENTRIES.c.id == driving.c.doc_id)
    return (select(driving.c.doc_id, driving.c.score, *scores, _ENTRIES.c.name).select_from(joined)
            .where(*conditions)
            .order_by(driving.c.score, driving.c.doc_id).limit(bindparam("limit", type_=Integer)))


_LAST_POSTING = (select(_TERMS.c.score, _TERMS.c.doc_id).where(_TERMS.c.term == bindparam("term"))
                 .order_by(_TERMS.c.score, _TERMS.c.doc_id).offset(bindparam("offset", type_=Integer)).limit(1))


def _entry_conditions(shape: tuple[bool, ...]) -> list[ColumnElement[bool]]:
    viewer, category, _, status = shape
    published = _ENTRIES.c.published.is_(true())
    conditions = [or_(published, _ENTRIES.c.tenant_id == bindparam("viewer")) if viewer else published]
    if category:
        conditions.append(_ENTRIES.c.category == bindparam("category"))
    if status:
        conditions.append(_ENTRIES.c.status == bindparam("status"))
    return conditions


@lru_cache(maxsize=8)
def _filtered_count_statement(category: bool, status: bool) -> Select[Any]:
    conditions = []
    if category:
        conditions.append(_ENTRIES.c.category == bindparam("category"))
    if status:
        conditions.append(_ENTRIES.c.status == bindparam("status"))
    passing = select(literal(1)).select_from(_ENTRIES).where(*conditions).limit(bindparam("cap", type_=Integer))
    return select(func.count()).select_from(passing.subquery())


@lru_cache(maxsize=256)
def _filtered_candidates_statement(terms: int, shape: tuple[bool, ...]) -> Select[Any]:
    # Each term's score as a correlated subquery, a seek on (doc_id, term): unlike a join, one no
    # planner can turn into the outer loop (SQLite did, walking the term's postings after all).
    scores = []
    for index in range(terms):
        posting = _TERMS.alias(f"term{index}")
        match = (posting.c.doc_id == _ENTRIES.c.id) & (posting.c.term == bindparam(f"term{index}"))
        if index == 0 and shape[2]:
            match = match & posting.c.carriers.like(bindparam("carrier"), escape="/")
        scores.append(select(posting.c.score).where(match).scalar_subquery().label(f"score{index}"))
    passing = (select(_ENTRIES.c.id, *scores, _ENTRIES.c.name).where(*_entry_conditions(shape))
               .subquery("passing"))
    return (select(passing.c.id, *(passing.c[f"score{index}"] for index in range(terms)), passing.c.name)
            .where(*(passing.c[f"score{index}"].is_not(None) for index in range(terms)))
            .order_by(passing.c.score0, passing.c.id).limit(bindparam("limit", type_=Integer)))


@lru_cache(maxsize=32)
def _counts_statement(terms: int) -> Select[Any]:
    counts = [
        select(func.count()).select_from(
            select(literal(1)).where(_TERMS.c.term == bindparam(f"term{index}"))
            .limit(bindparam("cap", type_=Integer)).subquery()).scalar_subquery()
        for index in range(terms)
    ]
    return select(*counts)


class DirectoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._planned = False

    async def _plan_for_these_terms(self) -> None:
        """PostgreSQL, for this transaction: plan each search for its own terms, and join in the order
        written. After five runs of a prepared statement PostgreSQL may switch to a generic plan, made
        for no term in particular; for terms as skewed as these (服务 is in every chatbot, 众服 in nine)
        that plan was four times slower. Planned afresh, a five-term query then spent longer choosing
        a join order (10 ms) than running; the order written (the rarest term first, its postings
        joined to the others' by seeks) is the one it should run in anyway."""
        if not self._planned and self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
                                            "set_config('join_collapse_limit', '1', true)"))
        self._planned = True

    # ---- writes -----------------------------------------------------------------------------------

    async def upsert(self, entries: Sequence[Mapping[str, Any]], terms: Mapping[str, Mapping[str, int]]) -> None:
        """Write entries (dicts of `_ENTRY_COLUMNS`, distinct profile ids) and replace their postings;
        `terms` maps a profile id to its {term: score}."""
        if not entries:
            return
        table = core_table(DirectoryEntryRow)
        rows = [{column: entry[column] for column in _ENTRY_COLUMNS} for entry in entries]
        statement: Any
        if self.session.get_bind().dialect.name == "postgresql":
            statement = postgresql_insert(table)
        else:
            statement = sqlite_insert(table)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.profile_id],
            set_={column: statement.excluded[column] for column in _ENTRY_COLUMNS if column != "profile_id"},
        ).returning(table.c.id, table.c.profile_id)
        doc_ids = {profile_id: doc_id for doc_id, profile_id in (await self.session.execute(statement, rows)).all()}
        await self.session.execute(delete(DirectoryTerm).where(DirectoryTerm.doc_id.in_(list(doc_ids.values()))))
        postings = [
            {"term": term, "score": score, "doc_id": doc_ids[entry["profile_id"]],
             "owner_tenant_id": None if entry["published"] else entry["tenant_id"], "category": entry["category"],
             "status": entry["status"], "carriers": carriers_column(entry["carriers"])}
            for entry in entries for term, score in terms[entry["profile_id"]].items()
        ]
        if postings:
            await self.session.execute(insert(core_table(DirectoryTerm)), postings)

    async def remove(self, profile_id: str) -> bool:
        statement = select(DirectoryEntryRow.id).where(DirectoryEntryRow.profile_id == profile_id)
        doc_id = await self.session.scalar(statement)
        if doc_id is None:
            return False
        await self.session.execute(delete(DirectoryTerm).where(DirectoryTerm.doc_id == doc_id))
        await self.session.execute(delete(DirectoryEntryRow).where(DirectoryEntryRow.id == doc_id))
        return True

    # ---- search -----------------------------------------------------------------------------------

    async def term_counts(self, terms: Sequence[str], cap: int) -> dict[str, int]:
        """How many entries have each term, counted up to `cap` (enough to tell rare from common)."""
        await self._plan_for_these_terms()
        parameters: dict[str, Any] = {f"term{index}": term for index, term in enumerate(terms)}
        row = (await self.session.execute(_counts_statement(len(terms)), {**parameters, "cap": cap})).one()
        return {term: int(count) for term, count in zip(terms, row, strict=True)}

    async def page(self, term: str, filters: DirectoryFilters, *, limit: int,
                   offset: int) -> list[tuple[int, DirectoryRecord]]:
        """The entries that have `term` and pass the filters, with their score for it, in that order
        (then doc id): a walk of the term's postings that stops at the page."""
        await self._plan_for_these_terms()
        parameters = {"term": term, **filters.parameters(), "limit": limit, "offset": offset}
        rows = await self.session.execute(_page_statement(filters.shape()), parameters)
        return [(int(row[0]), DirectoryRecord(*row[1:])) for row in rows.all()]

    async def last_posting(self, term: str, count: int) -> tuple[int, int] | None:
        """(score, doc id) of `term`'s `count`th posting in rank order; None if it has fewer."""
        await self._plan_for_these_terms()
        row = (await self.session.execute(_LAST_POSTING, {"term": term, "offset": count - 1})).first()
        return None if row is None else (int(row[0]), int(row[1]))

    async def candidates(self, term: str, others: Sequence[str], filters: DirectoryFilters, *, limit: int,
                         until: tuple[int, int] | None = None) -> list[Candidate]:
        """Up to `limit` entries that have `term` and every one of `others` and pass the filters, in the
        order of `term`'s scores (then doc id), with every term's score and the entry's name. `term`
        should be the rarest, `others` the next rarest first. `until`: look no further in `term`'s
        postings than this one (`last_posting`)."""
        await self._plan_for_these_terms()
        parameters: dict[str, Any] = {"term": term, **filters.parameters(), "limit": limit,
                                      **{f"other{index}": other for index, other in enumerate(others)}}
        if until is not None:
            parameters["last_score"], parameters["last_doc"] = until
        statement = _candidates_statement(len(others), filters.shape(), until is not None)
        return [Candidate(int(row[0]), tuple(int(score) for score in row[1:-1]), row[-1])
                for row in (await self.session.execute(statement, parameters)).all()]

    async def filtered_count(self, filters: DirectoryFilters, cap: int) -> int:
        """How many entries have the filters' category and status (counted up to `cap`)."""
        await self._plan_for_these_terms()
        parameters = {key: value for key, value in filters.parameters().items() if key in ("category", "status")}
        statement = _filtered_count_statement(filters.category is not None, filters.status is not None)
        return int((await self.session.execute(statement, {**parameters, "cap": cap})).scalar_one())

    async def filtered_candidates(self, terms: Sequence[str], filters: DirectoryFilters, *,
                                  limit: int) -> list[Candidate]:
        """Up to `limit` entries that pass the filters and have all the terms, in the order of the first
        term's scores (then doc id), with each term's score and the entry's name: driven by the
        entries (`filtered_count` should have found them few), each looked up in the terms."""
        await self._plan_for_these_terms()
        parameters = {**filters.parameters(), "limit": limit,
                      **{f"term{index}": term for index, term in enumerate(terms)}}
        statement = _filtered_candidates_statement(len(terms), filters.shape())
        return [Candidate(int(row[0]), tuple(int(score) for score in row[1:-1]), row[-1])
                for row in (await self.session.execute(statement, parameters)).all()]

    async def records(self, doc_ids: Iterable[int]) -> dict[int, DirectoryRecord]:
        statement = select(*(_ENTRIES.c[column] for column in _RECORD_COLUMNS)).where(
            _ENTRIES.c.id.in_(list(doc_ids)))
        return {row[0]: DirectoryRecord(*row) for row in (await self.session.execute(statement)).all()}

    async def entry(self, profile_id: str) -> DirectoryEntryRow | None:
        return await self.session.scalar(select(DirectoryEntryRow).where(DirectoryEntryRow.profile_id == profile_id))

    async def terms_of(self, profile_id: str) -> dict[str, int]:
        """An entry's postings, {term: score} (for checks and tools)."""
        statement = (select(DirectoryTerm.term, DirectoryTerm.score)
                     .join(DirectoryEntryRow, DirectoryEntryRow.id == DirectoryTerm.doc_id)
                     .where(DirectoryEntryRow.profile_id == profile_id))
        return {term: score for term, score in (await self.session.execute(statement)).all()}
