"""Translations: Ukrainian first, English second. Catalogs are Babel .po files compiled at start."""

from __future__ import annotations

from functools import cache
from io import BytesIO
from pathlib import Path

from aiohttp import web
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = ("uk", "en")
DEFAULT = "uk"
LOCALE_DIR = Path(__file__).with_name("locale")
COOKIE = "lang"


@cache
def translations(locale: str) -> NullTranslations:
    po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


def request_locale(request: web.Request) -> str:
    """`?lang=` wins, then the cookie; Ukrainian by default."""
    for candidate in (request.query.get(COOKIE), request.cookies.get(COOKIE)):
        if candidate in LOCALES:
            return candidate
    return DEFAULT
