"""One e-mail never holds the others (issue 7, item 3): a refused recipient, a hostile address
and a job whose send fails unexpectedly, each next to good jobs, on SQLite and PostgreSQL,
against a real SMTP server (aiosmtpd). And hostile addresses are refused at intake."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bridges.mail import MailSender
from council import appeals
from council.files.blobs import BlobStore
from council.models import utcnow
from council.outbox import mail as mailqueue
from council.roster import load_roster
from council.store import Store
from kabinet.config import MailConfig
from tests.appeals_support import Mailbox, appeal_fields, counts
from tests.conftest import DEMO_ROSTER
from web import appeals as web_appeals
from web.app import SiteInfo, create_app
from web.appeals import Limits
from web.security import RateLimiter

# Old rows can hold anything: each of these must be parked without an SMTP command.
HOSTILE = [
    "a\x00b@example.org",
    "root]x[@example.org",  # was sent as `RCPT TO: root`
    "victim@example.org\r\nRCPT TO:<evil@example.org>",
    "victim@example.org>\r\nBcc: evil@example.org",
    '"quoted"@example.org',
    "evil@example.org, other@example.org",
    "Display <evil@example.org>",
    "x@[127.0.0.1]",
    "not-an-address",
]


class RefusingMailbox(Mailbox):
    """aiosmtpd that refuses `refused550@…` for good, `refused450@…` for now, and notes every
    RCPT TO it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.rcpts: list[str] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        self.rcpts.append(address)
        if address.startswith("refused550@"):
            return "550 5.1.1 No such mailbox"
        if address.startswith("refused450@"):
            return "450 4.2.1 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def reset(self) -> None:
        self.messages.clear()
        self.rcpts.clear()


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[RefusingMailbox]:
    box = RefusingMailbox()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def smtp(smtp_server: RefusingMailbox) -> RefusingMailbox:
    smtp_server.reset()
    return smtp_server


@pytest.fixture
def sender(store: Store, smtp: RefusingMailbox) -> MailSender:
    cfg = MailConfig(host="127.0.0.1", port=smtp.port, tls="none", sender="rada@example.org",
                     timeout=10)
    return MailSender(store, lambda: cfg)


async def add_jobs(store: Store, *addrs: str, subject: str = "Звернення Д-2026/000001") -> list[int]:
    """Rows written straight into mail_jobs, as old rows or other code could have left them."""
    async with store.session() as s:
        jobs = [mailqueue.MailJob(key=f"test:{secrets.token_hex(8)}", to_addr=a, subject=subject,
                                  body=f"Текст листа {i}.") for i, a in enumerate(addrs)]
        s.add_all(jobs)
        await s.flush()
        return [j.id for j in jobs]


async def job(store: Store, job_id: int) -> mailqueue.MailJob:
    async with store.session() as s:
        return await s.get(mailqueue.MailJob, job_id)


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite reads back naive


async def assert_sent(store: Store, smtp: RefusingMailbox, ids_addrs: list[tuple[int, str]]) -> None:
    for job_id, addr in ids_addrs:
        assert len(smtp.to(addr)) == 1, f"{addr} got {len(smtp.to(addr))} mails"
        row = await job(store, job_id)
        assert row.status == "sent" and row.last_error is None


async def assert_backing_off(store: Store, job_id: int, error: str) -> None:
    row = await job(store, job_id)
    assert row.status == "pending" and row.attempts == 1 and error in row.last_error
    assert aware(row.next_attempt_at) > utcnow()


async def assert_parked(store: Store, job_id: int, error: str) -> None:
    row = await job(store, job_id)
    assert row.status == "failed" and error in row.last_error


def assert_no_personal_data_logged(caplog: pytest.LogCaptureFixture, ids: list[int]) -> None:
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("bridges"))
    assert "@" not in text and "Текст" not in text
    for job_id in ids:
        assert re.search(rf"mail job {job_id}\b", text)


async def test_a_refused_recipient_is_parked_or_retried_and_the_others_are_sent(
        store, smtp, sender, caplog):
    caplog.set_level(logging.INFO)
    good = ["first@example.org", "second@example.org", "third@example.org"]
    ids = await add_jobs(store, good[0], "refused550@example.org", good[1],
                         "refused450@example.org", good[2])
    assert await sender.round()
    await assert_sent(store, smtp, [(ids[0], good[0]), (ids[2], good[1]), (ids[4], good[2])])
    await assert_parked(store, ids[1], "550")
    await assert_backing_off(store, ids[3], "450")
    assert not smtp.to("refused550@example.org") and not smtp.to("refused450@example.org")
    assert await mailqueue.due(store) == []  # the 4xx one waits for its backoff
    assert_no_personal_data_logged(caplog, [ids[1], ids[3]])


async def test_hostile_addresses_are_parked_without_any_smtp_command(store, smtp, sender, caplog):
    caplog.set_level(logging.INFO)
    hostile = HOSTILE
    if not store.is_sqlite:  # PostgreSQL text cannot hold NUL, so no such old row can exist
        hostile = [a for a in HOSTILE if "\x00" not in a]
    good = [f"good{i}@example.org" for i in range(len(hostile) + 1)]
    addrs = [a for pair in zip(good, hostile, strict=False) for a in pair] + [good[-1]]
    ids = await add_jobs(store, *addrs)
    while await sender.round():
        pass
    by_addr = dict(zip(addrs, ids, strict=True))
    await assert_sent(store, smtp, [(by_addr[a], a) for a in good])
    for addr in hostile:
        await assert_parked(store, by_addr[addr], "invalid recipient address")
    assert sorted(smtp.rcpts) == sorted(good)  # not one RCPT TO for a hostile address
    assert all(m["Bcc"] is None and len(m.get_all("To")) == 1 for m in smtp.messages)
    assert_no_personal_data_logged(caplog, [by_addr[a] for a in hostile])


async def test_no_header_can_be_injected_through_the_subject(store, smtp, sender):
    [job_id] = await add_jobs(store, "reader@example.org",
                              subject="Звернення\r\nBcc: evil@example.org\r\nX-Evil: 1")
    assert await sender.round()
    await assert_sent(store, smtp, [(job_id, "reader@example.org")])
    [mail] = smtp.messages
    assert mail["Bcc"] is None and mail["X-Evil"] is None and "\n" not in mail["Subject"]
    assert smtp.rcpts == ["reader@example.org"]


async def test_an_unexpected_error_in_one_send_backs_off_that_job_only(
        store, smtp, sender, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    real_send = aiosmtplib.send

    async def send(message: Any, **kwargs: Any) -> Any:
        if message["To"] == "crash@example.org":  # a bug or library error on this one message
            raise RuntimeError("something nobody expected (crash@example.org)")
        return await real_send(message, **kwargs)

    monkeypatch.setattr(aiosmtplib, "send", send)
    ids = await add_jobs(store, "before@example.org", "crash@example.org", "after@example.org")
    assert await sender.round()
    await assert_sent(store, smtp, [(ids[0], "before@example.org"), (ids[2], "after@example.org")])
    await assert_backing_off(store, ids[1], "RuntimeError")
    assert_no_personal_data_logged(caplog, [ids[1]])
    assert "RuntimeError" in caplog.text and "nobody expected" not in caplog.text


async def test_due_jobs_are_not_starved_by_many_jobs_backing_off(store):
    later = utcnow() + timedelta(hours=1)
    async with store.session() as s:
        s.add_all(mailqueue.MailJob(key=f"waiting:{i}", to_addr="w@example.org", subject="s",
                                    body="b", next_attempt_at=later) for i in range(150))
    due_ids = await add_jobs(store, "a@example.org", "b@example.org", "c@example.org")
    assert [j.id for j in await mailqueue.due(store, limit=20)] == due_ids
    assert [j.id for j in await mailqueue.due(store, limit=2)] == due_ids[:2]


# -- intake ----------------------------------------------------------------------------------

@pytest.fixture
async def web_url(store: Store, tmp_path: Path) -> AsyncIterator[str]:
    """The appeals web app alone (no homeserver), on the `store` back end."""
    roster = load_roster(DEMO_ROSTER)
    app = create_app(SiteInfo("Тестова рада", "localhost", "http://127.0.0.1:1", "#c:localhost"),
                     roster, {})
    ctx = appeals.Context(server_name="localhost", ghost_prefix="kabinet_",
                          base_url="http://127.0.0.1:1")
    web_appeals.setup(app, web_appeals.AppealsWeb(
        store, BlobStore(tmp_path / "blobs"), ctx, secrets.token_hex(16), Limits(),
        RateLimiter(10_000, 60)))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


class _Store:  # counts() reads `.store` of what it is given
    def __init__(self, store: Store) -> None:
        self.store = store


async def post_appeal(web_url: str, email: str) -> tuple[int, dict]:
    deputy = load_roster(DEMO_ROSTER).deputies[0].id
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{web_url}/api/v1/appeals",
                             json=appeal_fields(email=email, addressee_deputy=deputy)) as resp:
            return resp.status, await resp.json()


async def test_intake_refuses_hostile_addresses_and_stores_nothing(store, web_url):
    before = await counts(_Store(store))
    for addr in HOSTILE:
        status, body = await post_appeal(web_url, addr)
        assert status == 422, (addr, status, body)
        assert body["errcode"] == "KB_INVALID_APPEAL" and set(body["fields"]) == {"email"}
    assert await counts(_Store(store)) == before


async def test_intake_stores_the_normalized_address(store, web_url):
    status, body = await post_appeal(web_url, "  Ivan.Petrenko@Example.ORG ")
    assert status == 201, body
    async with store.session() as s:
        stored = await s.scalar(select(appeals.Appeal.email).where(appeals.Appeal.number == body["number"]))
        mail_to = await s.scalar(select(mailqueue.MailJob.to_addr))
    assert stored == mail_to == "Ivan.Petrenko@example.org"


async def test_nul_characters_in_text_fields_are_dropped_not_a_server_error(store, web_url):
    """PostgreSQL refuses to store NUL: it must not turn a citizen's appeal into a 500."""
    deputy = load_roster(DEMO_ROSTER).deputies[0].id
    fields = appeal_fields(addressee_deputy=deputy, subject="Ремонт\x00 дороги",
                           text="Прошу\x00 відремонтувати дорогу.", residence="м. Тестове\x00, 1")
    async with aiohttp.ClientSession() as http, http.post(
            f"{web_url}/api/v1/appeals", json=fields) as resp:
        body = await resp.json()
        assert resp.status == 201, body
    async with store.session() as s:
        stored = await s.scalar(select(appeals.Appeal).where(appeals.Appeal.number == body["number"]))
    assert (stored.subject, stored.text) == ("Ремонт дороги", "Прошу відремонтувати дорогу.")
