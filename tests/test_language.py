"""The council's language: every text Kabinet writes into Matrix or mail is in the Ukrainian
catalog with the same placeholders, plurals have Ukrainian's three forms, and the language set
in the config is the one the bot speaks."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from council import language
from council.language import Refusal, Text, ngettext, plural_text, size

REPO = Path(__file__).resolve().parents[1]
# Where the bot's and the mails' texts are written (the web has its own catalogs).
SOURCES = ("council", "appservice", "bridges", "kabinet")
KEYWORDS = {"_": None, "ngettext": (1, 2), "Text": None, "plural_text": (1, 2)}


def used() -> Iterator[tuple[str, int, str | tuple[str, str]]]:
    for folder in SOURCES:
        for filename, lineno, message, _comments, _context in extract_from_dir(
                REPO / folder, method_map=[("**.py", "python")], keywords=KEYWORDS):
            yield f"{folder}/{filename}", lineno, message


def ukrainian() -> dict[str, object]:
    found: dict[str, object] = {}
    for po in sorted((REPO / "council" / "locale" / "uk" / "LC_MESSAGES").glob("*.po")):
        with po.open("rb") as fh:
            for m in read_po(fh, locale="uk"):
                if m.id:
                    key = m.id[0] if isinstance(m.id, tuple) else m.id
                    assert key not in found, f"{po.name}: {key!r} is in two catalogs"
                    found[key] = m.string
    return found


def names(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}



def test_every_text_is_translated_with_its_placeholders() -> None:
    catalog, missing, wrong = ukrainian(), [], []
    for where, line, message in used():
        singular = message[0] if isinstance(message, tuple) else message
        translated = catalog.get(singular)
        forms = translated if isinstance(translated, tuple) else (translated,)
        if not translated or not all(forms):
            missing.append(f"{where}:{line} {singular!r}")
            continue
        if isinstance(message, tuple) and len(forms) != 3:
            wrong.append(f"{where}:{line} {singular!r}: Ukrainian has 3 plural forms")
        for form in forms:
            if names(form) != names(singular) | (names(message[1]) if isinstance(message, tuple)
                                                 else set()):
                wrong.append(f"{where}:{line} {singular!r}: placeholders differ in {form!r}")
    assert not missing, "untranslated:\n" + "\n".join(missing)
    assert not wrong, "\n".join(wrong)


def test_no_text_is_written_in_two_languages_at_once() -> None:
    """'Порядок денний / Agenda': a Ukrainian council reads Ukrainian."""
    both = re.compile(r"[А-Яа-яІіЇїЄєҐґ][^\"'\n]* / ([A-Za-z]|\"$)")
    found = []
    for folder in ("council", "appservice", "bridges"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if both.search(line) and not line.lstrip().startswith("#"):
                    found.append(f"{path.relative_to(REPO)}:{n}: {line.strip()[:90]}")
    assert not found, "\n".join(found)


def test_plurals_and_units_in_ukrainian() -> None:
    pages = [ngettext("{n} page", "{n} pages", n) for n in (1, 2, 5, 11, 21, 22)]
    assert pages == ["1 сторінка", "2 сторінки", "5 сторінок", "11 сторінок", "21 сторінка",
                     "22 сторінки"]
    assert size(1_258_291) == "1,2 МБ" and size(350 * 1024) == "350 КБ"


def test_plurals_and_units_in_english(english: None) -> None:
    assert [ngettext("{n} page", "{n} pages", n) for n in (1, 2)] == ["1 page", "2 pages"]
    assert size(1_258_291) == "1.2 MB"


def test_a_refusal_speaks_each_readers_language() -> None:
    refusal = Refusal("KB_X", Text("{size} KB", size="3"))
    assert refusal.text("uk") == "3 КБ" and refusal.text("en") == "3 KB"
    assert str(refusal) == "3 КБ"  # the council's language, for the bot
    assert plural_text("{n} day", "{n} days", 3).render("uk") == "3 дні"


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown language"):
        language.use("de")


CYRILLIC = re.compile(r"[А-Яа-яІіЇїЄєҐґ]")
# A Cyrillic literal outside the catalogs is allowed only as a command word or option the people
# type ("!реєстрація", "за"), which is input, not text the bot writes.
TYPED_WORD = re.compile(r"^!?[а-яіїєґ'ʼ’_-]+$")
# Data, not text: the official transliteration table (KMU resolution 55 of 2010) and the words
# people type to search the directory ("округ 5").
DATA_FILES = {"council/directory/translit.py", "council/directory/search.py"}
# Single literals that are data: the characters an item number may hold (К-1), the roster's
# default positions (the council's own words in its roster file, not the bot's), the prefix of
# an appeal's registration number.
DATA_LITERALS = {("council/sittings/inputs.py", r"^[0-9A-Za-zА-Яа-яІіЇїЄєҐґ./\-]+$"),
                 ("council/roster.py", "Секретаріат міської ради"),
                 ("council/roster.py", "Міський голова"),
                 ("council/appeals/values.py", "Д-")}  # the appeal number: Д-2026/000123


def test_the_bot_writes_no_literal_ukrainian() -> None:
    """Ukrainian written inline would reach an English council untranslated: texts are msgids."""
    import ast

    found = []
    for folder in ("council", "appservice", "bridges"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if str(path.relative_to(REPO)) in DATA_FILES:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                          if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                                        | ast.AsyncFunctionDef)
                          and node.body and isinstance(node.body[0], ast.Expr)}
            for node in ast.walk(tree):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                        and id(node) not in docstrings and CYRILLIC.search(node.value)
                        and not TYPED_WORD.match(node.value.strip())
                        and (str(path.relative_to(REPO)), node.value) not in DATA_LITERALS):
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value[:70]!r}")
    assert not found, f"{len(found)} literals:\n" + "\n".join(found)
