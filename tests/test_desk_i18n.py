"""The desk's words: every msgid of its pages and messages (its forms' refusals too) is in both
catalogs (desk.po, or messages.po for the site's common words, errors.po for the request's),
translated into Ukrainian with its placeholders (`%(name)s` in templates, `{name}` in Python)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po

from web.desk.home import KINDS

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = sorted((REPO / "web/templates").glob("desk*.html"))
PYTHON = sorted((REPO / "web/desk").glob("*.py"))
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+\}")


def msgids() -> set[str]:
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    found = {msg for method, paths in (("jinja2", TEMPLATES), ("python", PYTHON)) for path in paths
             for _line, msg, _comments, _ctx in extract_from_file(method, path, keywords=keywords)}
    return found | {label for _, label in KINDS}


@pytest.mark.parametrize("locale", ["uk", "en"])
def test_every_word_of_the_desk_is_in_the_catalogs(locale: str) -> None:
    ids = msgids()
    assert len(ids) > 90
    folder = REPO / f"web/locale/{locale}/LC_MESSAGES"
    desk = read_po(io.BytesIO((folder / "desk.po").read_bytes()), locale=locale)
    site = read_po(io.BytesIO((folder / "messages.po").read_bytes()), locale=locale)
    extra = [read_po(io.BytesIO((folder / name).read_bytes()), locale=locale)
             for name in ("announcements.po", "errors.po")]
    for msg in ids:
        entry = desk.get(msg) or site.get(msg) or extra[0].get(msg) or extra[1].get(msg)
        assert entry is not None, msg
        if locale == "uk":
            assert entry.string, msg
            assert sorted(PLACEHOLDER.findall(entry.string)) == sorted(PLACEHOLDER.findall(msg)), msg
    for entry in desk:  # the desk's catalog holds no word of the site's (one translation each)
        assert not entry.id or entry.id not in site, entry.id
