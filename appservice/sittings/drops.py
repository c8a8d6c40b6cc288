"""A file dropped into a sitting room, and what the bot answers in the file's thread.

- A secretariat member's file becomes a draft decision on the agenda, numbered by the sitting's
  scheme (`council.sittings.next_number`: 1, 2 … or К-1, К-2 … in a commission sitting), the
  dropped event being its version 1; a file that cannot be one is refused with the reason.
- Anyone else's file (a deputy's) stays a file in the room, not a draft: its sender is told
  that only the secretariat publishes drafts there, and where to send the secretariat a
  document (their cabinet room, which the secretariat shares).
The answer is a thread reply to the file (rooms.py enqueues it, once per event).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from mautrix.errors import MatrixRequestError
from mautrix.types import ContentURI, MessageEvent
from sqlalchemy.ext.asyncio import AsyncSession

from appservice.homeserver import Homeserver
from appservice.roster.desired import cabinet_name
from council import sittings as domain
from council.language import Text, _, ngettext, size
from council.roster import Roster
from council.sittings import agenda

log = logging.getLogger(__name__)


def thread_reply(text: str, event: MessageEvent) -> dict[str, Any]:
    """A notice in the thread of `event`: the thread it is in, or one it starts (a thread cannot
    start from an event that is itself in a thread)."""
    relates = (event.content.serialize() or {}).get("m.relates_to") or {}
    if relates.get("rel_type") == "m.thread" and relates.get("event_id"):
        return agenda.notice(text, thread_root=relates["event_id"], reply_to=event.event_id)
    return agenda.notice(text, thread_root=event.event_id)


def not_a_draft(roster: Roster, sender: str, server_name: str) -> str:
    """What a deputy (anyone but the secretariat) is told of the file they dropped."""
    with_cabinet = (*roster.deputies, *((roster.head,) if roster.head else ()))
    person = next((p for p in with_cabinet if p.mxid(server_name) == sender), None)
    if person is not None:
        return "ℹ️ " + _(
            "This file was not added to the agenda: only the secretariat publishes draft "
            "decisions in a sitting room. To send a document to the secretariat, post it in your "
            "room “{cabinet}”, which the secretariat shares with you.", cabinet=cabinet_name(person))
    return "ℹ️ " + _("This file was not added to the agenda: only the secretariat publishes draft "
                     "decisions in a sitting room.")


async def register(hs: Homeserver, event: MessageEvent, session: AsyncSession, ctx: domain.Context,
                   sitting_id: int) -> str:
    """The secretariat's file as a new draft on the agenda; what its sender is told."""
    raw = event.content.serialize()
    filename = raw.get("filename") or raw.get("body") or "draft"
    caption = raw.get("body") if raw.get("filename") and raw.get("body") != raw.get("filename") \
        else None
    try:
        declared = int((raw.get("info") or {}).get("size") or 0)
        if declared > ctx.max_bytes:
            raise domain.SittingError("KB_FILE_TOO_LARGE", Text("the file is too large"))
        if not raw.get("url"):
            raise domain.SittingError("KB_ENCRYPTED", Text("an encrypted file cannot be read"))
        data = await hs.bot.download_media(ContentURI(raw["url"]))
        file = await domain.prepare_file_off_loop(ctx, data, filename)
        title = (caption or filename.rsplit(".", 1)[0]).strip()[:500] or _("Draft decision")
        async with session.begin_nested():  # a refusal leaves nothing behind
            number = await domain.next_number(session, sitting_id)
            spec = domain.NewDraft(number=number, title=title if len(title) >= 3 else
                                   _("Draft decision {title}", title=title),
                                   initiator=_("Secretariat"))
            await domain.add_draft(session, ctx, sitting_id, spec, file, source="matrix",
                                   room_event_id=event.event_id)
    except domain.SittingError as exc:
        return "❌ " + _("The file was not registered: {reason}", reason=exc.text())
    except (MatrixRequestError, aiohttp.ClientError) as exc:
        log.warning("cannot download %s: %s", raw.get("url"), exc)
        return "❌ " + _("Could not download the file from the homeserver")
    return "✅ " + _("Registered as draft decision No. {number} “{title}” ({pages}, {size}) and "
                     "added to the agenda", number=number, title=spec.title,
                     pages=ngettext("{n} page", "{n} pages", file.pages), size=size(len(file.data)))
