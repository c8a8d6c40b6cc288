"""Reading notes: a person's own notes (nobody else's, by construction: every query takes the
author), and the human labels of their subjects."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council.appeals.tables import Appeal
from council.language import Text
from council.notes.inputs import Origin, parse_subject, unknown_note
from council.notes.tables import Note
from council.sittings.tables import AgendaItem
from council.types import aware

KYIV = ZoneInfo("Europe/Kyiv")


@dataclass(frozen=True)
class NoteView:
    id: int
    subject: str | None
    body: str
    created_at: datetime
    edited_at: datetime | None
    origin: Origin
    tz: ZoneInfo = KYIV  # for `shown` only

    @property
    def shown(self) -> str:
        """When it was written (or last edited), `dd.mm.yyyy hh:mm` in the council's zone."""
        return aware(self.edited_at or self.created_at).astimezone(self.tz).strftime("%d.%m.%Y %H:%M")


def view(note: Note, tz: ZoneInfo = KYIV) -> NoteView:
    origin: Origin = "web" if note.origin == "web" else "matrix"
    return NoteView(note.id, note.subject, note.body, aware(note.created_at),
                    aware(note.edited_at) if note.edited_at else None, origin, tz)


async def for_author(session: AsyncSession, mxid: str, tz: ZoneInfo = KYIV) -> list[NoteView]:
    """The person's notes, oldest first (deleted ones are gone)."""
    rows = await session.scalars(select(Note).where(Note.author == mxid, Note.deleted_at.is_(None))
                                 .order_by(Note.created_at, Note.id))
    return [view(n, tz) for n in rows]


async def own(session: AsyncSession, mxid: str, note_id: int, *, lock: bool = False) -> Note:
    """The author's note; KB_UNKNOWN_NOTE for a note of anyone else, deleted or never written."""
    query = select(Note).where(Note.id == note_id, Note.author == mxid, Note.deleted_at.is_(None))
    note = await session.scalar(query.with_for_update() if lock else query)
    if note is None:
        raise unknown_note()
    return note


async def by_event(session: AsyncSession, mxid: str, event_id: str) -> Note | None:
    """The author's standing note carried by their own Matrix event."""
    return await session.scalar(select(Note).where(Note.event_id == event_id, Note.author == mxid,
                                                   Note.deleted_at.is_(None)))


async def subject_labels(session: AsyncSession, subjects: Iterable[str | None],
                         language: str | None = None) -> dict[str, str]:
    """subject -> its label in `language` (default: the council's): «Засідання 3, № 2: <title>»,
    «Звернення Д-2026/000012». Subjects that name nothing (a withdrawn id, a typo) are left
    out."""
    drafts: dict[int, str] = {}
    appeals: dict[int, str] = {}
    for subject in subjects:
        try:
            parsed = parse_subject(subject)
        except ValueError:
            continue
        if parsed is not None:
            (drafts if parsed[0] == "draft" else appeals)[parsed[1]] = f"{parsed[0]}:{parsed[1]}"
    labels: dict[str, str] = {}
    if drafts:
        rows = await session.execute(select(AgendaItem.id, AgendaItem.sitting_id, AgendaItem.number,
                                            AgendaItem.title).where(AgendaItem.id.in_(drafts)))
        for item_id, sitting_id, number, title in rows.all():
            labels[drafts[item_id]] = Text("Sitting {sitting}, item {number}: {title}",
                                           sitting=sitting_id, number=number,
                                           title=title).render(language)
    if appeals:
        found = await session.execute(select(Appeal.id, Appeal.number).where(Appeal.id.in_(appeals)))
        for appeal_id, number in found.all():
            labels[appeals[appeal_id]] = Text("Appeal {number}", number=number).render(language)
    return labels


async def subject_label(session: AsyncSession, subject: str | None,
                        language: str | None = None) -> str | None:
    if subject is None:
        return None
    return (await subject_labels(session, [subject], language)).get(subject)
