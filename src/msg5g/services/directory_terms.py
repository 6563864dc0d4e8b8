"""The chatbot directory's terms: how a chatbot's text is cut into searchable terms, and how a hit ranks.

Chinese is indexed by character bigrams rather than words from a segmenter (jieba). Bigrams need
no dictionary, so brand names and new words a dictionary lacks (招商, 顺丰) are found as well as
common ones; they find a two-character keyword anywhere in a longer word, where a segmenter that cut
信用卡 as one word would not find 信用 in it; a query of n characters is its n-1 bigrams, all of which
must occur (for the short texts here, that they occur apart is rare and is ranked below a real
substring); and indexing is a few microseconds per chatbot with no model to load. A segmenter's
advantage, fewer false matches in long prose, hardly arises in a name and a 150-character
description. Single characters are indexed too (unigrams), so a one-character query works, but only
for the name, category and keywords: in a description they would add the most postings and match
almost everything.

Other scripts are cut into words (letters and digits), lower-cased (case-folded, after NFKC so that
full-width ＡＢＣ and １２３ are ordinary letters and digits). Words of the name, category and keywords
are indexed with every prefix, so `ban` finds "Bank of Ningbo" as it is typed; words of the
description only whole. A term is at most MAX_TERM characters; longer words are cut to that on
both sides.

Every posting carries a match level for a query of that term alone, so a one-term query (most are:
银行, 客服, bank) is answered from the postings in rank order; `rank` combines the levels of a
query's terms for the others.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from enum import IntEnum

MAX_TERM = 20
MAX_QUERY_TERMS = 16  # a longer query matches on its first 16 terms (and still ranks on the whole)
NAME_LENGTH_CAP = 255  # ties within a level go to the shorter name; the score keeps the length up to this

# Han (with extension A and the compatibility block), kana and Hangul; the supplementary ideographs.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0003134f"
_RUNS = re.compile(f"(?P<cjk>[{_CJK}]+)|(?P<word>[^\\W_{_CJK}]+)")
# Chinese puts no spaces between words, so in a name or description a space there means nothing: a
# chatbot named 招商 银行 is indexed and compared as 招商银行. In a query it separates keywords that
# must both occur but need not be adjacent (银行 客服), and the name still compares as 招商银行.
_SPACE_IN_CJK = re.compile(f"(?<=[{_CJK}])\\s+(?=[{_CJK}])")


class MatchLevel(IntEnum):
    """How a chatbot matches a query, best first; a hit's reason is its level's name, lower-cased."""

    EXACT_NAME = 0  # the name is the query
    NAME_PREFIX = 1  # the name starts with it
    NAME_SUBSTRING = 2  # the name contains it
    NAME_WORDS = 3  # every term is in the name, but not together as the query (bank ningbo)
    CATEGORY = 4  # some term is only in the category (and the others in the name or category)
    KEYWORD = 5  # ... only in the keywords
    DESCRIPTION = 6  # ... only in the description

    @property
    def reason(self) -> str:
        return self.name.lower()


def _runs(text: str, *, join_cjk: bool = True) -> list[tuple[bool, str]]:
    folded = unicodedata.normalize("NFKC", text).casefold()
    if join_cjk:
        folded = _SPACE_IN_CJK.sub("", folded)
    return [(match.lastgroup == "cjk", match.group()) for match in _RUNS.finditer(folded)]


def normalise(text: str) -> str:
    """The form names and queries are compared in: folded, every run of anything else one space."""
    return " ".join(run for _, run in _runs(text))


def _field_terms(text: str, *, whole: bool) -> set[str]:
    """A field's terms; `whole` (the name, category, keywords) adds unigrams and word prefixes."""
    terms: set[str] = set()
    for cjk, run in _runs(text):
        if cjk:
            terms.update(run[i:i + 2] for i in range(len(run) - 1))
            if whole or len(run) == 1:
                terms.update(run)
        else:
            word = run[:MAX_TERM]
            if whole:
                terms.update(word[:i] for i in range(1, len(word) + 1))
            else:
                terms.add(word)
    return terms


def query_terms(query: str) -> list[str]:
    """The terms a chatbot must have, all of them, to match `query`: in order, without repeats."""
    terms: list[str] = []
    for cjk, run in _runs(query, join_cjk=False):
        if not cjk:
            pieces = [run[:MAX_TERM]]
        elif len(run) == 1:
            pieces = [run]
        else:
            pieces = [run[i:i + 2] for i in range(len(run) - 1)]
        terms.extend(piece for piece in pieces if piece not in terms)
    return terms[:MAX_QUERY_TERMS]


def _name_level(name_key: str, query_key: str) -> MatchLevel:
    if name_key == query_key:
        return MatchLevel.EXACT_NAME
    if name_key.startswith(query_key):
        return MatchLevel.NAME_PREFIX
    if query_key in name_key:
        return MatchLevel.NAME_SUBSTRING
    return MatchLevel.NAME_WORDS


def document_terms(name: str, category: str, keywords: Iterable[str], description: str) -> dict[str, MatchLevel]:
    """Every term of a chatbot, each with its level for a query of that term alone (the best field)."""
    name_key = normalise(name)
    levels = {term: _name_level(name_key, term) for term in _field_terms(name, whole=True)}
    for level, texts in ((MatchLevel.CATEGORY, [category]), (MatchLevel.KEYWORD, list(keywords)),
                         (MatchLevel.DESCRIPTION, [description])):
        for text in texts:
            for term in _field_terms(text, whole=level is not MatchLevel.DESCRIPTION):
                levels.setdefault(term, level)
    return levels


def rank(name_key: str, query_key: str, term_levels: Sequence[int]) -> MatchLevel:
    """A chatbot's level for a whole query, from its name and the levels of the query's terms in it.

    For a one-term query this is that term's own level, so ranking by postings and ranking here agree.
    """
    worst = max(term_levels)
    if worst > MatchLevel.NAME_SUBSTRING:  # some term is not in the name: the weakest field it is in
        return MatchLevel(worst)
    return _name_level(name_key, query_key)


def score(level: MatchLevel, name_key: str) -> int:
    """What postings are ordered by: the level, then the shorter name."""
    return int(level) * (NAME_LENGTH_CAP + 1) + min(len(name_key), NAME_LENGTH_CAP)


def level_of(score_value: int) -> MatchLevel:
    return MatchLevel(score_value // (NAME_LENGTH_CAP + 1))
