"""The signed-in side's words (sign-in, the cabinet, the administrator's page): every msgid of
their pages and messages is in the merged catalogs, translated into Ukrainian, plurals with
Ukrainian's three forms, and placeholders kept."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file

from council import language
from web import i18n

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = [REPO / "web/templates" / n for n in (
    "login.html", "login_link.html", "cabinet.html", "cabinet_notes.html", "sessions.html")]
PYTHON = sorted((REPO / "web/accounts").glob("*.py")) + sorted((REPO / "web/cabinet").glob("*.py"))
FIELD = re.compile(r"\{\w*\}")


def msgids() -> set[str | tuple[str, str]]:
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    return {msg for method, paths in (("jinja2", TEMPLATES), ("python", PYTHON)) for path in paths
            for _line, msg, _comments, _ctx in extract_from_file(method, path, keywords=keywords)}


@pytest.mark.parametrize("n", [1, 3, 5, 21])
def test_every_word_is_translated_into_ukrainian_with_its_placeholders(n: int) -> None:
    ids = msgids()
    assert len(ids) > 40
    uk = i18n.translations("uk")
    for msg in ids:
        if isinstance(msg, tuple):  # (singular, plural)
            said = uk.ngettext(msg[0], msg[1], n)
            assert said not in msg, msg
            assert set(FIELD.findall(said)) == set(FIELD.findall(msg[0])), msg
        else:
            # The sign-in link posted into Matrix is in the council's catalog (council.language).
            said = uk.gettext(msg) if uk.gettext(msg) != msg else language.translate("uk", msg)
            assert said != msg or msg in {"Matrix id"}, msg
            assert set(FIELD.findall(said)) == set(FIELD.findall(msg)), msg


def test_plurals_follow_ukrainian_grammar() -> None:
    uk = i18n.translations("uk")
    days = [uk.ngettext("Overdue by {n} day", "Overdue by {n} days", n).format(n=n)
            for n in (1, 2, 5, 11, 21, 22)]
    assert days == ["Прострочено на 1 день", "Прострочено на 2 дні", "Прострочено на 5 днів",
                    "Прострочено на 11 днів", "Прострочено на 21 день", "Прострочено на 22 дні"]
