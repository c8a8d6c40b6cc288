"""`!announce <text>` (`!оголосити`) by a secretariat member, in any council room or the
secretariat's room: the text is posted by the bot into the announcements room.
`!announce pin 7d <text>` (`закріпити`, `7д`) pins it there until the term ends (`12h`/`12г`
for hours); `!announce pin <text>` pins it with no end. Anyone else is told only the
secretariat announces, and nothing is posted. The command's own event makes it once: the
homeserver may resend it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from appservice.commands import Command, Commands, Invocation
from council import announcements as domain
from council.models import utcnow
from council.roster import Roster

COMMAND_WORDS = ("!announce", "!оголосити")
PIN_WORDS = frozenset({"pin", "закріпити"})
USAGE = ("!announce [pin] [7d] <текст> (!оголосити [закріпити] [7д]) — оголошення в кімнату "
         "«Оголошення»; pin — закріпити, 7d/12h — строк дії / an announcement; pin it, for a term")
NOT_STAFF = "⛔ Оголошення публікує лише секретаріат / Only the secretariat posts announcements"


@dataclass(frozen=True)
class Context:
    roster: Roster
    server_name: str
    tz: ZoneInfo


@dataclass(frozen=True)
class Parsed:
    text: str
    pinned: bool
    term: timedelta | None


def parse_args(args: str) -> Parsed | None:
    """`[pin] [<term>] <text>`; None when no text is left."""
    rest = args.strip()
    pinned, term = False, None
    word, _, after = rest.partition(" ")
    if word.lower() in PIN_WORDS:
        pinned, rest = True, after.strip()
        word, _, after = rest.partition(" ")
    found = domain.term(word) if word else None
    if found is not None:
        term, rest = found, after.strip()
    return Parsed(rest, pinned, term) if rest else None


@dataclass
class AnnounceCommand:
    context: Callable[[], Context]
    on_posted: Callable[[], None] = lambda: None  # delivery is poked by the transaction server

    def install(self, commands: Commands) -> None:
        commands.register(Command(COMMAND_WORDS, USAGE, self.announce))

    async def announce(self, call: Invocation) -> None:
        ctx = self.context()
        sender = str(call.event.sender)
        if call.room_kind is None or sender not in ctx.roster.secretariat_mxids(ctx.server_name):
            await call.reply(NOT_STAFF)
            return
        parsed = parse_args(call.args)
        if parsed is None:
            await call.reply(f"❌ {USAGE}")
            return
        now = utcnow()
        try:
            spec = domain.NewAnnouncement(text=parsed.text, pinned=parsed.pinned,
                                          expires_at=now + parsed.term if parsed.term else None)
            row = await domain.post(call.session, spec, sender, "matrix", ctx.tz,
                                    command_event_id=str(call.event.event_id), now=now)
        except domain.AnnouncementError as exc:
            await call.reply(f"❌ Не опубліковано: {exc.uk} / Not posted: {exc.en}")
            return
        except ValidationError:
            await call.reply(f"❌ Не опубліковано: текст до {domain.MAX_TEXT} символів / Not posted: "
                             f"at most {domain.MAX_TEXT} characters")
            return
        until = (f", діє до {row.expires_at.astimezone(ctx.tz):%d.%m.%Y %H:%M}"
                 if row.expires_at else "")
        pinned = ", закріплено" if row.pinned else ""
        await call.reply(f"✅ Оголошення № {row.id} опубліковано в кімнаті «Оголошення»{pinned}{until} "
                         f"/ Announcement posted")
        self.on_posted()
