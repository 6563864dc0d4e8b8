"""The auto-reply rule engine on its own: each condition, priority and continue, the default rule, and
regular expressions refused when they would backtrack without end, or cut off by their time limit."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from msg5g.domain import rules as engine
from msg5g.domain.rules import Conditions, Rule, RuleSpec, Uplink, matches, select

MONDAY_10_CST = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 10:00 in Beijing, a Monday
SATURDAY_10_CST = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
REPLY = [{"kind": "reply", "content": {"kind": "text", "text": "ok"}}]


def up(text: str | None = None, postback: str | None = None, **facts: object) -> Uplink:
    values: dict[str, object] = {"kind": "text" if postback is None else "suggestion_response", "text": text,
                                 "postback": postback, "number": "+8613800138000", "at": MONDAY_10_CST}
    values.update(facts)
    return Uplink(**values)  # type: ignore[arg-type]


def when(**conditions: object) -> Conditions:
    return Conditions.model_validate(conditions)


def rule(rule_id: str, priority: int = 100, **spec: object) -> Rule:
    return Rule(rule_id, RuleSpec.model_validate({"name": rule_id, "priority": priority, "actions": REPLY, **spec}))


def test_keywords_exact_contains_and_any_of() -> None:
    exact = when(match="exact", keywords=["余额", "Balance"])
    assert matches(exact, up(" balance ")) is not None
    assert matches(exact, up("查余额")) is None
    contains = when(match="contains", keywords=["余额"])
    assert matches(contains, up("我想查余额")) is not None
    assert matches(contains, up("你好")) is None
    any_of = when(match="any_of", keywords=["还款", "账单"])
    assert matches(any_of, up("本月账单多少")) is not None
    assert matches(any_of, up("你好")) is None
    assert matches(any_of, up(postback="pay")) is None  # no text at all
    with pytest.raises(ValidationError, match="one keyword"):
        when(match="contains", keywords=["a", "b"])
    with pytest.raises(ValidationError, match="keywords"):
        when(match="exact")


def test_a_regex_match_gives_its_groups() -> None:
    found = matches(when(match="regex", pattern=r"查询(?P<month>\d{1,2})月账单"), up("请帮我查询11月账单"))
    assert found is not None
    assert found.groups == ("查询11月账单", "11")
    assert found.named == {"month": "11"}
    assert matches(when(match="regex", pattern=r"^\d{6}$"), up("12345")) is None


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(\w+\s?)*$", r"^(([a-z])+.)+[A-Z]([a-z])+$", r"^(a|a?)+$",
                                     r"(.*){1,32000}[bc]", r"(x+x+)+y"])
def test_a_catastrophic_pattern_is_refused_when_saved(pattern: str) -> None:
    started = time.monotonic()
    with pytest.raises(ValidationError, match="catastrophically slow"):
        when(match="regex", pattern=pattern)
    assert time.monotonic() - started < 10  # the probes are cut off, not run to the end


def test_a_pattern_that_does_not_compile_is_refused() -> None:
    with pytest.raises(ValidationError, match="does not compile"):
        when(match="regex", pattern="(unclosed")


def test_a_slow_match_at_run_time_is_cut_off_and_counts_as_no_match(monkeypatch: pytest.MonkeyPatch) -> None:
    # A rule saved before the probes knew this pattern: at run time it is cut off at its limit.
    monkeypatch.setattr(engine, "MATCH_SECONDS", 0.01)
    slow = Conditions.model_construct(match=engine.KeywordMatch.REGEX, pattern=r"(x+x+)+y", keywords=None,
                                      postback=None, postback_prefix=None, menu_item=None, first_message=None,
                                      time_window=None, outside_time_window=False, state=None, tag=None)
    started = time.monotonic()
    assert matches(slow, up("x" * 5000)) is None
    assert time.monotonic() - started < 2


def test_postbacks_menu_items_and_prefixes() -> None:
    assert matches(when(postback="pay_now"), up(postback="pay_now")) is not None
    assert matches(when(postback="pay_now"), up(postback="later")) is None
    assert matches(when(menu_item="menu:bill"), up(postback="menu:bill")) is not None
    assert matches(when(postback_prefix="order:"), up(postback="order:123")) is not None
    assert matches(when(postback_prefix="order:"), up("order:123")) is None  # typed, not tapped


def test_first_message_time_window_state_and_tag() -> None:
    assert matches(when(first_message=True), up("hi", first_message=True)) is not None
    assert matches(when(first_message=True), up("hi")) is None
    hours = {"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"}
    assert matches(when(time_window=hours), up("hi")) is not None
    assert matches(when(time_window=hours), up("hi", at=SATURDAY_10_CST)) is None
    assert matches(when(time_window=hours, outside_time_window=True), up("hi", at=SATURDAY_10_CST)) is not None
    night = {"start": "22:00", "end": "06:00"}
    assert matches(when(time_window=night), up("hi", at=datetime(2026, 11, 30, 15, 30, tzinfo=UTC))) is not None
    assert matches(when(state="awaiting_amount"), up("100", state="awaiting_amount")) is not None
    assert matches(when(state="awaiting_amount"), up("100")) is None
    assert matches(when(state=""), up("100")) is not None  # no state
    assert matches(when(tag="vip"), up("hi", tags=frozenset({"vip"}))) is not None
    assert matches(when(tag="vip"), up("hi")) is None


def test_priority_first_match_wins_unless_it_continues_and_the_default_answers_the_rest() -> None:
    rules = [
        rule("greeting", 10, conditions={"match": "any_of", "keywords": ["你好", "hi"]}),
        rule("log-everything", 1, continue_after=True),
        rule("bill", 20, conditions={"match": "contains", "keywords": ["账单"]}),
        rule("fallback", 1, default=True),
        rule("disabled", 0, enabled=False),
    ]
    assert [m.rule_id for m in select(rules, up("hi 账单"))] == ["log-everything", "greeting"]
    assert [m.rule_id for m in select(rules, up("账单"))] == ["log-everything", "bill"]
    only_specific = [r for r in rules if r.id != "log-everything"]
    assert [m.rule_id for m in select(only_specific, up("天气"))] == ["fallback"]
    assert [m.rule_id for m in select(only_specific, up("账单"))] == ["bill"]
    assert select([rules[0]], up("天气")) == []


def test_an_action_list_is_checked() -> None:
    with pytest.raises(ValidationError, match="content"):
        RuleSpec.model_validate({"name": "x", "actions": [{"kind": "reply"}]})
    with pytest.raises(ValidationError, match="at most one webhook"):
        RuleSpec.model_validate({"name": "x", "actions": [{"kind": "webhook"}, {"kind": "webhook"}]})
    with pytest.raises(ValidationError):
        RuleSpec.model_validate({"name": "x", "actions": []})
    with pytest.raises(ValidationError, match="params belong"):
        RuleSpec.model_validate({"name": "x", "actions": [
            {"kind": "reply", "content": {"kind": "text", "text": "a"}, "params": {"a": "b"}}]})
