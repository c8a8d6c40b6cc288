"""Bot commands typed in rooms the bot is in; features register theirs. Replies go through the outbox.

A command is `!word args…`. Each command may be limited to rooms of some kinds
(`ua.kabinet.room` kind from the registry, e.g. only `appeal` rooms). Anything else that
starts with `!` gets the help for that room — never silence.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mautrix.types import Event, EventType, MessageEvent
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from appservice.homeserver import is_ours
from council import outbox
from council.models import ManagedRoom

PONG = "Кабінет на зв'язку ✅ / Kabinet is online"


@dataclass(frozen=True)
class Invocation:
    event: MessageEvent
    session: AsyncSession  # the unit of work that claimed the event
    word: str
    args: str
    room_kind: str | None

    async def reply(self, text: str, *, key_suffix: str = "") -> None:
        """A notice replying to the command, sent exactly once via the outbox."""
        await outbox.enqueue(
            self.session, f"reply:{self.event.event_id}{key_suffix}", self.event.room_id,
            "m.room.message",
            {"msgtype": "m.notice", "body": text,
             "m.relates_to": {"m.in_reply_to": {"event_id": self.event.event_id}}})


Handler = Callable[[Invocation], Awaitable[None]]


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]  # "!answer", "!відповідь"
    help: str  # one line, Ukrainian first
    handler: Handler
    kinds: frozenset[str] | None = None  # room kinds where it applies; None: everywhere


class Commands:
    event_types = frozenset({"m.room.message"})

    def __init__(self, bot_mxid: str, ghost_prefix: str) -> None:
        self.bot_mxid = bot_mxid
        self.ghost_prefix = ghost_prefix
        self.commands: list[Command] = []
        self.register(Command(("!ping",), "!ping — перевірити, що бот на зв'язку / check the bot",
                              self._ping))
        self.register(Command(("!help", "!допомога"), "!help (!допомога) — ця довідка / this help",
                              self._help))

    def register(self, command: Command) -> None:
        self.commands.append(command)

    def available(self, kind: str | None) -> list[Command]:
        return [c for c in self.commands if c.kinds is None or kind in c.kinds]

    def help_text(self, kind: str | None) -> str:
        lines = "\n".join(c.help for c in self.available(kind))
        return f"Команди бота «Кабінет депутата» / Bot commands:\n{lines}"

    async def _ping(self, call: Invocation) -> None:
        await call.reply(PONG)

    async def _help(self, call: Invocation) -> None:
        await call.reply(self.help_text(call.room_kind))

    async def __call__(self, event: Event, session: AsyncSession) -> None:
        if event.type != EventType.ROOM_MESSAGE or not isinstance(event, MessageEvent):
            return
        if is_ours(event.sender, self.bot_mxid, self.ghost_prefix):
            return
        body = (getattr(event.content, "body", "") or "").strip()
        if not body.startswith("!"):
            return
        word, _, args = body.partition(" ")
        word = word.lower()
        kind = await session.scalar(select(ManagedRoom.kind)
                                    .where(ManagedRoom.room_id == event.room_id))
        call = Invocation(event, session, word, args.strip(), kind)
        for command in self.available(kind):
            if word in command.words:
                await command.handler(call)
                return
        await call.reply(self.help_text(kind))
