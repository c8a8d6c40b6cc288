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

from appservice.homeserver import Homeserver
from council import outbox
from council import rooms as registry
from council.files.blobs import BlobStore
from council.store import Store

log = logging.getLogger(__name__)

MARKER = "ua.kabinet.outbox"


WAIT_FOR_REFERENCE = 1.0  # seconds before looking again for a room or an earlier message
PER_ROOM_PER_ROUND = 16  # a busy room (a sitting with 100 drafts) drains in a few rounds


class Delivery:
    def __init__(self, hs: Homeserver, store: Store, blobs: BlobStore | None = None, *,
                 idle: float = 2.0) -> None:
        self.hs = hs
        self.store = store
        self.blobs = blobs
        self.idle = idle
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._outage = False
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
            if self._outage:
                await self._wait_until_reachable()
            elif not worked:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle)

    async def _wait_until_reachable(self) -> None:
        """An outage is not the messages' fault: pause all delivery, probe the homeserver with
        backoff (0.5 s … 15 s) and resume at once when it answers."""
        delay = 0.5
        log.warning("homeserver unreachable; outbox delivery paused")
        while not await self.hs.reachable():
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)
        self._outage = False
        log.warning("homeserver reachable again; outbox delivery resumed")

    async def drain_once(self) -> bool:
        """Send what is due; True if anything was attempted.

        Rooms are served in parallel; within a room, its messages go one after another and
        the room's sequence stops at the first one not delivered (order is kept)."""
        batch = await outbox.due(self.store, limit=self.hs.concurrency * 8,
                                 per_room=PER_ROOM_PER_ROUND)
        by_room: dict[str, list[outbox.Pending]] = {}
        for msg in batch:
            by_room.setdefault(msg.room_id, []).append(msg)
        if by_room:
            await asyncio.gather(*(self.hs.limited(self._deliver_in_order(msgs))
                                   for msgs in by_room.values()))
        return bool(batch)

    async def _deliver_in_order(self, messages: list[outbox.Pending]) -> None:
        for msg in messages:
            if not await self._deliver(msg):
                return

    async def _resolve(self, msg: outbox.Pending) -> tuple[str, dict] | None:
        """The real room id and content, or None while a referenced room or message is missing."""
        room_id = msg.room_id
        if room_id.startswith(outbox.ROOM_REF):
            found = await registry.room_id(self.store, room_id.removeprefix(outbox.ROOM_REF))
            if found is None:
                return None
            room_id = found
        event_ids = await outbox.sent_event_ids(self.store, list(msg.refs))
        if len(event_ids) < len(set(msg.refs)):
            return None
        return room_id, outbox.resolve_refs(msg.content, event_ids)

    async def _upload(self, msg: outbox.Pending, content: dict) -> dict:
        assert msg.media is not None
        mxc = msg.media_mxc
        if mxc is None:
            if self.blobs is None:
                raise RuntimeError("a message with media but no blob store")
            data = self.blobs.read(msg.media.sha256)
            mxc = str(await self.hs.bot.upload_media(data, mime_type=msg.media.mimetype,
                                                     filename=msg.media.name, size=len(data)))
            await outbox.save_media_mxc(self.store, msg.id, mxc)
        return {**content, "url": mxc}

    async def _deliver(self, msg: outbox.Pending) -> bool:
        """Send one message; True if it is now in the room."""
        intent = self.hs.ghost(msg.sender) if msg.sender else self.hs.bot
        resolved = await self._resolve(msg)
        if resolved is None:
            await outbox.defer(self.store, msg.id, WAIT_FOR_REFERENCE)
            return False
        room_id, content = resolved
        await outbox.mark_attempt(self.store, msg.id)
        try:
            if msg.media is not None:
                content = await self._upload(msg, content)
            if msg.state_key is not None:
                event_id = await self.hs.send_state(room_id, msg.event_type, content,
                                                    msg.state_key, as_user=msg.sender)
            else:
                event_id = None
                if msg.attempts:
                    event_id = await self._find_sent(msg, room_id)
                if event_id is None:
                    event_id = await intent.send_message_event(
                        RoomID(room_id), EventType.find(msg.event_type, EventType.Class.MESSAGE),
                        {**content, MARKER: msg.key}, txn_id=msg.txn_id, ensure_joined=False)
        except MLimitExceeded as exc:
            await outbox.mark_failed(self.store, msg, f"rate limited: {exc.message}", permanent=False)
            return False
        except MatrixRequestError as exc:
            permanent = 400 <= exc.http_status < 500 and exc.http_status not in (404, 408, 429)
            await outbox.mark_failed(self.store, msg, f"{exc.http_status} {exc.errcode}: "
                                     f"{exc.message}", permanent=permanent)
            return False
        except (aiohttp.ClientError, TimeoutError, OSError):
            # Not counted against the message: retried as soon as the homeserver is back.
            self._outage = True
            await outbox.defer(self.store, msg.id, 0)
            return False
        await outbox.mark_sent(self.store, msg.id, str(event_id))
        self.delivered += 1
        return True

    async def _find_sent(self, msg: outbox.Pending, room_id: str) -> str | None:
        """An earlier attempt may have landed: look for our marker among recent events."""
        sender = msg.sender or self.hs.bot_mxid
        resp = await self.hs.request(
            Method.GET, Path.v3.rooms[room_id].messages,
            query={"dir": "b", "limit": "100", "filter": f'{{"senders":["{sender}"]}}'})
        for ev in resp.get("chunk", []):
            if ev.get("content", {}).get(MARKER) == msg.key:
                return ev["event_id"]
        return None
