"""Bot commands typed in rooms the bot is in; features register theirs. Replies go through the outbox.

A command is `!word args…`; each has an English and a Ukrainian word (`!vote`, `!голосування`)
and either works. A command may be limited to rooms of some kinds (`ua.kabinet.room` kind from
the registry, e.g. only `sitting` rooms) and to some people by its one permission hook,
`allowed(sender, place)`: "may this sender use this command here?", answered without running
it. `!допомога` (`!help`) lists only what the asker may use in that room, and a command the hook
refuses is answered with the command's refusal and that help before its handler sees the
arguments. Anything else that starts with `!` gets the help — never silence.

Help lines are made from the command's words, its arguments and what it does, in the council's
language: "!голосування (!vote) <№ питання> … — відкрити поіменне голосування" in Ukrainian,
"!vote (!голосування) <item> … — open a roll-call vote" in English.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mautrix.types import Event, EventType, MessageEvent
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from appservice.homeserver import is_ours
from council import language, outbox
from council.language import Text, _
from council.models import ManagedRoom


@dataclass(frozen=True)
class Place:
    """Where a command is typed: the room, its kind and ref in the registry (None for a room the
    bot does not manage), and the unit of work to look things up in."""

    session: AsyncSession
    room_id: str
    kind: str | None
    ref: str | None = None


@dataclass(frozen=True)
class Invocation:
    event: MessageEvent
    session: AsyncSession  # the unit of work that claimed the event
    word: str
    args: str
    room_kind: str | None
    room_ref: str | None = None

    @property
    def place(self) -> Place:
        return Place(self.session, str(self.event.room_id), self.room_kind, self.room_ref)

    async def reply(self, text: str, *, key_suffix: str = "") -> None:
        """A notice replying to the command, sent exactly once via the outbox."""
        await outbox.enqueue(
            self.session, f"reply:{self.event.event_id}{key_suffix}", self.event.room_id,
            "m.room.message",
            {"msgtype": "m.notice", "body": text,
             "m.relates_to": {"m.in_reply_to": {"event_id": self.event.event_id}}})


Handler = Callable[[Invocation], Awaitable[None]]
# The one permission hook of a command: may this sender (a Matrix id) use it here?
Permission = Callable[[str, Place], Awaitable[bool]]
NOT_ALLOWED = Text("You cannot use this command here")


def cyrillic(word: str) -> bool:
    return any(unicodedata.name(c, "").startswith("CYRILLIC") for c in word)


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]  # "!vote", "!голосування": an English and a Ukrainian word at least
    help: Text | str  # what it does, Text("open a roll-call vote"); a str is a whole line, as is
    handler: Handler | None  # None: a line of help only (something done without a command)
    kinds: frozenset[str] | None = None  # room kinds where it applies; None: everywhere
    allowed: Permission | None = None  # who may use it here; None: anyone in the room
    syntax: Text | None = None  # its arguments, Text("<item> [total|procedural|2/3]")
    refusal: Text = NOT_ALLOWED  # said when `allowed` refuses

    def applies(self, kind: str | None) -> bool:
        return self.kinds is None or kind in self.kinds

    async def permits(self, sender: str, place: Place) -> bool:
        return self.applies(place.kind) and (self.allowed is None
                                             or await self.allowed(sender, place))

    def _ordered(self, lang: str | None) -> list[str]:
        """The words, those in the language first (as registered otherwise)."""
        ukrainian = (lang or language.current()) == "uk"
        return sorted(self.words, key=lambda w: cyrillic(w) != ukrainian)  # a stable sort

    def word(self, lang: str | None = None) -> str:
        """The command's word in the council's language (or `lang`): `!голосування`."""
        return next(iter(self._ordered(lang)), "")

    def names(self, lang: str | None = None) -> str:
        """`!голосування (!vote)`: the word in the language, the others in brackets."""
        first, *others = self._ordered(lang) or [""]
        return first + (f" ({', '.join(others)})" if others else "")

    def line(self, lang: str | None = None) -> str:
        """The command's line in the help, in the council's language (or `lang`)."""
        if isinstance(self.help, str):
            return self.help
        head = " ".join(filter(None, (self.names(lang),
                                      self.syntax.render(lang) if self.syntax else "")))
        what = self.help.render(lang)
        return f"{head} — {what}" if head else what

    def usage(self) -> str:
        """The line as a reply to a command typed wrongly."""
        return f"ℹ️ {self.line()}"


class Commands:
    event_types = frozenset({"m.room.message"})

    def __init__(self, bot_mxid: str, ghost_prefix: str) -> None:
        self.bot_mxid = bot_mxid
        self.ghost_prefix = ghost_prefix
        self.commands: list[Command] = []
        self.register(Command(("!ping", "!пінг"), Text("check that the bot is online"),
                              self._ping))
        self.register(Command(("!help", "!допомога"),
                              Text("the commands you can use in this room"), self._help))

    def register(self, command: Command) -> None:
        self.commands.append(command)

    async def available(self, sender: str, place: Place) -> list[Command]:
        """The commands this sender may use here (the hook of each asked, none run)."""
        return [c for c in self.commands if await c.permits(sender, place)]

    async def help_text(self, sender: str, place: Place) -> str:
        heading = _("Commands of the Kabinet bot you can use here:")
        return "\n".join([heading, *(f"• {c.line()}" for c in await self.available(sender, place))])

    async def _ping(self, call: Invocation) -> None:
        await call.reply(_("Kabinet is online ✅"))

    async def _help(self, call: Invocation) -> None:
        await call.reply(await self.help_text(call.event.sender, call.place))

    async def __call__(self, event: Event, session: AsyncSession) -> None:
        if event.type != EventType.ROOM_MESSAGE or not isinstance(event, MessageEvent):
            return
        if is_ours(event.sender, self.bot_mxid, self.ghost_prefix):
            return
        body = (getattr(event.content, "body", "") or "").strip()
        if not body.startswith("!"):
            return
        word, _sep, args = body.partition(" ")
        word = word.lower()
        room = (await session.execute(select(ManagedRoom.kind, ManagedRoom.ref)
                                      .where(ManagedRoom.room_id == event.room_id))).first()
        kind, ref = (room[0], room[1]) if room else (None, None)
        call = Invocation(event, session, word, args.strip(), kind, ref)
        for command in self.commands:
            if command.handler is None or word not in command.words \
                    or not command.applies(kind):
                continue
            if await command.permits(event.sender, call.place):
                await command.handler(call)
            else:
                await call.reply(f"⛔ {command.refusal}\n\n"
                                 f"{await self.help_text(event.sender, call.place)}")
            return
        await call.reply(await self.help_text(event.sender, call.place))
