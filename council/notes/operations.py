"""What may happen to a note, from Element and from the web. Each operation runs in the caller's
unit of work and writes the note and what the notes room must be told (outbox) together.

From Element (appservice/notes/): the person's message is the note; their `m.replace` edits it;
their redaction deletes it. A forwarded draft or appeal message is an anchor, not a note.

From the web: a new note is posted by the bot into the author's notes room (`note:<id>`); a web
edit of it is the bot's `m.replace`, a web delete the bot's redaction. A note written in Element
is the person's own event, which the bot cannot edit: a web edit of it redacts that event
(the reason says the note was edited on the web) and the bot posts the new text as its own note
message (`note:<id>:v<n>`), which later web edits replace in place; a web delete redacts the
person's event. So the room never shows a text the cabinet no longer holds.
"""

from __future__ import annotations

from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council import outbox, rooms
from council.appeals.tables import Appeal
from council.language import Text
from council.models import utcnow
from council.notes import messages
from council.notes.inputs import Author, NewNote, NoteEdit, NoteError, parse_subject
from council.notes.queries import by_event, own, subject_label
from council.notes.tables import Note, NoteAnchor
from council.sittings.tables import AgendaItem


async def checked_subject(session: AsyncSession, text: str | None) -> str | None:
    """The subject in its one spelling, if it names a stored draft or appeal; else NoteError."""
    parsed = parse_subject(text)
    if parsed is None:
        return None
    family, ref = parsed
    model: type[AgendaItem] | type[Appeal] = AgendaItem if family == "draft" else Appeal
    if await session.get(model, ref) is None:
        raise NoteError("KB_UNKNOWN_SUBJECT", Text("no such draft or appeal"), "subject")
    return f"{family}:{ref}"


def _room(note: Note) -> str:
    return rooms.placeholder(rooms.notes(note.person_id))


def _erase(note: Note) -> None:
    """Deleted: the text is gone; the row stays so its id (and outbox keys) are never reused."""
    note.body = ""
    note.deleted_at = utcnow()


# -- from Element ---------------------------------------------------------------------------------


async def noted_in_matrix(session: AsyncSession, author: Author, event_id: str, body: str,
                          subject: str | None) -> Note | None:
    """The person's message (or `!note` command) as a note; once per event."""
    if not body.strip():
        return None
    existing = await session.scalar(select(Note).where(Note.event_id == event_id))
    if existing is not None:
        return existing
    note = Note(author=author.mxid, person_id=author.person_id, subject=subject, body=body,
                origin="matrix", event_id=event_id, version=1, created_at=utcnow())
    session.add(note)
    await session.flush()
    return note


async def edited_in_matrix(session: AsyncSession, author_mxid: str, original_event_id: str,
                           body: str, subject: str | None = None) -> Note | None:
    """The person's m.replace of their note: the new text (and subject, if a `!note` names one)."""
    note = await by_event(session, author_mxid, original_event_id)
    if note is None or not body.strip():
        return None
    note.body = body
    if subject is not None:
        note.subject = subject
    note.edited_at = utcnow()
    return note


async def redacted_in_matrix(session: AsyncSession, author_mxid: str, event_id: str) -> bool:
    """The person redacted their note (deleted) or a forwarded anchor (forgotten); True if any."""
    result = await session.execute(sql_delete(NoteAnchor).where(
        NoteAnchor.event_id == event_id, NoteAnchor.author == author_mxid))
    note = await by_event(session, author_mxid, event_id)
    if note is not None:
        _erase(note)
    return note is not None or bool(getattr(result, "rowcount", 0))


async def remember_anchor(session: AsyncSession, author_mxid: str, event_id: str, subject: str
                          ) -> None:
    if await session.get(NoteAnchor, event_id) is None:
        session.add(NoteAnchor(event_id=event_id, author=author_mxid, subject=subject))
        await session.flush()


async def replied_subject(session: AsyncSession, author_mxid: str, event_id: str) -> str | None:
    """The subject a reply to this event files a note under: a forwarded anchor's, or that of
    the person's own note replied to."""
    anchor = await session.get(NoteAnchor, event_id)
    if anchor is not None and anchor.author == author_mxid:
        return anchor.subject
    note = await by_event(session, author_mxid, event_id)
    return note.subject if note is not None else None


# -- from the web ---------------------------------------------------------------------------------


async def write(session: AsyncSession, author: Author, spec: NewNote) -> Note:
    """A note written on the web, posted by the bot into the author's notes room."""
    subject = await checked_subject(session, spec.subject)
    note = Note(author=author.mxid, person_id=author.person_id, subject=subject, body=spec.body,
                origin="web", version=1, created_at=utcnow())
    session.add(note)
    await session.flush()
    note.outbox_key = key = messages.post_key(note.id)
    label = await subject_label(session, subject)
    await outbox.enqueue(session, key, _room(note), "m.room.message",
                         messages.note_message(note.id, subject, note.body, label))
    return note


async def edit(session: AsyncSession, author_mxid: str, note_id: int, spec: NoteEdit) -> Note:
    """A web edit (see the module's docstring for notes written in Element)."""
    note = await own(session, author_mxid, note_id, lock=True)
    note.version += 1
    note.body = spec.body
    note.edited_at = utcnow()
    label = await subject_label(session, note.subject)
    if note.outbox_key is not None:
        await outbox.enqueue(session, messages.edit_key(note.id, note.version), _room(note),
                             "m.room.message", messages.edit_message(
                                 note.id, note.subject, note.body, label, note.outbox_key))
        return note
    if note.event_id is not None:
        await outbox.enqueue(session, messages.redaction_key(note.id, note.version), _room(note),
                             messages.REDACTION, messages.redaction(note.event_id,
                                                                    messages.MOVED_REASON))
    note.event_id = None
    note.outbox_key = key = messages.post_key(note.id, note.version)
    await outbox.enqueue(session, key, _room(note), "m.room.message", messages.note_message(
        note.id, note.subject, note.body, label, edited=True))
    return note


async def delete(session: AsyncSession, author_mxid: str, note_id: int) -> None:
    """A web delete: the note's message in the room is redacted, the text erased here."""
    note = await own(session, author_mxid, note_id, lock=True)
    target = (outbox.EVENT_REF + note.outbox_key) if note.outbox_key else note.event_id
    if target is not None:
        await outbox.enqueue(session, f"note:{note.id}:delete", _room(note), messages.REDACTION,
                             messages.redaction(target, messages.DELETED_REASON))
    _erase(note)
