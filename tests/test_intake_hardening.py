"""Intake hardening (issue 7, items 7, 9, 12, 13, 14): a follow-up to a wrong appeal stores no
file and orphaned files are collected; X-Forwarded-For is believed only from trusted proxies;
calendar.ics links come from the configured URL; the law's dates are local and API times carry
their offset; a retried submission (Idempotency-Key, the form's one-time token) registers once."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from icalendar import Calendar
from sqlalchemy import select, update

from council import appeals
from council import sittings as sittings_domain
from council.files.blobs import BlobStore, blob_columns, collect_orphans
from council.law import deadlines
from council.store import Store
from kabinet.features import appeals as wiring_appeals
from kabinet.features.appeals import Appeals
from kabinet.features.sittings import Sittings
from kabinet.features.sittings import context as sittings_context
from kabinet.wiring import Running
from tests.appeals_support import PDF, counts, form
from tests.appeals_support import appeal_fields as _fields
from tests.conftest import SMALL_ROSTER, start_installation
from web.security import TRUSTED_PROXIES, RateLimiter, TrustedProxies

KYIV = deadlines.COUNCIL_TZ


PUBLIC_URL = "https://rada.example.ua"  # what web.public_url says; not where the tests connect


@pytest.fixture(scope="module")
async def kb(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    """A small council of its own, behind a (pretend) reverse proxy on 127.0.0.1."""
    running = await start_installation(tmp_path_factory.mktemp("intake"), SMALL_ROSTER, **{
        "web.public_url": PUBLIC_URL, "web.trusted_proxies": ["127.0.0.1"]})
    running.kabinet.feature(Appeals).web.limiter = RateLimiter(10_000, 60)  # many submissions here
    yield running
    await running.stop()


def web_url(kb: Running) -> str:
    return f"http://127.0.0.1:{kb.kabinet.settings.web.port}"


def appeal_fields(**over):
    return _fields(**{"addressee_deputy": None, **over})  # the secretariat routes it


def unique_pdf() -> bytes:
    return PDF + f"% {uuid.uuid4().hex}\n".encode()


async def post_api(kb: Running, data, headers: dict[str, str] | None = None):
    async with aiohttp.ClientSession() as http:
        kw = {"json": data} if isinstance(data, dict) else {"data": data}
        async with http.post(f"{web_url(kb)}/api/v1/appeals", headers=headers, **kw) as resp:
            return resp.status, await resp.json(), dict(resp.headers)


async def new_appeal(kb: Running) -> tuple[str, str]:
    status, body, _ = await post_api(kb, appeal_fields())
    assert status == 201, body
    return body["number"], body["token"]


# -- item 7: the token before the files; orphaned files are collected ------------------------

async def test_a_follow_up_to_a_wrong_or_closed_appeal_stores_no_file(kb: Running):
    blobs = kb.kabinet.blobs
    forged = "B" * 32
    _, token = await new_appeal(kb)
    async with kb.kabinet.store.session() as s:
        closed = await appeals.by_token(s, token)
        await appeals.set_status(s, closed, "closed", "test")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for path, expected in ((f"/api/v1/appeals/{forged}/messages", 404),
                               (f"/appeals/{forged}/messages", 404),
                               (f"/api/v1/appeals/{token}/messages", 409),
                               (f"/appeals/{token}/messages", 409)):
            data = unique_pdf()
            async with http.post(f"{web_url(kb)}{path}", data=form(
                    {"text": "Ось документ"}, [("doc.pdf", data, "application/pdf")])) as resp:
                assert resp.status == expected, (path, await resp.text())
            assert not blobs.exists(hashlib.sha256(data).hexdigest()), path


async def test_a_follow_up_to_an_open_appeal_still_stores_its_file(kb: Running):
    _, token = await new_appeal(kb)
    data = unique_pdf()
    async with aiohttp.ClientSession() as http, http.post(
            f"{web_url(kb)}/api/v1/appeals/{token}/messages",
            data=form({"text": "Додаю документ"}, [("doc.pdf", data, "application/pdf")])) as resp:
        assert resp.status == 201, await resp.text()
    assert kb.kabinet.blobs.exists(hashlib.sha256(data).hexdigest())


def _age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


async def test_orphaned_files_are_collected_after_the_grace_and_named_or_fresh_ones_kept(
        store: Store, tmp_path: Path):
    blobs = BlobStore(tmp_path / "files")
    named, orphan, fresh = (blobs.put(unique_pdf()) for _ in range(3))
    async with store.session() as s:
        await appeals.register(s, appeals.Context("localhost", "kabinet_", "http://x"),
                               appeals.NewAppeal(
            name="Іваненко Іван", residence="м. Тестове", subject="Тема", text="Текст звернення",
            email="ivan@example.org", attachments=(appeals.StoredFile(named, "a.pdf",
                                                                      "application/pdf", 10),)))
    interrupted = blobs.path(orphan).parent / ".incoming-crashed"
    interrupted.write_bytes(b"half a file")
    for sha in (named, orphan):
        _age(blobs.path(sha), 2 * 3600)
    _age(interrupted, 2 * 3600)
    assert await collect_orphans(store, blobs, timedelta(hours=1)) == 2
    assert blobs.exists(named) and blobs.exists(fresh)
    assert not blobs.exists(orphan) and not interrupted.exists()
    # An old orphan stored again is fresh again: its row may be on the way.
    again = blobs.put(PDF + b"% again\n")
    _age(blobs.path(again), 2 * 3600)
    assert blobs.put(PDF + b"% again\n") == again
    assert await collect_orphans(store, blobs, timedelta(hours=1)) == 0 and blobs.exists(again)


def test_every_table_that_names_a_blob_is_consulted():
    assert sittings_domain.DraftVersion  # loaded: its table is in the metadata
    named = {f"{c.table.name}.{c.name}" for c in blob_columns()}
    assert {"appeal_attachments.sha256", "draft_versions.sha256", "outbox.media_sha256"} <= named


# -- item 9: X-Forwarded-For only from trusted proxies ---------------------------------------

def test_the_client_is_the_rightmost_address_that_is_not_a_trusted_proxy():
    proxies = TrustedProxies([ipaddress.ip_network("127.0.0.1"), ipaddress.ip_network("10.0.0.0/8")])
    assert proxies.client("127.0.0.1", ["6.6.6.6, 198.51.100.7, 10.1.2.3"]) == "198.51.100.7"
    assert proxies.client("127.0.0.1", ["198.51.100.7", "10.1.2.3"]) == "198.51.100.7"
    assert proxies.client("203.0.113.9", ["198.51.100.7"]) == "203.0.113.9"  # not a proxy
    assert proxies.client("127.0.0.1", ["not-an-ip"]) == "127.0.0.1"
    assert proxies.client("127.0.0.1", []) == "127.0.0.1"
    assert proxies.client("::ffff:127.0.0.1", ["[2001:db8::1]:443"]) == "2001:db8::1"


@pytest.fixture
def strict_limit(kb: Running) -> AsyncIterator[TrustedProxies]:
    cfg = kb.kabinet.feature(Appeals).web
    proxies = kb.runner.app[TRUSTED_PROXIES]
    saved = cfg.limiter, proxies.networks
    cfg.limiter = RateLimiter(1, 600)
    yield proxies
    cfg.limiter, proxies.networks = saved


async def _status_from(kb: Running, forwarded_for: str) -> int:
    status, _, _ = await post_api(kb, appeal_fields(name=""),  # refused: stores nothing
                                  headers={"X-Forwarded-For": forwarded_for})
    return status


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(
        kb: Running, strict_limit: TrustedProxies):
    assert [str(n) for n in strict_limit.networks] == ["127.0.0.1/32"]  # web.trusted_proxies
    assert await _status_from(kb, "198.51.100.1") == 422
    assert await _status_from(kb, "198.51.100.1") == 429
    assert await _status_from(kb, "198.51.100.2") == 422  # another citizen behind the proxy
    # A hop the client wrote itself, left of what the proxy saw, changes nothing.
    assert await _status_from(kb, "192.0.2.50, 198.51.100.1") == 429


async def test_without_trusted_proxies_a_forwarded_for_header_is_ignored(
        kb: Running, strict_limit: TrustedProxies):
    strict_limit.networks = []
    assert await _status_from(kb, "198.51.100.3") == 422
    assert await _status_from(kb, "198.51.100.4") == 429  # still 127.0.0.1


# -- items 12 and 13: calendar links, local dates, offsets -----------------------------------

@pytest.fixture(scope="module")
async def sitting(kb: Running) -> int:
    k = kb.kabinet
    spec = sittings_domain.NewSitting(
        kind="plenary", number="77", title="Сесія для перевірки посилань", place="Зала",
        starts_at=datetime.now(KYIV).replace(microsecond=0) + timedelta(days=20),
        external_key=f"hardening-{uuid.uuid4().hex}")
    async with k.store.session() as s:
        created, _ = await sittings_domain.create_sitting(s, sittings_context(k), spec)
    k.feature(Sittings).rooms.poke()
    return created.id


async def test_calendar_links_use_the_configured_url_not_the_host_header(kb: Running, sitting: int):
    base = PUBLIC_URL
    async with aiohttp.ClientSession() as http, http.get(
            f"{web_url(kb)}/calendar.ics", headers={"Host": "evil.example:8443"}) as resp:
        assert resp.status == 200
        raw = await resp.read()
    assert b"evil.example" not in raw
    [ours] = [e for e in Calendar.from_ical(raw).walk("VEVENT")
              if str(e["UID"]).startswith(f"sitting-{sitting}@")]
    assert str(ours["URL"]) == f"{base}/sittings/{sitting}"


@pytest.mark.parametrize(("registered", "received", "deadline", "kind"), [
    # 22:30 UTC in winter is 00:30 the next day in Kyiv (EET, +02:00): a calendar month from then.
    (datetime(2026, 1, 31, 22, 30, tzinfo=UTC), date(2026, 2, 1), date(2026, 3, 1), "application"),
    # In summer (EEST, +03:00) it is 01:30 the next day: 15 days for a proposal.
    (datetime(2026, 6, 30, 22, 30, tzinfo=UTC), date(2026, 7, 1), date(2026, 7, 16), "proposal"),
])
async def test_the_term_counts_from_the_local_date_of_registration(
        store: Store, registered, received, deadline, kind):
    assert deadlines.local_date(registered, KYIV) == received
    ctx = appeals.Context("localhost", "kabinet_", "http://x", tz=KYIV)
    async with store.session() as s:
        appeal, _ = await appeals.register(s, ctx, appeals.NewAppeal(
            name="Іваненко Іван", residence="м. Тестове", subject="Тема", text="Текст звернення",
            email="ivan@example.org", type=kind), now=registered)
    assert (appeal.received_on, appeal.deadline) == (received, deadline)


async def test_an_appeal_on_new_years_eve_utc_is_numbered_in_the_local_new_year(store: Store):
    async with store.session() as s:
        appeal, _ = await appeals.register(s, appeals.Context("localhost", "kabinet_", "http://x"),
                                           appeals.NewAppeal(
            name="Іваненко Іван", residence="м. Тестове", subject="Тема", text="Текст звернення",
            email="ivan@example.org"), now=datetime(2026, 12, 31, 22, 30, tzinfo=UTC))
    assert appeal.number.startswith("Д-2027/") and appeal.received_on == date(2027, 1, 1)


def _times(value, key: str = "") -> list[tuple[str, str]]:
    """Every (key, value) in a JSON document whose key says it is a moment (…_at, at)."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _times(v, k)]
    if isinstance(value, list):
        return [t for v in value for t in _times(v, key)]
    return [(key, value)] if (key == "at" or key.endswith("_at")) and value is not None else []


def _offset_ok(moment: str) -> bool:
    return datetime.fromisoformat(moment).tzinfo is not None


async def test_api_times_carry_their_offset_and_the_status_page_shows_local_time(
        kb: Running, sitting: int):
    _, token = await new_appeal(kb)
    async with kb.kabinet.store.session() as s:
        appeal = await appeals.by_token(s, token)
        await appeals.answer(s, wiring_appeals.context(kb.kabinet), appeal, "Відповідь надано.",
                             "test")
    async with aiohttp.ClientSession() as http:
        docs = []
        for path in (f"/api/v1/appeals/{token}", "/api/v1/sittings", f"/api/v1/sittings/{sitting}"):
            async with http.get(f"{web_url(kb)}{path}") as resp:
                assert resp.status == 200, path
                docs.append(await resp.json())
        async with http.get(f"{web_url(kb)}/appeals/{token}") as resp:
            page = await resp.text()
    times = _times(docs)
    keys = {k for k, _ in times}
    assert {"registered_at", "at", "answered_at", "starts_at", "announced_at"} <= keys, keys
    assert [t for t in times if not _offset_ok(t[1])] == []
    shown = re.findall(r'<time datetime="([^"]+)">([^<]+)</time>', page)
    assert shown
    for iso, text in shown:
        moment = datetime.fromisoformat(iso)
        assert moment.utcoffset() == moment.astimezone(KYIV).utcoffset() != timedelta(0)
        assert text == moment.astimezone(KYIV).strftime("%d.%m.%Y %H:%M")


# -- item 14: Idempotency-Key and the one-time form token ------------------------------------

async def test_the_same_idempotency_key_and_request_registers_one_appeal(kb: Running):
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    before = await counts(kb.kabinet)
    first = await post_api(kb, appeal_fields(), key)
    second = await post_api(kb, appeal_fields(), key)
    assert first[0] == second[0] == 201, (first, second)
    assert first[1] == second[1]  # same number, token, status link
    assert second[2].get("Idempotent-Replayed") == "true"
    assert (await counts(kb.kabinet))[0] == before[0] + 1
    # Twins in flight at once (a double submit) are one appeal too.
    twin = {"Idempotency-Key": f"twin-{uuid.uuid4()}"}
    results = await asyncio.gather(*(post_api(kb, appeal_fields(subject="Двійня"), twin)
                                      for _ in range(3)))
    assert {r[0] for r in results} == {201} and len({r[1]["number"] for r in results}) == 1
    assert (await counts(kb.kabinet))[0] == before[0] + 2


async def test_a_reused_key_with_another_request_is_refused_and_stores_nothing(kb: Running):
    key = {"Idempotency-Key": f"reuse-{uuid.uuid4()}"}
    assert (await post_api(kb, appeal_fields(), key))[0] == 201
    before = await counts(kb.kabinet)
    status, body, _ = await post_api(kb, appeal_fields(text="Зовсім інше звернення."), key)
    assert (status, body["errcode"]) == (422, "KB_IDEMPOTENCY_KEY_REUSED"), body
    status, body, _ = await post_api(kb, appeal_fields(), {"Idempotency-Key": "a key with spaces"})
    assert (status, body["errcode"]) == (400, "KB_BAD_IDEMPOTENCY_KEY"), body
    assert await counts(kb.kabinet) == before


def _hidden(html: str, name: str) -> str:
    return html.split(f'name="{name}" value="')[1].split('"')[0]


async def test_the_same_form_sent_twice_leads_to_the_same_appeal(kb: Running):
    fields = {**appeal_fields(), "addressee": "unknown", "subject": "Двічі надіслана форма"}
    before = await counts(kb.kabinet)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{web_url(kb)}/appeals/new") as resp:
            html = await resp.text()
        sent = {**fields, "csrf": _hidden(html, "csrf"), "form_token": _hidden(html, "form_token")}
        places = []
        for _ in range(2):  # a double click, or a retry after the connection dropped
            async with http.post(f"{web_url(kb)}/appeals/new", data=form(sent),
                                 allow_redirects=False) as resp:
                assert resp.status == 303, await resp.text()
                places.append(resp.headers["Location"])
        assert places[0] == places[1]
        assert (await counts(kb.kabinet))[0] == before[0] + 1
        # Back, an edit, Send again: said so, with a fresh form; no second appeal from this one.
        async with http.post(f"{web_url(kb)}/appeals/new", data=form(
                {**sent, "text": "Інший текст цього ж звернення."}), allow_redirects=False) as resp:
            assert resp.status == 409
            assert _hidden(await resp.text(), "form_token") != sent["form_token"]
        forged = sent["form_token"][:-1] + ("1" if sent["form_token"].endswith("0") else "0")
        async with http.post(f"{web_url(kb)}/appeals/new", data=form(
                {**sent, "form_token": forged}), allow_redirects=False) as resp:
            assert resp.status == 403  # not a token this site signed
    assert (await counts(kb.kabinet))[0] == before[0] + 1


async def test_intake_keys_are_forgotten_after_a_day(store: Store):
    ctx = appeals.Context("localhost", "kabinet_", "http://x")
    once = [appeals.Idempotency(f"{n:064x}", "0" * 64, f"token-{n}") for n in range(2)]
    async with store.session() as s:
        for n in range(2):
            appeal, _ = await appeals.register(s, ctx, appeals.NewAppeal(
                name="Іваненко Іван", residence="м. Тестове", subject="Тема", text="Текст звернення",
                email="ivan@example.org"), token=once[n].token)
            await appeals.remember_key(s, once[n], appeal.id)
        await s.execute(update(appeals.IntakeKey).where(appeals.IntakeKey.key_hash == once[0].key_hash)
                        .values(created_at=datetime.now(UTC) - timedelta(hours=25)))
    async with store.session() as s:
        assert await appeals.prune_keys(s) == 1
        left = (await s.scalars(select(appeals.IntakeKey.key_hash))).all()
    assert left == [once[1].key_hash]
