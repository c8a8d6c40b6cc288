"""Numbers, plurals and units on the web pages (web/i18n.py's filters): "1 сторінка / 2 сторінки
/ 5 сторінок", sizes in КБ/МБ with a decimal comma (KB/MB in English); every word of the pages
issue #12 touched is in both catalogs, translated into Ukrainian with its {fields} and, for a
plural, its three forms; the law's warnings on a sitting page grouped into numbered notes."""

from __future__ import annotations

import io
import string
from datetime import date
from pathlib import Path

import jinja2
import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po

from council.law import holidays
from council.law import rules as law
from council.sittings.queries import SittingView
from council.sittings.tables import AgendaItem, Sitting
from web import i18n
from web.sittings.law_notes import law_notes

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = ("index.html", "sitting.html", "directory.html", "desk_paper.html", "desk_sitting.html")
PYTHON_IDS: set[str | tuple[str, str]] = {("{n} page", "{n} pages")}  # sizes: council.language
NBSP = "\xa0"  # between a number and its unit, and inside a number (Ukrainian groups)


def fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


@pytest.mark.parametrize(("n", "said"), [
    (1, "1 сторінка"), (2, "2 сторінки"), (4, "4 сторінки"), (5, "5 сторінок"),
    (11, "11 сторінок"), (12, "12 сторінок"), (21, "21 сторінка"), (22, "22 сторінки"),
    (25, "25 сторінок"), (111, "111 сторінок"), (1001, "1 001 сторінка")])
def test_pages_follow_ukrainian_grammar(n: int, said: str) -> None:
    assert i18n.page_count(n, "uk") == said.replace(" ", NBSP)


def test_pages_in_english() -> None:
    assert [i18n.page_count(n, "en") for n in (1, 2, 5, 1001)] == [
        f"1{NBSP}page", f"2{NBSP}pages", f"5{NBSP}pages", f"1,001{NBSP}pages"]
    assert i18n.page_count(None, "uk") == ""


def test_sizes_in_ukrainian_and_english_units() -> None:
    uk = [i18n.file_size(n, "uk") for n in (830, 1024, 12_595, 350 * 1024, 1_258_291,
                                             3 * 1024**3 // 2)]
    assert uk == [x.replace(" ", NBSP) for x in ("830 Б", "1 КБ", "12,3 КБ", "350 КБ", "1,2 МБ",
                                                  "1,5 ГБ")]
    en = [i18n.file_size(n, "en") for n in (830, 12_595, 1_258_291)]
    assert en == [x.replace(" ", NBSP) for x in ("830 B", "12.3 KB", "1.2 MB")]


def test_the_filters_speak_the_pages_language() -> None:
    env = jinja2.Environment(autoescape=True)
    env.filters.update(i18n.FILTERS)
    page = env.from_string("{{ 5 | pages }} · {{ 12595 | filesize }} · {{ 12345 | number }}")
    assert page.render(lang="uk") == f"5{NBSP}сторінок · 12,3{NBSP}КБ · 12{NBSP}345"
    assert page.render(lang="en") == f"5{NBSP}pages · 12.3{NBSP}KB · 12,345"


def template_ids() -> set[str | tuple[str, str]]:
    return {msg for name in TEMPLATES for _line, msg, _comments, _ctx in extract_from_file(
        "jinja2", REPO / "web/templates" / name, keywords=DEFAULT_KEYWORDS)}


@pytest.mark.parametrize("n", [1, 3, 5, 21])
def test_every_word_is_translated_into_ukrainian_with_its_fields(n: int) -> None:
    ids = template_ids() | PYTHON_IDS
    assert len(ids) > 60
    uk = i18n.translations("uk")
    for msg in ids:
        if isinstance(msg, tuple):
            said = uk.ngettext(msg[0], msg[1], n)
            assert said not in msg and fields(said) == fields(msg[0]), msg
        else:
            said = uk.gettext(msg)
            assert said != msg and fields(said) == fields(msg), msg


@pytest.mark.parametrize("locale", ["uk", "en"])
def test_plurals_have_the_languages_forms_in_both_catalogs(locale: str) -> None:
    """Each plural of ours has its language's number of forms (three in Ukrainian); English
    entries may stay empty (the msgid is the text)."""
    folder = REPO / f"web/locale/{locale}/LC_MESSAGES"
    merged = {}
    for po in folder.glob("*.po"):
        catalog = read_po(io.BytesIO(po.read_bytes()), locale=locale)
        forms = catalog.num_plurals
        merged.update({m.id if isinstance(m.id, str) else m.id[0]: (m, forms) for m in catalog})
    for msg in template_ids() | PYTHON_IDS:
        key = msg if isinstance(msg, str) else msg[0]
        assert key in merged, (locale, msg)
        entry, forms = merged[key]
        if isinstance(msg, tuple):
            assert isinstance(entry.string, tuple) and len(entry.string) == forms, msg
            assert forms == (3 if locale == "uk" else 2)
            if locale == "uk":
                assert all(entry.string), msg


def test_the_items_law_warnings_become_notes_said_once() -> None:
    calendar = holidays.load()
    sitting = Sitting(id=1, kind="plenary", body="council", title="Сесія")
    late = law.access_to_public_information_art15_p3(date(2026, 3, 2), date(2026, 3, 4), calendar)
    later = law.access_to_public_information_art15_p3(date(2026, 3, 3), date(2026, 3, 4), calendar)
    assert late is not None and later is not None and late.render("uk") != later.render("uk")
    items = [(AgendaItem(id=10 + n, number=str(n)), []) for n in range(1, 5)]
    view = SittingView(sitting, items, [], {11: [late], 12: [later], 13: [late]})
    notes, marks = law_notes(view, "uk")
    assert [(n.number, n.items, n.text) for n in notes] == [
        (1, ["1", "3"], late.render("uk")), (2, ["2"], later.render("uk"))]
    assert {k: [n.number for n in v] for k, v in marks.items()} == {11: [1], 12: [2], 13: [1]}
    assert notes[0].anchor == "law-note-1"
    english, _ = law_notes(view, "en")
    assert english[0].text == late.render("en")
