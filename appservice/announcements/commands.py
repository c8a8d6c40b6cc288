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

from appservice.commands import Command, Commands, Invocation, Place
from council import announcements as domain
from council.language import Text, _
from council.models import utcnow
from council.roster import Roster

COMMAND_WORDS = ("!announce", "!оголосити")
PIN_WORDS = frozenset({"pin", "закріпити"})


HELP = Text("an announcement in the “Announcements” room; pin: pin it, 7d/12h: for how long")
SYNTAX = Text("[pin] [7d] <text>")
NOT_STAFF = Text("Only the secretariat posts announcements")


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
        self.command = Command(COMMAND_WORDS, HELP, self.announce, allowed=self.allowed,
                               syntax=SYNTAX, refusal=NOT_STAFF)
        commands.register(self.command)

    async def allowed(self, sender: str, place: Place) -> bool:
        """The secretariat, in a room the bot manages (the one permission hook: `!допомога`
        asks it too)."""
        ctx = self.context()
        return place.kind is not None and sender in ctx.roster.secretariat_mxids(ctx.server_name)

    async def announce(self, call: Invocation) -> None:
        ctx = self.context()
        sender = str(call.event.sender)
        parsed = parse_args(call.args)
        if parsed is None:
            await call.reply(self.command.usage())
            return
        now = utcnow()
        try:
            spec = domain.NewAnnouncement(text=parsed.text, pinned=parsed.pinned,
                                          expires_at=now + parsed.term if parsed.term else None)
            row = await domain.post(call.session, spec, sender, "matrix", ctx.tz,
                                    command_event_id=str(call.event.event_id), now=now)
        except domain.AnnouncementError as exc:
            await call.reply("❌ " + _("Not posted: {reason}", reason=exc.text()))
            return
        except ValidationError:
            await call.reply("❌ " + _("Not posted: the text may have at most {n} characters",
                                       n=domain.MAX_TEXT))
            return
        details = ([_("pinned")] if row.pinned else []) + (
            [_("valid until {moment}", moment=f"{row.expires_at.astimezone(ctx.tz):%d.%m.%Y %H:%M}")]
            if row.expires_at else [])
        await call.reply("✅ " + _("Announcement No. {number} posted in the “Announcements” room",
                                   number=row.id) + "".join(f", {d}" for d in details))
        self.on_posted()
