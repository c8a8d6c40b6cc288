"""Helpers for tests/test_scale_out.py: Kabinet processes as real children, the store's
delivery counts, the staff API's draft upload, and a room's whole history as a client reads it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
from nio import AsyncClient, RoomMessagesResponse
from sqlalchemy import select, text

from council.outbox import mail as mailqueue
from council.store import Store
from tests.conftest import REPO


class Process:
    """`python -m kabinet …` as a child process, its output in a file."""

    def __init__(self, name: str, args: list[str], log: Path, web_port: int) -> None:
        self.name, self.args, self.log = name, args, log
        self.url = f"http://127.0.0.1:{web_port}"
        self.web_url = self.url  # what tests.appeals_support.submit posts to
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        out = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kabinet", *self.args, cwd=REPO, stdout=out,
            stderr=asyncio.subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        out.close()

    async def health(self) -> dict[str, Any] | None:
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http, \
                    http.get(f"{self.url}/healthz") as resp:
                return await resp.json()
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError):
            return None

    async def leading(self) -> bool:
        return bool((await self.health() or {}).get("leader", {}).get("leading"))

    async def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.returncode is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
        body = await self.health()
        return bool(body and body.get("ready"))

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def counts(store: Store) -> dict[str, int]:
    async with store.session() as s:
        rows = await s.execute(text("SELECT status, count(*) FROM outbox GROUP BY status"))
        return {status: n for status, n in rows.all()}


async def publish_draft(proc: Process, http: aiohttp.ClientSession, sitting: int, number: int,
                        pdf: bytes, token: str) -> None:
    form = aiohttp.FormData()
    for k, v in {"number": str(number), "title": f"Про питання {number}", "initiator": "Виконком"}.items():
        form.add_field(k, v)
    form.add_field("file", pdf, filename=f"proekt-{number}.pdf", content_type="application/pdf")
    async with http.post(f"{proc.url}/api/v1/sittings/{sitting}/drafts", data=form,
                         headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 201, await r.text()


async def timeline(client: AsyncClient, room_id: str) -> list[dict[str, Any]]:
    """Every event of the room, oldest first, as the client reads history."""
    events: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        resp = await client.room_messages(room_id, start=token, limit=100)
        assert isinstance(resp, RoomMessagesResponse), resp
        events.extend(e.source for e in resp.chunk)
        if not resp.chunk or not resp.end or resp.end == token:
            return list(reversed(events))
        token = resp.end


async def sent_at_least(store: Store, n: int) -> bool:
    return (await counts(store)).get("sent", 0) >= n


async def all_done(store: Store) -> bool:
    now = await counts(store)
    assert not now.get("failed"), now
    async with store.session() as s:
        mail = (await s.execute(select(mailqueue.MailJob.status))).scalars().all()
    return not now.get("pending") and all(status == "sent" for status in mail)
