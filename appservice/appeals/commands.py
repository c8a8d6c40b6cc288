"""Bot commands in appeal rooms: !answer (!відповідь), confirmed by !yes (!так) or cancelled by
!cancel (!скасувати); !status (!статус), !extend (!продовжити), !transfer (!передати), !take
(!взяти).

Each runs in the unit of work that claimed the command's event: the appeal change, its
history, the citizen's e-mail and the bot's reply commit together or not at all. Messages
in the room are internal; only a confirmed answer reaches the citizen: `!answer` shows it
first (council/appeals/answers.py), and the edits, reactions and files that go with it are
handled in appservice/appeals/events.py. Who may act on an appeal is decided in one place, the
commands' permission hook `allowed` (a ✅ on an answer's preview asks it too): the appeal's
responsible deputy (or the district's, before one takes it) and the secretariat.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from appservice.appeals.rooms import KIND as ROOM_KIND
from appservice.commands import Command, Commands, Invocation, Place
from council import appeals
from council.appeals import Appeal, AppealError, texts
from council.language import Text, _
from council.models import ManagedRoom
from council.roster import Roster

KIND = frozenset({ROOM_KIND})
MAX_EXTEND_DAYS = 45
DAYS = re.compile(r"[0-9]{1,3}")

ANSWER_WORDS = ("!answer", "!відповідь")
# The options of !status as people type them: natural Ukrainian words, and the English codes.
STATUS_WORDS = {
    "in_progress": "in_progress", "розглядається": "in_progress", "в_роботі": "in_progress",
    "у_роботі": "in_progress",
    "answered": "answered", "надано": "answered", "відповідь_надано": "answered",
    "closed": "closed", "закрито": "closed",
}

WORDS = {
    "answer": ANSWER_WORDS, "yes": ("!yes", "!так"), "cancel": ("!cancel", "!скасувати"),
    "status": ("!status", "!статус"), "extend": ("!extend", "!продовжити"),
    "transfer": ("!transfer", "!передати"), "take": ("!take", "!взяти"),
}
HELP = {
    "answer": Text("the official answer to the citizen; the bot shows it to you to confirm "
                   "before it goes"),
    "yes": Text("send the answer shown for confirmation (or react ✅ to it)"),
    "cancel": Text("cancel the answer waiting for confirmation"),
    "status": Text("the appeal's state, or set the status"),
    "extend": Text("extend the term (up to 45 days in all)"),
    "transfer": Text("hand over to another deputy"),
    "take": Text("take a district appeal"),
}
SYNTAX = {
    "answer": Text("<text>"),
    "status": Text("[in_progress|answered|closed]"),
    "extend": Text("<days> <reason>"),
    "transfer": Text("<deputy>"),
}
NOT_ALLOWED = Text("Only the responsible deputy or the secretariat can do this")
NO_APPEAL = Text("No appeal for this room")


@dataclass
class AppealCommands:
    ctx: appeals.Context
    roster: Callable[[], Roster]
    server_name: str
    on_change: Callable[[], None] = lambda: None  # the room worker: members may have changed
    commands: dict[str, Command] = field(default_factory=dict)

    def install(self, commands: Commands) -> None:
        for name, handler in (("answer", self.answer), ("yes", self.confirm),
                              ("cancel", self.cancel), ("status", self.status),
                              ("extend", self.extend), ("transfer", self.transfer),
                              ("take", self.take)):
            self.commands[name] = Command(WORDS[name], HELP[name], handler, KIND, self.allowed,
                                          SYNTAX.get(name), NOT_ALLOWED)
            commands.register(self.commands[name])

    def usage(self, name: str) -> str:
        return self.commands[name].usage()

    # -- who is who: the permission hook -----------------------------------------------------

    async def allowed(self, sender: str, place: Place) -> bool:
        """The one permission of the appeal commands (a ✅ on an answer's preview too): the
        appeal of this room may be handled by the sender. Where the room's appeal is not found,
        the secretariat may still ask (the handler says so)."""
        ref = place.ref if place.kind == ROOM_KIND else None
        appeal = await appeals.by_id(place.session, int(ref)) if ref and ref.isdigit() else None
        if appeal is None:
            return sender in self.roster().secretariat_mxids(self.server_name)
        return self.may_handle(appeal, sender)

    def _deputy_id(self, mxid: str) -> str | None:
        return next((d.id for d in self.roster().deputies if d.mxid(self.server_name) == mxid), None)

    def may_handle(self, appeal: Appeal, sender: str) -> bool:
        """The one permission of appeal commands (answering, confirming included)."""
        if sender in self.roster().secretariat_mxids(self.server_name):
            return True
        deputy = self._deputy_id(sender)
        return deputy is not None and deputy in appeal.members()

    def name_of(self, mxid: str) -> str:
        person = self.roster().people_by_mxid(self.server_name).get(mxid)
        return person.name if person is not None else mxid

    async def _guarded(self, call: Invocation, name: str, args_ok: bool) -> Appeal | None:
        """The appeal of the room, if the arguments are right. Who may act was asked before
        (the hook `allowed`): a stranger's input is never parsed further than the command word."""
        appeal = await appeal_for_room(call.session, call.event.room_id)
        if appeal is None:
            await call.reply(str(NO_APPEAL))
            return None
        if not args_ok:
            await call.reply(self.usage(name))
            return None
        return appeal

    # -- the answer: shown, then confirmed or cancelled ----------------------------------------

    async def answer(self, call: Invocation) -> None:
        if call.event.content.get_edit():
            return  # an edited !answer: appservice/appeals/events.py
        appeal = await self._guarded(call, "answer", bool(call.args))
        if appeal is None:
            return
        try:
            await appeals.answers.propose(call.session, self.ctx, appeal, call.args,
                                          call.event.sender, call.event.event_id)
        except AppealError as exc:
            await call.reply(str(exc))

    async def confirm(self, call: Invocation) -> None:
        appeal = await self._guarded(call, "yes", not call.args)
        if appeal is None:
            return
        try:
            key = await appeals.answers.confirm(call.session, self.ctx, appeal, call.event.sender,
                                                self.name_of(call.event.sender))
        except AppealError as exc:
            await call.reply(str(exc))
            return
        if key is None:
            await call.reply(str(texts.NOTHING_PENDING))

    async def cancel(self, call: Invocation) -> None:
        appeal = await self._guarded(call, "cancel", not call.args)
        if appeal is None:
            return
        if await appeals.answers.cancel(call.session, self.ctx, appeal, call.event.sender,
                                        self.name_of(call.event.sender)):
            await call.reply(_("The answer to appeal {number} was cancelled: nothing was sent.",
                               number=appeal.number))
        else:
            await call.reply(str(texts.NOTHING_PENDING))

    # -- the other commands -------------------------------------------------------------------

    async def status(self, call: Invocation) -> None:
        word = call.args.split()[0].lower() if call.args else ""
        appeal = await self._guarded(call, "status", not word or word in STATUS_WORDS)
        if appeal is None:
            return
        if not word:  # where it stands, and what the citizen was sent
            await call.reply(await self._summary(call, appeal))
            return
        try:
            await appeals.set_status(call.session, appeal, STATUS_WORDS[word], call.event.sender)
        except AppealError as exc:
            await call.reply(str(exc))
            return
        await call.reply(_("Status of appeal {number}: {status}", number=appeal.number,
                           status=texts.status_word(appeal.status)))

    async def _summary(self, call: Invocation, appeal: Appeal) -> str:
        names = {d.id: d.name for d in self.roster().deputies}
        prefix = appeals.mail_prefix(appeal.id) + ":"
        sent = [(job.key.removeprefix(prefix).split(":")[0], job.status, job.last_error)
                for job in await appeals.mails(call.session, appeal.id)]
        return texts.status_summary(appeal, names.get(appeal.responsible or ""), sent,
                                    self.ctx.mail_configured)

    async def extend(self, call: Invocation) -> None:
        days, reason = _days_and_reason(call.args)
        appeal = await self._guarded(call, "extend", days is not None and bool(reason))
        if appeal is None or days is None:
            return
        try:
            await appeals.extend(call.session, self.ctx, appeal, days, reason, call.event.sender)
        except AppealError as exc:
            await call.reply(str(exc))
            return
        await call.reply(_("The term of {number} is extended to {deadline}. {mail}",
                           number=appeal.number, deadline=texts.d(appeal.deadline),
                           mail=texts.mail_news(appeal, self.ctx.mail_configured)))

    async def transfer(self, call: Invocation) -> None:
        target = self._resolve_deputy(call.args.strip())
        appeal = await self._guarded(call, "transfer", bool(call.args.strip()))
        if appeal is None:
            return
        if target is None:
            await call.reply(_("No such deputy: {who}. {usage}", who=call.args.strip()[:64],
                               usage=self.usage("transfer")))
            return
        try:
            await appeals.transfer(call.session, appeal, target, call.event.sender)
        except AppealError as exc:
            await call.reply(str(exc))
            return
        name = next(d.name for d in self.roster().deputies if d.id == target)
        await call.reply(_("Appeal {number} is handed over to {name}", number=appeal.number,
                           name=name))
        self.on_change()

    async def take(self, call: Invocation) -> None:
        appeal = await self._guarded(call, "take", not call.args.strip())
        if appeal is None:
            return
        deputy = self._deputy_id(call.event.sender)
        try:
            if deputy is None:
                raise AppealError("KB_APPEAL_NOT_CANDIDATE", texts.NOT_CANDIDATE)
            await appeals.take(call.session, appeal, deputy, call.event.sender)
        except AppealError as exc:
            await call.reply(str(exc))
            return
        await call.reply(_("Appeal {number} is taken up by {name}", number=appeal.number,
                           name=self.name_of(call.event.sender)))
        self.on_change()

    def _resolve_deputy(self, text: str) -> str | None:
        """A roster id, a full MXID or @localpart."""
        text = text.strip().lower()
        for d in self.roster().deputies:
            mxid = d.mxid(self.server_name).lower()
            if text in (d.id, mxid, mxid.split(":")[0]):
                return d.id
        return None


def _days_and_reason(args: str) -> tuple[int | None, str]:
    """`<days> <reason>`: days in ASCII digits, 1…45 (str.isdigit() also admits "²", which
    int() refuses)."""
    days_text, _sep, reason = args.strip().partition(" ")
    if not DAYS.fullmatch(days_text):
        return None, reason.strip()
    days = int(days_text)
    return (days if 0 < days <= MAX_EXTEND_DAYS else None), reason.strip()


async def appeal_for_room(session: AsyncSession, room_id: str) -> Appeal | None:
    ref = await session.scalar(select(ManagedRoom.ref).where(
        ManagedRoom.room_id == room_id, ManagedRoom.kind == ROOM_KIND))
    if ref is None or not ref.isdigit():
        return None
    return await appeals.by_id(session, int(ref), lock=True)
