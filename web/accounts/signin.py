"""The sign-in pages: a Matrix password (checked by the homeserver), a one-time link posted by
the bot into the person's private room, an OpenID token (widgets), and signing out.

Every answer to a failed sign-in is the same whatever failed (unknown account, not on the
council's roster, wrong password), and failures are limited per account and per address.
Nothing here logs a password, a token or a link.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from council import accounts, outbox
from council import rooms as room_keys
from council.accounts import Identity
from council.language import _
from web.accounts.common import COOKIE, DEPS, Deps, Viewer, form_ok, signed_in, viewer, viewer_of
from web.accounts.matrix import HomeserverBusy, MatrixSignIn, OpenIdToken, SignInRefused
from web.errors import N_, invalid, json_error, read_json
from web.pages import render
from web.security import client_address, csrf_ok, csrf_token, with_csrf

log = logging.getLogger(__name__)

WRONG = N_("The Matrix id or the password is wrong, or the account is not the council's.")
TOO_MANY = N_("Too many failed attempts. Please try again in {minutes} min.")
BUSY = N_("The homeserver does not answer right now. Please try again in a minute.")
EXPIRED = N_("The form has expired. Please try again.")
LINK_QUEUED = N_("If {user} is a council account, a sign-in link is queued for its room "
                 "«Мої замітки» in Element. It works once, for 10 minutes.")
LINK_BAD = N_("This sign-in link is not valid: it was already used, has expired or never existed. "
              "Ask for a new one.")
LOCALPART = re.compile(r"^[a-z0-9._=/+-]{1,255}$")


def matrix_id(user: str, server_name: str) -> str | None:
    """`@name:server`, or a bare localpart on the council's server; None if neither."""
    user = user.strip()
    if user.startswith("@") and ":" in user and len(user) <= 255:
        return user
    user = user.lower()
    return f"@{user}:{server_name}" if LOCALPART.match(user) else None


def safe_next(target: str | None, fallback: str) -> str:
    """Only a path on this site: never `//evil`, a scheme or a host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else fallback


def person(identity: Identity) -> str:
    """The audit log's subject for a sign-in."""
    return accounts.audit.subject("person", identity.person_id)


def home_of(identity: Identity) -> str:
    return "/desk" if identity.is_staff else "/cabinet"


def _page(request: web.Request, status: int = 200, **context: object) -> web.Response:
    deps = request.app[DEPS]
    token = csrf_token(deps.session_secret, request)
    defaults: dict[str, object] = {"message": None, "args": {}, "notice": None, "user": "",
                "next": request.query.get("next", "")}
    response = render(request, "login.html", {**defaults, **context, "csrf": token}, status=status)
    return with_csrf(request, response, token, "/login")


async def login_page(request: web.Request) -> web.StreamResponse:
    me = await viewer(request)
    if me is not None:
        raise web.HTTPSeeOther(safe_next(request.query.get("next"), home_of(me.identity)))
    return _page(request)


def _throttled(deps: Deps, mxid: str, address: str) -> float:
    return max(deps.per_account.peek(mxid), deps.per_address.peek(address))


async def _signed_in(request: web.Request, identity: Identity, via: str, target: str
                     ) -> web.StreamResponse:
    """Start the session and go home: raises the redirect that carries the cookie."""
    deps = request.app[DEPS]
    async with deps.store.session() as s:
        token = await accounts.start_session(s, identity.mxid, via)
        await accounts.audit.record(s, identity.mxid, f"signin.{via}", person(identity))
    response = web.HTTPSeeOther(safe_next(target, home_of(identity)))
    set_session_cookie(response, token, deps)
    raise response


def set_session_cookie(response: web.StreamResponse, token: str, deps: Deps, *,
                       framed: bool = False) -> None:
    """`framed`: for a widget, a page inside Element on another site, which a `Lax` cookie never
    reaches; browsers take `SameSite=None` only with `Secure`, so only over HTTPS (the widget's
    pages are read-only either way; every form there still needs the session's CSRF token)."""
    cross_site = framed and deps.secure_cookies
    response.set_cookie(COOKIE, token, max_age=int(accounts.SESSION_LIFETIME.total_seconds()),
                        httponly=True, samesite="None" if cross_site else "Lax",
                        secure=deps.secure_cookies, path="/")


async def login_password(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    form = await request.post()
    user, target = str(form.get("user", ""))[:255], str(form.get("next", ""))[:2000]
    if not csrf_ok(deps.session_secret, request, form.get("csrf")):
        return _page(request, 403, message=EXPIRED, user=user, next=target)
    mxid = matrix_id(user, deps.server_name) or user
    address = client_address(request)
    if (wait := _throttled(deps, mxid, address)) > 0:
        response = _page(request, 429, message=TOO_MANY, args={"minutes": -(-int(wait) // 60)},
                         user=user, next=target)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    identity = accounts.identify(deps.roster(), deps.server_name, mxid)
    try:
        if identity is None or identity.mxid.split(":", 1)[1] != deps.server_name:
            raise SignInRefused("not a council account on this homeserver")
        vouched = await MatrixSignIn(deps.homeserver_url).password(
            identity.mxid, str(form.get("password", ""))[:1024])
        if vouched != identity.mxid:
            raise SignInRefused("the homeserver vouched for another account")
    except SignInRefused as exc:
        deps.per_account.check(mxid)
        deps.per_address.check(address)
        log.info("sign-in refused for %s from %s: %s", mxid, address, exc)
        return _page(request, 401, message=WRONG, user=user, next=target)
    except HomeserverBusy as exc:
        response = _page(request, 503, message=BUSY, user=user, next=target)
        response.headers["Retry-After"] = str(int(exc.retry_after) + 1)
        return response
    return await _signed_in(request, identity, "password", target)


async def request_link(request: web.Request) -> web.StreamResponse:
    """The bot posts a one-time link into the person's private room. The answer is the same
    whether or not the account is the council's, and requests count against the same limits."""
    deps = request.app[DEPS]
    form = await request.post()
    user = str(form.get("user", ""))[:255]
    if not csrf_ok(deps.session_secret, request, form.get("csrf")):
        return _page(request, 403, message=EXPIRED, user=user)
    mxid = matrix_id(user, deps.server_name) or user
    address = client_address(request)
    if (wait := _throttled(deps, mxid, address)) > 0:
        return _page(request, 429, message=TOO_MANY, args={"minutes": -(-int(wait) // 60)})
    deps.per_account.check(mxid)  # a link request counts like an attempt: no spamming a room
    deps.per_address.check(address)
    identity = accounts.identify(deps.roster(), deps.server_name, mxid)
    if identity is not None:
        async with deps.store.session() as s:
            link_id, token = await accounts.new_link(s, identity.mxid)
            url = f"{deps.base_url}/login/link/{token}"
            await outbox.enqueue(
                s, f"signin-link:{link_id}",
                room_keys.placeholder(accounts.private_room(identity)), "m.room.message",
                {"msgtype": "m.notice", "body": _(
                    "Sign-in link to Kabinet on the website: {url}\nIt works for 10 minutes, once "
                    "only. If you did not ask for it, do not open it and do not forward it to "
                    "anyone.", url=url)})
            await accounts.audit.record(s, identity.mxid, "signin.link_requested",
                                        person(identity))
        deps.on_queued()
    return _page(request, notice=LINK_QUEUED, args={"user": mxid})


async def link_page(request: web.Request) -> web.StreamResponse:
    """A confirmation button, not a sign-in on GET: link previews and prefetchers open links."""
    deps = request.app[DEPS]
    token = csrf_token(deps.session_secret, request)
    response = render(request, "login_link.html", {"csrf": token,
                                                  "token": request.match_info["token"][:128]})
    return with_csrf(request, response, token, "/login")


async def use_link(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    form = await request.post()
    if not csrf_ok(deps.session_secret, request, form.get("csrf")):
        return _page(request, 403, message=EXPIRED)
    token = request.match_info["token"]
    async with deps.store.session() as s:
        mxid = await accounts.use_link(s, token) if len(token) <= 128 else None
    identity = accounts.identify(deps.roster(), deps.server_name, mxid) if mxid else None
    if identity is None:
        log.info("a sign-in link was refused (from %s)", client_address(request))
        return _page(request, 400, message=LINK_BAD)
    return await _signed_in(request, identity, "link", "")


class OpenIdBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    access_token: str = Field(min_length=1, max_length=512)
    matrix_server_name: str = Field(min_length=1, max_length=255)


async def login_openid(request: web.Request) -> web.StreamResponse:
    """A widget's (or any client's) OpenID token, verified at the council's homeserver."""
    deps = request.app[DEPS]
    try:
        body = OpenIdBody.model_validate(await read_json(request))
    except ValidationError as exc:
        return invalid(exc)
    if body.matrix_server_name != deps.server_name:
        return json_error(403, "KB_FOREIGN_SERVER",
                          "Only accounts of the council's homeserver")
    try:
        mxid = await MatrixSignIn(deps.homeserver_url).openid(
            OpenIdToken(body.access_token, body.matrix_server_name))
    except SignInRefused:
        return json_error(401, "KB_UNAUTHORIZED", "The token is not valid")
    except HomeserverBusy:
        return json_error(503, "KB_HOMESERVER_BUSY", "The homeserver is busy")
    identity = accounts.identify(deps.roster(), deps.server_name, mxid)
    if identity is None:
        return json_error(403, "KB_NOT_COUNCIL", "Not a council account")
    async with deps.store.session() as s:
        token = await accounts.start_session(s, identity.mxid, "widget")
        await accounts.audit.record(s, identity.mxid, "signin.widget", person(identity))
    response = web.json_response({"user_id": identity.mxid, "role": identity.role,
                                  "home": home_of(identity)})
    set_session_cookie(response, token, deps, framed=True)
    return response


@signed_in()
async def logout(request: web.Request) -> web.StreamResponse:
    """Sign out here, or everywhere (`everywhere=1`): every session of the person ends."""
    deps, me = request.app[DEPS], viewer_of(request)
    form = await request.post()
    if not form_ok(request, form):
        raise web.HTTPForbidden()
    everywhere = form.get("everywhere") == "1"
    async with deps.store.session() as s:
        if everywhere:
            await accounts.end_all(s, me.mxid)
        else:
            await accounts.end_session(s, request.cookies.get(COOKIE, ""))
        await accounts.audit.record(s, me.mxid, "signout.everywhere" if everywhere else "signout",
                                    person(me.identity))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_page, name="login")
    app.router.add_post("/login", login_password)
    app.router.add_post("/login/link", request_link)
    app.router.add_get("/login/link/{token}", link_page)
    app.router.add_post("/login/link/{token}", use_link)
    app.router.add_post("/api/v1/session/openid", login_openid)
    app.router.add_post("/logout", logout, name="logout")


__all__ = ["Viewer", "add_routes", "matrix_id", "safe_next"]
