"""The message catalogs: complete in zh_CN, in step with the code, compiled."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import msg5g.admin
from msg5g.admin.i18n import DEFAULT_LOCALE, LOCALE_DIR, LOCALES, choose_locale, translations

ADMIN_DIR = Path(msg5g.admin.__file__).parent
METHOD_MAP = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"trimmed": "true"}}


def _ids(message_id: str | tuple[str, ...] | list[str]) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def _strings(message: Message) -> list[str]:
    value = message.string
    return [value or ""] if value is None or isinstance(value, str) else list(value)


def _catalog(locale: str | None) -> dict[str, Message]:
    path = LOCALE_DIR / "messages.pot" if locale is None else LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale=locale)
    return {_ids(m.id): m for m in catalog if m.id}


def test_every_msgid_has_a_chinese_translation() -> None:
    template_ids = set(_catalog(None))
    zh = _catalog("zh_CN")
    assert template_ids <= set(zh), f"run pybabel update: {sorted(template_ids - set(zh))}"
    untranslated = []
    for msgid, message in zh.items():
        if not all(_strings(message)) or message.fuzzy:
            untranslated.append(msgid)
    assert not untranslated, f"translate in zh_CN/LC_MESSAGES/messages.po: {untranslated}"


def test_the_catalog_template_has_every_string_the_code_uses() -> None:
    extracted = {
        _ids(message_id)
        for _filename, _lineno, message_id, _comments, _context in extract_from_dir(
            ADMIN_DIR, METHOD_MAP, OPTIONS, keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None})
    }
    missing = extracted - set(_catalog(None))
    assert not missing, f"run pybabel extract (see msg5g/admin/i18n.py): {sorted(missing)}"


def test_the_compiled_catalog_matches_its_source() -> None:
    catalog = translations("zh_CN")
    stale = []
    for msgid, message in _catalog("zh_CN").items():
        if isinstance(message.id, str):
            found = catalog.gettext(msgid)
        else:
            found = catalog.ngettext(message.id[0], message.id[1], 1)
        if found != _strings(message)[0]:
            stale.append(msgid)
    assert not stale, f"run pybabel compile -d src/msg5g/admin/locale: {stale}"
    for locale in LOCALES:
        assert (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.mo").is_file()


def test_translations_load() -> None:
    assert translations("zh_CN").gettext("Sign in") == "登录"
    assert translations("en").gettext("Sign in") == "Sign in"


@pytest.mark.parametrize(("cookie", "header", "expected"), [
    (None, None, DEFAULT_LOCALE),
    (None, "en-US,en;q=0.9", "en"),
    (None, "fr-FR,fr;q=0.9", "zh_CN"),
    (None, "fr,en;q=0.5", "en"),
    (None, "en;q=0.1,zh-TW;q=0.5", "zh_CN"),
    (None, "EN-gb", "en"),
    ("en", "zh-CN", "en"),
    ("xx", "en", "en"),
])
def test_choose_locale(cookie: str | None, header: str | None, expected: str) -> None:
    assert choose_locale(cookie, header) == expected
