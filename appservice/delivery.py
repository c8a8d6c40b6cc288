"""The Matrix channel's sender (council/outbox/matrix.py): exactly once, in order per room, in
the outbox's one sender shape (council/outbox/sender.py) and retry policy.

Before sending, a message is marked as attempted. If the process dies between the
send and `mark_sent`, the next attempt first looks in the room for an event carrying
the message's key (`ua.kabinet.outbox`), so a restart never posts it twice, even when
the homeserver's own transaction-id cache has been lost too.

A homeserver outage is not the messages' fault: it pauses all delivery (not counted against any
message) until the homeserver answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import aiohttp
from mautrix.api import Method, Path
from mautrix.appservice import IntentAPI
from mautrix.errors import MatrixRequestError, MLimitExceeded
from mautrix.types import EventType, RoomID

from appservice.homeserver import Homeserver
from council import outbox
from council import rooms as registry
from council.files.blobs import BlobStore
from council.outbox.sender import Sender
from council.store import Store

log = logging.getLogger(__name__)

MARKER = "ua.kabinet.outbox"
REDACTION = "m.room.redaction"  # such a row redacts content["redacts"] (see _redact)


WAIT_FOR_REFERENCE = 1.0  # seconds before looking again for a room or an earlier message
PER_ROOM_PER_ROUND = 16  # a busy room (a sitting with 100 drafts) drains in a few rounds


class Delivery(Sender[outbox.Pending]):
    log = log
    row_name = "outbox message"

    def __init__(self, hs: Homeserver, store: Store, blobs: BlobStore | None = None, *,
                 idle: float = 2.0) -> None:
        self.hs = hs
        self.store = store
        self.blobs = blobs
        super().__init__(idle)
        self._task: asyncio.Task[None] | None = None
        self._outage = False
        self.delivered = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="outbox-delivery")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def round(self) -> bool:
        worked = await self.drain_once()
        if self._outage:
            await self._wait_until_reachable()
        return worked

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
        """Send what is due (the Sender's round); True if anything was attempted."""
        return await super().round()

    async def due(self) -> Sequence[outbox.Pending]:
        return await outbox.due(self.store, limit=self.hs.concurrency * 8, per_room=PER_ROOM_PER_ROUND)

    async def send_all(self, messages: Sequence[outbox.Pending]) -> None:
        """Rooms are served in parallel; within a room, its messages go one after another and
        the room's sequence stops at the first one not delivered (order is kept)."""
        by_room: dict[str, list[outbox.Pending]] = {}
        for msg in messages:
            by_room.setdefault(msg.room_id, []).append(msg)
        await asyncio.gather(*(self.hs.limited(self._deliver_in_order(msgs))
                               for msgs in by_room.values()))

    async def _deliver_in_order(self, messages: list[outbox.Pending]) -> None:
        for msg in messages:
            if not await self.send_one(msg):
                return

    async def failed(self, msg: outbox.Pending, exc: Exception) -> None:
        await outbox.mark_failed(self.store, msg, f"{type(exc).__name__}: {exc}", permanent=False)

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

    async def _upload(self, msg: outbox.Pending, content: dict, data: bytes) -> dict:
        assert msg.media is not None
        mxc = msg.media_mxc
        if mxc is None:
            mxc = str(await self.hs.bot.upload_media(data, mime_type=msg.media.mimetype,
                                                     filename=msg.media.name, size=len(data)))
            await outbox.save_media_mxc(self.store, msg.id, mxc)
        return {**content, "url": mxc}

    def _media(self, msg: outbox.Pending) -> bytes:
        """The file to upload (none if uploaded before). Read before the send: a missing blob is
        this message's failure, not a homeserver outage."""
        if msg.media is None or msg.media_mxc is not None:
            return b""
        if self.blobs is None:
            raise RuntimeError("a message with media but no blob store")
        return self.blobs.read(msg.media.sha256)

    async def send(self, msg: outbox.Pending) -> bool:
        """Send one message; True if it is now in the room."""
        intent = self.hs.ghost(msg.sender) if msg.sender else self.hs.bot
        resolved = await self._resolve(msg)
        if resolved is None:
            await outbox.defer(self.store, msg.id, WAIT_FOR_REFERENCE)
            return False
        room_id, content = resolved
        data = self._media(msg)
        await outbox.mark_attempt(self.store, msg.id)
        try:
            if msg.media is not None:
                content = await self._upload(msg, content, data)
            if msg.state_key is not None:
                event_id = await self.hs.send_state(room_id, msg.event_type, content,
                                                    msg.state_key, as_user=msg.sender)
            else:
                event_id = None
                if msg.attempts:
                    event_id = await self._find_sent(msg, room_id)
                if event_id is None and msg.event_type == REDACTION:
                    event_id = await self._redact(intent, room_id, content, msg)
                elif event_id is None:
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

    async def _redact(self, intent: IntentAPI, room_id: str, content: dict, msg: outbox.Pending
                      ) -> str:
        """A row of type m.room.redaction, content {"redacts": <event id or $outbox: ref>,
        "reason": …}: sent with the redact API (the only way a client may redact), under the
        row's own transaction id, so a retry is deduplicated like any message."""
        rest = {k: v for k, v in content.items() if k != "redacts"}
        resp = await intent.api.request(
            Method.PUT, Path.v3.rooms[room_id].redact[content["redacts"]][msg.txn_id],
            {**rest, MARKER: msg.key})
        return str(resp["event_id"])

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
