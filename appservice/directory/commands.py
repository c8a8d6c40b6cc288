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

from appservice.commands import Command, Commands, Invocation
from council import directory as domain

WHO_WORDS = ("!хто", "!who")
DM_WORDS = ("!написати", "!dm")
WHO_USAGE = ("!хто <ім'я, фракція, округ або комісія> (!who) — контакти колег, напр. !хто Ткачук, "
             "!хто округ 5 / find colleagues")
DM_USAGE = ("!написати <ім'я> (!dm) — приватний чат з колегою або секретаріатом, напр. "
            "!написати Ткачук / a direct chat with a colleague")
SHOWN = 5  # cards in one reply; the rest are listed by name


def refusal(text: str) -> str:
    return f"❌ {text}"


def who_reply(query: str, matches: list[domain.Match]) -> str:
    if not matches:
        return refusal(f"Нікого не знайдено за «{query}». Спробуйте прізвище, ім'я, фракцію, "
                       f"номер округу або назву комісії / Nobody found")
    cards = "\n\n".join(domain.card(m.entry) for m in matches[:SHOWN])
    rest = matches[SHOWN:]
    more = f"\n\n…і ще {len(rest)}: " + "; ".join(m.entry.name for m in rest) if rest else ""
    return f"🔎 Знайдено: {len(matches)}\n\n{cards}{more}"


def ambiguous(query: str, matches: list[domain.Match]) -> str:
    names = "\n".join(f"• {m.entry.name} — !написати {m.entry.id}" for m in matches)
    return f"❓ За «{query}» знайдено кількох людей; уточніть, кому написати:\n{names}"


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run `callback` once the unit of work has committed; never if it rolls back."""

    def fire(_s: Session) -> None:
        callback()

    orm_event.listen(session.sync_session, "after_commit", fire, once=True)


@dataclass
class DirectoryCommands:
    context: Callable[[], domain.Context]
    on_request: Callable[[], None] = lambda: None  # after the commit: wake the direct chats' worker

    def install(self, commands: Commands) -> None:
        commands.register(Command(WHO_WORDS, WHO_USAGE, self.who, allowed=self.allowed))
        commands.register(Command(DM_WORDS, DM_USAGE, self.dm, allowed=self.allowed))

    def allowed(self, sender: str, _kind: str | None) -> bool:
        """The one permission of both commands: a council account (the directory is for them)."""
        return self.context().member(sender)

    async def who(self, call: Invocation) -> None:
        if not call.args:
            await call.reply(WHO_USAGE.rpartition(" / ")[0])
            return
        ctx = self.context()
        await call.reply(who_reply(call.args, domain.search(ctx.roster, ctx.server_name, call.args)))

    async def dm(self, call: Invocation) -> None:
        if not call.args:
            await call.reply(DM_USAGE.rpartition(" / ")[0])
            return
        ctx = self.context()
        matches = domain.best(domain.search(ctx.roster, ctx.server_name, call.args))
        if not matches:
            await call.reply(who_reply(call.args, []))
            return
        if len(matches) > 1:
            await call.reply(ambiguous(call.args, matches))
            return
        partner = matches[0].entry
        if partner.mxid == call.event.sender:
            await call.reply(refusal("Це ви самі: вкажіть колегу або працівника секретаріату / "
                                     "That is you"))
            return
        await domain.request_direct(call.session, str(call.event.event_id), str(call.event.room_id),
                                    call.event.sender, partner.mxid, partner.name)
        after_commit(call.session, self.on_request)
