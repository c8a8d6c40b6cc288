"""Who may use the secretariat's JSON API: a secretariat or administrator session (cookie and
`X-CSRF-Token`, web.accounts) or the staff bearer token.

The sittings and votes APIs are wrapped with `staff_api(THEIR_DEPS)`. The token is the feature's
own `staff_token` (the staff API's existing contract; tests and a running site set it there) as
well as the one web.accounts holds. A site built without web.accounts (no sign-in installed)
keeps the bearer-only behaviour: 401 with a wrong token, 403 `KB_STAFF_API_DISABLED` with none.

Kept with the accounts, not in a feature's package: the sittings, votes and desk APIs all use
it, and features do not import each other for their access rules.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from council.accounts import Identity, Role
from web.accounts.common import DEPS as ACCOUNTS
from web.accounts.common import STAFF_API_ACTOR, VIEWER, Viewer, api_auth, viewer_of
from web.security import bearer_denied

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STAFF_ROLES: tuple[Role, ...] = ("secretariat", "administrator")
TOKEN_VIEWER = Viewer(Identity(mxid=STAFF_API_ACTOR, person_id=STAFF_API_ACTOR, name="Staff API",
                               role="secretariat"), None, "")


def staff_api(key: web.AppKey[Any]) -> Callable[[Handler], Handler]:
    """A staff write of the JSON API: `request.app[key].staff_token` is the feature's token."""
    def wrap(handler: Handler) -> Handler:
        signed_in = api_auth(*STAFF_ROLES)(handler)

        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            own: str | None = request.app[key].staff_token
            if own is not None and bearer_denied(request, own) is None:
                request[VIEWER] = TOKEN_VIEWER
                return await handler(request)
            if ACCOUNTS in request.app:
                return await signed_in(request)
            denied = bearer_denied(request, own)
            assert denied is not None  # the matching token was let in above
            return denied
        return checked
    return wrap


def actor(request: web.Request) -> str:
    """The audit log's actor of a request `staff_api` or `signed_in` let in."""
    return viewer_of(request).actor


def is_token(request: web.Request) -> bool:
    return viewer_of(request).session_id is None
