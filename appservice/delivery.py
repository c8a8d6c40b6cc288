"""The Matrix channel's sender (council/outbox/matrix.py): exactly once, in order per room, in
the outbox's one sender shape (council/outbox/sender.py) and retry policy.

Each room with due messages gets a lane: a task that sends the room's messages one after another,
a batch (up to BATCH) at a time, and stops at the first one not delivered (order is kept). The
attempts of a batch are recorded in one commit before any of it is sent; while it is being sent,
one commit records what the batch before it came to (event ids, failures) and the attempts of the
batch after it. So a message costs a fraction of a commit instead of two, the room's sends never
wait for the store between batches, and a room never waits for another room's messages (no
round that ends with its slowest room). A round starts lanes for the rooms that have none, then
waits until a lane ends or something new is written (a poke).

If the process dies between a send and the record of its result, the next attempt first looks in
the room for an event carrying the message's key (`ua.kabinet.outbox`), so a restart never posts
it twice, even when the homeserver's own transaction-id cache has been lost too. Messages of a
batch that were never tried (their room stopped at an earlier one) get their attempt count back.

Every request takes one of the homeserver's `concurrency` slots while it is in flight, not for a
room's whole sequence; files go up ahead of their message's turn (at most half the slots, each
file once, the same bytes for the sitting and the commission room).

A homeserver outage is not the messages' fault: it pauses all delivery (not counted against any
message) until the homeserver answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
from mautrix.api import Method, Path
from mautrix.appservice import IntentAPI
from mautrix.errors import MatrixRequestError, MLimitExceeded
from mautrix.types import EventType, RoomID

from appservice.homeserver import Homeserver
from appservice.uploads import Uploads
from council import outbox
from council import rooms as registry
from council.files.blobs import BlobStore
from council.outbox.sender import Sender
from council.store import Store

log = logging.getLogger(__name__)

MARKER = "ua.kabinet.outbox"
REDACTION = "m.room.redaction"  # such a row redacts content["redacts"] (see _redact)


WAIT_FOR_REFERENCE = 1.0  # seconds before looking again for a room or an earlier message
BATCH = 16  # a room's messages whose attempts (and then results) are recorded in one commit
# While lanes are busy, rooms without one are looked for at most this often (seconds): every
# commit that queues a message pokes delivery, and a busy sitting room's 100 drafts would
# otherwise mean 100 scans of the whole outbox that find only rooms already served.
RESCAN = 0.2


@dataclass
class _Run:
    """A batch of one room's messages, sent one after another by the room's lane."""

    room_id: str  # the real room id
    messages: list[outbox.Pending]
    event_ids: dict[str, str]  # outbox key -> event id: referenced earlier messages, the lane's own
    results: outbox.Results = field(default_factory=outbox.Results)
    recent: dict[str, dict[str, str]] = field(default_factory=dict)  # sender -> marker -> event id
    complete: bool = False  # every message of the batch is in the room


def _ready(queue: list[outbox.Pending], event_ids: dict[str, str], sending: Iterable[str] = ()
           ) -> tuple[list[outbox.Pending], dict[int, float]]:
    """The head of a room's queue that can go now: it ends before a message that refers to one
    neither sent nor earlier in the room's lane (`sending`, then the batch), which waits a
    little (not an attempt)."""
    ready: list[outbox.Pending] = []
    earlier: set[str] = set(sending)
    for msg in queue:
        if any(r not in event_ids and r not in earlier for r in msg.refs):
            return ready, {msg.id: WAIT_FOR_REFERENCE}
        ready.append(msg)
        earlier.add(msg.key)
    return ready, {}


def _reraise(lanes: Iterable[asyncio.Future[Any]]) -> None:
    """What only a lane's end can raise (it handles every Exception): KeyboardInterrupt, a
    SystemExit, a test's stand-in for a process that dies."""
    for lane in lanes:
        exc = None if lane.cancelled() else lane.exception()
        if exc is not None:
            raise exc


def _with_media(messages: list[outbox.Pending], mxc: dict[int, str]) -> list[outbox.Pending]:
    """The messages with the media mxc stored since they were read (by the pre-upload)."""
    return [replace(m, media_mxc=mxc[m.id]) if m.id in mxc else m for m in messages]


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
        self._starting = asyncio.Lock()  # one starter at a time: never two lanes for a room
        self._lanes: dict[str, asyncio.Task[None]] = {}  # room (as its rows name it) -> its lane
        self._runs: dict[str, _Run] = {}  # room -> the batch its lane is sending
        self.uploads = Uploads(hs, blobs)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="outbox-delivery")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._cancel_all()

    async def _cancel_all(self) -> None:
        """Stop every lane and upload (the process stops, or may have lost the lead): their
        batches stay attempted, which the next attempt looks for in the room."""
        lanes = list(self._lanes.values())
        for lane in lanes:
            lane.cancel()
        await asyncio.gather(*lanes, return_exceptions=True)
        await self.uploads.cancel()

    async def round(self) -> bool:
        """Start lanes for the rooms with due messages and none yet, then wait until a lane
        ends or a poke says something was written (and RESCAN has passed): the next round
        looks again."""
        try:
            worked = await self._start_lanes()
            if self._lanes:
                worked = True
                scanned = asyncio.get_running_loop().time()
                poke = asyncio.create_task(self._wake.wait())
                try:
                    done, _ = await asyncio.wait({poke, *self._lanes.values()},
                                                 return_when=asyncio.FIRST_COMPLETED)
                finally:
                    poke.cancel()
                _reraise(done - {poke})
                await asyncio.sleep(scanned + RESCAN - asyncio.get_running_loop().time())
        except asyncio.CancelledError:
            await self._cancel_all()
            raise
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
        """Send what is due, each room's queue to its end or to its first message not
        delivered, and wait until no lane is left; True if this call attempted anything."""
        try:
            worked = await self._start_lanes()
            while self._lanes:
                _reraise((await asyncio.wait(set(self._lanes.values())))[0])
        except asyncio.CancelledError:
            await self._cancel_all()
            raise
        return worked

    async def due(self) -> Sequence[outbox.Pending]:
        """The due messages of rooms without a lane (a lane takes its room's next ones itself)."""
        return await outbox.due(self.store, limit=self.hs.concurrency * 8, per_room=BATCH,
                                skip=set(self._lanes))

    async def _start_lanes(self) -> bool:
        async with self._starting:
            messages = await self.due()
            if not messages:
                return False
            runs, deferred = await self._plan(messages)
            mxc = await outbox.record(self.store, outbox.Results(
                attempted=[m.id for run in runs.values() for m in run.messages], deferred=deferred))
            for room, run in runs.items():
                run.messages = _with_media(run.messages, mxc)
                self._lanes[room] = asyncio.create_task(self._lane(room, run), name="outbox-lane")
            return True

    async def _plan(self, messages: Sequence[outbox.Pending]
                    ) -> tuple[dict[str, _Run], dict[int, float]]:
        """Each room's first batch, with its room and references resolved from the store once
        for all of them. A room not created yet waits a little (not an attempt)."""
        by_room: dict[str, list[outbox.Pending]] = {}
        for msg in messages:
            by_room.setdefault(msg.room_id, []).append(msg)
        wanted = {r.removeprefix(outbox.ROOM_REF) for r in by_room if r.startswith(outbox.ROOM_REF)}
        room_ids = await registry.room_ids(self.store, wanted) if wanted else {}
        event_ids = await outbox.sent_event_ids(self.store, {r for m in messages for r in m.refs})
        runs: dict[str, _Run] = {}
        deferred: dict[int, float] = {}
        for room, queue in by_room.items():
            room_id = (room_ids.get(room.removeprefix(outbox.ROOM_REF))
                       if room.startswith(outbox.ROOM_REF) else room)
            if room_id is None:
                deferred[queue[0].id] = WAIT_FOR_REFERENCE
                continue
            ready, waiting = _ready(queue, event_ids)
            deferred.update(waiting)
            if ready:
                runs[room] = _Run(room_id, ready, dict(event_ids))
        return runs, deferred

    async def _lane(self, room: str, run: _Run) -> None:
        """The room's batches one after another. While one is being sent, a single commit
        records what the batch before it came to and the attempts of the batch after it, so
        the room's sends do not wait for the store between batches; the last batch's results
        are recorded with a last look for what came in meanwhile."""
        before: _Run | None = None  # sent, what it came to not recorded yet
        current: _Run | None = run
        try:
            while current is not None:
                self._runs[room] = current
                # (a short first batch was all the room had: no need to look ahead)
                ahead = (asyncio.create_task(self._step(room, before, current))
                         if before is not None or len(current.messages) == BATCH else None)
                try:
                    await self._deliver_in_order(current)
                except BaseException:
                    if ahead is not None:
                        ahead.cancel()
                    raise
                after = await ahead if ahead is not None else None  # `before` is recorded
                if not current.complete:
                    if after is not None:  # never tried: not an attempt
                        current.results.untried.update({m.id: m.attempts for m in after.messages})
                    await outbox.record(self.store, current.results)
                    return
                if after is None:
                    before, current = None, await self._step(room, current, current)
                else:
                    before, current = current, after
        except Exception:  # the database: the batch stays attempted; a later round takes it up
            log.warning("outbox lane stopped; its messages will be retried", exc_info=True)
        finally:
            self._runs.pop(room, None)
            self._lanes.pop(room, None)

    async def _step(self, room: str, before: _Run | None, current: _Run) -> _Run | None:
        """One commit: the results of the batch `before` and the attempts of the room's batch
        after `current` (which is being sent); that batch, or None if nothing more is due."""
        sending = {m.key for m in current.messages}
        async with self.store.session() as s:
            if before is not None:
                await outbox.write(s, before.results)
            queue = await outbox.due_in(s, BATCH, per_room=BATCH, room=room,
                                        after=current.messages[-1].id)
            missing = {r for m in queue for r in m.refs} - current.event_ids.keys() - sending
            current.event_ids.update(await outbox.sent_event_ids_in(s, missing))
            ready, deferred = _ready(queue, current.event_ids, sending)
            mxc = await outbox.write(s, outbox.Results(attempted=[m.id for m in ready],
                                                       deferred=deferred))
        return _Run(current.room_id, _with_media(ready, mxc), current.event_ids) if ready else None

    async def _deliver_in_order(self, run: _Run) -> None:
        for msg in run.messages:  # files go up ahead, while the messages before them are sent
            if msg.media is not None and msg.media_mxc is None:
                self.uploads.ahead(msg.media)
        reached = 0
        for msg in run.messages:
            reached += 1
            if not await self.send_one(msg):
                break
        else:
            run.complete = True
        for msg in run.messages[reached:]:
            run.results.untried[msg.id] = msg.attempts
            if msg.media is not None and msg.media.sha256 in self.uploads.done:
                run.results.files[msg.media.sha256] = self.uploads.done[msg.media.sha256]

    async def failed(self, msg: outbox.Pending, exc: Exception) -> None:
        self._runs[msg.room_id].results.failed[msg.id] = (
            msg.attempts + 1, f"{type(exc).__name__}: {exc}", False)

    async def send(self, msg: outbox.Pending) -> bool:
        """Send one message of its room's batch; True if it is now in the room. What came of it
        goes into the batch's results, recorded when the batch is done."""
        run = self._runs[msg.room_id]
        results = run.results
        intent = self.hs.ghost(msg.sender) if msg.sender else self.hs.bot
        content = outbox.resolve_refs(msg.content, run.event_ids)
        try:
            if msg.media is not None:
                mxc = msg.media_mxc
                if mxc is None:  # remembered, so a retry sends the same file
                    mxc = results.files[msg.media.sha256] = await self.uploads.url(msg.media)
                content = {**content, "url": mxc}
            if msg.state_key is not None:
                event_id = await self.hs.limited(self.hs.send_state(
                    run.room_id, msg.event_type, content, msg.state_key, as_user=msg.sender))
            else:
                event_id = None
                if msg.attempts:
                    event_id = await self._find_sent(msg, run)
                if event_id is None and msg.event_type == REDACTION:
                    event_id = await self.hs.limited(self._redact(intent, run.room_id, content, msg))
                elif event_id is None:
                    event_id = await self.hs.limited(intent.send_message_event(
                        RoomID(run.room_id), EventType.find(msg.event_type, EventType.Class.MESSAGE),
                        {**content, MARKER: msg.key}, txn_id=msg.txn_id, ensure_joined=False))
        except MLimitExceeded as exc:
            results.failed[msg.id] = (msg.attempts + 1, f"rate limited: {exc.message}", False)
            return False
        except MatrixRequestError as exc:
            permanent = 400 <= exc.http_status < 500 and exc.http_status not in (404, 408, 429)
            results.failed[msg.id] = (msg.attempts + 1, f"{exc.http_status} {exc.errcode}: "
                                      f"{exc.message}", permanent)
            return False
        except (aiohttp.ClientError, TimeoutError, OSError):
            # Not counted against the message: retried as soon as the homeserver is back.
            self._outage = True
            results.deferred[msg.id] = 0
            return False
        results.sent[msg.id] = run.event_ids[msg.key] = str(event_id)
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

    async def _find_sent(self, msg: outbox.Pending, run: _Run) -> str | None:
        """An earlier attempt may have landed: look for our marker among the sender's recent
        events in the room (read once per batch and sender: after a crash, a whole batch of
        the room may be waiting to be looked for)."""
        sender = msg.sender or self.hs.bot_mxid
        if sender not in run.recent:
            resp = await self.hs.limited(self.hs.request(
                Method.GET, Path.v3.rooms[run.room_id].messages,
                query={"dir": "b", "limit": "100", "filter": f'{{"senders":["{sender}"]}}'}))
            recent = run.recent[sender] = {}
            for ev in resp.get("chunk", []):  # newest first
                key = ev.get("content", {}).get(MARKER)
                if isinstance(key, str):
                    recent.setdefault(key, ev["event_id"])
        return run.recent[sender].get(msg.key)
