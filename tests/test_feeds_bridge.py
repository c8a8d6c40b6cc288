"""The feeds bridge against a local feed server (aiohttp on loopback) and a real store: new
entries posted once; a restart, a re-ordered feed and a re-dated entry post nothing twice;
conditional GET; a failing feed is retried and reported; hostile feeds are refused or cleaned
and never stop the others."""

from __future__ import annotations

import asyncio
import gzip
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from sqlalchemy import select, update

from bridges.feeds import FeedPoller
from council import feeds
from council.models import OutboxMessage
from council.store import Store
from kabinet.config import FeedsConfig, FeedSource

KYIV = ZoneInfo("Europe/Kyiv")


def rss(entries: list[tuple[str, str, str]], *, summary: str = "Подробиці <b>тут</b>") -> bytes:
    """(guid, title, RFC 822 date) per entry, newest first as feeds list them."""
    items = "".join(
        f"<item><guid>{g}</guid><title>{t}</title><link>https://city.example/{g}</link>"
        f"<pubDate>{d}</pubDate><description><![CDATA[{summary}]]></description></item>"
        for g, t, d in entries)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Місто</title>'
            f"<link>https://city.example/</link>{items}</channel></rss>").encode()


def day(n: int) -> str:
    return f"Mon, {n:02d} Nov 2026 09:00:00 GMT"


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    etag: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0  # seconds before answering (a slow server)
    chunked: bool = False  # no Content-Length: the reader must count


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: dict[str, list[dict[str, str]]] = {}
        self.base = ""
        self._runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        self.requests.setdefault(path, []).append(dict(request.headers))
        route = self.routes.get(path)
        if route is None:
            return web.Response(status=404)
        if route.stall:
            await asyncio.sleep(route.stall)
        if route.etag and request.headers.get("If-None-Match") == route.etag:
            return web.Response(status=304)
        headers = {"Content-Type": "application/rss+xml", **route.headers}
        if route.etag:
            headers["ETag"] = route.etag
        if route.status != 200 or not route.chunked:
            return web.Response(status=route.status, body=route.body, headers=headers)
        resp = web.StreamResponse(headers=headers)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(route.body), 65536):
            await resp.write(route.body[i:i + 65536])
        await resp.write_eof()
        return resp

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{path}", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    s = FeedServer()
    await s.start()
    yield s
    await s.stop()


def poller(store: Store, server: FeedServer, names: list[str], pokes: list[int] | None = None,
           **cfg: object) -> FeedPoller:
    config = FeedsConfig(sources=[FeedSource(name=n, url=server.url(n)) for n in names],
                         **{"interval": 10, "timeout": 2, "max_bytes": 64 * 1024, **cfg})  # type: ignore[arg-type]
    counter = pokes if pokes is not None else []
    return FeedPoller(store, lambda: config, lambda: KYIV, lambda: counter.append(1), retry_base=0.0)


async def make_due(store: Store) -> None:
    """Let every feed's next poll be now (instead of waiting out `interval`)."""
    async with store.session() as s:
        await s.execute(update(feeds.FeedState).values(next_try=datetime.now(UTC) - timedelta(seconds=1)))


async def cards(store: Store, prefix: str = "feed:") -> list[OutboxMessage]:
    async with store.session() as s:
        return list(await s.scalars(select(OutboxMessage).where(OutboxMessage.key.like(prefix + "%"))
                                    .order_by(OutboxMessage.id)))


async def state(store: Store, name: str) -> feeds.FeedState:
    async with store.session() as s:
        found = await s.get(feeds.FeedState, name)
        assert found is not None
        return found


async def test_entries_posted_once_through_restart_reorder_redate(store: Store, server: FeedServer) -> None:
    server.routes["city"] = Route(rss([("n2", "Друга", day(2)), ("n1", "Перша", day(1))]))
    pokes: list[int] = []
    first = poller(store, server, ["city"], pokes)
    await first.round()
    posted = await cards(store)
    assert [c.content["body"].splitlines()[0] for c in posted] == ["📰 city: Перша", "📰 city: Друга"]
    assert pokes == [1]
    # Not due yet: no request at all.
    await first.round()
    assert len(server.requests["city"]) == 1
    # A restart (a new poller), the same feed re-ordered, then re-dated, then one new entry.
    restarted = poller(store, server, ["city"], pokes)
    for entries in ([("n1", "Перша", day(1)), ("n2", "Друга", day(2))],
                    [("n2", "Друга", day(20)), ("n1", "Перша (уточнено)", day(21))]):
        server.routes["city"] = Route(rss(entries))
        await make_due(store)
        await restarted.round()
        assert len(await cards(store)) == 2
    server.routes["city"] = Route(rss([("n3", "Третя", day(3)), ("n2", "Друга", day(2))]))
    await make_due(store)
    await restarted.round()
    assert [c.content["body"].splitlines()[0] for c in await cards(store)][-1] == "📰 city: Третя"
    assert len(await cards(store)) == 3 and pokes == [1, 1]


async def test_conditional_get(store: Store, server: FeedServer) -> None:
    server.routes["city"] = Route(rss([("n1", "Перша", day(1))]), etag='"abc"',
                                  headers={"Last-Modified": "Wed, 25 Nov 2026 10:00:00 GMT"})
    p = poller(store, server, ["city"])
    await p.round()
    await make_due(store)
    await p.round()
    second = server.requests["city"][1]
    assert second["If-None-Match"] == '"abc"'
    assert second["If-Modified-Since"] == "Wed, 25 Nov 2026 10:00:00 GMT"
    st = await state(store, "city")
    assert st.etag == '"abc"' and st.failures == 0 and st.next_try > datetime.now(UTC)
    assert len(await cards(store)) == 1


async def test_failing_feed_retried_reported_and_recovered(store: Store, server: FeedServer) -> None:
    server.routes["city"] = Route(b"down", status=503)
    server.routes["region"] = Route(rss([("r1", "Область", day(1))]))
    p = poller(store, server, ["city", "region"], report_after=0.001)
    await p.round()  # the region's entry is not held back by the failing city feed
    assert [c.content["body"].splitlines()[0] for c in await cards(store)] == ["📰 region: Область"]
    assert (await state(store, "city")).failures == 1
    assert await cards(store, "feed-failing:") == []
    await p.round()  # retry_base 0: due again at once
    st = await state(store, "city")
    assert st.failures == 2 and st.reported and st.last_error == "HTTP 503"
    reports = await cards(store, "feed-failing:city:")
    assert len(reports) == 1 and "HTTP 503" in reports[0].content["body"]
    await p.round()
    assert len(await cards(store, "feed-failing:")) == 1  # once per streak
    server.routes["city"] = Route(rss([("n1", "Перша", day(1))]))
    await p.round()
    assert len(await cards(store, "feed-recovered:city:")) == 1
    assert (await state(store, "city")).failures == 0
    assert len(await cards(store, "feed:city:")) == 1


HOSTILE_SUMMARY = ('<script>alert("x")</script><p onclick="steal()">Важливо &amp; <i>терміново</i>'
                   '<style>p{}</style><a href="javascript:alert(1)">тут</a></p>' + " слово" * 200)
LAUGHS = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(2, 10))
BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol1 "lol">' + LAUGHS.encode()
                  + b']><rss version="2.0"><channel><item><title>&lol9;</title></item></channel></rss>')


async def test_hostile_feeds_refused_or_cleaned(store: Store, server: FeedServer) -> None:
    huge = rss([(f"h{i}", "x" * 500, day(1)) for i in range(400)])
    assert len(huge) > 64 * 1024
    server.routes.update({
        "huge": Route(huge),
        "huge-chunked": Route(huge, chunked=True),
        "bomb": Route(gzip.compress(b"<rss>" + b" " * 50_000_000), headers={"Content-Encoding": "gzip"}),
        "html": Route(b"<html><body><script>alert(1)</script>Not a feed</body></html>",
                      headers={"Content-Type": "text/html"}),
        "broken": Route(b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>x'),
        "laughs": Route(BILLION_LAUGHS),
        "slow": Route(rss([("s1", "Повільна", day(1))]), stall=5),
        "scripts": Route(rss([("x1", "<b>Заголовок</b><script>bad()</script>", day(1))],
                             summary=HOSTILE_SUMMARY)),
    })
    names = list(server.routes)
    p = poller(store, server, names, timeout=1)
    await asyncio.wait_for(p.round(), 30)
    for name in ("huge", "huge-chunked", "bomb", "html", "slow"):
        st = await state(store, name)
        assert st.failures == 1, name
    assert re.fullmatch(r"відповідь завелика \(\d+,\d КБ\)", (await state(store, "huge")).last_error or "")
    assert "відповідь завелика (понад 64 КБ)" == (await state(store, "huge-chunked")).last_error
    assert "відповідь завелика" in ((await state(store, "bomb")).last_error or "")
    assert "це не стрічка RSS чи Atom" in ((await state(store, "html")).last_error or "")
    # Broken XML and entity bombs: refused, or what little parsed is posted harmlessly.
    for name in ("broken", "laughs"):
        for c in await cards(store, f"feed:{name}:"):
            assert len(c.content["body"]) < 1000
    [card] = await cards(store, "feed:scripts:")
    body, formatted = card.content["body"], card.content["formatted_body"]
    assert "Заголовок" in body and "bad()" not in body and "alert" not in body and "steal" not in body
    assert "Важливо & терміново" in body
    assert "<script" not in formatted and "javascript:" not in formatted and "onclick" not in formatted
    summary = body.splitlines()[2]
    assert len(summary) <= 301 and summary.endswith("…")


@pytest.mark.parametrize("link, kept", [
    ("https://city.example/a?b=1", True), ("http://x.example/", True), ("javascript:alert(1)", False),
    ("data:text/html,<script>", False), ("https://a b.example/", False), ("//no-scheme.example", False),
])
def test_links_only_http(link: str, kept: bool) -> None:
    assert (feeds.cards.safe_link(link) is not None) is kept


def test_plain_text_of_markup() -> None:
    plain: Callable[[str, int], str] = feeds.cards.plain
    assert plain("<p>a&amp;amp;b</p><script>x</script>\n\n  c\u202e", 300) == "a&b c"
    assert plain("слово " * 100, 20) == "слово слово слово…"
