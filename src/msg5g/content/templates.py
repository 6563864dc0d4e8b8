"""Template definitions: a message layout in the unified model whose text fields carry Jinja2
expressions over typed parameters, compiled once and rendered per recipient.

Rendering runs in Jinja2's `ImmutableSandboxedEnvironment` with no globals (no `range`, no
`namespace`: loops go over list parameters only, so output stays bounded) and with attribute
access to private names refused when the template is compiled, not first when it runs. The
platform's own filters format money, masked phone numbers and Chinese dates.

A layout's dynamic leaves are joined into one Jinja template and rendered in one call, split on a
separator that no parameter can contain (control characters are refused by parameter validation
and by the unified model): one render per message instead of one per text field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from typing import Any

import orjson
import regex
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from msg5g.domain.content import MAX_FALLBACK_TEXT, Content
from msg5g.domain.errors import ValidationFailed
from msg5g.kit.phone import InvalidPhoneNumber, normalise_mobile

_SEPARATOR = "\x1e"  # ASCII record separator: not valid in XML, so never in a parameter or the model
_NON_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_DYNAMIC = ("{{", "{%")
_URL = re.compile(r"https?://[^\s/$.?#][^\s]*")
_FEN = Decimal("0.01")
PATTERN_SECONDS = 0.05  # a parameter's pattern is the template author's regex: bounded in time
MAX_LIST_ITEMS = 50
MAX_PARAMETER_TEXT = 2000
_content_adapter: TypeAdapter[Content] = TypeAdapter(Content)


class TemplateInvalid(ValidationFailed):
    code = "template_invalid"


class TemplateUnsafe(ValidationFailed):
    code = "template_unsafe"


class ParamsInvalid(ValidationFailed):
    code = "invalid_params"


class ParamType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    MONEY = "money"  # yuan, two decimals
    DATE = "date"
    DATETIME = "datetime"
    PHONE = "phone"
    URL = "url"
    ENUM = "enum"
    LIST = "list"  # of strings: what a loop goes over
    MATERIAL = "material"  # one of several materials, e.g. a card's image chosen per recipient


class ParameterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
    type: ParamType
    description: str | None = Field(default=None, max_length=200)
    required: bool = True
    min_length: int | None = Field(default=None, ge=0, le=MAX_PARAMETER_TEXT)
    max_length: int | None = Field(default=None, ge=1, le=MAX_PARAMETER_TEXT,
                                   description="Characters of a string; items of a list.")
    pattern: str | None = Field(default=None, max_length=200, description="A string must match it whole.")
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    values: list[str] | None = Field(default=None, min_length=1, max_length=100, description="An enum's values.")
    materials: list[str] | None = Field(default=None, min_length=1, max_length=20,
                                        description="The material ids a material parameter may name.")
    sample: Any = Field(default=None, description="Required for audit: what the carrier reviews.")

    @model_validator(mode="after")
    def _consistent(self) -> ParameterSpec:
        if self.type is ParamType.ENUM and not self.values:
            raise ValueError(f"enum parameter {self.name!r} needs values")
        if self.type is ParamType.MATERIAL and not self.materials:
            raise ValueError(f"material parameter {self.name!r} needs materials")
        if self.pattern is not None:
            if self.type is not ParamType.STRING:
                raise ValueError(f"pattern applies to string parameters only ({self.name!r})")
            try:
                regex.compile(self.pattern)
            except regex.error as exc:
                raise ValueError(f"parameter {self.name!r}: the pattern does not compile: {exc}") from None
        if self.sample is None:
            raise ValueError(f"parameter {self.name!r} needs a sample value (carriers audit with samples)")
        return self


class TemplateDefinition(BaseModel):
    """What an author writes: the layout (unified content whose text may hold Jinja), the fallback
    SMS text, and the parameters both use."""

    model_config = ConfigDict(extra="forbid")

    layout: dict[str, Any] = Field(description="Content in the unified model; text fields may use "
                                               "{{ parameter }}, filters, {% if %} and {% for %} over list parameters.")
    fallback_text: str | None = Field(default=None, min_length=1, max_length=MAX_FALLBACK_TEXT)
    parameters: list[ParameterSpec] = Field(default_factory=list, max_length=30)

    @model_validator(mode="after")
    def _unique_names(self) -> TemplateDefinition:
        names = [p.name for p in self.parameters]
        if len(names) != len(set(names)):
            raise ValueError("parameter names must be unique")
        return self


# ---- filters ----------------------------------------------------------------------------------


def money(value: Any, symbol: str = "") -> str:
    """1234.5 → '1,234.50' (with `symbol` '¥': '¥1,234.50')."""
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    return f"{symbol}{amount.quantize(Decimal('0.01')):,}"


def yuan(value: Any) -> str:
    """1234.5 → '1,234.50元'."""
    return f"{money(value)}元"


def mask_phone(value: Any) -> str:
    """+8613812341234 or 13812341234 → '138****1234'."""
    digits = str(value).removeprefix("+86")
    if len(digits) < 8:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def cn_date(value: Any) -> str:
    """2026-12-15 → '2026年12月15日'."""
    day = value if isinstance(value, date) else date.fromisoformat(str(value))
    return f"{day.year}年{day.month}月{day.day}日"


def cn_datetime(value: Any) -> str:
    """2026-12-15T14:30 → '2026年12月15日 14:30'."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return f"{cn_date(moment.date())} {moment:%H:%M}"


PLATFORM_FILTERS: dict[str, Callable[..., str]] = {
    "money": money, "yuan": yuan, "mask_phone": mask_phone, "cn_date": cn_date, "cn_datetime": cn_datetime,
}


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True,
                                        auto_reload=False)
    env.globals.clear()  # no range(), dict(), lipsum(), namespace(): only the parameters
    env.filters.update(PLATFORM_FILTERS)
    return env


_ENV = _environment()


# ---- parameters ---------------------------------------------------------------------------------


def _coercer(spec: ParameterSpec) -> Callable[[Any], Any]:
    """The function that turns a caller's value into this parameter's typed value, raising
    ValueError with a message for the caller. Made once per parameter when the template compiles."""
    kind = spec.type

    def scalar(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def coerce(raw: Any) -> Any:
            if isinstance(raw, (dict, list)) or raw is None:
                raise ValueError(f"must be a {kind.value}")
            return check(raw)
        return coerce

    if kind is ParamType.LIST:
        limit = min(spec.max_length or MAX_LIST_ITEMS, MAX_LIST_ITEMS)

        def items(raw: Any) -> list[str]:
            if not isinstance(raw, list):
                raise ValueError("must be a list of strings")
            if len(raw) > limit:
                raise ValueError(f"has {len(raw)} items; at most {limit}")
            return [_text(item, MAX_PARAMETER_TEXT) for item in raw]
        return items
    if kind is ParamType.STRING:
        longest, shortest, pattern = spec.max_length or MAX_PARAMETER_TEXT, spec.min_length, spec.pattern
        compiled = regex.compile(pattern) if pattern is not None else None

        def string(raw: Any) -> str:
            text = _text(raw, longest)
            if shortest is not None and len(text) < shortest:
                raise ValueError(f"must be at least {shortest} characters")
            if compiled is not None:
                try:
                    if compiled.fullmatch(text, timeout=PATTERN_SECONDS) is None:
                        raise ValueError(f"does not match {pattern}")
                except TimeoutError:
                    raise ValueError("took too long to match its pattern") from None
            return text
        return scalar(string)
    if kind is ParamType.INTEGER:
        def integer(raw: Any) -> int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError("must be an integer")
            try:
                number = int(raw.strip()) if isinstance(raw, str) else int(raw)
            except (TypeError, ValueError):
                raise ValueError("must be an integer") from None
            _bounds(spec, Decimal(number))
            return number
        return scalar(integer)
    if kind in (ParamType.DECIMAL, ParamType.MONEY):
        fen = kind is ParamType.MONEY

        def decimal(raw: Any) -> Decimal:
            if isinstance(raw, bool):
                raise ValueError("must be a number")
            try:
                number = Decimal(str(raw).strip())
            except InvalidOperation:
                raise ValueError("must be a number") from None
            if not number.is_finite():
                raise ValueError("must be a finite number")
            if fen and number != number.quantize(_FEN):
                raise ValueError("must have at most two decimals (fen)")
            _bounds(spec, number)
            return number
        return scalar(decimal)
    if kind is ParamType.DATE:
        def day(raw: Any) -> date:
            try:
                return date.fromisoformat(_text(raw, 40))
            except ValueError:
                raise ValueError("must be a date, YYYY-MM-DD") from None
        return scalar(day)
    if kind is ParamType.DATETIME:
        def moment(raw: Any) -> datetime:
            try:
                return datetime.fromisoformat(_text(raw, 40))
            except ValueError:
                raise ValueError("must be a date and time, ISO 8601") from None
        return scalar(moment)
    if kind is ParamType.PHONE:
        def phone(raw: Any) -> str:
            try:
                return normalise_mobile(_text(raw, 40))
            except InvalidPhoneNumber:
                raise ValueError("must be a mobile number") from None
        return scalar(phone)
    if kind is ParamType.URL:
        def url(raw: Any) -> str:
            text = _text(raw, 1000)
            if not _URL.fullmatch(text):
                raise ValueError("must be an http(s) URL")
            return text
        return scalar(url)
    allowed = frozenset(spec.values or spec.materials or ())
    what = "one of" if kind is ParamType.ENUM else "one of the materials"

    def choice(raw: Any) -> str:
        text = _text(raw, 200)
        if text not in allowed:
            raise ValueError(f"must be {what} {', '.join(sorted(allowed))}")
        return text
    return scalar(choice)


def _text(raw: Any, max_length: int) -> str:
    if isinstance(raw, (dict, list, bool)) or raw is None:
        raise ValueError("must be text")
    text = str(raw)
    if len(text) > max_length:
        raise ValueError(f"is {len(text)} characters; at most {max_length}")
    if _NON_XML.search(text):
        raise ValueError("contains control characters")
    return text


def _bounds(spec: ParameterSpec, number: Decimal) -> None:
    if spec.minimum is not None and number < spec.minimum:
        raise ValueError(f"must be at least {spec.minimum}")
    if spec.maximum is not None and number > spec.maximum:
        raise ValueError(f"must be at most {spec.maximum}")


# ---- compiling and rendering -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rendered:
    content: Content
    fallback_text: str | None


class CompiledTemplate:
    """A definition checked once (syntax, declared parameters, sandbox, samples) and ready to render."""

    def __init__(self, definition: TemplateDefinition) -> None:
        self.definition = definition
        self._specs = {p.name: p for p in definition.parameters}
        self._coercers = {p.name: _coercer(p) for p in definition.parameters}
        try:
            self._layout_json = orjson.dumps(definition.layout)
        except (TypeError, orjson.JSONEncodeError) as exc:  # e.g. an integer beyond 64 bits
            raise TemplateInvalid(f"the layout is not valid content: {exc}", field="definition.layout") from None
        leaves: list[tuple[tuple[str | int, ...], str]] = []
        _collect(definition.layout, (), leaves)
        if definition.fallback_text is not None:
            leaves.append((("fallback_text",), definition.fallback_text))
        self._paths = [path for path, source in leaves if any(mark in source for mark in _DYNAMIC)]
        used: set[str] = set()
        for path, source in leaves:
            if any(mark in source for mark in _DYNAMIC):
                used |= self._check_leaf(_dotted(path), source)
        unknown = sorted(used - self._specs.keys())
        if unknown:
            raise TemplateInvalid(f"the template uses undeclared parameters: {', '.join(unknown)}",
                                  field="definition.parameters")
        dynamic = [source for path, source in leaves if path in self._paths]
        self._joined = _ENV.from_string(_SEPARATOR.join(dynamic)) if dynamic else None
        self.used_parameters = used
        self.materials = _material_ids(definition)
        self.sample = self.render(self.samples())  # a definition must render into valid content

    def samples(self) -> dict[str, Any]:
        return {p.name: p.sample for p in self.definition.parameters}

    @staticmethod
    def _check_leaf(where: str, source: str) -> set[str]:
        try:
            tree = _ENV.parse(source)
        except TemplateSyntaxError as exc:
            raise TemplateInvalid(f"{where}: {exc.message} (line {exc.lineno})", field=f"definition.{where}") from None
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            name = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)  # type: ignore[attr-defined]
            if isinstance(name, str) and name.startswith("_"):
                raise TemplateUnsafe(f"{where}: access to {name!r} is not allowed in a template",
                                     field=f"definition.{where}")
        if next(tree.find_all(nodes.Call), None) is not None:
            raise TemplateUnsafe(f"{where}: templates may not call functions or methods; use filters",
                                 field=f"definition.{where}")
        return set(meta.find_undeclared_variables(tree))

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The typed parameter values; raises ParamsInvalid naming every problem."""
        values: dict[str, Any] = {}
        problems: list[str] = []
        for name in params:
            if name not in self._specs:
                problems.append(f"{name}: not a parameter of this template")
        for name, spec in self._specs.items():
            if name not in params:
                if spec.required and name in self.used_parameters:
                    problems.append(f"{name}: missing")
                elif spec.type is ParamType.LIST:
                    values[name] = []
                else:
                    values[name] = ""
                continue
            try:
                values[name] = self._coercers[name](params[name])
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
        if problems:
            raise ParamsInvalid("; ".join(problems), field="params")
        return values

    def render(self, params: Mapping[str, Any]) -> Rendered:
        values = self.validate(params)
        fallback = self.definition.fallback_text
        if self._joined is None:
            document = orjson.loads(self._layout_json)
        else:
            try:
                parts = self._joined.render(values).split(_SEPARATOR)
            except SecurityError as exc:
                raise TemplateUnsafe(f"the template tried to leave its sandbox: {exc}", field="definition") from None
            except (UndefinedError, TypeError, ValueError, ArithmeticError) as exc:
                raise ParamsInvalid(f"the template could not be rendered with these parameters: {exc}",
                                    field="params") from None
            document = orjson.loads(self._layout_json)
            for path, value in zip(self._paths, parts, strict=True):
                if path == ("fallback_text",):
                    fallback = value
                    continue
                target: Any = document
                for step in path[:-1]:
                    target = target[step]
                target[path[-1]] = value
        try:
            content = _content_adapter.validate_python(document)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ParamsInvalid(f"the rendered message is not valid content at {where}: {first['msg']}",
                                field="params") from None
        if fallback is not None and not fallback.strip():
            fallback = None
        return Rendered(content=content, fallback_text=fallback)


def compile_template(definition: TemplateDefinition) -> CompiledTemplate:
    """Raises TemplateInvalid / TemplateUnsafe / ParamsInvalid (the samples) naming the problem."""
    return CompiledTemplate(definition)


def _collect(node: Any, path: tuple[str | int, ...], out: list[tuple[tuple[str | int, ...], str]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _collect(value, (*path, key), out)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _collect(value, (*path, index), out)
    elif isinstance(node, str):
        out.append((path, node))


def _dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(str(step) for step in path)


def _material_ids(definition: TemplateDefinition) -> frozenset[str]:
    """Every material the template may reference: fixed ids in the layout and a material parameter's choices."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "material_id" and isinstance(value, str) and not any(m in value for m in _DYNAMIC):
                    found.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(definition.layout)
    for spec in definition.parameters:
        if spec.type is ParamType.MATERIAL:
            found.update(spec.materials or ())
    return frozenset(found)


# ---- inline content of auto-replies -------------------------------------------------------------

REPLY_VARIABLES = frozenset({"text", "postback", "number", "groups", "named", "contact", "tags", "state"})


def check_inline(document: Any, where: str = "content") -> None:
    """Refuse an inline reply whose text fields do not parse, leave the sandbox, call anything, or use a
    name a reply does not have (`REPLY_VARIABLES`)."""
    leaves: list[tuple[tuple[str | int, ...], str]] = []
    _collect(document, (), leaves)
    for path, source in leaves:
        if any(mark in source for mark in _DYNAMIC):
            unknown = CompiledTemplate._check_leaf(f"{where}.{_dotted(path)}", source) - REPLY_VARIABLES
            if unknown:
                raise TemplateInvalid(f"{where}.{_dotted(path)}: a reply has no {', '.join(sorted(unknown))}; it has "
                                      f"{', '.join(sorted(REPLY_VARIABLES))}", field=where)


@lru_cache(maxsize=4096)
def _reply_template(source: str) -> Template:
    return _ENV.from_string(source)  # compiling costs more than rendering: once per rule text


def render_text(source: str, variables: Mapping[str, Any]) -> str:
    """One text with reply variables; raises ParamsInvalid naming what was missing."""
    if not any(mark in source for mark in _DYNAMIC):
        return source
    try:
        return _reply_template(source).render(variables)
    except SecurityError as exc:
        raise TemplateUnsafe(f"the reply tried to leave its sandbox: {exc}") from None
    except (UndefinedError, TypeError, ValueError, ArithmeticError, TemplateSyntaxError) as exc:
        raise ParamsInvalid(f"the reply could not be filled in: {exc}") from None


def render_inline(document: Any, variables: Mapping[str, Any]) -> Content:
    """Inline content (the unified model, as JSON) with its text fields filled in from `variables`."""
    leaves: list[tuple[tuple[str | int, ...], str]] = []
    _collect(document, (), leaves)
    filled: Any = orjson.loads(orjson.dumps(document))
    for path, source in leaves:
        if not any(mark in source for mark in _DYNAMIC):
            continue
        target: Any = filled
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = render_text(source, variables)
    try:
        return _content_adapter.validate_python(filled)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ParamsInvalid(f"the filled-in reply is not valid content at {'.'.join(map(str, first['loc']))}: "
                            f"{first['msg']}") from None
