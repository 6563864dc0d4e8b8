"""Template rendering: every parameter type, the platform's filters, conditions and loops, the
sandbox, and the checks a definition passes before it is stored."""

from __future__ import annotations

from typing import Any

import pytest

from msg5g.content.templates import (
    ParamsInvalid,
    TemplateDefinition,
    TemplateInvalid,
    TemplateUnsafe,
    compile_template,
)
from msg5g.domain.content import RichCardContent, TextContent


def definition(layout: dict[str, Any], parameters: list[dict[str, Any]], fallback: str | None = None
               ) -> TemplateDefinition:
    return TemplateDefinition.model_validate({"layout": layout, "parameters": parameters, "fallback_text": fallback})


def text(source: str) -> dict[str, Any]:
    return {"kind": "text", "text": source}


EVERY_TYPE = [
    {"name": "name", "type": "string", "max_length": 10, "sample": "张三"},
    {"name": "count", "type": "integer", "minimum": 1, "maximum": 99, "sample": 3},
    {"name": "rate", "type": "decimal", "sample": "0.035"},
    {"name": "amount", "type": "money", "sample": "1234.5"},
    {"name": "due", "type": "date", "sample": "2026-12-15"},
    {"name": "at", "type": "datetime", "sample": "2026-12-15T09:05:00+08:00"},
    {"name": "phone", "type": "phone", "sample": "13812341234"},
    {"name": "link", "type": "url", "sample": "https://pay.example.com/x"},
    {"name": "level", "type": "enum", "values": ["gold", "silver"], "sample": "gold"},
    {"name": "items", "type": "list", "max_length": 5, "sample": ["a", "b"]},
    {"name": "banner", "type": "material", "materials": ["m1", "m2"], "sample": "m1"},
]


def test_every_type_and_filter_renders() -> None:
    source = ("{{ name }}|{{ count }}|{{ rate }}|{{ amount|money }}|{{ amount|yuan }}|{{ amount|money('¥') }}|"
              "{{ due|cn_date }}|{{ at|cn_datetime }}|{{ phone|mask_phone }}|{{ link }}|{{ level|upper }}|"
              "{{ items|join(',') }}|{{ banner }}")
    compiled = compile_template(definition(text(source), EVERY_TYPE))
    content = compiled.sample.content
    assert isinstance(content, TextContent)
    assert content.text == ("张三|3|0.035|1,234.50|1,234.50元|¥1,234.50|2026年12月15日|2026年12月15日 09:05|"
                            "138****1234|https://pay.example.com/x|GOLD|a,b|m1")


def test_conditions_and_loops() -> None:
    compiled = compile_template(definition(
        text("{% if level == 'gold' %}尊享{% else %}普通{% endif %}:{% for i in items %}[{{ loop.index }}{{ i }}]"
             "{% endfor %}"),
        [{"name": "level", "type": "enum", "values": ["gold", "silver"], "sample": "gold"},
         {"name": "items", "type": "list", "sample": ["x"]}]))
    rendered = compiled.render({"level": "silver", "items": ["茶", "咖啡"]})
    assert isinstance(rendered.content, TextContent)
    assert rendered.content.text == "普通:[1茶][2咖啡]"


def test_a_card_with_media_chosen_by_parameter_and_its_fallback() -> None:
    layout = {"kind": "rich_card", "card": {
        "title": "{{ name }}，您的账单", "description": "应还 {{ amount|yuan }}",
        "media": {"file": {"material_id": "{{ banner }}"}},
        "suggestions": [{"type": "reply", "text": "已还款", "postback_data": "paid:{{ name }}"},
                        {"type": "open_url", "text": "去还款", "url": "{{ link }}"}]}}
    compiled = compile_template(definition(layout, EVERY_TYPE, fallback="{{ name }}您好，应还{{ amount|yuan }}"))
    assert compiled.materials == {"m1", "m2"}
    rendered = compiled.render({"name": "李四", "count": 1, "rate": 1, "amount": 88, "due": "2026-01-02",
                                "at": "2026-01-02T10:00", "phone": "+8613900001111", "link": "https://p.example/9",
                                "level": "silver", "items": [], "banner": "m2"})
    assert isinstance(rendered.content, RichCardContent)
    card = rendered.content.card
    assert (card.title, card.description) == ("李四，您的账单", "应还 88.00元")
    assert card.media is not None
    assert card.media.file.material_id == "m2"
    assert card.suggestions[0].postback_data == "paid:李四"
    assert str(card.suggestions[1].url) == "https://p.example/9"
    assert rendered.fallback_text == "李四您好，应还88.00元"


@pytest.mark.parametrize(("name", "value", "complaint"), [
    ("name", "x" * 11, "at most 10"),
    ("name", {"a": 1}, "must be"),
    ("count", "three", "integer"),
    ("count", 100, "at most 99"),
    ("count", 1.5, "integer"),
    ("rate", "NaN", "finite"),
    ("amount", "1.234", "two decimals"),
    ("due", "15/12/2026", "YYYY-MM-DD"),
    ("at", "yesterday", "ISO 8601"),
    ("phone", "12345", "mobile"),
    ("link", "javascript:alert(1)", "http"),
    ("level", "bronze", "one of"),
    ("items", ["a"] * 6, "at most 5"),
    ("banner", "m3", "materials"),
    ("name", "bad\x1echar", "control"),
])
def test_parameters_of_the_wrong_type_or_outside_their_constraints(name: str, value: Any, complaint: str) -> None:
    compiled = compile_template(definition(text("{{ " + name + " }}"), EVERY_TYPE))
    with pytest.raises(ParamsInvalid, match=complaint) as refused:
        compiled.render({**compiled.samples(), name: value})
    assert refused.value.code == "invalid_params"
    assert name in refused.value.message


def test_missing_and_unknown_parameters_are_named() -> None:
    compiled = compile_template(definition(text("{{ name }} {{ count }}"), EVERY_TYPE))
    with pytest.raises(ParamsInvalid) as refused:
        compiled.render({"name": "x", "surprise": 1})
    assert "count: missing" in refused.value.message
    assert "surprise: not a parameter" in refused.value.message


def test_a_pattern_constrains_a_string() -> None:
    compiled = compile_template(definition(text("{{ code }}"), [
        {"name": "code", "type": "string", "pattern": r"[A-Z]{2}\d{4}", "sample": "AB1234"}]))
    assert compiled.render({"code": "XY9999"}).content.text == "XY9999"  # type: ignore[union-attr]
    with pytest.raises(ParamsInvalid, match="does not match"):
        compiled.render({"code": "xy9999"})


@pytest.mark.parametrize("source", [
    "{{ ''.__class__ }}",
    "{{ name.__class__.__mro__ }}",
    "{{ name['__class__'] }}",
    "{% if false %}{{ ''.__class__.__base__.__subclasses__() }}{% endif %}",
    "{{ name.upper() }}",
    "{{ cycler }}",
    "{{ range(10) }}",
])
def test_sandbox_escapes_are_refused_when_the_template_is_made(source: str) -> None:
    with pytest.raises((TemplateUnsafe, TemplateInvalid)) as refused:
        compile_template(definition(text(source), [{"name": "name", "type": "string", "sample": "x"}]))
    assert refused.value.http_status == 422


def test_syntax_errors_and_undeclared_parameters_name_where() -> None:
    with pytest.raises(TemplateInvalid, match=r"text: .*line 1") as bad:
        compile_template(definition(text("{% if name %}open"), [{"name": "name", "type": "string", "sample": "x"}]))
    assert bad.value.field == "definition.text"
    with pytest.raises(TemplateInvalid, match="undeclared parameters: ghost"):
        compile_template(definition(text("{{ ghost }}"), []))


def test_a_definition_must_render_into_valid_content_with_its_samples() -> None:
    with pytest.raises(ParamsInvalid, match="not valid content"):
        compile_template(definition({"kind": "rich_card", "card": {"title": "{{ name }}"}},
                                    [{"name": "name", "type": "string", "sample": "x" * 300}]))
    with pytest.raises(ValueError, match="sample"):
        definition(text("{{ name }}"), [{"name": "name", "type": "string"}])


def test_an_optional_parameter_may_be_left_out() -> None:
    compiled = compile_template(definition(text("您好{{ suffix }}"), [
        {"name": "suffix", "type": "string", "required": False, "sample": "!"}]))
    assert compiled.render({}).content.text == "您好"  # type: ignore[union-attr]


def test_a_layout_that_is_not_content_is_refused() -> None:
    with pytest.raises(TemplateInvalid, match="not valid content"):
        compile_template(definition({"kind": "text", "text": "x", "n": -34122060790333198081269432320}, []))
    with pytest.raises(ParamsInvalid, match="not valid content"):
        compile_template(definition({"kind": "poster", "text": "x"}, []))
