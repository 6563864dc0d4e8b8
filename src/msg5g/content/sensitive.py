"""Sensitive words (敏感词): the platform's list and each tenant's own, matched against template text,
parameters at send time and fallback text with one Aho-Corasick automaton (`pyahocorasick`), so a
check costs one pass over the text however many words the lists hold.

A word either blocks (the template or the send is refused, the words named) or is masked (its
characters replaced with `*`). Matching ignores ASCII case.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import ahocorasick

from msg5g.domain.errors import ValidationFailed

# ASCII only, so that positions in the folded text are positions in the original (str.lower can
# change a string's length outside ASCII).
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class WordAction(StrEnum):
    BLOCK = "block"
    MASK = "mask"


class SensitiveContent(ValidationFailed):
    code = "sensitive_words"

    def __init__(self, words: list[str], where: str, *, field: str | None = None) -> None:
        super().__init__(f"{where} contains sensitive words: {', '.join(words)}", field=field)
        self.words = words


@dataclass(frozen=True, slots=True)
class Hit:
    word: str
    action: WordAction
    start: int
    end: int  # exclusive


class WordMatcher:
    def __init__(self, words: Iterable[tuple[str, WordAction]]) -> None:
        self._automaton = ahocorasick.Automaton()
        count = 0
        for word, action in words:
            key = word.strip().translate(_ASCII_LOWER)
            if not key:
                continue
            existing = self._automaton.get(key, None)
            # A word on both lists blocks: the stricter reading wins.
            if existing is None or action is WordAction.BLOCK:
                self._automaton.add_word(key, (word.strip(), action))
                count += 1
        self.size = count
        if count:
            self._automaton.make_automaton()

    def hits(self, text: str) -> list[Hit]:
        if not self.size or not text:
            return []
        found = []
        for end, (word, action) in self._automaton.iter(text.translate(_ASCII_LOWER)):
            found.append(Hit(word=word, action=action, start=end - len(word) + 1, end=end + 1))
        return found

    def check(self, text: str, *, where: str, field: str | None = None) -> str:
        """The text with mask words masked; raises SensitiveContent naming every blocking word."""
        hits = self.hits(text)
        if not hits:
            return text
        blocking = sorted({h.word for h in hits if h.action is WordAction.BLOCK})
        if blocking:
            raise SensitiveContent(blocking, where, field=field)
        chars = list(text)
        for hit in hits:
            chars[hit.start:hit.end] = "*" * (hit.end - hit.start)
        return "".join(chars)


EMPTY = WordMatcher(())
