"""Private notes in the store, on SQLite and PostgreSQL: only the author reads or changes a
note, and every change writes what the notes room must show (outbox) in the same unit of work."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from council import appeals, notes
from council.appeals import NewAppeal
from council.appeals.operations import APPEAL_KEY
from council.models import OutboxMessage
from council.notes import messages
from council.notes.inputs import unknown_note
from council.sittings import AgendaItem
from council.store import Store
from tests.votes_support import mxid, plenary_with_items, small_roster

BONDAR = notes.Author(mxid("bondar"), "bondar")
HNATIUK = notes.Author(mxid("hnatiuk"), "hnatiuk")
CLERK = notes.Author(mxid("sekretar"), "sekretar")
ROOM = "$room:notes:bondar"
APPEALS = appeals.Context(server_name="kabinet.test", ghost_prefix="kabinet_", base_url="http://x")


async def _rows(store: Store, prefix: str) -> list[OutboxMessage]:
    async with store.session() as s:
        return list(await s.scalars(select(OutboxMessage).where(OutboxMessage.key.like(prefix + "%"))
                                    .order_by(OutboxMessage.id)))


async def _appeal(store: Store) -> int:
    async with store.session() as s:
        appeal, _ = await appeals.register(s, APPEALS, NewAppeal(
            name="Іваненко Іван", residence="м. Тестове", email="ivan@example.org", subject="Ліхтарі",
            text="Не світять ліхтарі.", addressee_kind="deputy", addressee_deputy="bondar"),
            date(2026, 6, 1))
        return appeal.id


async def _item(store: Store, tmp_path: Path) -> tuple[int, int]:
    """(sitting id, id of its agenda item № 2)."""
    sitting = await plenary_with_items(store, tmp_path, small_roster(), items=2)
    async with store.session() as s:
        item = await s.scalar(select(AgendaItem.id).where(AgendaItem.sitting_id == sitting,
                                                          AgendaItem.number == "2"))
        assert item is not None
        return sitting, item


async def test_a_web_note_is_posted_into_the_authors_notes_room_naming_its_subject(store, tmp_path):
    sitting, item = await _item(store, tmp_path)
    async with store.session() as s:
        note = await notes.write(s, BONDAR, notes.NewNote(subject=f"draft:{item}",
                                                          body="Уточнити кошторис"))
    [row] = await _rows(store, f"note:{note.id}")
    assert row.key == f"note:{note.id}" and row.room_id == ROOM and row.event_type == "m.room.message"
    assert row.content[notes.NOTE_KEY] == {"id": note.id, "subject": f"draft:{item}"}
    assert "№ 2: Про питання 2" in row.content["body"] and "Уточнити кошторис" in row.content["body"]
    async with store.session() as s:
        [mine] = await notes.for_author(s, BONDAR.mxid)
        assert (mine.id, mine.subject, mine.body, mine.origin, mine.edited_at) == \
            (note.id, f"draft:{item}", "Уточнити кошторис", "web", None)
        assert await notes.for_author(s, HNATIUK.mxid) == []
        labels = await notes.subject_labels(s, [f"draft:{item}", "draft:999999", None, "junk"])
    assert labels == {f"draft:{item}": f"Засідання {sitting}, № 2: Про питання 2"}


async def test_nobody_else_reads_edits_or_deletes_a_note_and_nothing_is_written(store):
    async with store.session() as s:
        note = await notes.write(s, BONDAR, notes.NewNote(body="Моя думка"))
    for other in (HNATIUK.mxid, CLERK.mxid, "staff-api"):
        async with store.session() as s:
            with pytest.raises(notes.NoteError) as refused:
                await notes.own(s, other, note.id)
            assert refused.value.code == "KB_UNKNOWN_NOTE"
        with pytest.raises(notes.NoteError):
            async with store.session() as s:
                await notes.edit(s, other, note.id, notes.NoteEdit(body="чуже"))
        with pytest.raises(notes.NoteError):
            async with store.session() as s:
                await notes.delete(s, other, note.id)
        async with store.session() as s:  # Matrix paths check the author too
            assert await notes.edited_in_matrix(s, other, "$whatever", "чуже") is None
    assert [r.key for r in await _rows(store, f"note:{note.id}")] == [f"note:{note.id}"]
    async with store.session() as s:
        assert (await notes.own(s, BONDAR.mxid, note.id)).body == "Моя думка"


async def test_web_edits_replace_the_bots_message_and_a_delete_redacts_it(store):
    async with store.session() as s:
        note = await notes.write(s, BONDAR, notes.NewNote(body="Перша версія"))
    async with store.session() as s:
        await notes.edit(s, BONDAR.mxid, note.id, notes.NoteEdit(body="Друга версія"))
    async with store.session() as s:
        await notes.delete(s, BONDAR.mxid, note.id)
    _post, edit, redaction = await _rows(store, f"note:{note.id}")
    assert edit.key == f"note:{note.id}:edit:2"
    assert edit.content["m.relates_to"] == {"rel_type": "m.replace", "event_id": f"$outbox:note:{note.id}"}
    assert "Друга версія" in edit.content["m.new_content"]["body"]
    assert (redaction.event_type, redaction.content["redacts"], redaction.room_id) == \
        (messages.REDACTION, f"$outbox:note:{note.id}", ROOM)
    async with store.session() as s:
        assert await notes.for_author(s, BONDAR.mxid) == []
        stored = await s.get(notes.Note, note.id)
        assert stored is not None and stored.body == "" and stored.deleted_at is not None
        with pytest.raises(notes.NoteError):
            await notes.edit(s, BONDAR.mxid, note.id, notes.NoteEdit(body="знову"))
    async with store.session() as s:  # the id is never used again (SQLite reuses the top rowid)
        again = await notes.write(s, BONDAR, notes.NewNote(body="Нова"))
    assert again.id > note.id and [r.key for r in await _rows(store, f"note:{again.id}")] == \
        [f"note:{again.id}"]


async def test_an_element_note_edited_on_the_web_is_redacted_and_posted_again_by_the_bot(store):
    async with store.session() as s:
        note = await notes.noted_in_matrix(s, BONDAR, "$mine", "З телефона", None)
        assert note is not None
        assert await notes.noted_in_matrix(s, BONDAR, "$mine", "З телефона", None) is note
    async with store.session() as s:
        await notes.edit(s, BONDAR.mxid, note.id, notes.NoteEdit(body="Виправлено на сайті"))
    async with store.session() as s:
        await notes.edit(s, BONDAR.mxid, note.id, notes.NoteEdit(body="Ще раз"))
    redact, repost, edit = await _rows(store, f"note:{note.id}")
    assert (redact.event_type, redact.content["redacts"]) == (messages.REDACTION, "$mine")
    assert repost.key == f"note:{note.id}:v2" and "Виправлено на сайті" in repost.content["body"]
    assert edit.content["m.relates_to"]["event_id"] == f"$outbox:note:{note.id}:v2"
    async with store.session() as s:  # the person's old event no longer carries the note
        assert await notes.by_event(s, BONDAR.mxid, "$mine") is None
        [mine] = await notes.for_author(s, BONDAR.mxid)
        assert (mine.body, mine.origin) == ("Ще раз", "matrix") and mine.edited_at is not None


async def test_an_element_note_deleted_on_the_web_redacts_the_persons_event(store):
    async with store.session() as s:
        note = await notes.noted_in_matrix(s, BONDAR, "$gone", "Видалю", None)
        assert note is not None
    async with store.session() as s:
        await notes.delete(s, BONDAR.mxid, note.id)
    [row] = await _rows(store, f"note:{note.id}")
    assert (row.key, row.content["redacts"]) == (f"note:{note.id}:delete", "$gone")


async def test_matrix_edits_and_redactions_count_only_from_the_author(store, tmp_path):
    appeal = await _appeal(store)
    async with store.session() as s:
        await notes.remember_anchor(s, BONDAR.mxid, "$card", f"appeal:{appeal}")
        subject = await notes.replied_subject(s, BONDAR.mxid, "$card")
        assert subject == f"appeal:{appeal}"
        assert await notes.replied_subject(s, HNATIUK.mxid, "$card") is None
        note = await notes.noted_in_matrix(s, BONDAR, "$n1", "Зателефонувати", subject)
        assert note is not None
        assert await notes.replied_subject(s, BONDAR.mxid, "$n1") == f"appeal:{appeal}"
    async with store.session() as s:
        assert await notes.redacted_in_matrix(s, HNATIUK.mxid, "$n1") is False
        assert (await notes.edited_in_matrix(s, BONDAR.mxid, "$n1", "Зателефонувати завтра")) is not None
        labels = await notes.subject_labels(s, [f"appeal:{appeal}"])
        assert labels[f"appeal:{appeal}"].startswith("Звернення Д-2026/")
    async with store.session() as s:
        [mine] = await notes.for_author(s, BONDAR.mxid)
        assert mine.body == "Зателефонувати завтра" and mine.edited_at is not None
        assert await notes.redacted_in_matrix(s, BONDAR.mxid, "$n1") is True
        assert await notes.for_author(s, BONDAR.mxid) == []
    assert await _rows(store, "note:") == []  # Element's own changes need no bot message


async def test_a_subject_must_name_a_stored_draft_or_appeal(store):
    for subject in ("draft:424242", "appeal:1", "draft:0", "draft:²", "sitting:1",
                    "draft:99999999999999999999"):
        with pytest.raises(notes.NoteError) as refused:
            async with store.session() as s:
                await notes.write(s, BONDAR, notes.NewNote(subject=subject, body="x"))
        assert refused.value.code == "KB_UNKNOWN_SUBJECT"
    async with store.session() as s:
        assert await notes.for_author(s, BONDAR.mxid) == []
    assert await _rows(store, "note:") == []


async def test_the_appeal_rooms_opening_message_carries_the_marker_without_personal_data(store):
    appeal = await _appeal(store)
    [card] = await _rows(store, f"appeal:{appeal}:card")
    marker = card.content[APPEAL_KEY]
    async with store.session() as s:
        found = await appeals.by_id(s, appeal)
        assert found is not None
    assert marker == {"id": appeal, "number": found.number}
    assert notes.marker_subject(card.content) == f"appeal:{appeal}"



def test_the_notes_room_is_told_in_the_councils_language(english: None) -> None:
    assert messages.text("перевірити", "Appeal Д-1", edited=True) == \
        "📝 Note from the web cabinet (edited) — Appeal Д-1\nперевірити"
    assert messages.redaction("$e", messages.DELETED_REASON)["reason"] == \
        "Note deleted in the web cabinet"
    refused = unknown_note()
    assert str(refused) == "no such note" and refused.text("uk") == "замітку не знайдено"
