"""The notes room, as the transaction handler sees it.

In a person's notes room (kind `notes`, ref = their roster id) only that person's events count;
anything else there (which should not happen: only they and the bot are members) is ignored.
- a message is a note; a reply to a forwarded draft or appeal message (or to one of their notes,
  in a thread or not) files it under that subject;
- a forwarded draft or appeal message (it carries `ua.kabinet.draft`/`ua.kabinet.appeal`) is
  not a note: it is remembered as an anchor;
- their `m.replace` of a note edits it; their redaction of a note deletes it;
- a message starting with `!` is a command (appservice/notes/commands.py), not a note.
The bot's own events (its web notes, edits, redactions) never come here (appservice/
transactions.py skips them), so nothing loops. Logs never carry a note's text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mautrix.types import Event, EventType, MessageEvent, RedactionEvent
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from appservice.notes.commands import COMMAND_WORDS, parse_command, resolve_item
from council import notes as domain
from council.models import ManagedRoom

log = logging.getLogger(__name__)

KIND = "notes"
TEXT_TYPES = frozenset({"m.text", "m.notice", "m.emote"})


async def owner(session: AsyncSession, ctx: domain.Context, room_id: str) -> domain.Author | None:
    """The person whose notes room this is, or None (not a notes room, or nobody now)."""
    ref = await session.scalar(select(ManagedRoom.ref).where(ManagedRoom.room_id == room_id,
                                                             ManagedRoom.kind == KIND))
    mxid = ctx.owner_mxid(ref) if ref is not None else None
    return domain.Author(mxid, ref) if mxid is not None and ref is not None else None


def strip_reply_fallback(body: str) -> str:
    """Older clients quote the message replied to (`> <@someone> …` lines, then a blank line)."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    for n, line in enumerate(lines):
        if not line.startswith(">"):
            return "\n".join(lines[n + 1:] if line == "" else lines[n:])
    return ""


def note_text(content: dict[str, Any]) -> str:
    """What a message says as a note: its text, or a file's name after 📎."""
    body = content.get("body")
    if not isinstance(body, str):
        return ""
    return body if content.get("msgtype") in TEXT_TYPES else f"📎 {body}"


def replied_to(content: dict[str, Any]) -> str | None:
    """The event a message answers: a thread's root, else the message replied to."""
    relates = content.get("m.relates_to")
    if not isinstance(relates, dict):
        return None
    if relates.get("rel_type") == "m.thread" and isinstance(relates.get("event_id"), str):
        return str(relates["event_id"])
    reply = relates.get("m.in_reply_to")
    target = reply.get("event_id") if isinstance(reply, dict) else None
    return target if isinstance(target, str) else None


class NoteEvents:
    event_types = frozenset({"m.room.message", "m.room.redaction"})

    def __init__(self, context: Callable[[], domain.Context]) -> None:
        self.context = context

    async def __call__(self, event: Event, session: AsyncSession) -> None:
        ctx = self.context()
        author = await owner(session, ctx, str(event.room_id))
        if author is None:
            return
        if str(event.sender) != author.mxid:
            log.info("ignored event %s in a notes room: not its owner's", event.event_id)
            return
        if isinstance(event, RedactionEvent) or event.type == EventType.ROOM_REDACTION:
            redacts = getattr(event, "redacts", None)
            if isinstance(redacts, str):
                await domain.redacted_in_matrix(session, author.mxid, redacts)
        elif isinstance(event, MessageEvent):
            await self._message(session, ctx, author, event)

    async def _message(self, session: AsyncSession, ctx: domain.Context, author: domain.Author,
                       event: MessageEvent) -> None:
        content: dict[str, Any] = event.content.serialize()
        relates = content.get("m.relates_to") or {}
        if isinstance(relates, dict) and relates.get("rel_type") == "m.replace":
            await self._edited(session, author, str(relates.get("event_id")),
                               content.get("m.new_content"))
            return
        event_id = str(event.event_id)
        subject = domain.marker_subject(content)
        if subject is not None:  # a forwarded draft or appeal: the anchor, not a note
            if await _exists(session, subject):
                await domain.remember_anchor(session, author.mxid, event_id, subject)
            return
        if domain.NOTE_KEY in content:
            return  # a copy of one of the bot's note messages: already a note
        target = replied_to(content)
        text = note_text(content)
        if target is not None:
            text = strip_reply_fallback(text)
        if text.lstrip().startswith("!"):
            return  # a command: appservice/notes/commands.py (or the help)
        filed = await domain.replied_subject(session, author.mxid, target) if target else None
        await domain.noted_in_matrix(session, author, event_id, text.strip(), filed)

    async def _edited(self, session: AsyncSession, author: domain.Author, original: str,
                      new: Any) -> None:
        if not isinstance(new, dict):
            return
        text = note_text(new).strip()
        subject = None
        parsed = parse_command(text, COMMAND_WORDS)
        if parsed is not None:  # an edited `!note <sitting>/<item> <text>`
            found = await resolve_item(session, parsed[0], parsed[1])
            subject, text = (f"draft:{found}" if found else None), parsed[2]
        await domain.edited_in_matrix(session, author.mxid, original, text, subject)


async def _exists(session: AsyncSession, subject: str) -> bool:
    try:
        return await domain.checked_subject(session, subject) is not None
    except domain.NoteError:
        return False
