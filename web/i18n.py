"""Translations: Ukrainian first, English second. Catalogs are Babel .po files compiled at start:
`messages.po` and one file per feature beside it (`desk.po`, `notes.po`, …), merged."""

from __future__ import annotations

from contextvars import ContextVar
from collections.abc import Callable
from functools import cache
from io import BytesIO
from pathlib import Path

from aiohttp import web
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from jinja2 import pass_context
from jinja2.runtime import Context

LOCALES = ("uk", "en")
DEFAULT = "uk"
LOCALE_DIR = Path(__file__).with_name("locale")
COOKIE = "lang"
# The language of the JSON API's error messages for the request being handled: set from
# Accept-Language by the error middleware on every API request (web.errors).
API_LANGUAGE: ContextVar[str] = ContextVar("api_language", default=DEFAULT)


def _compiled(po: Path, locale: str) -> Translations:
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


@cache
def translations(locale: str) -> NullTranslations:
    folder = LOCALE_DIR / locale / "LC_MESSAGES"
    files = sorted(folder.glob("*.po"), key=lambda p: (p.name != "messages.po", p.name))
    if not files:
        return NullTranslations()
    merged = _compiled(files[0], locale)
    for po in files[1:]:
        merged.merge(_compiled(po, locale))
    return merged


def request_locale(request: web.Request) -> str:
    """`?lang=` wins, then the cookie; Ukrainian by default."""
    for candidate in (request.query.get(COOKIE), request.cookies.get(COOKIE)):
        if candidate in LOCALES:
            return candidate
    return DEFAULT


def accepted_locale(header: str) -> str:
    """The locale an `Accept-Language` header prefers most among ours (q-values honoured, `uk-UA`
    counts as `uk`); Ukrainian when it names none of them."""
    best, best_q = DEFAULT, 0.0
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().split("-")[0].lower()
        # Equal q-values keep the header's order: the earlier one wins.
        if primary in LOCALES and q > best_q and 0 < q <= 1:
            best, best_q = primary, q
    return best


# -- numbers and units on pages (registered as Jinja filters by web.app) --------------------------

# The units' msgids (translated where shown): bytes, then each step of 1024.
UNITS = ("{size} B", "{size} KB", "{size} MB", "{size} GB")


def number(value: float, lang: str, decimals: int = 0) -> str:
    """A number as the language writes it: "1 234,5" in Ukrainian, "1,234.5" in English."""
    pattern = "#,##0" + ("." + "#" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=lang)


def page_count(pages: int | None, lang: str) -> str:
    """ "1 сторінка", "2 сторінки", "5 сторінок" ("1 page", "5 pages"); nothing for None."""
    if pages is None:
        return ""
    return translations(lang).ngettext("{n} page", "{n} pages", pages).format(
        n=number(pages, lang))


def file_size(size: int | None, lang: str) -> str:
    """Bytes in the largest unit that keeps the number at least 1 (binary steps, as file
    managers count): "830 Б", "12,3 КБ", "4,2 МБ" ("12.3 KB")."""
    if size is None:
        return ""
    value, unit = float(size), 0
    while value >= 1024 and unit < len(UNITS) - 1:
        value, unit = value / 1024, unit + 1
    return translations(lang).gettext(UNITS[unit]).format(
        size=number(value, lang, decimals=1 if unit else 0))


@pass_context
def _pages_filter(context: Context, pages: int | None) -> str:
    return page_count(pages, context["lang"])


@pass_context
def _size_filter(context: Context, size: int | None) -> str:
    return file_size(size, context["lang"])


@pass_context
def _number_filter(context: Context, value: float) -> str:
    return number(value, context["lang"])


# `{{ d.pages | pages }}`, `{{ d.size | filesize }}`, `{{ n | number }}`: in the page's language
# (web.pages.render puts `lang` in every page's context).
FILTERS: dict[str, Callable[..., str]] = {
    "pages": _pages_filter, "filesize": _size_filter, "number": _number_filter}
