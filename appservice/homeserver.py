"""The appservice's connection to the homeserver: mautrix's AppServiceAPI and the bot's IntentAPI.

Every request is counted (writes separately) through an aiohttp trace, so tests and
benchmarks can check that an unchanged roster writes nothing.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Coroutine, Iterable
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import aiohttp
from mautrix.api import Method, Path
from mautrix.appservice import AppServiceAPI, IntentAPI
from mautrix.appservice.state_store import ASStateStore
from mautrix.client.state_store import MemoryStateStore
from mautrix.errors import MatrixRequestError, MNotFound
from mautrix.types import RoomAlias, RoomID, UserID
from mautrix.util.logging import TraceLogger

from council.worker import Foreground

log = logging.getLogger(__name__)
T = TypeVar("T")


class _MemoryASStateStore(MemoryStateStore, ASStateStore):
    def __init__(self) -> None:
        MemoryStateStore.__init__(self)
        ASStateStore.__init__(self)


def is_ours(mxid: str, bot_mxid: str, ghost_prefix: str) -> bool:
    """Is this the bot or one of its ghosts? The one test of "is this one of ours?".

    Ghosts are the appservice's exclusive namespace `@<ghost_prefix>.*:<server>` (the
    registration's regex): a user of another server whose name merely begins with the prefix
    is not ours."""
    if mxid == bot_mxid:
        return True
    server = bot_mxid.partition(":")[2]
    localpart, _, domain = mxid.partition(":")
    return localpart.startswith(f"@{ghost_prefix}") and domain == server


class Homeserver:
    def __init__(
        self, url: str, as_token: str, bot_localpart: str, server_name: str, *, concurrency: int = 8,
        ghost_prefix: str = "kabinet_",  # the configuration's default
        foreground: Foreground | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.as_token = as_token
        self.server_name = server_name
        self.bot_mxid = UserID(f"@{bot_localpart}:{server_name}")
        self.ghost_prefix = ghost_prefix
        self.concurrency = concurrency
        self.requests = 0
        self.writes = 0
        self._limit = asyncio.Semaphore(concurrency)
        self.foreground = foreground
        self._session: aiohttp.ClientSession | None = None
        self._api: AppServiceAPI | None = None
        self._intent: IntentAPI | None = None

    async def open(self) -> None:
        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(self._count)
        self._session = aiohttp.ClientSession(
            trace_configs=[trace], timeout=aiohttp.ClientTimeout(total=60),
            connector=aiohttp.TCPConnector(limit=self.concurrency * 2),
        )
        store = _MemoryASStateStore()
        # The bot is registered by the homeserver with the registration; never POST /register.
        await store.registered(self.bot_mxid)
        # mautrix logs whole request bodies at DEBUG; those carry citizens' names and appeal
        # texts, which must never reach a log. The floor is INFO whatever log_level says.
        mautrix_log = logging.getLogger("kabinet.mautrix")
        mautrix_log.setLevel(max(mautrix_log.getEffectiveLevel(), logging.INFO))
        self._api = AppServiceAPI(
            base_url=self.url, bot_mxid=self.bot_mxid, token=self.as_token,
            log=cast(TraceLogger, mautrix_log), state_store=store,
            client_session=self._session, default_retry_count=0,
        )
        self._intent = self._api.bot_intent()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _count(self, _s: aiohttp.ClientSession, _c: SimpleNamespace,
                     params: aiohttp.TraceRequestStartParams) -> None:
        # Every request to the homeserver passes here: the one place where background work
        # makes way for people waiting on the web site (council.worker.Foreground).
        if self.foreground is not None:
            await self.foreground.yielded()
        self.requests += 1
        if params.method != "GET":
            self.writes += 1
            log.debug("write %s %s", params.method, params.url.path)

    @property
    def bot(self) -> IntentAPI:
        if self._intent is None:
            raise RuntimeError("Homeserver.open() was not called")
        return self._intent

    def is_ours(self, mxid: str) -> bool:
        """The bot or a ghost of this appservice (their events are our own echoes)."""
        return is_ours(mxid, self.bot_mxid, self.ghost_prefix)

    def ghost(self, mxid: str) -> IntentAPI:
        """An intent masquerading as one of our ghost users (citizens)."""
        return self.bot.user(UserID(mxid))

    def share_slots(self, slots: asyncio.Semaphore) -> None:
        """Take request slots from a budget shared with other appservices on the same homeserver
        (a region's councils applied at once, kabinet/region_apply.py): one homeserver serves
        them all, and more requests in flight only make each one wait longer."""
        self._limit = slots

    async def limited(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            async with self._limit:
                return await coro
        finally:
            # Cancelled while waiting for a slot: the job never started; close it quietly.
            if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                coro.close()

    async def gather(self, jobs: Iterable[Callable[[], Coroutine[Any, Any, T]]]) -> list[T]:
        """Run jobs with at most `concurrency` requests in flight."""
        return await asyncio.gather(*(self.limited(job()) for job in jobs))

    async def request(self, method: Method, path: Any, content: Any = None,
                      query: dict[str, str] | None = None) -> Any:
        return await self.bot.api.request(method, path, content, query_params=query or {})

    async def send_state(self, room_id: str, event_type: str, content: dict[str, Any],
                         state_key: str = "", *, as_user: str | None = None) -> str:
        """PUT a state event directly. IntentAPI.send_state_event first re-reads power levels
        and the create event, and that read joins the room: a hidden write per room."""
        intent = self.ghost(as_user) if as_user else self.bot
        resp = await intent.api.request(
            Method.PUT, Path.v3.rooms[room_id].state[event_type][state_key], content)
        return resp["event_id"]

    async def room_state(self, room_id: str) -> list[dict[str, Any]]:
        return await self.request(Method.GET, Path.v3.rooms[room_id].state)

    async def resolve_alias(self, alias: str) -> str | None:
        try:
            resp = await self.request(Method.GET, Path.v3.directory.room[RoomAlias(alias)])
        except MNotFound:
            return None
        return resp["room_id"]

    async def reachable(self) -> bool:
        """Does the homeserver answer at all (GET /versions, no auth)?"""
        try:
            async with self._session.get(f"{self.url}/_matrix/client/versions",  # type: ignore[union-attr]
                                         timeout=aiohttp.ClientTimeout(total=3)) as resp:
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    async def ping(self, appservice_id: str) -> bool:
        """Ask the homeserver to ping us back (MSC2659): proves both directions work."""
        try:
            await self.bot.appservice_ping(appservice_id)
            return True
        except (MatrixRequestError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("appservice ping failed: %s", exc)
            return False

    async def joined_rooms(self) -> list[RoomID]:
        return await self.bot.get_joined_rooms()
