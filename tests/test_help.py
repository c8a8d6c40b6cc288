"""`!допомога` lists what the asker may do in that room, asked of each command's one permission
hook without running it; a command the hook refuses is answered with its refusal and that help,
and its handler never runs. Real commands of the votes, notes and directory features over a
real store (SQLite and PostgreSQL); no homeserver: the replies are read from the outbox."""

from __future__ import annotations

import itertools
from pathlib import Path

from mautrix.types import EventType, MessageEvent, MessageType, TextMessageEventContent
from sqlalchemy import func, select

from appservice.commands import Command, Commands, Place
from appservice.directory import DirectoryCommands
from appservice.notes import NoteCommands
from appservice.votes import VoteCommands
from council import directory, notes
from council import votes as domain
from council.language import Text
from council.models import ManagedRoom, OutboxMessage
from council.store import Store
from tests.votes_support import SERVER, context, mxid, plenary_with_items, small_roster

ROSTER = small_roster()  # bondar is the council's secretary: he chairs plenary sittings
HALL, NOTES, LOUNGE = "!hall:kabinet.test", "!notes-kovalchuk:kabinet.test", "!lounge:kabinet.test"
DEPUTY, CHAIR, CLERK, STRANGER = mxid("kovalchuk"), mxid("bondar"), mxid("sekretar"), mxid("nobody")
_events = itertools.count(1)



def commands() -> Commands:
    found = Commands("@bot:kabinet.test", "_kabinet_")
    VoteCommands(lambda: context(ROSTER)).install(found)
    NoteCommands(lambda: notes.Context(ROSTER, SERVER)).install(found)
    DirectoryCommands(lambda: directory.Context(ROSTER, SERVER)).install(found)
    return found


async def rooms(store: Store, tmp_path: Path) -> int:
    sitting = await plenary_with_items(store, tmp_path, ROSTER, items=1)
    async with store.session() as s:
        s.add_all([ManagedRoom(key=f"sitting:{sitting}", kind="sitting", ref=str(sitting),
                               room_id=HALL),
                   ManagedRoom(key="notes:kovalchuk", kind="notes", ref="kovalchuk", room_id=NOTES),
                   ManagedRoom(key="lounge", kind="lounge", ref="council", room_id=LOUNGE)])
    return sitting


async def help_for(store: Store, sender: str, room_id: str, kind: str, ref: str) -> str:
    async with store.session() as s:
        return await commands().help_text(sender, Place(s, room_id, kind, ref))


async def typed(store: Store, sender: str, room_id: str, body: str) -> str:
    """What the bot answers to a message, as the transaction handler runs it."""
    event_id = f"$help{next(_events)}"
    event = MessageEvent(type=EventType.ROOM_MESSAGE, room_id=room_id, event_id=event_id,
                         sender=sender, timestamp=0,
                         content=TextMessageEventContent(msgtype=MessageType.TEXT, body=body))
    async with store.session() as s:
        await commands()(event, s)
    async with store.session() as s:
        row = await s.scalar(select(OutboxMessage).where(OutboxMessage.key == f"reply:{event_id}"))
    return str(row.content["body"]) if row is not None else ""


async def test_in_a_sitting_room_a_deputy_sees_how_to_vote_and_the_chair_and_secretariat_run_it(
        store: Store, tmp_path: Path) -> None:
    sitting = await rooms(store, tmp_path)
    deputy = await help_for(store, DEPUTY, HALL, "sitting", str(sitting))
    assert deputy.startswith("Команди бота «Кабінет депутата», доступні вам тут:")
    assert "!відсутній (!відсутня, !absent) [<депутат>] <причина> — повідомити" in deputy
    assert "!конфлікт (!conflict)" in deputy and "«За», «Проти» або «Утримався»" in deputy
    for running in ("!реєстрація", "!голосування", "!закрити"):
        assert running not in deputy
    assert "!нотатка" not in deputy and "!хто (!who)" in deputy  # the directory: any room

    runs = ("!реєстрація (!registration) — відкрити реєстрацію",
            "!голосування (!vote) <№ питання> [загальна|процедурна|2/3] [90с|5хв|2хв30с] — "
            "відкрити поіменне голосування", "!закрити (!close) — завершити голосування")
    chair = await help_for(store, CHAIR, HALL, "sitting", str(sitting))
    clerk = await help_for(store, CLERK, HALL, "sitting", str(sitting))
    for line in runs:
        assert line in chair and line in clerk
    assert "«Присутній»" in chair and "«Присутній»" not in clerk  # the secretariat does not vote
    assert "!відсутній" in clerk and "!конфлікт" in clerk  # it speaks for members
    stranger = await help_for(store, STRANGER, HALL, "sitting", str(sitting))
    assert "!реєстрація" not in stranger and "!відсутній" not in stranger and "!хто" not in stranger
    assert "!допомога (!help)" in stranger and "!пінг (!ping)" in stranger


async def test_the_notes_room_lists_the_note_command_for_its_owner_and_no_sitting_commands(
        store: Store, tmp_path: Path) -> None:
    await rooms(store, tmp_path)
    owner = await help_for(store, DEPUTY, NOTES, "notes", "kovalchuk")
    assert "!нотатка (!note) <засідання>/<№ питання> <текст> — замітка до проєкту рішення" in owner
    assert "!голосування" not in owner and "!відсутній" not in owner and "«За»" not in owner
    assert "!нотатка" not in await help_for(store, CHAIR, NOTES, "notes", "kovalchuk")
    lounge = await help_for(store, DEPUTY, LOUNGE, "lounge", "council")
    assert "!хто (!who) <ім'я, фракція, округ або комісія> — контакти колег" in lounge
    assert "!написати (!dm)" in lounge and "!нотатка" not in lounge and "!закрити" not in lounge


async def test_a_command_the_hook_refuses_is_answered_with_the_reason_and_help_and_never_runs(
        store: Store, tmp_path: Path) -> None:
    sitting = await rooms(store, tmp_path)
    said = await typed(store, DEPUTY, HALL, "!реєстрація")
    assert said.startswith("⛔ Це може зробити лише головуючий або секретаріат\n\nКоманди бота")
    assert "!відсутній" in said and "!реєстрація" not in said
    async with store.session() as s:
        assert await s.scalar(select(func.count(domain.Registration.id))) == 0
    # The same word works for the chair, in either language; elsewhere it is only help.
    assert await typed(store, CHAIR, HALL, "!REGISTRATION") == ""  # the ballot speaks, no reply
    async with store.session() as s:
        assert await s.scalar(select(func.count(domain.Registration.id)).where(
            domain.Registration.sitting_id == sitting)) == 1
    elsewhere = await typed(store, CHAIR, LOUNGE, "!реєстрація")
    assert elsewhere.startswith("Команди бота") and "!реєстрація" not in elsewhere
    unknown = await typed(store, DEPUTY, NOTES, "!щось")
    assert "!нотатка (!note)" in unknown
    said = await typed(store, DEPUTY, HALL, "!голосування")
    assert said.startswith("⛔") and "!голосування" not in said.partition("\n\n")[2]


async def _noop(_call: object) -> None:
    return None


def test_help_lines_put_the_councils_language_first(english: None) -> None:
    command = Command(("!vote", "!голосування"), Text("open a roll-call vote on an agenda item"),
                      _noop, syntax=Text("<item> [total|procedural|2/3] [90s|5m|2m30s]"))
    assert command.line() == ("!vote (!голосування) <item> [total|procedural|2/3] "
                              "[90s|5m|2m30s] — open a roll-call vote on an agenda item")
    assert command.line("uk") == ("!голосування (!vote) <№ питання> [загальна|процедурна|2/3] "
                                  "[90с|5хв|2хв30с] — відкрити поіменне голосування з питання "
                                  "порядку денного")
    assert command.word() == "!vote" and command.word("uk") == "!голосування"


async def test_help_in_english(store: Store, tmp_path: Path, english: None) -> None:
    sitting = await rooms(store, tmp_path)
    clerk = await help_for(store, CLERK, HALL, "sitting", str(sitting))
    assert clerk.startswith("Commands of the Kabinet bot you can use here:")
    assert "• !registration (!реєстрація) — open registration" in clerk
    assert "• !ping (!пінг) — check that the bot is online" in clerk
