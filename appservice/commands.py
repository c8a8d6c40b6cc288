"""Bot commands typed in rooms the bot is in; features register theirs. Replies go through the outbox.

A command is `!word args…`. Each command may be limited to rooms of some kinds
(`ua.kabinet.room` kind from the registry, e.g. only `appeal` rooms) and to some people
(`allowed(sender, room kind)`, decided in one place per command). `!help` lists only what the
asker may use in that room. Anything else that starts with `!` gets that help — never silence;
a command the asker may not use here is refused, with the same help.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mautrix.types import Event, EventType, MessageEvent
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from appservice.homeserver import is_ours
from council import outbox
from council.models import ManagedRoom

_CYRILLIC = re.compile(r"[а-яіїєґА-ЯІЇЄҐ]")
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
# Who may use a command: (sender's Matrix id, room kind or None) -> may they?
Permission = Callable[[str, str | None], bool]
NOT_ALLOWED = "⛔ Ця команда вам тут недоступна / You cannot use this command here"


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]  # "!answer", "!відповідь"
    help: str  # one line, Ukrainian first
    handler: Handler
    kinds: frozenset[str] | None = None  # room kinds where it applies; None: everywhere
    allowed: Permission | None = None  # who may use it; None: anyone in the room

    def applies(self, kind: str | None) -> bool:
        return self.kinds is None or kind in self.kinds

    def permits(self, sender: str, kind: str | None) -> bool:
        return self.allowed is None or self.allowed(sender, kind)


def ukrainian(line: str) -> str:
    """A bilingual line "українською / in English" without its English part."""
    head, sep, tail = line.rpartition(" / ")
    return head if sep and not _CYRILLIC.search(tail) else line


class Commands:
    event_types = frozenset({"m.room.message"})

    def __init__(self, bot_mxid: str, ghost_prefix: str) -> None:
        self.bot_mxid = bot_mxid
        self.ghost_prefix = ghost_prefix
        self.commands: list[Command] = []
        self.register(Command(("!ping",), "!ping — перевірити, що бот на зв'язку / check the bot",
                              self._ping))
        self.register(Command(("!help", "!допомога"),
                              "!допомога (!help) — команди, доступні вам у цій кімнаті / this help",
                              self._help))

    def register(self, command: Command) -> None:
        self.commands.append(command)

    def available(self, kind: str | None, sender: str | None = None) -> list[Command]:
        """The commands of a room of this kind; with `sender`, only those they may use."""
        return [c for c in self.commands
                if c.applies(kind) and (sender is None or c.permits(sender, kind))]

    def help_text(self, kind: str | None, sender: str | None = None) -> str:
        """In Ukrainian: each line without its English tail (" / …"), aliases kept."""
        lines = "\n".join(f"• {ukrainian(c.help)}" for c in self.available(kind, sender))
        return f"Команди бота «Кабінет депутата», доступні вам тут:\n{lines}"

    async def _ping(self, call: Invocation) -> None:
        await call.reply(PONG)

    async def _help(self, call: Invocation) -> None:
        await call.reply(self.help_text(call.room_kind, call.event.sender))

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
                if command.permits(event.sender, kind):
                    await command.handler(call)
                else:
                    await call.reply(f"{NOT_ALLOWED}\n\n{self.help_text(kind, event.sender)}")
                return
        await call.reply(self.help_text(kind, event.sender))
