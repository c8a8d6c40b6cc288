"""Bot commands typed in any room the bot is in. Replies go through the outbox."""

from __future__ import annotations

from mautrix.types import Event, EventType, MessageEvent
from sqlalchemy.ext.asyncio import AsyncSession

from council import outbox

HELP = (
    "Команди бота «Кабінет депутата»:\n"
    "!ping — перевірити, що бот на зв'язку\n"
    "!help (!допомога) — ця довідка\n"
    "Commands: !ping, !help"
)
PONG = "Кабінет на зв'язку ✅ / Kabinet is online"


class Commands:
    """Answers `!ping` and `!help`; anything else starting with `!` gets the help (never silence)."""

    def __init__(self, bot_mxid: str, ghost_prefix: str) -> None:
        self.bot_mxid = bot_mxid
        self.ghost_prefix = f"@{ghost_prefix}"

    async def __call__(self, event: Event, session: AsyncSession) -> None:
        if event.type != EventType.ROOM_MESSAGE or not isinstance(event, MessageEvent):
            return
        if event.sender == self.bot_mxid or event.sender.startswith(self.ghost_prefix):
            return
        body = (getattr(event.content, "body", "") or "").strip()
        if not body.startswith("!"):
            return
        word = body.split()[0].lower()
        text = PONG if word == "!ping" else HELP
        await outbox.enqueue(
            session, f"reply:{event.event_id}", event.room_id, "m.room.message",
            {"msgtype": "m.notice", "body": text,
             "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}}},
        )
