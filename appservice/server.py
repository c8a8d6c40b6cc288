"""The appservice's HTTP side: transactions in, handled once each.

Built on mautrix's AppServiceServerMixin (routes, ping, user/alias queries, event
types); Kabinet changes three things: the hs_token is compared in constant time and a
wrong one is a 403 M_FORBIDDEN (spec), transaction and event ids are persisted (mautrix
keeps them in memory), and a failure answers 500 so that the homeserver retries.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from mautrix.appservice.as_handler import AppServiceServerMixin
from mautrix.types import Event, SerializerError
from sqlalchemy.ext.asyncio import AsyncSession

from council import inbox
from council.store import Store

log = logging.getLogger(__name__)

# A handler runs inside the unit of work that claims the event: what it writes (outbox
# rows, records) commits together with the claim, or not at all. A handler may declare
# `event_types` (a frozenset); events of no declared type are skipped without a database
# write — provisioning a council makes ~9,000 membership events nobody acts on.
EventHandler = Callable[[Event, AsyncSession], Awaitable[None]]


def _wanted(handler: EventHandler, event_type: str) -> bool:
    types = getattr(handler, "event_types", None)
    return types is None or event_type in types


def matrix_error(status: int, errcode: str, error: str) -> web.HTTPException:
    cls = web.HTTPException if status not in _STATUS else _STATUS[status]
    return cls(content_type="application/json", text=json.dumps({"errcode": errcode, "error": error}))


_STATUS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden,
    500: web.HTTPInternalServerError,
}


class TransactionServer(AppServiceServerMixin):
    def __init__(self, store: Store, hs_token: str, *, on_handled: Callable[[], None] = lambda: None,
                 own_users: Callable[[str], bool] = lambda _: False) -> None:
        super().__init__(hs_token=hs_token, log=log)
        self.store = store
        # Our own events (the bot's, the ghosts') coming back: no handler acts on them, and a
        # sitting with 100 drafts would otherwise cost 200 claims in the store.
        self.own_users = own_users
        self.handlers: list[EventHandler] = []
        self.on_handled = on_handled
        self.events_handled = 0

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
        self._authorize(request)
        txn_id = request.match_info["transaction_id"]
        if await inbox.transaction_handled(self.store, txn_id):
            return web.json_response({})
        try:
            body = await request.json()
            events = body["events"]
            if not isinstance(events, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise matrix_error(400, "M_BAD_JSON", "Body must be JSON with an events list") from None
        try:
            for raw in events:
                await self._handle(raw)
            await inbox.mark_transaction(self.store, txn_id)
        except Exception:
            # Events handled so far are recorded; the homeserver's retry handles the rest.
            log.exception("transaction %s failed; the homeserver will retry it", txn_id)
            raise matrix_error(500, "M_UNKNOWN", "Transaction not handled, retry later") from None
        self.on_handled()
        return web.json_response({})

    async def _handle(self, raw: dict) -> None:
        event_id, room_id = raw.get("event_id"), raw.get("room_id")
        if not isinstance(event_id, str) or not isinstance(room_id, str):
            return
        if self.own_users(str(raw.get("sender"))):
            return
        handlers = [h for h in self.handlers if _wanted(h, str(raw.get("type")))]
        if not handlers:
            return
        try:
            self._fix_prev_content(raw)
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
