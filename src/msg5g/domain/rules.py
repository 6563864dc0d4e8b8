"""Auto-reply rules on a chatbot's uplinks: what a rule matches, what it does, and which rules run.

A rule's conditions all hold for it to match (an empty set matches everything). Rules run in priority
order (lower first); the first that matches wins, unless it says `continue_after`, in which case the
next matching rules run too. When no rule matched, the first default rule runs. Auto-replies are
downlinks, so they never come back as uplinks: a rule cannot trigger itself.

Regular expressions go through the `regex` package with a time limit (the standard `re` cannot be
interrupted): a pattern that does not compile, or that takes too long on a hostile probe, is refused
when the rule is saved, and a match that passes the limit at run time counts as no match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any, Literal

import regex
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

from msg5g.domain.content import Content

CHINA = timezone(timedelta(hours=8))
MATCH_SECONDS = 0.05  # a regular expression's time limit per uplink
_PROBE_SECONDS = 0.2  # what a pattern may take on the probes when saved
# Long runs of one kind of character and a character that fails the match at the end: what makes a
# pattern with nested repetition backtrack (`regex` copes with short ones, so they are as long as an
# uplink's text may be).
_PROBES = tuple(run * (4000 // len(run)) + end for run, end in (
    ("a", "!"), ("x", ""), ("1", "x"), (" ", "x"), ("ab", "c"), ("中", "!"), ("a1", "-")))


class PatternRefused(ValueError):
    """A regular expression that does not compile, or is too slow to be let loose on uplinks."""


def compile_pattern(pattern: str) -> regex.Pattern[str]:
    try:
        compiled = regex.compile(pattern, regex.IGNORECASE)
    except regex.error as exc:
        raise PatternRefused(f"the regular expression does not compile: {exc}") from None
    for probe in _PROBES:
        try:
            compiled.search(probe, timeout=_PROBE_SECONDS)
        except TimeoutError:
            raise PatternRefused("the regular expression is catastrophically slow (it backtracks without end on "
                                 f"{probe[:12]!r}…); write it without nested repetition") from None
    return compiled


class KeywordMatch(StrEnum):
    EXACT = "exact"  # the text is one of the keywords (trimmed, any case)
    CONTAINS = "contains"  # the text contains the keyword
    ANY_OF = "any_of"  # the text contains any of the keywords
    REGEX = "regex"  # the pattern is found in the text (its groups are the reply's `groups`)


class TimeWindow(BaseModel):
    """Business hours, in China Standard Time: on these weekdays (1 = Monday) from `start` to `end`."""

    model_config = ConfigDict(extra="forbid")
    days: list[Annotated[int, Field(ge=1, le=7)]] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7],
                                                          min_length=1)
    start: time
    end: time

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(CHINA)
        if local.isoweekday() not in self.days:
            return False
        now = local.time().replace(tzinfo=None)
        if self.start <= self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end  # a window across midnight


class Conditions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: KeywordMatch | None = Field(default=None, description="How the uplink's text is matched.")
    keywords: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(default=None, max_length=100)
    pattern: str | None = Field(default=None, min_length=1, max_length=500, description="For `match: regex`.")
    postback: str | None = Field(default=None, max_length=2048, description="A tapped suggestion's postback data.")
    postback_prefix: str | None = Field(default=None, min_length=1, max_length=2048)
    menu_item: str | None = Field(default=None, max_length=2048,
                                  description="A persistent-menu item, by the postback data the menu gives it.")
    first_message: bool | None = Field(default=None, description="The first uplink from this number to the chatbot.")
    time_window: TimeWindow | None = None
    outside_time_window: bool = Field(default=False, description="Match outside `time_window` instead.")
    state: str | None = Field(default=None, max_length=100,
                              description="The conversation's state; an empty string: no state.")
    tag: str | None = Field(default=None, max_length=50, description="The contact carries this tag.")

    @model_validator(mode="after")
    def _consistent(self) -> Conditions:
        if self.match is KeywordMatch.REGEX:
            if self.pattern is None or self.keywords is not None:
                raise ValueError("a regex match takes `pattern`, not `keywords`")
            try:
                compile_pattern(self.pattern)
            except PatternRefused as exc:
                raise ValueError(str(exc)) from None
        elif self.match is not None:
            if not self.keywords or self.pattern is not None:
                raise ValueError(f"a {self.match.value} match takes `keywords`, not `pattern`")
            if self.match is KeywordMatch.CONTAINS and len(self.keywords) != 1:
                raise ValueError("a contains match takes one keyword; use any_of for several")
        elif self.keywords is not None or self.pattern is not None:
            raise ValueError("keywords and pattern need `match`")
        if self.outside_time_window and self.time_window is None:
            raise ValueError("outside_time_window needs time_window")
        return self


class ReplyAction(BaseModel):
    """Reply with inline content or a template. Text fields of the content and the template's parameter
    values may use `{{ text }}`, `{{ postback }}`, `{{ number }}`, `{{ groups[1] }}`, `{{ named.x }}`,
    `{{ contact.name }}` (the contact's attributes), `{{ state }}`."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["reply"] = "reply"
    content: Content | None = None
    template_id: str | None = Field(default=None, max_length=64)
    params: dict[str, str] = Field(default_factory=dict, description="Template parameters, each rendered.")

    @model_validator(mode="after")
    def _one_source(self) -> ReplyAction:
        if (self.content is None) == (self.template_id is None):
            raise ValueError("a reply has `content` or `template_id`, one of them")
        if self.params and self.template_id is None:
            raise ValueError("params belong to a template reply")
        return self


class SetAction(BaseModel):
    """Change the conversation's state and the contact's tags and attributes (values are rendered)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["set"] = "set"
    state: str | None = Field(default=None, max_length=100, description="The new state; an empty string clears it.")
    add_tags: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(default_factory=list, max_length=20)
    remove_tags: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(default_factory=list,
                                                                                   max_length=20)
    attributes: dict[str, str] = Field(default_factory=dict, max_length=50)


class WebhookAction(BaseModel):
    """Ask the business: the uplink, the contact and the conversation are POSTed (signed like callbacks) and
    the answer `{"replies": [content...], "state"?, "add_tags"?, "remove_tags"?}` is sent back; a slow or
    failing webhook gets `fallback` sent instead."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["webhook"] = "webhook"
    url: AnyHttpUrl | None = Field(default=None, description="Default: the business's callback URL.")
    timeout_seconds: float = Field(default=3.0, ge=0.2, le=10.0)
    fallback: list[ReplyAction] = Field(default_factory=list, max_length=5)


class HandoverAction(BaseModel):
    """Hand the conversation to a person (the customer-service inbox); rules stop for it until it is closed."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["handover"] = "handover"
    note: str | None = Field(default=None, max_length=500)


Action = Annotated[ReplyAction | SetAction | WebhookAction | HandoverAction, Field(discriminator="kind")]


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    priority: int = Field(default=100, ge=0, le=100_000, description="Lower runs first.")
    enabled: bool = True
    default: bool = Field(default=False, description="Runs when no other rule matched; its conditions are ignored.")
    conditions: Conditions = Field(default_factory=Conditions)
    actions: list[Action] = Field(min_length=1, max_length=10)
    continue_after: bool = Field(default=False, description="Let the next matching rules run too.")

    @field_validator("actions")
    @classmethod
    def _one_webhook(cls, actions: list[Any]) -> list[Any]:
        if sum(isinstance(a, WebhookAction) for a in actions) > 1:
            raise ValueError("a rule calls at most one webhook")
        return actions


@dataclass(frozen=True, slots=True)
class Uplink:
    """What rules look at: one uplink, with what is known of its sender and conversation."""

    kind: str
    text: str | None
    postback: str | None
    number: str
    at: datetime
    first_message: bool = False
    state: str | None = None
    tags: frozenset[str] = frozenset()
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Match:
    rule_id: str
    groups: tuple[str | None, ...] = ()
    named: dict[str, str | None] = field(default_factory=dict)


def _keyword(conditions: Conditions, text: str | None) -> Match | bool:
    if conditions.match is None:
        return True
    if text is None:
        return False
    if conditions.match is KeywordMatch.REGEX:
        assert conditions.pattern is not None
        try:
            found = compile_pattern_cached(conditions.pattern).search(text, timeout=MATCH_SECONDS)
        except TimeoutError:
            return False  # cut off: no match (the engine's caller logs it on the conversation)
        if found is None:
            return False
        return Match(rule_id="", groups=(found.group(0), *found.groups()), named=found.groupdict())
    folded = text.strip().casefold()
    words = [k.strip().casefold() for k in conditions.keywords or []]
    if conditions.match is KeywordMatch.EXACT:
        return folded in words
    return any(w in folded for w in words)


_compiled: dict[str, regex.Pattern[str]] = {}


def compile_pattern_cached(pattern: str) -> regex.Pattern[str]:
    compiled = _compiled.get(pattern)
    if compiled is None:
        if len(_compiled) > 10_000:
            _compiled.clear()
        compiled = _compiled[pattern] = regex.compile(pattern, regex.IGNORECASE)
    return compiled


def matches(conditions: Conditions, uplink: Uplink) -> Match | None:
    """The match (with a regex's groups) when every condition holds, else None."""
    keyword = _keyword(conditions, uplink.text)
    if keyword is False:
        return None
    if conditions.postback is not None and uplink.postback != conditions.postback:
        return None
    if conditions.menu_item is not None and uplink.postback != conditions.menu_item:
        return None
    if conditions.postback_prefix is not None and not (uplink.postback or "").startswith(conditions.postback_prefix):
        return None
    if conditions.first_message is not None and uplink.first_message != conditions.first_message:
        return None
    if conditions.time_window is not None and conditions.time_window.contains(uplink.at) == \
            conditions.outside_time_window:
        return None
    if conditions.state is not None and (uplink.state or "") != conditions.state:
        return None
    if conditions.tag is not None and conditions.tag not in uplink.tags:
        return None
    return keyword if isinstance(keyword, Match) else Match(rule_id="")


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    spec: RuleSpec


def select(rules: Sequence[Rule], uplink: Uplink) -> list[Match]:
    """The rules that run for an uplink, in order: by priority, the first match (and those after it while
    each says `continue_after`); when none matched, the first default rule."""
    chosen: list[Match] = []
    ordered = sorted((r for r in rules if r.spec.enabled), key=lambda r: (r.spec.priority, r.id))
    for rule in ordered:
        if rule.spec.default:
            continue
        found = matches(rule.spec.conditions, uplink)
        if found is None:
            continue
        chosen.append(Match(rule_id=rule.id, groups=found.groups, named=found.named))
        if not rule.spec.continue_after:
            return chosen
    if not chosen:
        default = next((r for r in ordered if r.spec.default), None)
        if default is not None:
            chosen.append(Match(rule_id=default.id))
    return chosen
