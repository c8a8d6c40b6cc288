"""`!note <sitting id>/<item number> <text>` (`!нотатка`) in a notes room: a note filed under that
agenda item's draft without forwarding the draft. Only the room's owner; an unknown item is
answered and nothing is stored."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from appservice.commands import Command, Commands, Invocation
from council import notes as domain
from council.models import ManagedRoom
from council.sittings.tables import AgendaItem

KINDS = frozenset({"notes"})
COMMAND_WORDS = ("!note", "!нотатка")
USAGE = ("!note <засідання>/<№ питання> <текст> (!нотатка) — замітка до проєкту рішення, напр. "
         "!note 3/2 уточнити кошторис / a note on an agenda item's draft")
NOT_OWNER = "⛔ Замітки тут пише лише власник кімнати / Only this room's owner writes notes here"
# <sitting id>/<item number> <text>: ASCII digits for the id ("²".isdigit() is true).
_ARGS = re.compile(r"([0-9]{1,18})/(\S{1,32})\s+(.+)", re.DOTALL)


def parse_command(body: str, words: tuple[str, ...]) -> tuple[int, str, str] | None:
    """(sitting id, item number, text) of `!note 3/2 text`; None if it is not one."""
    word, _, args = body.strip().partition(" ")
    if word.lower() not in words:
        return None
    return parse_args(args)


def parse_args(args: str) -> tuple[int, str, str] | None:
    found = _ARGS.fullmatch(args.strip())
    if found is None or not found[3].strip():
        return None
    return int(found[1]), found[2], found[3].strip()


async def resolve_item(session: AsyncSession, sitting_id: int, number: str) -> int | None:
    """The agenda item's id (withdrawn items too: a note on one is still the person's)."""
    found: int | None = await session.scalar(select(AgendaItem.id).where(
        AgendaItem.sitting_id == sitting_id, AgendaItem.number == number))
    return found


@dataclass
class NoteCommands:
    context: Callable[[], domain.Context]

    def install(self, commands: Commands) -> None:
        commands.register(Command(COMMAND_WORDS, USAGE, self.note, KINDS))

    async def note(self, call: Invocation) -> None:
        ref = await call.session.scalar(select(ManagedRoom.ref).where(
            ManagedRoom.room_id == call.event.room_id, ManagedRoom.kind == "notes"))
        owner = self.context().owner_mxid(ref) if ref is not None else None
        if ref is None or owner is None or owner != call.event.sender:
            await call.reply(NOT_OWNER)
            return
        parsed = parse_args(call.args)
        if parsed is None:
            await call.reply(f"❌ {USAGE}")
            return
        sitting_id, number, text = parsed
        item_id = await resolve_item(call.session, sitting_id, number)
        if item_id is None:
            await call.reply(f"❌ Питання № {number} засідання {sitting_id} не знайдено; замітку не "
                             f"збережено / No item {number} at sitting {sitting_id}: nothing stored")
            return
        subject = f"draft:{item_id}"
        await domain.noted_in_matrix(call.session, domain.Author(owner, ref),
                                     str(call.event.event_id), text, subject)
        label = await domain.subject_label(call.session, subject)
        await call.reply(f"✅ Замітку збережено: {label} / Note saved")
