"""The admin's languages: zh-CN (the default) and English, through gettext catalogs.

Source strings are English. Python code marks them with `_()` (translated at once, with the
request's catalog) or `N_()` (marked only, translated when rendered, e.g. the navigation list);
templates use `{{ _("...") }}` and `{% trans %}`.

After changing a UI string, from the repository root::

    .venv/bin/pybabel extract -F src/msg5g/admin/babel.cfg -k N_ --no-location --sort-output \
        --project=msg5g --version=0.1 --copyright-holder=msg5g \
        -o src/msg5g/admin/locale/messages.pot src/msg5g/admin
    .venv/bin/pybabel update -i src/msg5g/admin/locale/messages.pot -d src/msg5g/admin/locale \
        --no-fuzzy-matching --ignore-obsolete
    # translate the new entries in locale/zh_CN/LC_MESSAGES/messages.po, then
    .venv/bin/pybabel compile -d src/msg5g/admin/locale

Commit the .pot, the .po files and the compiled .mo files; `tests/admin/test_i18n.py` fails when a
msgid lacks its zh_CN translation or a template string is missing from the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel import Locale
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT_LOCALE = "zh_CN"
LOCALES = ("zh_CN", "en")
LANGUAGE_COOKIE = "msg5g_admin_lang"


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet."""
    return message


@dataclass(frozen=True, slots=True)
class Language:
    code: str  # the catalog's name: zh_CN, en
    tag: str  # BCP 47, for <html lang>: zh-CN, en
    label: str  # in its own language, so a user can find theirs whatever the page is in


@cache
def languages() -> tuple[Language, ...]:
    return tuple(
        Language(code=code, tag=code.replace("_", "-"), label=_own_name(code)) for code in LOCALES
    )


def _own_name(code: str) -> str:
    locale = Locale.parse(code)
    return "简体中文" if code == "zh_CN" else str(locale.get_display_name(locale) or code)


@cache
def translations(locale: str) -> NullTranslations:
    if locale not in LOCALES:
        raise ValueError(f"unsupported admin locale {locale!r}")
    return Translations.load(LOCALE_DIR, [locale], domain=DOMAIN)


def choose_locale(cookie: str | None, accept_language: str | None) -> str:
    """The language cookie if valid, else the best Accept-Language match, else zh_CN."""
    if cookie in LOCALES:
        return cookie
    for tag in _parse_accept_language(accept_language or ""):
        # Only the primary subtag matters with one catalog per language: zh-TW and zh-Hant get
        # simplified Chinese, which they read more easily than English.
        found = _BY_LANGUAGE.get(tag.split("-", 1)[0].lower())
        if found is not None:
            return found
    return DEFAULT_LOCALE


_BY_LANGUAGE = {"zh": "zh_CN", "en": "en"}


def _parse_accept_language(header: str) -> list[str]:
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]
