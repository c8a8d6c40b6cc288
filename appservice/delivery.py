"""Delivery of the outbox to the homeserver: exactly once, in order per room.

Before sending, a message is marked as attempted. If the process dies between the
send and `mark_sent`, the next attempt first looks in the room for an event carrying
the message's key (`ua.kabinet.outbox`), so a restart never posts it twice, even when
the homeserver's own transaction-id cache has been lost too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
from mautrix.api import Method, Path
from mautrix.errors import MatrixRequestError, MLimitExceeded
from mautrix.types import EventType, RoomID

from appservice.matrix import Homeserver
from council import outbox
from council.store import Store

log = logging.getLogger(__name__)

MARKER = "ua.kabinet.outbox"


class Delivery:
    def __init__(self, hs: Homeserver, store: Store, *, idle: float = 2.0) -> None:
        self.hs = hs
        self.store = store
        self.idle = idle
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0

    def poke(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-delivery")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                worked = await self.drain_once()
            except Exception:
                log.exception("outbox delivery round failed")
                worked = False
            if not worked:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle)

    async def drain_once(self) -> bool:
        """Send what is due; True if anything was attempted."""
        batch = await outbox.due(self.store, limit=self.hs.concurrency * 4)
        if batch:
            await asyncio.gather(*(self.hs.limited(self._deliver(m)) for m in batch))
        return bool(batch)

    async def _deliver(self, msg: outbox.Pending) -> None:
        intent = self.hs.ghost(msg.sender) if msg.sender else self.hs.bot
        room = RoomID(msg.room_id)
        await outbox.mark_attempt(self.store, msg.id)
        try:
            if msg.state_key is not None:
                event_id = await self.hs.send_state(msg.room_id, msg.event_type, msg.content,
                                                    msg.state_key, as_user=msg.sender)
            else:
                event_id = None
                if msg.attempts:
                    event_id = await self._find_sent(msg)
                if event_id is None:
                    content = {**msg.content, MARKER: msg.key}
                    event_id = await intent.send_message_event(
                        room, EventType.find(msg.event_type, EventType.Class.MESSAGE), content,
                        txn_id=msg.txn_id, ensure_joined=False)
        except MLimitExceeded as exc:
            await outbox.mark_failed(self.store, msg, f"rate limited: {exc.message}", permanent=False)
            return
        except MatrixRequestError as exc:
            permanent = 400 <= exc.http_status < 500 and exc.http_status not in (404, 408, 429)
            await outbox.mark_failed(self.store, msg, f"{exc.http_status} {exc.errcode}: "
                                     f"{exc.message}", permanent=permanent)
            return
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            await outbox.mark_failed(self.store, msg, f"homeserver unreachable: {exc}",
                                     permanent=False)
            return
        await outbox.mark_sent(self.store, msg.id, str(event_id))
        self.delivered += 1

    async def _find_sent(self, msg: outbox.Pending) -> str | None:
        """An earlier attempt may have landed: look for our marker among recent events."""
        sender = msg.sender or self.hs.bot_mxid
        resp = await self.hs.request(
            Method.GET, Path.v3.rooms[msg.room_id].messages,
            query={"dir": "b", "limit": "100", "filter": f'{{"senders":["{sender}"]}}'})
        for ev in resp.get("chunk", []):
            if ev.get("content", {}).get(MARKER) == msg.key:
                return ev["event_id"]
        return None
