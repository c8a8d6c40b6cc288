"""The answer's events in appeal rooms, as the transaction handler sees them (the commands are
in appservice/appeals/commands.py):
- an edit (m.replace) of a pending `!answer` by its author: the new text replaces the pending
  one and the bot edits its preview; an edit after the answer went, or was cancelled or
  replaced, changes nothing and the bot says so;
- a ✅ reaction on the preview of a pending answer, by someone allowed to answer the appeal,
  confirms it (council/appeals/answers.py takes it once); any other reaction, or a ✅ by
  anyone else or on an old preview, changes nothing;
- a file sent as a reply to the preview goes with the answer once it is confirmed; a file sent
  as a reply to the bot's confirmation (after the answer went) joins the published answer.
The bot's own events never come here (appservice/transactions.py skips them).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from mautrix.types import ContentURI, Event, MessageEvent, ReactionEvent
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from appservice.appeals.commands import ANSWER_WORDS, NOT_ALLOWED, AppealCommands, appeal_for_room
from appservice.appeals.rooms import KIND as ROOM_KIND
from appservice.commands import Invocation, Place
from appservice.homeserver import Homeserver, is_ours
from council import appeals
from council.appeals import Appeal, AppealError, texts
from council.files import kinds
from council.files.blobs import BlobStore
from council.language import Text, _, size
from council.models import OutboxMessage

CONFIRM_KEYS = frozenset({"✅"})  # the reaction that confirms (its emoji-presentation twin too)
UNSUPPORTED_ANSWER_FILE = Text("The file was not added: PDF, DOCX, JPEG or PNG are accepted")


@dataclass
class AnswerEvents:
    """A transaction handler: edits of `!answer`, ✅ on its preview, files for the answer."""

    event_types: ClassVar[frozenset[str]] = frozenset({"m.room.message", "m.reaction"})
    commands: AppealCommands  # the permission hook (`allowed`) and the appeals' context
    hs: Homeserver
    blobs: BlobStore
    bot_mxid: str
    ghost_prefix: str
    max_bytes: int

    async def __call__(self, event: Event, session: AsyncSession) -> None:
        if is_ours(event.sender, self.bot_mxid, self.ghost_prefix):
            return
        content: dict[str, Any] = event.content.serialize()
        relates = content.get("m.relates_to")
        if not isinstance(relates, dict):
            return  # neither an edit, a reaction nor a reply: nothing of the answer's
        target = relates.get("event_id")
        if isinstance(event, ReactionEvent):
            if (relates.get("rel_type") == "m.annotation" and isinstance(target, str)
                    and _confirming(relates.get("key"))):
                await self._confirmed(session, event, target)
        elif isinstance(event, MessageEvent):
            reply_to = event.content.get_reply_to()
            if relates.get("rel_type") == "m.replace" and isinstance(target, str):
                await self._edited(session, event, target, content.get("m.new_content"))
            elif reply_to:
                await self._file(session, event, reply_to)

    async def _allowed(self, session: AsyncSession, event: MessageEvent | ReactionEvent,
                       appeal: Appeal) -> bool:
        """The appeal commands' one permission hook, asked for this event's sender."""
        place = Place(session, str(event.room_id), ROOM_KIND, str(appeal.id))
        return await self.commands.allowed(event.sender, place)

    # -- ✅ ------------------------------------------------------------------------------------

    async def _confirmed(self, session: AsyncSession, event: ReactionEvent, preview: str) -> None:
        appeal = await appeal_for_room(session, event.room_id)
        if appeal is None or not await self._allowed(session, event, appeal):
            return
        try:
            await appeals.answers.confirm(session, self.commands.ctx, appeal, event.sender,
                                          self.commands.name_of(event.sender),
                                          preview_event=preview)
        except AppealError as exc:  # e.g. closed meanwhile: said next to the reaction's target
            await _reply(event, session, str(exc))

    # -- an edited !answer ---------------------------------------------------------------------

    async def _edited(self, session: AsyncSession, event: MessageEvent, original: str,
                      new: Any) -> None:
        row = await appeals.answers.by_command(session, original)
        if row is None or row.author != event.sender:
            return  # not an !answer we know, or not its author's edit (clients ignore those)
        appeal = await appeal_for_room(session, event.room_id)
        if appeal is None or appeal.id != row.appeal_id:
            return
        if not await self._allowed(session, event, appeal):
            await _reply(event, session, str(NOT_ALLOWED))
            return
        if row.state != "pending":
            await _reply(event, session, str(texts.EDIT_TOO_LATE[row.state]))
            return
        body = new.get("body") if isinstance(new, dict) else None
        word, _sep, text = (body or "").strip().partition(" ")
        if word.lower() not in ANSWER_WORDS or not text.strip():
            await _reply(event, session, self.commands.usage("answer"))
            return
        try:
            await appeals.answers.revise(session, self.commands.ctx, appeal, row, text)
        except AppealError as exc:
            await _reply(event, session, str(exc))

    # -- files for the answer ------------------------------------------------------------------

    async def _file(self, session: AsyncSession, event: MessageEvent, reply_to: str) -> None:
        url = getattr(event.content, "url", None)
        if str(getattr(event.content, "msgtype", "")) not in ("m.file", "m.image") or not url:
            return
        appeal = await appeal_for_room(session, event.room_id)
        if appeal is None:
            return
        row = await appeals.answers.by_preview(session, appeal.id, reply_to)
        pending = row if row is not None and row.state == "pending" else None
        if pending is None and not await self._replies_to_confirmation(session, appeal, reply_to):
            return
        if not await self._allowed(session, event, appeal):
            await _reply(event, session, str(NOT_ALLOWED))
            return
        stored = await self._stored(session, event, url)
        if stored is None:
            return
        if pending is not None:
            if await appeals.answers.add_file(session, self.commands.ctx, appeal, pending, stored,
                                              event.event_id):
                await _reply(event, session, _(
                    "The file “{name}” will go with the answer to {number} once it is "
                    "confirmed.", name=stored.name, number=appeal.number))
        elif await appeals.add_answer_file(session, appeal, stored, event.event_id):
            await _reply(event, session, _(
                "The file “{name}” was added to the answer to {number} (status page)",
                name=stored.name, number=appeal.number))

    async def _replies_to_confirmation(self, session: AsyncSession, appeal: Appeal,
                                       reply_to: str) -> bool:
        if not appeal.answer_prompt_key:
            return False
        prompt = await session.scalar(select(OutboxMessage.event_id).where(
            OutboxMessage.key == appeal.answer_prompt_key))
        return prompt == reply_to

    async def _stored(self, session: AsyncSession, event: MessageEvent, url: ContentURI
                      ) -> appeals.StoredFile | None:
        """The file, checked and kept; None (and the sender told why) if it is refused."""
        data = await self.hs.bot.download_media(url)
        if len(data) > self.max_bytes:
            await _reply(event, session, _("The file is too large (at most {size})",
                                           size=size(self.max_bytes)))
            return None
        # The citizen downloads it: its type is judged by content, as for what citizens send,
        # and its name follows the one safe-name policy (never the client's say-so).
        try:
            kind = await asyncio.to_thread(kinds.sniff, data, kinds.ATTACHMENTS)
        except kinds.UnsupportedFile:
            await _reply(event, session, str(UNSUPPORTED_ANSWER_FILE))
            return None
        sha = self.blobs.put(data)
        return appeals.StoredFile(sha, kinds.safe_filename(event.content.body, kind),
                                  kind.mimetype, len(data))


def _confirming(key: Any) -> bool:
    return isinstance(key, str) and key.replace("\ufe0f", "") in CONFIRM_KEYS


async def _reply(event: MessageEvent | ReactionEvent, session: AsyncSession, text: str) -> None:
    """A notice replying to the event, once (the command framework's reply: it needs only the
    event's id and room)."""
    await Invocation(cast(MessageEvent, event), session, "", "", ROOM_KIND).reply(text)
