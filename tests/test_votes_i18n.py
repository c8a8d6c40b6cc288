"""The votes pages' words: every msgid in both catalogs (Ukrainian translated, placeholders
kept), and the web's labels saying exactly what the roll-call messages in Matrix say."""

from __future__ import annotations

import io
import string
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po

from council import votes as domain
from web import i18n
from web.votes.common import HEAD_GROUP, NO_FACTION
from web.votes.pages import LABELS

REPO = Path(__file__).resolve().parents[1]
FILES = [("python", "web/votes/common.py"), ("python", "web/votes/pages.py"),
         ("jinja2", "web/templates/vote_results.html"), ("jinja2", "web/templates/sitting_live.html"),
         ("jinja2", "web/templates/deputy_record.html")]


def fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


@pytest.mark.parametrize("locale", ["uk", "en"])
def test_every_word_of_the_votes_pages_is_in_the_catalog(locale: str) -> None:
    keys = {(ctx, msg) for method, path in FILES
            for _line, msg, _comments, ctx in extract_from_file(method, REPO / path,
                                                                 keywords=DEFAULT_KEYWORDS)}
    assert len(keys) > 50
    text = (REPO / f"web/locale/{locale}/LC_MESSAGES/messages.po").read_text(encoding="utf-8")
    catalog = read_po(io.BytesIO(text.encode()), locale=locale)
    for ctx, msg in keys:
        entry = catalog.get(msg, context=ctx)
        assert entry is not None, (ctx, msg)
        if locale == "uk":
            assert entry.string and fields(str(entry.string)) == fields(msg), (ctx, msg)


def test_the_web_labels_say_what_the_matrix_messages_say() -> None:
    uk, en = i18n.translations("uk"), i18n.translations("en")
    assert list(LABELS["result"]) == list(domain.RESULT_UK)
    for code, msg in LABELS["result"].items():
        assert (uk.gettext(msg), en.gettext(msg)) == (domain.RESULT_UK[code], domain.RESULT_EN[code])
    for code, msg in LABELS["outcome"].items():
        assert uk.gettext(msg) == domain.OUTCOME_UK[code].upper()
        assert en.gettext(msg) == domain.OUTCOME_EN[code].capitalize()
    for code, msg in LABELS["majority"].items():
        assert (uk.gettext(msg), en.gettext(msg)) == (domain.MAJORITY_UK[code], domain.MAJORITY_EN[code])
    for words, msg in (NO_FACTION, HEAD_GROUP):
        assert uk.gettext(msg) == words
    assert uk.pgettext("vote", "closed") == "завершено" and uk.gettext("closed") == "закрито"
