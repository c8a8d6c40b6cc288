"""The law's warnings on a sitting page, each said once: the items' warnings grouped by their
text into numbered notes (the full text at the top, with the items it concerns), and each item
marked with the number of its note. The sitting's own warnings stay as they are (one each)."""

from __future__ import annotations

from dataclasses import dataclass, field

from council.law.rules import LawWarning
from council.sittings.queries import SittingView


@dataclass
class LawNote:
    number: int
    text: str  # in the page's language
    items: list[str] = field(default_factory=list)  # the agenda numbers it concerns

    @property
    def anchor(self) -> str:
        return f"law-note-{self.number}"


def said(warning: LawWarning, lang: str) -> str:
    """The warning in the page's language (the bot says it in the council's)."""
    return warning.render(lang)


def law_notes(v: SittingView, lang: str) -> tuple[list[LawNote], dict[int, list[LawNote]]]:
    """The notes in agenda order, and item id -> the notes that concern it."""
    notes: dict[str, LawNote] = {}
    marks: dict[int, list[LawNote]] = {}
    for item, _versions in v.items:
        for warning in v.item_warnings.get(item.id, []):
            text = said(warning, lang)
            note = notes.get(text)
            if note is None:
                note = notes[text] = LawNote(len(notes) + 1, text)
            note.items.append(item.number)
            marks.setdefault(item.id, []).append(note)
    return list(notes.values()), marks
