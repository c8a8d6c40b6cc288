"""The appservice endpoint while Kabinet's database is away: every transaction the homeserver
retries meanwhile is refused with 503 (the homeserver keeps it and retries), no event is charged
an attempt for the outage, and the log says it once, not once per retry."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select
from sqlalchemy.exc import TimeoutError as PoolTimeout

from appservice.transactions import TransactionServer
from council.models import FailedEvent
from council.store import Store

TOKEN = "hs-token-for-the-outage-test"
ROOM = "!room:localhost"


def message(n: int) -> dict:
    return {"event_id": f"$outage-{uuid.uuid4().hex}", "room_id": ROOM, "sender": "@d:localhost",
            "type": "m.room.message", "origin_server_ts": int(time.time() * 1000),
            "content": {"msgtype": "m.text", "body": f"повідомлення {n}"}}


def topic() -> dict:
    return {"event_id": f"$outage-{uuid.uuid4().hex}", "room_id": ROOM, "sender": "@d:localhost",
            "type": "m.room.topic", "state_key": "", "origin_server_ts": int(time.time() * 1000),
            "content": {"topic": "Нова тема"}}


@pytest.fixture
async def endpoint(store: Store) -> AsyncIterator[tuple[TransactionServer, str, list[str]]]:
    server = TransactionServer(store, TOKEN)
    seen: list[str] = []

    async def handler(event, _session) -> None:
        seen.append(str(event.event_id))

    server.handlers.append(handler)
    site = TestServer(server.web_app(), host="127.0.0.1")
    await site.start_server()
    try:
        yield server, str(site.make_url("/_matrix/app/v1/transactions/")), seen
    finally:
        await site.close()


@contextlib.contextmanager
def store_away(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every unit of work fails as it does when no pooled connection can be had (a fault of the
    boundary: the real outage is tests/test_pg_restart.py's)."""
    def session() -> contextlib.AbstractAsyncContextManager:
        raise PoolTimeout("QueuePool limit reached, connection timed out")

    with monkeypatch.context() as patch:
        patch.setattr(store, "session", session)
        yield


async def put(url: str, txn: str, events: list[dict]) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.put(
            url + txn, json={"events": events},
            headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        return resp.status, await resp.json()


async def test_an_outage_refuses_transactions_with_503_says_so_once_and_charges_no_event(
        endpoint, store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    server, url, seen = endpoint
    events = [topic(), message(1), message(2)]
    with caplog.at_level(logging.INFO), store_away(store, monkeypatch):
        answers = [await put(url, "7", events) for _ in range(25)]  # the homeserver retrying
    assert {status for status, _ in answers} == {503}
    assert answers[0][1]["errcode"] == "M_UNKNOWN" and "database" in answers[0][1]["error"]
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1 and problems[0].exc_info is not None, \
        [r.getMessage() for r in problems]  # once, with its traceback; not 25 or 50 times
    assert seen == []
    async with store.session() as s:  # the outage was no event's fault
        assert await s.scalar(select(func.count()).select_from(FailedEvent)) == 0

    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert (await put(url, "7", events))[0] == 200  # the database is back: the retry
    assert seen == [e["event_id"] for e in events]  # each once
    assert any("working again after 25 failed transactions" in r.getMessage()
               for r in caplog.records)
    assert server.store_trouble.failures == 0
