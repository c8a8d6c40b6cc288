"""Ukrainian first, not everything twice, on the web: no text of the web layer is written in two
languages at once ("Немає файлів / No files chosen"); pages and the desk speak the page's
language, the JSON API the request's Accept-Language, and what the web writes into Matrix or as
the council's official document (the sign-in link, the roll-call PDF) the council's language,
from the council's catalogs. The desk's refusals per language are tested in test_desk_web."""

from __future__ import annotations

import ast
import io
import re
import string
from collections.abc import Iterator
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from tests.votes_support import SERVER, small_roster
from web.app import create_app
from web.pages import SiteInfo
from web.votes.common import HEAD_GROUP, NO_FACTION

REPO = Path(__file__).resolve().parents[1]
CYRILLIC = "А-Яа-яІіЇїЄєҐґ"
# "Порядок денний / Agenda", f"{uk} / {en}", "Рішення {x} / {y}": a Ukrainian text, a slash,
# then English (or a placeholder holding it).
SLASHED = re.compile(rf"[{CYRILLIC}][^\n]*? / [A-Za-z{{“\"«]")
# "У цьому засіданні ще немає голосувань.\nNo votes yet.": a Ukrainian line, then an English one.
TWO_LINES = re.compile(rf"[{CYRILLIC}][^\n]*\n\s*[A-Z][a-z]+ [a-z]+")
# Files whose every text goes through a catalog (the web's for pages, the council's for Matrix
# and the PDF): no Ukrainian literal at all. (web/accounts/signin.py's page msgids still name the
# notes room «Мої замітки» as it is called in Ukrainian.)
CATALOGUED = ("web/desk/*.py", "web/votes/pdf.py", "web/errors.py", "web/notes/api.py",
              "web/sittings/api.py", "web/sittings/pages.py")
# The web's texts written in the council's language (council.language `_`).
COUNCIL_TEXTS = ("web/votes/pdf.py", "web/accounts/signin.py", "web/sittings/pages.py")


def literals(path: Path) -> Iterator[tuple[int, str]]:
    """The file's string literals but its docstrings: an f-string whole, `{}` for each value."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                                | ast.AsyncFunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)}
    parts = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
             for v in node.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            yield node.lineno, "".join(v.value if isinstance(v, ast.Constant) else "{}"
                                       for v in node.values)
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in docstrings and id(node) not in parts):
            yield node.lineno, node.value


def web_files() -> list[Path]:
    return sorted((REPO / "web").rglob("*.py"))


def test_the_guard_sees_a_text_written_twice() -> None:
    for text in ("Немає файлів / No files chosen", "Рішення {} / {}", "Поріг «За» / “For” needed",
                 "У цьому засіданні ще немає голосувань.\nNo closed votes yet."):
        assert SLASHED.search(text) or TWO_LINES.search(text), text
    for text in ("Немає файлів", "К-1 / 2026", "Рік має бути від {first} до {last}",
                 "https://rada.example/a / b"):
        assert not SLASHED.search(text) and not TWO_LINES.search(text), text


def test_no_web_text_is_written_in_two_languages_at_once() -> None:
    found = [f"{path.relative_to(REPO)}:{line}: {text[:90]!r}" for path in web_files()
             for line, text in literals(path) if SLASHED.search(text) or TWO_LINES.search(text)]
    assert not found, "\n".join(found)


def test_catalogued_files_hold_no_ukrainian_literal() -> None:
    cyrillic = re.compile(f"[{CYRILLIC}]")
    found = [f"{path.relative_to(REPO)}:{line}: {text[:70]!r}"
             for pattern in CATALOGUED for path in sorted(REPO.glob(pattern))
             for line, text in literals(path) if cyrillic.search(text)]
    assert not found, "\n".join(found)


def council_catalog() -> dict[str, str]:
    found: dict[str, str] = {}
    for po in sorted((REPO / "council/locale/uk/LC_MESSAGES").glob("*.po")):
        for m in read_po(io.BytesIO(po.read_bytes()), locale="uk"):
            if m.id and isinstance(m.id, str) and isinstance(m.string, str):
                found[m.id] = m.string
    return found


def names(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_the_webs_council_texts_are_in_the_councils_catalog() -> None:
    """The sign-in link (a Matrix message) and the roll-call PDF: msgids of the council's
    catalogs, translated with the same placeholders."""
    catalog = council_catalog()
    used = [msg for file in COUNCIL_TEXTS for _line, msg, _c, _x in extract_from_file(
        "python", REPO / file, keywords={"_": None})]
    assert len(used) >= 7
    used += [NO_FACTION[1], HEAD_GROUP[1]]  # the PDF's group headings: `_(group.en)`
    for msg in used:
        assert isinstance(msg, str) and catalog.get(msg), f"not in council/locale/uk: {msg!r}"
        assert names(catalog[msg]) == names(msg), msg


async def test_the_bare_500_page_is_in_the_pages_language() -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    roster = small_roster()
    app = create_app(SiteInfo(roster.council.name, SERVER, "http://127.0.0.1:1", "#c:kabinet.test",
                              "https://rada.example"), roster, {})
    app.router.add_get("/broken", broken)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    said = {}
    try:
        async with aiohttp.ClientSession() as http:
            for lang, headers in (("uk", {}), ("en", {"Cookie": "lang=en"})):
                async with http.get(server.make_url("/broken"), headers=headers) as r:
                    assert r.status == 500 and r.content_type == "text/html"
                    said[lang] = await r.text()
    finally:
        await server.close()
    assert '<html lang="uk">' in said["uk"] and "Внутрішня помилка" in said["uk"]
    assert '<html lang="en">' in said["en"] and "Internal error" in said["en"]
    assert "Internal" not in said["uk"] and "Внутрішня" not in said["en"]
    assert "a bug" not in said["uk"] + said["en"]
