"""Public pages rendered once per revision of what they show, answered with `ETag` and `304`.

A page handler says what its page is (`key`: the route and its ids; the language is added here)
and what its data's revision is now (`revision`: a tuple that changes whenever anything the page
shows changes). The first request for a (key, language) at a revision renders the page; later
ones get the stored bytes until the revision differs. Only pages rendered for anonymous visitors
are stored: a signed-in person's page may carry their own links, so it is rendered afresh (and
still gets an ETag and 304). The ETag is a hash of the bytes, so it is the same in every web
worker and across restarts, and a new template or catalog changes it.

Revisions that need the database are read through `coalesced()`: requests waiting for the same
revision share one read, but never a read that began before they arrived, so an answer never
predates a change committed before its request came in (by this process or by any other).
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from aiohttp import web

from web import i18n
from web.pages import VIEWER, remember_language

__all__ = ["Same", "coalesced", "serve"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MAX_ENTRIES = 1024  # (page, language) pairs kept; least recently used go first
# Browsers and proxies may keep a copy but must ask again each time (cheap: a 304).
CACHE_CONTROL = "no-cache"
VARY = "Cookie"  # the language cookie (and a session) change the page


class Same:
    """An in-memory object (the roster, the holiday calendar) as part of a revision: equal only
    to itself. Holding it keeps it alive, so its identity is never reused by a newer object."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


@dataclass(frozen=True)
class Rendered:
    revision: tuple[Any, ...]
    body: bytes
    content_type: str
    charset: str | None
    etag: str


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


class Coalesced(Generic[K, V]):
    """`read(key)` shared by the requests that wait for it: a request joins the next read that
    has not started yet, so the value it gets was read after it arrived."""

    def __init__(self, read: Callable[[K], Awaitable[V]]) -> None:
        self._read = read
        self._next: dict[K, asyncio.Future[V]] = {}
        self._running: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K) -> V:
        future = self._next.get(key)
        if future is None:
            future = self._next[key] = asyncio.get_running_loop().create_future()
            future.add_done_callback(_retrieved)
            asyncio.get_running_loop().create_task(self._run(key, future))
        return await asyncio.shield(future)

    async def _run(self, key: K, future: asyncio.Future[V]) -> None:
        while (running := self._running.get(key)) is not None:  # one read per key at a time
            await asyncio.wait([running])
        del self._next[key]  # from here on, arrivals wait for the read after this one
        self._running[key] = future
        try:
            future.set_result(await self._read(key))
        except BaseException as exc:
            future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            del self._running[key]


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Waiters that went away (a closed connection) leave a failed read unread: not an error."""
    if not future.cancelled():
        future.exception()


@dataclass
class PageCache:
    entries: OrderedDict[tuple[Any, ...], Rendered] = field(default_factory=OrderedDict)
    readers: dict[str, Coalesced[Any, Any]] = field(default_factory=dict)
    # Renders in progress, so that the requests arriving after a change render the page once.
    rendering: dict[tuple[Any, ...], asyncio.Future[Rendered | None]] = field(default_factory=dict)

    def get(self, key: tuple[Any, ...], revision: tuple[Any, ...]) -> Rendered | None:
        entry = self.entries.get(key)
        if entry is None or entry.revision != revision:
            return None
        self.entries.move_to_end(key)
        return entry

    def put(self, key: tuple[Any, ...], entry: Rendered) -> None:
        self.entries[key] = entry
        self.entries.move_to_end(key)
        while len(self.entries) > MAX_ENTRIES:
            self.entries.popitem(last=False)


# One cache per application (kept beside it rather than in it: handlers may not add state to a
# running app, and the features' setup functions stay as they are).
_CACHES: weakref.WeakKeyDictionary[web.Application, PageCache] = weakref.WeakKeyDictionary()


def page_cache(app: web.Application) -> PageCache:
    cache = _CACHES.get(app)
    if cache is None:
        cache = _CACHES[app] = PageCache()
    return cache


def coalesced(app: web.Application, name: str, read: Callable[[K], Awaitable[V]]) -> Coalesced[K, V]:
    """The application's shared reader called `name` (made with `read` the first time)."""
    readers = page_cache(app).readers
    reader = readers.get(name)
    if reader is None:
        reader = readers[name] = Coalesced(read)
    return reader


def anonymous(request: web.Request) -> bool:
    return request.get(VIEWER) is None


async def serve(request: web.Request, key: tuple[Any, ...], revision: tuple[Any, ...],
                render: Callable[[], Awaitable[web.Response]]) -> web.StreamResponse:
    """The page at `revision`: from the cache, or rendered (and kept if for a visitor)."""
    lang = i18n.request_locale(request)
    if not anonymous(request):
        return conditional(request, await render())
    cache, full_key = page_cache(request.app), (*key, lang)
    entry = cache.get(full_key, revision)
    if entry is None:
        entry = await _render_once(cache, full_key, revision, render)
        if entry is None:  # not a page to keep (an error page, a redirect): as it was made
            return conditional(request, await render())
    return answer(request, entry, lang)


async def _render_once(cache: PageCache, key: tuple[Any, ...], revision: tuple[Any, ...],
                       render: Callable[[], Awaitable[web.Response]]) -> Rendered | None:
    """Render and store; requests that come while it renders wait for it instead."""
    marker = (key, revision)
    pending = cache.rendering.get(marker)
    if pending is not None:
        return await asyncio.shield(pending)
    pending = cache.rendering[marker] = asyncio.get_running_loop().create_future()
    entry = None
    try:
        response = await render()
        if response.status == 200 and isinstance(response.body, bytes):
            entry = Rendered(revision, response.body, response.content_type, response.charset,
                             etag_of(response.body))
            cache.put(key, entry)
        return entry
    finally:
        # On failure the waiters render for themselves (and meet the same error).
        pending.set_result(entry)
        del cache.rendering[marker]


def answer(request: web.Request, entry: Rendered, lang: str) -> web.StreamResponse:
    headers = {"ETag": entry.etag, "Cache-Control": CACHE_CONTROL, "Vary": VARY,
               "Content-Language": lang}
    if matches(request, entry.etag):
        response = web.Response(status=304, headers=headers)
    else:
        response = web.Response(body=entry.body, headers=headers, content_type=entry.content_type,
                                charset=entry.charset)
    remember_language(request, response, lang)
    return response


def conditional(request: web.Request, response: web.Response) -> web.StreamResponse:
    """ETag and 304 for a page rendered for this request only."""
    if response.status != 200 or not isinstance(response.body, bytes):
        return response
    tag = etag_of(response.body)
    response.headers.update({"ETag": tag, "Cache-Control": CACHE_CONTROL, "Vary": VARY})
    if not matches(request, tag):
        return response
    headers = {k: v for k, v in response.headers.items()
               if k in ("ETag", "Cache-Control", "Vary", "Content-Language")}
    not_modified = web.Response(status=304, headers=headers)
    for name, morsel in response.cookies.items():  # the language cookie, if it was set
        not_modified.cookies[name] = morsel
    return not_modified


def matches(request: web.Request, etag: str) -> bool:
    """If-None-Match with the weak comparison RFC 9110 asks for (a proxy may weaken a tag)."""
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    value = etag.strip('"')
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/").strip('"') == value:
            return True
    return False

