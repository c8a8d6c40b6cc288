"""`!нотатка <sitting id>/<item number> <text>` (`!note`) in a notes room: a note filed under that
agenda item's draft without forwarding the draft. Only the room's owner (the command's
permission hook); an unknown item is answered and nothing is stored."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from appservice.commands import Command, Commands, Invocation, Place
from council import notes as domain
from council.language import Text, _
from council.sittings.tables import AgendaItem

KINDS = frozenset({"notes"})
COMMAND_WORDS = ("!note", "!нотатка")
HELP = Text("a note on an agenda item's draft, e.g. !note 3/2 check the estimate")
SYNTAX = Text("<sitting>/<item> <text>")
NOT_OWNER = Text("Only this room's owner writes notes here")
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

    def __post_init__(self) -> None:
        self.command = Command(COMMAND_WORDS, HELP, self.note, KINDS, self.owner, SYNTAX,
                               NOT_OWNER)

    def install(self, commands: Commands) -> None:
        commands.register(self.command)

    async def owner(self, sender: str, place: Place) -> bool:
        """The one permission: the person whose notes room this is."""
        return place.kind == "notes" and place.ref is not None \
            and self.context().owner_mxid(place.ref) == sender

    async def note(self, call: Invocation) -> None:
        parsed = parse_args(call.args)
        if parsed is None or call.room_ref is None:
            await call.reply(self.command.usage())
            return
        sitting_id, number, text = parsed
        item_id = await resolve_item(call.session, sitting_id, number)
        if item_id is None:
            await call.reply(_("❌ No item {number} at sitting {sitting}: the note was not saved",
                               number=number, sitting=sitting_id))
            return
        subject = f"draft:{item_id}"
        await domain.noted_in_matrix(call.session, domain.Author(call.event.sender, call.room_ref),
                                     str(call.event.event_id), text, subject)
        label = await domain.subject_label(call.session, subject)
        await call.reply(_("✅ Note saved: {label}", label=label))
