"""What the bot says in the announcements room: the announcement, its edit when it expires
(m.replace: the text stays, marked expired) and the room's pinned list. Pure functions;
operations.py enqueues them. `$outbox:<key>` stands for the bot's message until delivery knows
its event id (council/outbox/matrix.py), in the pinned list too."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from council import outbox
from council.announcements.inputs import ANNOUNCEMENT_KEY
from council.language import _

PINNED = "m.room.pinned_events"


def post_key(announcement_id: int) -> str:
    return f"announcement:{announcement_id}"


def _local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%d.%m.%Y %H:%M")


def text(body: str, *, pinned: bool, expires_at: datetime | None, tz: ZoneInfo,
         expired: bool = False) -> str:
    if expired:
        head = _("Announcement (expired)")
    else:
        head = _("Announcement (pinned)") if pinned else _("Announcement")
    tail = "\n" + _("Valid until {moment}", moment=_local(expires_at, tz)) \
        if expires_at and not expired else ""
    head = f"📢 {head}"
    return f"{head}\n{body}{tail}"


def announcement(announcement_id: int, body: str, *, pinned: bool, expires_at: datetime | None,
                 tz: ZoneInfo, expired: bool = False) -> dict[str, Any]:
    plain = text(body, pinned=pinned, expires_at=expires_at, tz=tz, expired=expired)
    head, _, rest = plain.partition("\n")
    formatted = f"<p><b>{html.escape(head)}</b></p><p>{html.escape(rest).replace(chr(10), '<br>')}</p>"
    if expired:
        formatted = f"<p><b>{html.escape(head)}</b></p><p><del>{html.escape(body)}</del></p>"
    return {"msgtype": "m.text", "body": plain, "format": "org.matrix.custom.html",
            "formatted_body": formatted,
            ANNOUNCEMENT_KEY: {"id": announcement_id, "pinned": pinned and not expired,
                               "expires": expires_at.isoformat() if expires_at else None}}


def expired_edit(announcement_id: int, body: str, tz: ZoneInfo) -> dict[str, Any]:
    """The bot's m.replace of its announcement: marked expired, the text kept (crossed out)."""
    new = announcement(announcement_id, body, pinned=False, expires_at=None, tz=tz, expired=True)
    return {"msgtype": "m.text", "body": "* " + new["body"], "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace",
                             "event_id": outbox.EVENT_REF + post_key(announcement_id)},
            ANNOUNCEMENT_KEY: new[ANNOUNCEMENT_KEY]}


def pinned_events(announcement_ids: list[int]) -> dict[str, Any]:
    """The room's whole pinned list: the announcements pinned and not expired, newest first."""
    return {"pinned": [outbox.EVENT_REF + post_key(i) for i in sorted(announcement_ids, reverse=True)]}
