"""Bot commands in sitting rooms: registration, absences, conflicts of interest, votes.

One permission check at the top of each handler, before its arguments are parsed (the domain
checks again). On success the domain's own messages speak (the ballot, the poll, the result);
a reply is sent only where nothing else shows it (an absence, a conflict recorded).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import select

from appservice.commands import Command, Commands, Invocation
from appservice.votes.events import after_commit
from council import votes as domain
from council.models import ManagedRoom
from council.sittings import Sitting
from council.votes.inputs import MIN_DURATION

KINDS = frozenset({"sitting"})

USAGE = {
    "registration": "!registration (!реєстрація) — відкрити реєстрацію / open registration",
    "absent": "!absent <причина> (!відсутній) — повідомити про відсутність; секретаріат: !absent "
              "<депутат> <причина> / notify an absence",
    "vote": "!vote <№ питання> [total|procedural|2/3] [90s|5m|2m30s] (!голосування) — відкрити "
            "поіменне голосування / open a roll-call vote",
    "close": "!close (!закрити) — завершити голосування / close the vote",
    "conflict": "!conflict <№ питання> <текст> (!конфлікт) — заявити конфлікт інтересів; "
                "секретаріат: !conflict <№> <депутат> <текст> / declare a conflict of interest",
}
NOT_RUNNER = ("⛔ Це може зробити лише головуючий або секретаріат / Only the chair of the sitting "
              "or the secretariat can do this")
NOT_MEMBER = ("⛔ Це можуть лише члени цього органу або секретаріат / Only members of this body "
              "or the secretariat can do this")
NO_SITTING = "Засідання для цієї кімнати не знайдено / No sitting for this room"
SECRET = ("❌ Таємне голосування бот не проводить: воно йде бюлетенями за окремою процедурою. "
          "Бот проводить лише відкрите поіменне голосування / Secret ballots are out of scope: "
          "the bot runs open roll-call votes only")
BAD_DURATION = (f"❌ Тривалість — від {MIN_DURATION} с до 24 год, напр. 90s, 5m, 2m30s / "
                f"Duration: {MIN_DURATION} s to 24 h, e.g. 90s, 5m, 2m30s")

# 90, 90s, 5m, 2m30s, 1h, and the Ukrainian 90с, 5хв, 1год. ASCII digits only: int("²") raises.
_SECONDS = re.compile(r"[0-9]{1,6}")
_DURATION = re.compile(r"(?:(?P<h>[0-9]{1,2})(?:h|год))?(?:(?P<m>[0-9]{1,4})(?:m|хв))?"
                       r"(?:(?P<s>[0-9]{1,5})(?:s|с))?")


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
    return f"❌ {exc.uk} / {exc.en}"


@dataclass
class VoteCommands:
    context: Callable[[], domain.Context]
    on_change: Callable[[int], None] = lambda _sitting_id: None  # after the commit: live views

    def install(self, commands: Commands) -> None:
        for word, handler, aliases in (
            ("registration", self.registration, ("!registration", "!реєстрація")),
            ("absent", self.absent, ("!absent", "!відсутній", "!відсутня")),
            ("vote", self.vote, ("!vote", "!голосування")),
            ("close", self.close, ("!close", "!закрити")),
            ("conflict", self.conflict, ("!conflict", "!конфлікт")),
        ):
            commands.register(Command(aliases, USAGE[word], handler, KINDS))

    # -- who is who -------------------------------------------------------------------------

    async def _sitting(self, call: Invocation) -> Sitting | None:
        ref = await call.session.scalar(select(ManagedRoom.ref).where(
            ManagedRoom.room_id == call.event.room_id, ManagedRoom.kind == "sitting"))
        sitting = await call.session.get(Sitting, int(ref)) if ref and ref.isdigit() else None
        if sitting is None:
            await call.reply(NO_SITTING)
        return sitting

    def _is_staff(self, ctx: domain.Context, mxid: str) -> bool:
        return mxid in ctx.roster.secretariat_mxids(ctx.server_name)

    def _member_id(self, ctx: domain.Context, mxid: str) -> str | None:
        person = ctx.roster.people_by_mxid(ctx.server_name).get(mxid)
        return person.id if person else None

    def _may_run(self, ctx: domain.Context, sitting: Sitting, mxid: str) -> bool:
        me = self._member_id(ctx, mxid)
        return self._is_staff(ctx, mxid) or (
            me is not None and me in ctx.roster.chairs(sitting.kind, sitting.body))

    def _is_member(self, ctx: domain.Context, sitting: Sitting, mxid: str) -> bool:
        me = self._member_id(ctx, mxid)
        return self._may_run(ctx, sitting, mxid) or (
            me is not None and me in ctx.roster.voters(sitting.kind, sitting.body))

    async def _runner(self, call: Invocation) -> tuple[domain.Context, Sitting] | None:
        """The sitting, if the sender chairs it or is the secretariat."""
        ctx, sitting = self.context(), await self._sitting(call)
        if sitting is None:
            return None
        if not self._may_run(ctx, sitting, call.event.sender):
            await call.reply(NOT_RUNNER)
            return None
        return ctx, sitting

    async def _member(self, call: Invocation) -> tuple[domain.Context, Sitting] | None:
        """The sitting, if the sender is one of its members, its chair or the secretariat."""
        ctx, sitting = self.context(), await self._sitting(call)
        if sitting is None:
            return None
        if not self._is_member(ctx, sitting, call.event.sender):
            await call.reply(NOT_MEMBER)
            return None
        return ctx, sitting

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
        found = await self._runner(call)
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
        found = await self._member(call)
        if found is None:
            return
        ctx, sitting = found
        first, _, rest = call.args.partition(" ")
        named = self._person(ctx, first) if rest.strip() else None
        member = named or self._member_id(ctx, call.event.sender)
        reason = rest.strip() if named else call.args.strip()
        if member is None or (named is None and self._is_staff(ctx, call.event.sender)):
            await call.reply(USAGE["absent"])  # the secretariat names whom it speaks for
            return
        try:
            spec = domain.NewAbsence(member=member, reason=reason)
            await domain.notify_absence(call.session, ctx, sitting.id,
                                        domain.Actor.matrix(call.event.sender), spec)
        except ValidationError:
            await call.reply(USAGE["absent"])
            return
        except domain.VoteError as exc:
            await call.reply(refusal(exc))
            return
        name = _name(ctx, member)
        await call.reply(f"✅ Відсутність записано: {name} — {spec.reason} / Absence noted")
        self._changed(call, sitting.id)

    async def vote(self, call: Invocation) -> None:
        found = await self._runner(call)
        if found is None:
            return
        ctx, sitting = found
        words = call.args.split()
        if not words:
            await call.reply(USAGE["vote"])
            return
        item, majority, duration = words[0].removeprefix("№"), None, None
        for word in (w.lower() for w in words[1:]):
            if word in domain.SECRET_WORDS:
                await call.reply(SECRET)
                return
            if word in domain.MAJORITY_WORDS:
                majority = domain.MAJORITY_WORDS[word]
            elif (seconds := parse_duration(word)) is not None:
                duration = seconds
            else:
                await call.reply(f"❌ Незрозуміло: «{word[:32]}» / Not understood.\n{USAGE['vote']}")
                return
        try:
            spec = domain.OpenVote(item=item, majority=majority, duration=duration)
        except ValidationError:
            await call.reply(BAD_DURATION if duration is not None else USAGE["vote"])
            return
        try:
            await domain.open_vote(call.session, ctx, sitting.id,
                                   domain.Actor.matrix(call.event.sender), spec)
        except domain.VoteError as exc:
            await call.reply(refusal(exc))
            return
        self._changed(call, sitting.id)

    async def close(self, call: Invocation) -> None:
        found = await self._runner(call)
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
        found = await self._member(call)
        if found is None:
            return
        ctx, sitting = found
        item, _, rest = call.args.partition(" ")
        second, _, text = rest.strip().partition(" ")
        named = self._person(ctx, second) if text.strip() else None
        member = named or self._member_id(ctx, call.event.sender)
        text = text.strip() if named else rest.strip()
        if not item or member is None or (named is None and self._is_staff(ctx, call.event.sender)):
            await call.reply(USAGE["conflict"])
            return
        try:
            spec = domain.NewConflict(item=item.removeprefix("№"), member=member, text=text)
            await domain.declare_conflict(call.session, ctx, sitting.id,
                                          domain.Actor.matrix(call.event.sender), spec)
        except ValidationError:
            await call.reply(USAGE["conflict"])
            return
        except domain.VoteError as exc:
            await call.reply(refusal(exc))
            return
        await call.reply(f"✅ Заяву про конфлікт інтересів записано: {_name(ctx, member)}, питання "
                         f"№ {spec.item}. Голос із цього питання не зараховується / Conflict of "
                         f"interest recorded; their vote on this item does not count")
        self._changed(call, sitting.id)


def _name(ctx: domain.Context, member_id: str) -> str:
    person = ctx.roster.person(member_id)
    return person.name if person else member_id
