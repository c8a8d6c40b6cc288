"""The appservice's HTTP side: transactions in, each event handled once, none held by another.

Built on mautrix's AppServiceServerMixin (routes, ping, user/alias queries, event
types); Kabinet changes four things: the hs_token is compared in constant time and a
wrong one is a 403 M_FORBIDDEN (spec); events are de-duplicated by their persisted ids,
never by transaction id (the embedded Synapse numbers transactions from 1 again after a
restart); an event whose handler fails is recorded and retried alone (council/inbox.py)
while the transaction succeeds for the rest; and a transaction is accepted up to what the
homeserver may legitimately send after an outage (100 events of up to 64 KiB, plus
ephemeral ones), above the web site's own body limit.

Events sent by our own users (the bot, the ghosts) are skipped, except the types a handler
lists in `own_event_types`: those reach that handler only. The votes use it as a barrier: the
homeserver sends events in stream order, so when the bot's own poll end comes back, every
response sent before it has already been handled.

Every state event, our own included, also feeds the room-state cache (council/roomstate.py), in
one unit of work per transaction before it is answered (handlers claim events one by one, and
skip most state events: the cache de-duplicates by event id on its own). If the cache cannot
take them, their rooms are marked incomplete (read in full by the next apply); if even that
fails, the transaction fails and the homeserver retries it. The cache misses no event unnoticed.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from mautrix.appservice.as_handler import AppServiceServerMixin
from mautrix.types import JSON, Event, SerializerError
from sqlalchemy.ext.asyncio import AsyncSession

from council import inbox, outbox, roomstate
from council.language import ngettext
from council.metrics import NO_METRICS, Metrics
from council.store import Store, unavailable
from council.worker import Trouble, Worker

log = logging.getLogger(__name__)

# A handler runs inside the unit of work that claims the event: what it writes (outbox
# rows, records) commits together with the claim, or not at all. A handler may declare
# `event_types` (a frozenset); events of no declared type are skipped without a database
# write — provisioning a council makes ~9,000 membership events nobody acts on.
EventHandler = Callable[[Event, AsyncSession], Awaitable[None]]

# 100 PDUs of at most 64 KiB each (the spec's event size limit) plus ephemeral events and
# JSON overhead stay well below this; the web site's 2 MiB limit would refuse a legitimate
# transaction, and a refused transaction is retried forever and stalls every room.
MAX_TRANSACTION_BYTES = 32 * 1024 * 1024

PRUNE_SEEN_EVERY = 3600.0  # seconds between prunings of the cache's seen event ids


def failure_notice(parked: bool) -> str:
    """What the sender of a message the bot could not handle is told: on the first failure (it
    will be retried), and once the retries are used up (parked)."""
    n = inbox.MAX_ATTEMPTS
    if parked:
        return "⛔ " + ngettext(
            "The bot gave up on this message after {n} attempt; the administrator can see it in "
            "/healthz. Please try another way or ask the secretariat.",
            "The bot gave up on this message after {n} attempts; the administrator can see it in "
            "/healthz. Please try another way or ask the secretariat.", n)
    return "⚠️ " + ngettext(
        "The bot could not handle this message because of an internal error. It has been "
        "recorded, and the bot will try again automatically (up to {n} attempt). Other messages "
        "are not held up by it.",
        "The bot could not handle this message because of an internal error. It has been "
        "recorded, and the bot will try again automatically (up to {n} attempts). Other messages "
        "are not held up by it.", n)


def _wanted(handler: EventHandler, event_type: str, own: bool) -> bool:
    if own:  # our own events only where asked for by type (see the module docstring)
        return event_type in getattr(handler, "own_event_types", frozenset())
    types = getattr(handler, "event_types", None)
    return types is None or event_type in types


def matrix_error(status: int, errcode: str, error: str) -> web.HTTPException:
    cls = web.HTTPException if status not in _STATUS else _STATUS[status]
    return cls(content_type="application/json", text=json.dumps({"errcode": errcode, "error": error}))


_STATUS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden,
    500: web.HTTPInternalServerError, 503: web.HTTPServiceUnavailable,
}

STORE_AWAY = "Kabinet's database is unavailable; retry later"


class StoreAway(Exception):
    """The store cannot be reached: the transaction is refused whole (the homeserver retries
    it) and no event is charged an attempt for it."""


class TransactionServer(AppServiceServerMixin):
    def __init__(self, store: Store, hs_token: str, *, on_handled: Callable[[], None] = lambda: None,
                 own_users: Callable[[str], bool] = lambda _: False,
                 metrics: Metrics = NO_METRICS) -> None:
        super().__init__(hs_token=hs_token, log=log)
        self.store = store
        self.metrics = metrics  # transactions by outcome, failed events (council/metrics.py)
        # Our own events (the bot's, the ghosts') coming back: skipped unless a handler lists
        # their type in `own_event_types`; a sitting with 100 drafts would otherwise cost 200
        # claims in the store.
        self.own_users = own_users
        self.handlers: list[EventHandler] = []
        self.on_handled = on_handled
        self.events_handled = 0
        self._pruned = 0.0  # time.monotonic() of the last pruning of the cache's seen ids
        # A database outage refuses every transaction the homeserver retries meanwhile: said
        # once with its traceback, then every few minutes, and when it is over (not per retry).
        self.store_trouble = Trouble("appservice transactions", "transactions")

    def web_app(self) -> web.Application:
        app = web.Application()
        self.register_routes(app)
        return app

    def _token(self, request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth.removeprefix("Bearer ")
        return request.rel_url.query.get("access_token")

    def _check_token(self, request: web.Request) -> bool:
        token = self._token(request)
        return token is not None and hmac.compare_digest(token.encode(), self.hs_token.encode())

    def _authorize(self, request: web.Request) -> None:
        if self._token(request) is None:
            raise matrix_error(401, "M_MISSING_TOKEN", "Missing access token")
        if not self._check_token(request):
            raise matrix_error(403, "M_FORBIDDEN", "Invalid hs_token")

    async def _http_ping(self, request: web.Request) -> web.Response:
        self._authorize(request)
        return await super()._http_ping(request)

    async def _http_handle_transaction(self, request: web.Request) -> web.Response:
        try:
            response = await self._transaction(request)
        except Exception as exc:
            refused = isinstance(exc, web.HTTPException) and exc.status < 500
            self.metrics.transaction("refused" if refused else "failed")
            raise
        self.metrics.transaction("handled")
        return response

    async def _transaction(self, request: web.Request) -> web.Response:
        self._authorize(request)
        events = await self._read_events(request)
        try:
            await self._cache_state(events)
            for raw in events:
                if isinstance(raw, dict):
                    await self._handle_alone(raw)
        except StoreAway as away:
            self.store_trouble.failed(away.__cause__ or away, "the database is unavailable; "
                                      "transactions are refused until it is back (the homeserver "
                                      "retries them)")
            raise matrix_error(503, "M_UNKNOWN", STORE_AWAY) from None
        self.store_trouble.recovered()
        self.on_handled()
        return web.json_response({})

    async def _read_events(self, request: web.Request) -> list[Any]:
        try:
            body = json.loads(await request.clone(client_max_size=MAX_TRANSACTION_BYTES).read())
            events = body["events"]
            if not isinstance(events, list):
                raise TypeError
        except (ValueError, KeyError, TypeError, RecursionError, web.RequestPayloadError,
                BadHttpMessage):  # not JSON, too deep, or a body that cannot be decoded
            raise matrix_error(400, "M_BAD_JSON", "Body must be JSON with an events list") from None
        return events

    async def _cache_state(self, events: list[Any]) -> None:
        """The transaction's state events into the room-state cache, one unit of work. A write
        that fails marks the rooms incomplete instead (their next apply reads them in full), so
        one event the cache cannot take does not hold the stream; only when that fails too (the
        store is down) is the transaction refused, for the homeserver to retry."""
        touched = {e["room_id"] for e in events if roomstate.is_state_event(e)}
        touched |= {e["room_id"] for e in events if isinstance(e, dict)
                    and e.get("type") == "m.room.redaction" and isinstance(e.get("room_id"), str)}
        if not touched:  # messages only: no database write
            return
        try:
            async with self.store.session() as session:
                await roomstate.apply_events(session, events)
                if time.monotonic() - self._pruned > PRUNE_SEEN_EVERY:
                    await roomstate.prune_seen(session)
                    self._pruned = time.monotonic()
            return
        except Exception as exc:
            if unavailable(exc):
                raise StoreAway from exc
            log.exception("the room-state cache could not take a transaction; its %d rooms will "
                          "be read in full", len(touched))
        try:
            async with self.store.session() as session:
                await roomstate.mark_incomplete(session, touched)
        except Exception:
            log.exception("the room-state cache could not be told either; the homeserver will "
                          "retry the transaction")
            raise matrix_error(500, "M_UNKNOWN", "Transaction not handled, retry later") from None

    async def _handle_alone(self, raw: dict[str, Any]) -> bool:
        """Handle one event; a failure is recorded for a later retry instead of failing the
        transaction. False if it failed. Only when the failure cannot even be recorded (the
        store is down) does the transaction fail, so that the homeserver retries it."""
        try:
            await self._handle(raw)
            return True
        except Exception as exc:
            if unavailable(exc):  # not this event's fault: nothing to record, nothing to count
                raise StoreAway from exc
            self.metrics.event_failed()
            try:
                await self._record_failure(raw, exc)
            except Exception:
                log.exception("event %s failed and could not be recorded; the homeserver will "
                              "retry the transaction", raw.get("event_id"))
                raise matrix_error(500, "M_UNKNOWN", "Transaction not handled, retry later") from None
            return False

    async def _record_failure(self, raw: dict[str, Any], exc: Exception) -> None:
        event_id = str(raw.get("event_id"))
        async with self.store.session() as session:
            failure = await inbox.record_failure(session, raw, f"{type(exc).__name__}: {exc}")
            if raw.get("type") == "m.room.message" and (failure.first or failure.parked):
                await self._tell_sender(session, raw, failure)
        # The traceback without the exception's message: that may quote what a person wrote.
        log.error("event %s: a handler failed with %s (attempt %d of %d); %s\n%s", event_id,
                  type(exc).__name__, failure.attempts, inbox.MAX_ATTEMPTS,
                  "parked" if failure.parked else "will retry",
                  "".join(traceback.format_tb(exc.__traceback__)).rstrip())

    async def _tell_sender(self, session: AsyncSession, raw: dict[str, Any],
                           failure: inbox.Failure) -> None:
        """A notice in the message's thread, so the person knows their command did not run."""
        event_id = str(raw["event_id"])
        relates = (raw.get("content") or {}).get("m.relates_to") or {}
        thread = relates.get("event_id") if relates.get("rel_type") == "m.thread" else event_id
        text = failure_notice(failure.parked)
        await outbox.enqueue(
            session, f"failed:{event_id}:{'parked' if failure.parked else 'first'}",
            str(raw["room_id"]), "m.room.message",
            {"msgtype": "m.notice", "body": text,
             "m.relates_to": {"rel_type": "m.thread", "event_id": thread, "is_falling_back": True,
                              "m.in_reply_to": {"event_id": event_id}}})

    async def retry_failed(self) -> bool:
        """Run the failed events that are due again; True if there were any."""
        due = await inbox.due_failures(self.store)
        for raw in due:
            if await self._handle_alone(raw):
                async with self.store.session() as session:
                    await inbox.forget_failure(session, str(raw["event_id"]))
        if due:
            self.on_handled()
        return bool(due)

    async def _handle(self, raw: dict[str, Any]) -> None:
        event_id, room_id = raw.get("event_id"), raw.get("room_id")
        if not isinstance(event_id, str) or not isinstance(room_id, str):
            return
        own = self.own_users(str(raw.get("sender")))
        handlers = [h for h in self.handlers if _wanted(h, str(raw.get("type")), own)]
        if not handlers:
            return
        try:
            self._fix_prev_content(cast(JSON, raw))
            event = Event.deserialize(raw)
        except SerializerError:
            log.warning("skipping an event that does not deserialize: %s", event_id)
            return
        async with self.store.session() as session:
            if not await inbox.claim_event(session, event_id, room_id, raw.get("type", "")):
                return
            for handler in handlers:
                await handler(event, session)
        self.events_handled += 1


class FailedEventRetries(Worker):
    """Retries failed events when they are due (council/inbox.py sets the backoff)."""

    def __init__(self, server: TransactionServer, *, idle: float = 5.0) -> None:
        super().__init__(idle)
        self.server = server

    async def round(self) -> bool:
        return await self.server.retry_failed()
