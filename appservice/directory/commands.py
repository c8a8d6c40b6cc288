"""`!хто` (`!who`): contact cards of the council's people matching a name, a faction, a district
or a commission; `!написати` (`!dm`): a direct chat with one of them, made by a worker
(`appservice/directory/direct.py`), which replies with its link. In any room the bot is in;
only council accounts (deputies, the head, the secretariat) may use them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import event as orm_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from appservice.commands import Command, Commands, Invocation, Place
from council import directory as domain
from council.language import Text, _

WHO_WORDS = ("!хто", "!who")
DM_WORDS = ("!написати", "!dm")
WHO_HELP = Text("colleagues' contacts, e.g. !who Tkachuk, !who district 5")
WHO_SYNTAX = Text("<name, faction, district or commission>")
DM_HELP = Text("a direct chat with a colleague or the secretariat, e.g. !dm Tkachuk")
DM_SYNTAX = Text("<name>")
SHOWN = 5  # cards in one reply; the rest are listed by name


def refusal(text: str) -> str:
    return f"❌ {text}"


def who_reply(query: str, matches: list[domain.Match]) -> str:
    if not matches:
        return refusal(_("Nobody found for «{query}». Try a surname, a first name, a faction, a "
                         "district number or a commission's name", query=query))
    cards = "\n\n".join(domain.card(m.entry) for m in matches[:SHOWN])
    rest = matches[SHOWN:]
    more = "\n\n" + _("…and {n} more: {names}", n=len(rest),
                      names="; ".join(m.entry.name for m in rest)) if rest else ""
    return _("🔎 Found: {count}", count=len(matches)) + f"\n\n{cards}{more}"


def ambiguous(query: str, matches: list[domain.Match], word: str) -> str:
    names = "\n".join(f"• {m.entry.name} — {word} {m.entry.id}" for m in matches)
    return _("❓ Several people match «{query}»; say whom to write to:", query=query) \
        + f"\n{names}"


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run `callback` once the unit of work has committed; never if it rolls back."""

    def fire(_s: Session) -> None:
        callback()

    orm_event.listen(session.sync_session, "after_commit", fire, once=True)


@dataclass
class DirectoryCommands:
    context: Callable[[], domain.Context]
    on_request: Callable[[], None] = lambda: None  # after the commit: wake the direct chats' worker

    def __post_init__(self) -> None:
        self.who_command = Command(WHO_WORDS, WHO_HELP, self.who, allowed=self.allowed,
                                   syntax=WHO_SYNTAX)
        self.dm_command = Command(DM_WORDS, DM_HELP, self.dm, allowed=self.allowed,
                                  syntax=DM_SYNTAX)

    def install(self, commands: Commands) -> None:
        commands.register(self.who_command)
        commands.register(self.dm_command)

    async def allowed(self, sender: str, _place: Place) -> bool:
        """The one permission of both commands: a council account (the directory is for them),
        in any room the bot is in."""
        return self.context().member(sender)

    async def who(self, call: Invocation) -> None:
        if not call.args:
            await call.reply(self.who_command.usage())
            return
        ctx = self.context()
        await call.reply(who_reply(call.args, domain.search(ctx.roster, ctx.server_name, call.args)))

    async def dm(self, call: Invocation) -> None:
        if not call.args:
            await call.reply(self.dm_command.usage())
            return
        ctx = self.context()
        matches = domain.best(domain.search(ctx.roster, ctx.server_name, call.args))
        if not matches:
            await call.reply(who_reply(call.args, []))
            return
        if len(matches) > 1:
            await call.reply(ambiguous(call.args, matches, self.dm_command.word()))
            return
        partner = matches[0].entry
        if partner.mxid == call.event.sender:
            await call.reply(refusal(_("That is you: name a colleague or a member of the "
                                       "secretariat")))
            return
        await domain.request_direct(call.session, str(call.event.event_id), str(call.event.room_id),
                                    call.event.sender, partner.mxid, partner.name)
        after_commit(call.session, self.on_request)
