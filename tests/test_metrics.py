"""/metrics for operators (docs/metrics.md): on the demo council with its real Synapse (an appeal
through the API, a deputy's message through nio, what the scraper reads), the store's figures on
SQLite and PostgreSQL with a real SMTP server, and who may read the metrics."""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from nio import RoomSendResponse
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from bridges.mail import MailSender
from council import outbox
from council.models import OutboxMessage, utcnow
from council.outbox import mail as mailqueue
from council.outbox import policy
from council.store import Store
from kabinet.config import load_settings
from kabinet.features.appeals import Appeals
from kabinet.metrics import PrometheusMetrics
from kabinet.wiring import Running
from tests.appeals_support import Mailbox, appeal_fields, mail_settings
from tests.conftest import Deputies
from tests.matrix_helpers import resolve, wait_for
from web import metrics as web_metrics
from web.security import RateLimiter

Figures = dict[str, list[tuple[str, dict[str, str], float]]]  # family -> (sample, labels, value)
TOKEN = "metrics-scraper-token-0123456789"


def parse(text: str) -> Figures:
    return {f.name: [(s.name, s.labels, s.value) for s in f.samples]
            for f in text_string_to_metric_families(text)}


def value(figures: Figures, family: str, sample: str | None = None, **labels: str) -> float:
    """The one sample of `family` named `sample` (default: the family's name) with these labels."""
    found = [v for name, got, v in figures[family]
             if name == (sample or family) and all(got.get(k) == w for k, w in labels.items())]
    assert len(found) == 1, (family, sample, labels, figures[family])
    return found[0]


async def scrape(url: str, **headers: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics", headers=headers) as resp:
        return resp.status, await resp.text()


async def figures_of(url: str) -> Figures:
    status, text = await scrape(url)
    assert status == 200, text
    return parse(text)


# -- on the demo council ---------------------------------------------------------------------


@pytest.fixture
def roomy_intake(settled: Running) -> Iterator[None]:
    """The demo takes 10 appeals per address; other tests submit from 127.0.0.1 too."""
    cfg = settled.kabinet.feature(Appeals).web
    assert cfg is not None
    saved, cfg.limiter = cfg.limiter, RateLimiter(10_000, 60)
    yield
    cfg.limiter = saved


async def test_an_appeal_and_its_delivery_show_in_the_metrics(settled: Running, roomy_intake):
    url = settled.web_url
    before = await figures_of(url)
    channels = {labels["channel"] for _, labels, _ in before["kabinet_outbox_depth"]}
    assert channels == {"matrix", "mail"}
    for family in ("kabinet_outbox_oldest_pending_age_seconds", "kabinet_outbox_parked"):
        assert {labels["channel"] for _, labels, _ in before[family]} == channels
    for channel in channels:  # the latency histogram, each channel from the start
        value(before, "kabinet_outbox_delivery_seconds", "kabinet_outbox_delivery_seconds_count",
              channel=channel)
    assert {labels["status"] for _, labels, _ in before["kabinet_appeals"]} == {
        "registered", "in_progress", "answered", "closed"}
    assert value(before, "kabinet_votes_open") == 0
    assert value(before, "kabinet_store_up") == 1
    assert "process_resident_memory_bytes" in before and "python_gc_objects_collected" in before

    async with aiohttp.ClientSession() as http, http.post(
            f"{url}/api/v1/appeals", json=appeal_fields(addressee_deputy="tkachuk")) as resp:
        assert resp.status == 201, await resp.text()
    after = await figures_of(url)
    assert value(after, "kabinet_appeals", status="registered") == \
        value(before, "kabinet_appeals", status="registered") + 1
    # The demo has no mail server: the citizen's receipt waits in the mail channel.
    assert value(after, "kabinet_outbox_depth", channel="mail") >= 1
    assert value(after, "kabinet_outbox_oldest_pending_age_seconds", channel="mail") >= 0

    def delivered(figures: Figures) -> float:
        return value(figures, "kabinet_outbox_delivery_seconds",
                     "kabinet_outbox_delivery_seconds_count", channel="matrix")

    async def appeal_room_told() -> bool:  # the appeal room's messages went out through the outbox
        return delivered(await figures_of(url)) > delivered(before)

    await wait_for(appeal_room_told, timeout=60, what="a Matrix delivery counted")
    latest = await figures_of(url)
    assert value(latest, "kabinet_outbox_delivery_seconds", "kabinet_outbox_delivery_seconds_sum",
                 channel="matrix") > 0


def handled(figures: Figures, outcome: str = "handled") -> float:
    return value(figures, "kabinet_homeserver_transactions",
                 "kabinet_homeserver_transactions_total", outcome=outcome)


async def test_a_deputys_message_is_a_handled_transaction(settled: Running, people: Deputies,
                                                          demo_roster):
    url = settled.web_url
    before = await figures_of(url)
    deputy = demo_roster.deputies[0]
    client = await people.login(deputy.id, deputy.password)
    lounge = await resolve(client, "#kabinet_lounge:localhost")
    sent = await client.room_send(lounge, "m.room.message", {"msgtype": "m.text", "body": "Добрий день"})
    assert isinstance(sent, RoomSendResponse), sent

    async def counted() -> bool:
        return handled(await figures_of(url)) > handled(before)

    await wait_for(counted, timeout=30, what="the homeserver's transaction counted")
    # One that is not from our homeserver (a wrong hs_token) is refused, and counted as such.
    async with aiohttp.ClientSession() as http, http.put(
            f"{url}/as/_matrix/app/v1/transactions/metrics-test", json={"events": []},
            headers={"Authorization": "Bearer not-the-hs-token"}) as resp:
        assert resp.status == 403
    after = await figures_of(url)
    assert handled(after, "refused") == handled(before, "refused") + 1
    assert handled(after, "failed") == handled(before, "failed")


async def test_the_demo_refuses_metrics_through_a_proxy_and_a_scrape_is_cheap(settled: Running):
    url = settled.web_url
    for header in ({"X-Forwarded-For": "203.0.113.7"}, {"Forwarded": "for=203.0.113.7"},
                   {"X-Real-IP": "203.0.113.7"}):
        status, text = await scrape(url, **header)
        assert status == 403 and "kabinet_" not in text, (header, status)
    took, store_took = [], []
    for _ in range(20):
        began = time.perf_counter()
        figures = await figures_of(url)
        took.append(time.perf_counter() - began)
        store_took.append(value(figures, "kabinet_store_scrape_seconds"))
    print(f"\n/metrics on the demo council: median {statistics.median(took) * 1000:.1f} ms per "
          f"scrape (HTTP), max {max(took) * 1000:.1f} ms; the store's queries median "
          f"{statistics.median(store_took) * 1000:.1f} ms")
    assert statistics.median(took) < 0.5  # generous: two shared cores, Synapse beside it


# -- the store's figures, on SQLite and PostgreSQL --------------------------------------------


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.start()
    yield box
    box.stop()


async def test_outbox_depth_age_parked_and_mail_latency(store: Store, mailbox: Mailbox):
    metrics = PrometheusMetrics(store)
    async with store.session() as s:
        for n in range(4):
            await outbox.enqueue(s, f"m{n}", "!room:x", "m.room.message", {"n": n})
        await mailqueue.enqueue(s, "receipt", "hanna@example.org", "Звернення", "Зареєстровано")
        await s.execute(update(OutboxMessage).where(OutboxMessage.key == "m0")
                        .values(created_at=utcnow() - timedelta(minutes=3)))
    pending = await outbox.due(store, per_room=4)
    await outbox.mark_sent(store, pending[3].id, "$sent")
    await outbox.mark_failed(store, pending[2], "403 M_FORBIDDEN", permanent=True)
    await metrics.refresh()
    figures = parse(generate_latest(metrics.registry).decode())
    assert value(figures, "kabinet_outbox_depth", channel="matrix") == 2
    assert value(figures, "kabinet_outbox_parked", channel="matrix") == 1
    assert 180 <= value(figures, "kabinet_outbox_oldest_pending_age_seconds", channel="matrix") < 240
    assert value(figures, "kabinet_outbox_depth", channel="mail") == 1
    assert value(figures, "kabinet_appeals", status="registered") == 0

    settings = load_settings(None, **mail_settings(mailbox)).mail
    sender = MailSender(store, lambda: settings)
    sender.on_delivered = partial(metrics.delivered, "mail")
    assert await sender.round()
    assert mailbox.to("hanna@example.org")
    await metrics.refresh()
    figures = parse(generate_latest(metrics.registry).decode())
    assert value(figures, "kabinet_outbox_depth", channel="mail") == 0
    assert value(figures, "kabinet_outbox_oldest_pending_age_seconds", channel="mail") == 0
    assert value(figures, "kabinet_outbox_delivery_seconds", "kabinet_outbox_delivery_seconds_count",
                 channel="mail") == 1
    assert value(figures, "kabinet_outbox_delivery_seconds", "kabinet_outbox_delivery_seconds_count",
                 channel="matrix") == 0
    assert (await mailqueue.counts(store)) == {policy.SENT: 1}


async def test_a_store_that_does_not_answer_is_said_and_the_process_still_measured():
    store = Store("postgresql+asyncpg://nobody@127.0.0.1:1/nothing")
    try:
        metrics = PrometheusMetrics(store)
        await metrics.refresh()
        figures = parse(generate_latest(metrics.registry).decode())
    finally:
        await store.close()
    assert value(figures, "kabinet_store_up") == 0
    assert "kabinet_outbox_depth" not in figures and "process_cpu_seconds" in figures


# -- who may read them ------------------------------------------------------------------------


@pytest.fixture
async def small(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'kabinet.db'}")
    await store.migrate()
    yield store
    await store.close()


async def serve(store: Store, token: str | None, host: str = "127.0.0.1") -> TestServer:
    metrics = PrometheusMetrics(store)
    app = web.Application()
    web_metrics.setup(app, web_metrics.Deps(metrics.registry, metrics.refresh, token))
    server = TestServer(app, host=host)
    await server.start_server()
    return server


async def test_without_a_token_only_a_direct_local_scraper_reads_them(small: Store):
    server = await serve(small, None)
    url = str(server.make_url("")).rstrip("/")
    try:
        status, text = await scrape(url)
        assert status == 200 and "kabinet_store_up 1.0" in text
        for header in ({"X-Forwarded-For": "127.0.0.1"}, {"Forwarded": "for=127.0.0.1"},
                       {"X-Real-IP": "127.0.0.1"}):  # a proxy on this machine: not local
            assert (await scrape(url, **header))[0] == 403, header
        assert (await scrape(url, Authorization=f"Bearer {TOKEN}"))[0] == 200  # no token asked
    finally:
        await server.close()


def this_machines_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: it only picks the outgoing address
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") else address


async def test_a_scraper_from_another_address_is_refused(small: Store):
    address = this_machines_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    server = await serve(small, None, host="0.0.0.0")
    try:
        assert server.port is not None
        status, text = await scrape(f"http://{address}:{server.port}")
        assert status == 403 and "web.metrics_token" in text
    finally:
        await server.close()


async def test_with_a_token_every_scraper_sends_it(small: Store):
    server = await serve(small, TOKEN)
    url = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as resp:
            assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await scrape(url, Authorization="Bearer wrong-token-0123456789"))[0] == 401
        assert (await scrape(url, Authorization=TOKEN))[0] == 401  # not a bearer token
        status, text = await scrape(url, Authorization=f"Bearer {TOKEN}",
                                    **{"X-Forwarded-For": "203.0.113.7"})  # through a proxy too
        assert status == 200 and "kabinet_outbox_depth" in text
    finally:
        await server.close()


def test_the_token_is_a_real_secret():
    from kabinet.config import ConfigError

    for bad in ("change-me", "short"):
        with pytest.raises(ConfigError, match=r"web\.metrics_token"):
            load_settings(None, **{"web.metrics_token": bad})
    assert load_settings(None, **{"web.metrics_token": TOKEN}).web.metrics_token is not None
