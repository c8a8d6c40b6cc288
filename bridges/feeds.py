"""The news feeds bridge: polls the configured RSS/Atom feeds with aiohttp and hands each
outcome to the store (council/feeds/); the cards reach the announcements room through the
outbox. Like bridges/mail.py it never calls the homeserver.

Feeds are polled concurrently (at most `concurrency` at once) and one feed's failure, whatever
it is, marks only that feed: it is retried with backoff and reported to the secretariat's room
after `feeds.report_after` seconds (council/feeds/operations.py). A response is read up to
`feeds.max_bytes` (after decompression) within `feeds.timeout`, then parsed with feedparser in
a thread; a body that is not RSS or Atom is refused; markup in entries is stripped when the
card is built (council/feeds/cards.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import aiohttp
import feedparser
from pydantic import ValidationError

from council import feeds
from council.language import _, size
from council.store import Store
from council.worker import Worker

log = logging.getLogger(__name__)

USER_AGENT = "Kabinet-feeds/1 (+https://github.com/; council e-cabinet)"
ACCEPT = ("application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8, "
          "*/*;q=0.1")
_CHUNK = 64 * 1024


class Source(Protocol):
    name: str
    url: str


class FeedsSettings(Protocol):
    """The `feeds:` section of the config (kabinet/config.py FeedsConfig)."""

    @property
    def sources(self) -> Sequence[Source]: ...
    interval: float
    timeout: float
    max_bytes: int
    report_after: float


class FeedFailure(Exception):
    """A poll that did not give a feed (an HTTP error, too large, not RSS or Atom)."""


async def read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, refused as soon as it passes `limit` bytes (a declared length is checked first)."""
    if resp.content_length is not None and resp.content_length > limit:
        raise FeedFailure(_("the response is too large ({size})", size=size(resp.content_length)))
    chunks: list[bytes] = []
    got = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        got += len(chunk)
        if got > limit:
            raise FeedFailure(_("the response is too large (over {size})", size=size(limit)))
        chunks.append(chunk)
    return b"".join(chunks)


def _moment(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    try:
        y, mo, d, h, mi, sec = (int(v) for v in parsed[:6])
        return datetime(y, mo, d, h, mi, min(sec, 59), tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def parse(body: bytes) -> list[feeds.FeedItem]:
    """The entries of an RSS or Atom document, feed order; FeedFailure if it is neither.
    CPU-bound: run it in a thread."""
    doc = feedparser.parse(body, sanitize_html=True, resolve_relative_uris=False)
    if not doc.get("version") and not doc.entries:
        if doc.get("bozo"):  # the parser's exception names what it stumbled on
            raise FeedFailure(_("not an RSS or Atom feed ({reason})",
                                reason=type(doc.get("bozo_exception")).__name__))
        raise FeedFailure(_("not an RSS or Atom feed"))
    items: list[feeds.FeedItem] = []
    for entry in doc.entries[:feeds.MAX_ENTRIES]:
        try:
            items.append(feeds.FeedItem(
                guid=entry.get("id"), link=entry.get("link"), title=entry.get("title") or "",
                summary=entry.get("summary") or "", published=_moment(entry)))
        except ValidationError:
            log.info("a feed entry was skipped: it does not validate")
    return items


class FeedPoller(Worker):
    def __init__(self, store: Store, settings: Callable[[], FeedsSettings],
                 tz: Callable[[], ZoneInfo], on_posted: Callable[[], None], *, idle: float = 5.0,
                 concurrency: int = 8, retry_base: float = 60.0) -> None:
        # `settings()` is read each round, so a changed config is seen at once.
        super().__init__(idle)
        self.store = store
        self.settings = settings
        self.tz = tz
        self.on_posted = on_posted
        self.concurrency = concurrency
        self.retry_base = retry_base
        self.posted = 0
        self.polls = 0

    async def round(self) -> bool:
        cfg = self.settings()
        sources = [(s.name, s.url) for s in cfg.sources]
        if not sources:
            return False
        async with self.store.session() as s:
            ready = [(f.name, f.url, f.etag, f.last_modified) for f in await feeds.due(s, sources)]
        if not ready:
            return False
        policy = feeds.Policy(interval=cfg.interval, report_after=cfg.report_after, tz=self.tz(),
                              retry_base=self.retry_base)
        gate = asyncio.Semaphore(self.concurrency)
        async with aiohttp.ClientSession(headers={"User-Agent": USER_AGENT}) as http:
            results = await asyncio.gather(
                *(self._poll(http, gate, cfg, policy, *feed) for feed in ready),
                return_exceptions=True)
        posted = 0
        for (name, *_rest), result in zip(ready, results, strict=True):
            if isinstance(result, BaseException):
                # A store error for one feed: its state is unchanged, so it is tried next round.
                log.warning("feed %r: outcome not stored (%s)", name, type(result).__name__)
            else:
                posted += result
        if posted:
            self.posted += posted
            self.on_posted()
        return False  # the next polls are due later (feeds.due tells)

    async def _poll(self, http: aiohttp.ClientSession, gate: asyncio.Semaphore, cfg: FeedsSettings,
                    policy: feeds.Policy, name: str, url: str, etag: str | None,
                    last_modified: str | None) -> int:
        async with gate:
            self.polls += 1
            try:
                fetched = await self.fetch(http, cfg, url, etag, last_modified)
            except (FeedFailure, aiohttp.ClientError, TimeoutError, UnicodeError, ValueError) as exc:
                error = str(exc) if isinstance(exc, FeedFailure) else type(exc).__name__
                log.warning("feed %r: poll failed (%s)", name, error)
                async with self.store.session() as s:
                    await feeds.failed(s, name, url, error, policy)
                return 0
        async with self.store.session() as s:
            return await feeds.polled(s, name, url, fetched, policy)

    async def fetch(self, http: aiohttp.ClientSession, cfg: FeedsSettings, url: str,
                    etag: str | None, last_modified: str | None) -> feeds.Fetched:
        headers = {"Accept": ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        timeout = aiohttp.ClientTimeout(total=cfg.timeout)
        async with asyncio.timeout(cfg.timeout), http.get(
                url, headers=headers, timeout=timeout, max_redirects=5) as resp:
            if resp.status == 304:
                return feeds.Fetched(not_modified=True)
            if resp.status != 200:
                raise FeedFailure(f"HTTP {resp.status}")
            body = await read_capped(resp, cfg.max_bytes)
            new_etag, new_modified = resp.headers.get("ETag"), resp.headers.get("Last-Modified")
        items = await asyncio.to_thread(parse, body)
        return feeds.Fetched(items=items, etag=new_etag, last_modified=new_modified)
