"""Translations: Ukrainian first, English second. Catalogs are Babel .po files compiled at start:
`messages.po` and one file per feature beside it (`desk.po`, `notes.po`, …), merged."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from aiohttp import web
from babel.numbers import format_decimal
from babel.support import NullTranslations
from jinja2 import pass_context
from jinja2.runtime import Context

from council import language

LOCALES = ("uk", "en")
DEFAULT = "uk"
LOCALE_DIR = Path(__file__).with_name("locale")
COOKIE = "lang"
# The language of the JSON API's error messages for the request being handled: set from
# Accept-Language by the error middleware on every API request (web.errors).
API_LANGUAGE: ContextVar[str] = ContextVar("api_language", default=DEFAULT)


@cache
def translations(locale: str) -> NullTranslations:
    folder = LOCALE_DIR / locale / "LC_MESSAGES"
    return language.merged(sorted(folder.glob("*.po"),
                                  key=lambda p: (p.name != "messages.po", p.name)), locale)


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

NBSP = "\xa0"  # a number and its unit stay on one line


def number(value: float, lang: str, decimals: int = 0) -> str:
    """A number as the language writes it: "1 234,5" in Ukrainian, "1,234.5" in English."""
    pattern = "#,##0" + ("." + "#" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=lang)


def page_count(pages: int | None, lang: str) -> str:
    """ "1 сторінка", "2 сторінки", "5 сторінок" ("1 page", "5 pages"), unbroken; nothing for
    None."""
    if pages is None:
        return ""
    return translations(lang).ngettext("{n} page", "{n} pages", pages).format(
        n=number(pages, lang)).replace(" ", NBSP)


def file_size(size: int | None, lang: str) -> str:
    """Bytes as `council.language.size` says them (one rule for the bot and the site), in the
    page's language and unbroken: "830 Б", "12,3 КБ", "4,2 МБ" ("12.3 KB")."""
    if size is None:
        return ""
    return language.size(size, lang).replace(" ", NBSP)


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
