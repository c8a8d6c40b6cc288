"""Bot commands in appeal rooms: !answer (!відповідь), !status, !extend, !transfer, !take.

Each runs in the unit of work that claimed the command's event: the appeal change, its
history, the citizen's e-mail and the bot's reply commit together or not at all. Messages
in the room are internal; only `!answer` reaches the citizen. Files sent as a reply to the
bot's answer confirmation become attachments of the answer.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from mautrix.types import Event, EventType, MessageEvent
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from appservice.appeals.rooms import KIND as ROOM_KIND
from appservice.commands import Command, Commands, Invocation
from appservice.homeserver import Homeserver, is_ours
from council import appeals
from council.appeals import Appeal, AppealError
from council.files import kinds
from council.files.blobs import BlobStore
from council.models import ManagedRoom, OutboxMessage
from council.roster import Roster

KIND = frozenset({ROOM_KIND})
MAX_EXTEND_DAYS = 45
DAYS = re.compile(r"[0-9]{1,3}")

USAGE = {
    "answer": "!answer <текст> (!відповідь) — офіційна відповідь громадянину / the official answer",
    "status": "!status [in_progress|answered|closed] (!статус) — стан звернення або змінити статус "
              "/ the appeal's state, or set the status",
    "extend": "!extend <днів> <причина> — продовжити строк (до 45 днів) / extend the term (≤ 45 days)",
    "transfer": "!transfer <депутат> — передати іншому депутату / hand over to another deputy",
    "take": "!take — взяти звернення округу / take a district appeal",
}
NOT_ALLOWED = ("Це може зробити відповідальний депутат або секретаріат / Only the responsible "
               "deputy or the secretariat can do this")

UNSUPPORTED_ANSWER_FILE = ("Цей файл не додано: приймаються PDF, DOCX, JPEG або PNG / "
                           "The file was not added: PDF, DOCX, JPEG or PNG are accepted")


@dataclass
class AppealCommands:
    ctx: appeals.Context
    roster: Callable[[], Roster]
    server_name: str
    on_change: Callable[[], None] = lambda: None  # the room worker: members may have changed

    def install(self, commands: Commands) -> None:
        for word, handler, aliases in (
            ("answer", self.answer, ("!answer", "!відповідь")),
            ("status", self.status, ("!status", "!статус")),
            ("extend", self.extend, ("!extend", "!продовжити")),
            ("transfer", self.transfer, ("!transfer", "!передати")),
            ("take", self.take, ("!take", "!взяти")),
        ):
            commands.register(Command(aliases, USAGE[word], handler, KIND))

    # -- who is who -------------------------------------------------------------------------

    def _deputy_id(self, mxid: str) -> str | None:
        return next((d.id for d in self.roster().deputies if d.mxid(self.server_name) == mxid), None)

    def _may_handle(self, appeal: Appeal, sender: str) -> bool:
        if sender in self.roster().secretariat_mxids(self.server_name):
            return True
        deputy = self._deputy_id(sender)
        return deputy is not None and deputy in appeal.members()

    async def _appeal(self, call: Invocation) -> Appeal | None:
        return await appeal_for_room(call.session, call.event.room_id)

    async def _guarded(self, call: Invocation, usage: str, args_ok: bool) -> Appeal | None:
        """The appeal of the room, if the sender may act on it and the arguments are right.

        Who may act is checked before the arguments are looked at: a stranger's input is never
        parsed further than the command word."""
        appeal = await self._appeal(call)
        if appeal is None:
            await call.reply("Звернення для цієї кімнати не знайдено / No appeal for this room")
            return None
        if not self._may_handle(appeal, call.event.sender):
            await call.reply(NOT_ALLOWED)
            return None
        if not args_ok:
            await call.reply(usage)
            return None
        return appeal

    # -- commands ---------------------------------------------------------------------------

    async def answer(self, call: Invocation) -> None:
        appeal = await self._guarded(call, USAGE["answer"], bool(call.args))
        if appeal is None:
            return
        try:
            await appeals.answer(call.session, self.ctx, appeal, call.args, call.event.sender)
        except AppealError as exc:
            await call.reply(str(exc))

    async def status(self, call: Invocation) -> None:
        word = call.args.split()[0].lower() if call.args else ""
        appeal = await self._guarded(call, USAGE["status"], not word or word in appeals.SETTABLE)
        if appeal is None:
            return
        if not word:  # where it stands, and what the citizen was sent
            await call.reply(await self._summary(call, appeal))
            return
        try:
            await appeals.set_status(call.session, appeal, word, call.event.sender)
        except AppealError as exc:
            await call.reply(str(exc))
            return
        await call.reply(f"Статус звернення {appeal.number}: {word} / Status set to {word}")

    async def _summary(self, call: Invocation, appeal: Appeal) -> str:
        names = {d.id: d.name for d in self.roster().deputies}
        prefix = appeals.mail_prefix(appeal.id) + ":"
        sent = [(job.key.removeprefix(prefix).split(":")[0], job.status, job.last_error)
                for job in await appeals.mails(call.session, appeal.id)]
        return appeals.texts.status_summary(appeal, names.get(appeal.responsible or ""), sent,
                                            self.ctx.mail_configured)

    async def extend(self, call: Invocation) -> None:
        days, reason = _days_and_reason(call.args)
        appeal = await self._guarded(call, USAGE["extend"], days is not None and bool(reason))
        if appeal is None or days is None:
            return
        try:
            await appeals.extend(call.session, self.ctx, appeal, days, reason, call.event.sender)
        except AppealError as exc:
            await call.reply(str(exc))
            return
        await call.reply(f"Строк розгляду {appeal.number} продовжено до "
                         f"{appeal.deadline:%d.%m.%Y} / Extended to {appeal.deadline:%d.%m.%Y}. "
                         + appeals.texts.mail_news(appeal, self.ctx.mail_configured))

    async def transfer(self, call: Invocation) -> None:
        target = self._resolve_deputy(call.args.strip())
        appeal = await self._guarded(call, USAGE["transfer"], bool(call.args.strip()))
        if appeal is None:
            return
        if target is None:
            await call.reply(f"Немає такого депутата: {call.args.strip()[:64]} / No such deputy. "
                             f"{USAGE['transfer']}")
            return
        try:
            await appeals.transfer(call.session, appeal, target, call.event.sender)
        except AppealError as exc:
            await call.reply(str(exc))
            return
        name = next(d.name for d in self.roster().deputies if d.id == target)
        await call.reply(f"Звернення {appeal.number} передано: {name} / Handed over to {name}")
        self.on_change()

    async def take(self, call: Invocation) -> None:
        appeal = await self._guarded(call, USAGE["take"], not call.args.strip())
        if appeal is None:
            return
        deputy = self._deputy_id(call.event.sender)
        try:
            if deputy is None:
                raise AppealError(appeals.texts.NOT_CANDIDATE)
            await appeals.take(call.session, appeal, deputy, call.event.sender)
        except AppealError as exc:
            await call.reply(str(exc))
            return
        await call.reply(f"Звернення {appeal.number} взяв(ла) до розгляду депутат(ка) / "
                         f"Taken by {call.event.sender}")
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
    days_text, _, reason = args.strip().partition(" ")
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


@dataclass
class AnswerFiles:
    """A transaction handler: a file replying to the answer confirmation joins the answer."""

    event_types: ClassVar[frozenset[str]] = frozenset({"m.room.message"})  # what it is sent
    hs: Homeserver
    blobs: BlobStore
    bot_mxid: str
    ghost_prefix: str
    max_bytes: int

    async def __call__(self, event: Event, session: AsyncSession) -> None:
        if event.type != EventType.ROOM_MESSAGE or not isinstance(event, MessageEvent):
            return
        if is_ours(event.sender, self.bot_mxid, self.ghost_prefix):
            return
        content = event.content
        if str(getattr(content, "msgtype", "")) not in ("m.file", "m.image") or not content.url:
            return
        reply_to = content.get_reply_to()
        if not reply_to:
            return
        appeal = await appeal_for_room(session, event.room_id)
        if appeal is None or not appeal.answer_prompt_key:
            return
        prompt = await session.scalar(select(OutboxMessage.event_id).where(
            OutboxMessage.key == appeal.answer_prompt_key))
        if prompt != reply_to:
            return
        data = await self.hs.bot.download_media(content.url)
        reply = Invocation(event, session, "", "", ROOM_KIND)
        if len(data) > self.max_bytes:
            await reply.reply("Файл завеликий / The file is too large")
            return
        # The citizen downloads it: its type is judged by content, as for what citizens send,
        # and its name follows the one safe-name policy (never the client's say-so).
        try:
            kind = await asyncio.to_thread(kinds.sniff, data, kinds.ATTACHMENTS)
        except kinds.UnsupportedFile:
            await reply.reply(UNSUPPORTED_ANSWER_FILE)
            return
        sha = self.blobs.put(data)
        name = kinds.safe_filename(content.body, kind)
        added = await appeals.add_answer_file(
            session, appeal, appeals.StoredFile(sha, name, kind.mimetype, len(data)), event.event_id)
        if added:
            await reply.reply(f"Файл «{name}» додано до відповіді на {appeal.number} (сторінка "
                              f"статусу) / The file was added to the answer (status page)")
