"""The council's language: everything Kabinet writes into Matrix (bot messages, room names and
topics, notices) and into citizens' e-mails is in one language, the council's (`language:` in
the config, Ukrainian by default), not in two at once.

Texts are English msgids translated through Babel catalogs under `council/locale/<language>/
LC_MESSAGES/`, one `.po` file per feature (`appeals.po`, `sittings.po`, …), merged; English is
the other catalog (its msgids are the text). Placeholders are `str.format` names, filled after
translation so a translator may move them.

- `_(msgid, **params)` — a text in the council's language, now.
- `ngettext(singular, plural, n, **params)` — the same with Babel's plural forms (`n` is a
  placeholder too): "1 сторінка / 2 сторінки / 5 сторінок".
- `Text(msgid, **params)` — a text not yet in a language. A domain error carries one, so that
  the bot says it in the council's language and the web answers in the reader's.

The language is set once per process at start (`use`); one process serves one council.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

LANGUAGES = ("uk", "en")
DEFAULT = "uk"
LOCALE_DIR = Path(__file__).with_name("locale")
_current = [DEFAULT]  # a one-slot box: set at start by `use`, read everywhere


def use(language: str) -> None:
    """Sets the council's language for this process."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; one of {', '.join(LANGUAGES)}")
    _current[0] = language


def current() -> str:
    return _current[0]


def _compiled(po: Path, language: str) -> Translations:
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    buf = BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


def merged(files: list[Path], language: str) -> NullTranslations:
    """The `.po` files compiled at start and merged, in order (the web's catalogs load the same
    way, from web/locale)."""
    if not files:
        return NullTranslations()
    first = _compiled(files[0], language)
    for po in files[1:]:
        first.merge(_compiled(po, language))
    return first


@cache
def catalog(language: str) -> NullTranslations:
    """The merged catalogs of one language (English has none: its msgids are the text)."""
    return merged(sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po")), language)


def translate(language: str, msgid: str, **params: Any) -> str:
    text = catalog(language).gettext(msgid)
    return text.format(**params) if params else text


def translate_plural(language: str, singular: str, plural: str, n: int, **params: Any) -> str:
    return catalog(language).ngettext(singular, plural, n).format(n=n, **params)


def _(msgid: str, /, **params: Any) -> str:
    """`msgid` in the council's language, its `{placeholders}` filled from `params`."""
    return translate(_current[0], msgid, **params)


def ngettext(singular: str, plural: str, n: int, /, **params: Any) -> str:
    """The plural form for `n` in the council's language; `{n}` is filled too."""
    return translate_plural(_current[0], singular, plural, n, **params)


class Text:
    """A text not yet in a language: rendered by whoever shows it, in the language they need
    (`text.render("en")`), or in the council's (`str(text)`)."""

    __slots__ = ("msgid", "n", "params", "plural")

    def __init__(self, msgid: str, /, plural: str | None = None, n: int | None = None,
                 **params: Any) -> None:
        self.msgid, self.plural, self.n, self.params = msgid, plural, n, params

    def render(self, language: str | None = None) -> str:
        language = language or _current[0]
        if self.plural is not None and self.n is not None:
            return translate_plural(language, self.msgid, self.plural, self.n, **self.params)
        return translate(language, self.msgid, **self.params)

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Text({self.msgid!r})"


def plural_text(singular: str, plural: str, n: int, /, **params: Any) -> Text:
    """`ngettext` not yet in a language."""
    return Text(singular, plural=plural, n=n, **params)


class Refusal(ValueError):
    """Bad input refused by the domain: a stable code (the web maps codes to HTTP answers in one
    table), a message in any language, and the field at fault. No HTTP status here."""

    def __init__(self, code: str, message: Text, field_name: str | None = None) -> None:
        self.code, self.message, self.field = code, message, field_name
        super().__init__(message.render("en"))

    def text(self, language: str | None = None) -> str:
        return self.message.render(language)

    def __str__(self) -> str:
        return self.text()


# The units' msgids: bytes, then each step of 1024 (as file managers count).
UNITS = ("{size} B", "{size} KB", "{size} MB", "{size} GB")


def size(nbytes: int, language: str | None = None) -> str:
    """A file size in the language's units and number format, in the largest unit that keeps the
    number at least 1: "830 Б", "12,3 КБ", "1,2 МБ" ("1.2 MB"). The web's pages use it too."""
    language = language or _current[0]
    value, unit = float(nbytes), 0
    while value >= 1024 and unit < len(UNITS) - 1:
        value, unit = value / 1024, unit + 1
    number = format_decimal(value, format="#,##0.#" if unit else "#,##0", locale=language)
    return translate(language, UNITS[unit], size=number)


def day(value: date) -> str:
    """A date as councils write it, in both languages: 26.11.2026."""
    return value.strftime("%d.%m.%Y")
