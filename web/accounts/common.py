"""Who is signed in, for every page and API handler: the session cookie (or, for staff API
calls, the staff bearer token), the roles a handler needs, and the session's CSRF token.

Use:
    @signed_in("deputy", "head")            # pages: anonymous -> /login?next=..., wrong role -> 403
    async def cabinet(request): me = viewer_of(request) ...

    @api_auth("secretariat", "administrator")  # JSON: 401 / 403; the staff token counts as staff
    async def api_x(request): ...

Forms carry `csrf` (= `viewer.csrf`); JSON calls made with a cookie carry `X-CSRF-Token`.
`form_ok(request, form)` / the decorators check it on every method that changes something.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web

from council import accounts
from council.accounts import Identity, Role
from council.roster import Roster
from council.store import Store
from web.errors import N_, json_error
from web.pages import VIEWER, render
from web.security import RateLimiter, mac

COOKIE = "kb_session"
CSRF_HEADER = "X-CSRF-Token"
STAFF_API_ACTOR = "staff-api"  # the audit log's actor for calls made with the staff token
NOT_YOURS = N_("You do not have access to this page.")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Deps:
    store: Store
    roster: Callable[[], Roster]  # read afresh: the roster may change while running
    server_name: str
    session_secret: str
    staff_token: str | None
    homeserver_url: str  # where Kabinet itself signs in (the client API)
    base_url: str  # the site's public URL: sign-in links are built from it
    secure_cookies: bool  # served over HTTPS: the cookie says Secure
    on_queued: Callable[[], None] = lambda: None  # wakes delivery (the sign-in link message)
    # Failed sign-ins: per account and per client address (in memory, per process). An office
    # behind one NAT address holds a whole council, so the address allows many more.
    per_account: RateLimiter = field(default_factory=lambda: RateLimiter(5, 900))
    per_address: RateLimiter = field(default_factory=lambda: RateLimiter(100, 900))


DEPS: web.AppKey[Deps] = web.AppKey("accounts_deps", Deps)


@dataclass(frozen=True)
class Viewer:
    """The signed-in person of this request."""

    identity: Identity
    session_id: int | None  # None for the staff bearer token
    csrf: str  # the token forms and cookie-authenticated JSON calls must carry

    @property
    def mxid(self) -> str:
        return self.identity.mxid

    @property
    def person_id(self) -> str:
        return self.identity.person_id

    @property
    def name(self) -> str:
        return self.identity.name

    @property
    def role(self) -> Role:
        return self.identity.role

    @property
    def is_staff(self) -> bool:
        return self.identity.is_staff

    @property
    def actor(self) -> str:
        """What the audit log records as the actor."""
        return self.mxid if self.session_id is not None else STAFF_API_ACTOR


def session_csrf(secret: str, token: str) -> str:
    return mac(secret, "session-csrf", accounts.token_hash(token))


async def viewer(request: web.Request) -> Viewer | None:
    """The request's signed-in person (looked up once per request), or None."""
    if VIEWER in request:
        found: Viewer | None = request[VIEWER]
        return found
    deps = request.app[DEPS]
    found = None
    token = request.cookies.get(COOKIE, "")
    if token and len(token) <= 128:
        async with deps.store.session() as s:
            row = await accounts.find_session(s, token)
        if row is not None:
            identity = accounts.identify(deps.roster(), deps.server_name, row.mxid)
            if identity is not None:  # left the roster: the session no longer counts
                found = Viewer(identity, row.id, session_csrf(deps.session_secret, token))
    request[VIEWER] = found
    return found


def viewer_of(request: web.Request) -> Viewer:
    """The viewer a decorator already checked."""
    found: Viewer = request[VIEWER]
    return found


def _bearer(request: web.Request, deps: Deps) -> Viewer | None:
    given = request.headers.get("Authorization", "")
    if deps.staff_token is None or not given.startswith("Bearer "):
        return None
    if not hmac.compare_digest(given.removeprefix("Bearer ").encode(), deps.staff_token.encode()):
        return None
    identity = Identity(mxid=STAFF_API_ACTOR, person_id=STAFF_API_ACTOR, name="Staff API",
                        role="secretariat")
    return Viewer(identity, None, "")


def csrf_ok(request: web.Request, me: Viewer, submitted: Any = None) -> bool:
    """A change made with the cookie carries the session's token (form field or header)."""
    if me.session_id is None or request.method in SAFE_METHODS:
        return True
    given = submitted if isinstance(submitted, str) else request.headers.get(CSRF_HEADER, "")
    return bool(given) and hmac.compare_digest(given, me.csrf)


def _allowed(me: Viewer, roles: Collection[Role]) -> bool:
    return not roles or me.role in roles


def signed_in(*roles: Role) -> Callable[[Handler], Handler]:
    """A page for signed-in people with one of `roles` (any role if none given). Forms posted
    to it must carry `csrf`; the handler reads the form itself and calls `form_ok`."""
    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            me = await viewer(request)
            if me is None:
                target = request.path_qs if request.method in SAFE_METHODS else "/cabinet"
                raise web.HTTPSeeOther("/login?next=" + quote(target, safe="/"))
            if not _allowed(me, roles):
                return render(request, "error.html", {"message": NOT_YOURS}, status=403)
            return await handler(request)
        return checked
    return wrap


def api_auth(*roles: Role) -> Callable[[Handler], Handler]:
    """A JSON endpoint: the session cookie (with `X-CSRF-Token` on changes) or, for staff
    roles, the staff bearer token. 401 without either, 403 for the wrong role or no CSRF."""
    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            deps = request.app[DEPS]
            me = _bearer(request, deps) if "Authorization" in request.headers else None
            if me is not None and roles and not (set(roles) & accounts.STAFF):
                me = None  # the staff token is not a deputy
            if me is None:
                me = await viewer(request)
            if me is None:
                return json_error(401, "KB_UNAUTHORIZED",
                                  "Sign-in or staff token required")
            if not _allowed(me, roles):
                return json_error(403, "KB_FORBIDDEN", "Not allowed")
            if not csrf_ok(request, me):
                return json_error(403, "KB_CSRF", "CSRF token missing")
            request[VIEWER] = me
            return await handler(request)
        return checked
    return wrap


def form_ok(request: web.Request, form: Any) -> bool:
    """A posted form carries this session's CSRF token in its `csrf` field."""
    me = viewer_of(request)
    return csrf_ok(request, me, form.get("csrf") if hasattr(form, "get") else None)
