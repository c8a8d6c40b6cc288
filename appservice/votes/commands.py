"""Bot commands in sitting rooms: registration, absences, conflicts of interest, votes.

Who may use each is the command's permission hook (`allowed`, asked by the framework before the
handler and by `!допомога`): the chair and the secretariat run registration and votes; the
body's members (and the secretariat, for them) notify absences and declare conflicts. The
domain checks again. On success the domain's own messages speak (the ballot, the poll, the
result); a reply is sent only where nothing else shows it (an absence, a conflict recorded).
Registering and voting are answers to the bot's polls, not commands: the help says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import ValidationError

from appservice.commands import Command, Commands, Invocation, Permission, Place
from appservice.votes.events import after_commit
from council import votes as domain
from council.language import Text, _
from council.sittings import Sitting
from council.votes.common import is_member, may_run
from council.votes.inputs import MIN_DURATION

KINDS = frozenset({"sitting"})

HELP = {
    "registration": Text("open registration"),
    "absent": Text("notify an absence; the secretariat names the member first"),
    "vote": Text("open a roll-call vote on an agenda item"),
    "close": Text("close the vote"),
    "conflict": Text("declare a conflict of interest; the secretariat names the member "
                     "after the item"),
    "answer": Text("🗳 register and vote by answering the bot's polls: «Present»; «For», "
                   "«Against» or «Abstain»"),
}
SYNTAX = {
    "absent": Text("[<member>] <reason>"),
    "vote": Text("<item> [total|procedural|2/3] [90s|5m|2m30s]"),
    "conflict": Text("<item> [<member>] <text>"),
}
WORDS = {
    "registration": ("!registration", "!реєстрація"),
    "absent": ("!absent", "!відсутній", "!відсутня"),
    "vote": ("!vote", "!голосування"),
    "close": ("!close", "!закрити"),
    "conflict": ("!conflict", "!конфлікт"),
}
NOT_RUNNER = Text("Only the chair of the sitting or the secretariat can do this")
NOT_MEMBER = Text("Only members of this body or the secretariat can do this")
NO_SITTING = Text("No sitting for this room")
SECRET = Text("Secret ballots are not run by the bot: they are held with paper ballots under "
              "their own procedure. The bot runs open roll-call votes only")
BAD_DURATION = Text("Duration: {min} s to 24 h, e.g. 90s, 5m, 2m30s", min=MIN_DURATION)

# 90, 90s, 5m, 2m30s, 1h, and the Ukrainian 90с, 5хв, 1год. ASCII digits only: int("²") raises.
_SECONDS = re.compile(r"[0-9]{1,6}")
UNITS = {"h": ("h", "год"), "m": ("m", "хв"), "s": ("s", "с")}  # typed after the number


def _unit(name: str, digits: int) -> str:
    return f"(?:(?P<{name}>[0-9]{{1,{digits}}})(?:{'|'.join(UNITS[name])}))?"


_DURATION = re.compile(_unit("h", 2) + _unit("m", 4) + _unit("s", 5))


def parse_duration(word: str) -> int | None:
    """Seconds, or None if the word is not a duration."""
    if _SECONDS.fullmatch(word):
        return int(word)
    found = _DURATION.fullmatch(word)
    if found is None or not any(found.groups()):
        return None
    h, m, s = (int(found[k] or 0) for k in ("h", "m", "s"))
    return h * 3600 + m * 60 + s


def refusal(exc: domain.VoteError) -> str:
    return f"❌ {exc.text()}"


@dataclass
class VoteCommands:
    context: Callable[[], domain.Context]
    on_change: Callable[[int], None] = lambda _sitting_id: None  # after the commit: live views
    commands: dict[str, Command] = field(default_factory=dict)

    def install(self, commands: Commands) -> None:
        runner: tuple[Permission, Text] = (self.may_run, NOT_RUNNER)
        member: tuple[Permission, Text] = (self.may_speak, NOT_MEMBER)
        for name, handler, (hook, refused) in (
            ("registration", self.registration, runner),
            ("vote", self.vote, runner),
            ("close", self.close, runner),
            ("absent", self.absent, member),
            ("conflict", self.conflict, member),
        ):
            self.commands[name] = Command(WORDS[name], HELP[name], handler, KINDS, hook,
                                          SYNTAX.get(name), refused)
            commands.register(self.commands[name])
        commands.register(Command((), HELP["answer"], None, KINDS, self.may_answer))

    def usage(self, name: str) -> str:
        return self.commands[name].usage()

    # -- who is who: the permission hooks ------------------------------------------------------

    async def _sitting_at(self, place: Place) -> Sitting | None:
        ref = place.ref if place.kind == "sitting" else None
        return await place.session.get(Sitting, int(ref)) if ref and ref.isdigit() else None

    def _is_staff(self, ctx: domain.Context, mxid: str) -> bool:
        return mxid in ctx.roster.secretariat_mxids(ctx.server_name)

    async def may_run(self, sender: str, place: Place) -> bool:
        """The chair of this sitting or the secretariat (who may also act where the sitting
        is not found: the handler says so)."""
        ctx = self.context()
        if self._is_staff(ctx, sender):
            return True
        sitting = await self._sitting_at(place)
        return sitting is not None and may_run(ctx, sitting, domain.Actor.matrix(sender))

    async def may_speak(self, sender: str, place: Place) -> bool:
        """A member of the sitting's body, its chair, or the secretariat."""
        ctx = self.context()
        if self._is_staff(ctx, sender):
            return True
        sitting = await self._sitting_at(place)
        return sitting is not None and (is_member(ctx, sitting, sender) or may_run(
            ctx, sitting, domain.Actor.matrix(sender)))

    async def may_answer(self, sender: str, place: Place) -> bool:
        """Entitled to register and vote at this sitting."""
        sitting = await self._sitting_at(place)
        return sitting is not None and is_member(self.context(), sitting, sender)

    async def _sitting(self, call: Invocation) -> tuple[domain.Context, Sitting] | None:
        sitting = await self._sitting_at(call.place)
        if sitting is None:
            await call.reply(f"❌ {NO_SITTING}")
            return None
        return self.context(), sitting

    def _member_id(self, ctx: domain.Context, mxid: str) -> str | None:
        person = ctx.roster.people_by_mxid(ctx.server_name).get(mxid)
        return person.id if person else None

    def _person(self, ctx: domain.Context, word: str) -> str | None:
        """A roster id, a full Matrix id or @localpart; None if it names nobody."""
        word = word.strip().lower()
        for mxid, person in ctx.roster.people_by_mxid(ctx.server_name).items():
            if word in (person.id, mxid.lower(), mxid.lower().split(":")[0]):
                return person.id
        return None

    def _changed(self, call: Invocation, sitting_id: int) -> None:
        after_commit(call.session, lambda: self.on_change(sitting_id))

    # -- commands ---------------------------------------------------------------------------

    async def registration(self, call: Invocation) -> None:
        found = await self._sitting(call)
        if found is None:
            return
        ctx, sitting = found
        try:
            await domain.open_registration(call.session, ctx, sitting.id,
                                           domain.Actor.matrix(call.event.sender))
        except domain.VoteError as exc:
            await call.reply(refusal(exc))
            return
        self._changed(call, sitting.id)

    async def absent(self, call: Invocation) -> None:
        found = await self._sitting(call)
        if found is None:
            return
        ctx, sitting = found
        first, _sep, rest = call.args.partition(" ")
        named = self._person(ctx, first) if rest.strip() else None
        member = named or self._member_id(ctx, call.event.sender)
        reason = rest.strip() if named else call.args.strip()
        if member is None or (named is None and self._is_staff(ctx, call.event.sender)):
            await call.reply(self.usage("absent"))  # the secretariat names whom it speaks for
            return
        try:
            spec = domain.NewAbsence(member=member, reason=reason)
            await domain.notify_absence(call.session, ctx, sitting.id,
                                        domain.Actor.matrix(call.event.sender), spec)
        except ValidationError:
            await call.reply(self.usage("absent"))
            return
        except domain.VoteError as exc:
            await call.reply(refusal(exc))
            return
        await call.reply(_("✅ Absence noted: {name} — {reason}", name=_name(ctx, member),
                           reason=spec.reason))
        self._changed(call, sitting.id)

    async def vote(self, call: Invocation) -> None:
        found = await self._sitting(call)
        if found is None:
            return
        ctx, sitting = found
        words = call.args.split()
        if not words:
            await call.reply(self.usage("vote"))
            return
        item, majority, duration = words[0].removeprefix("№"), None, None
        for word in (w.lower() for w in words[1:]):
            if word in domain.SECRET_WORDS:
                await call.reply(f"❌ {SECRET}")
                return
            if word in domain.MAJORITY_WORDS:
                majority = domain.MAJORITY_WORDS[word]
            elif (seconds := parse_duration(word)) is not None:
                duration = seconds
            else:
                await call.reply(_("❌ Not understood: «{word}»", word=word[:32])
                                 + f"\n{self.usage('vote')}")
                return
        try:
            spec = domain.OpenVote(item=item, majority=majority, duration=duration)
        except ValidationError:
            await call.reply(f"❌ {BAD_DURATION}" if duration is not None else self.usage("vote"))
            return
        try:
            await domain.open_vote(call.session, ctx, sitting.id,
                                   domain.Actor.matrix(call.event.sender), spec)
        except domain.VoteError as exc:
            await call.reply(refusal(exc))
            return
        self._changed(call, sitting.id)

    async def close(self, call: Invocation) -> None:
        found = await self._sitting(call)
        if found is None:
            return
        ctx, sitting = found
        try:
            await domain.close_current(call.session, ctx, sitting.id,
                                       domain.Actor.matrix(call.event.sender))
        except domain.VoteError as exc:
            await call.reply(refusal(exc))
            return
        self._changed(call, sitting.id)

    async def conflict(self, call: Invocation) -> None:
        found = await self._sitting(call)
        if found is None:
            return
        ctx, sitting = found
        item, _sep, rest = call.args.partition(" ")
        second, _sep, text = rest.strip().partition(" ")
        named = self._person(ctx, second) if text.strip() else None
        member = named or self._member_id(ctx, call.event.sender)
        text = text.strip() if named else rest.strip()
        if not item or member is None or (named is None and self._is_staff(ctx, call.event.sender)):
            await call.reply(self.usage("conflict"))
            return
        try:
            spec = domain.NewConflict(item=item.removeprefix("№"), member=member, text=text)
            await domain.declare_conflict(call.session, ctx, sitting.id,
                                          domain.Actor.matrix(call.event.sender), spec)
        except ValidationError:
            await call.reply(self.usage("conflict"))
            return
        except domain.VoteError as exc:
            await call.reply(refusal(exc))
            return
        await call.reply(_("✅ Conflict of interest recorded: {name}, item {item}. Their vote on "
                           "this item does not count", name=_name(ctx, member), item=spec.item))
        self._changed(call, sitting.id)


def _name(ctx: domain.Context, member_id: str) -> str:
    person = ctx.roster.person(member_id)
    return person.name if person else member_id
