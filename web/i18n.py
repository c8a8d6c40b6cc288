"""Translations: Ukrainian first, English second. Catalogs are Babel .po files compiled at start:
`messages.po` and one file per feature beside it (`desk.po`, `notes.po`, …), merged."""

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
