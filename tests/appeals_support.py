"""Helpers for the appeals tests: a real SMTP server (aiosmtpd), sample files, Matrix reads."""

from __future__ import annotations

import io
import zipfile
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import aiohttp
from aiosmtpd.controller import Controller
from mautrix.api import Method, Path
from sqlalchemy import func, select

from council import appeals
from council import rooms as registry
from council.models import OutboxMessage
from council.outbox import mail as mailqueue
from tests.conftest import free_port
from tests.matrix_helpers import wait_for

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


class Mailbox:
    """A real SMTP server on a free port; keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def to(self, addr: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == addr]

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


def mail_settings(box: Mailbox) -> dict[str, Any]:
    return {"mail.host": "127.0.0.1", "mail.port": box.port, "mail.tls": "none",
            "mail.from": "rada@example.org"}


def appeal_fields(**over: Any) -> dict[str, Any]:
    return {"name": "Литвин Ганна Степанівна", "residence": "с. Тестове, вул. Садова, 3",
            "email": "hanna@example.org", "phone": "+380671234567", "subject": "Ремонт дороги",
            "text": "Прошу відремонтувати дорогу на вулиці Садовій.", "consent": True,
            "addressee_deputy": "bondar", **over}


def form(fields: dict[str, Any], files: list[tuple[str, bytes, str]] = ()) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for k, v in fields.items():
        if v is None:
            continue
        data.add_field(k, "true" if v is True else str(v))
    for name, content, ctype in files:
        data.add_field("attachments", content, filename=name, content_type=ctype)
    return data


async def room_of(kabinet: Any, appeal_id: int, timeout: float = 60) -> str:
    async def found() -> str | None:
        return (await registry.room_map(kabinet.store)).get(f"appeal:{appeal_id}")
    return await wait_for(found, timeout=timeout, what=f"the room of appeal {appeal_id}")


async def appeal_id(kabinet: Any, number: str) -> int:
    async with kabinet.store.session() as s:
        return await s.scalar(select(appeals.Appeal.id).where(appeals.Appeal.number == number))


async def timeline(kabinet: Any, room_id: str, limit: int = 100) -> list[dict]:
    """The room's events, oldest first, read as the bot."""
    resp = await kabinet.hs.request(Method.GET, Path.v3.rooms[room_id].messages,
                                    query={"dir": "b", "limit": str(limit)})
    return list(reversed(resp["chunk"]))


async def counts(kabinet: Any) -> tuple[int, int, int, int]:
    """Rows that a refused submission must not add: appeals, attachments, outbox, mail."""
    async with kabinet.store.session() as s:
        return (await s.scalar(select(func.count()).select_from(appeals.Appeal)),
                await s.scalar(select(func.count()).select_from(appeals.AppealAttachment)),
                await s.scalar(select(func.count()).select_from(OutboxMessage)),
                await s.scalar(select(func.count()).select_from(mailqueue.MailJob)))


# -- talking to a running installation (its web API, its rooms through a deputy's nio client) ---

async def submit(inst: Any, fields: dict, files: Any = ()) -> dict:
    async with aiohttp.ClientSession() as http, http.post(
            f"{inst.web_url}/api/v1/appeals", data=form(fields, files)) as resp:
        body = await resp.json()
        assert resp.status == 201, body
        return body


async def api_status(inst: Any, token: str) -> dict:
    async with aiohttp.ClientSession() as http, http.get(
            f"{inst.web_url}/api/v1/appeals/{token}") as resp:
        assert resp.status == 200
        return await resp.json()


async def joined(client: Any, room_id: str) -> bool:
    return room_id in (await client.joined_rooms()).rooms


async def say(client: Any, room_id: str, body: str, **extra: Any) -> str:
    resp = await client.room_send(room_id, "m.room.message",
                                  {"msgtype": "m.text", "body": body, **extra})
    return resp.event_id


async def bot_reply(inst: Any, room_id: str, event_id: str, timeout: float = 30) -> dict:
    """The bot's notice replying to an event (a command), as the whole event."""
    bot = inst.kabinet.hs.bot_mxid

    async def found() -> dict | None:
        for e in await timeline(inst.kabinet, room_id):
            rel = e["content"].get("m.relates_to", {}).get("m.in_reply_to", {})
            if e["sender"] == bot and rel.get("event_id") == event_id:
                return e
        return None
    return await wait_for(found, timeout=timeout, what="the bot's reply")


async def bot_reply_to(inst: Any, room_id: str, event_id: str, timeout: float = 30) -> str:
    """The body of the bot's notice replying to an event (a command)."""
    return (await bot_reply(inst, room_id, event_id, timeout))["content"]["body"]


async def bot_edits(inst: Any, room_id: str, event_id: str) -> list[str]:
    """The new bodies of the bot's edits (m.replace) of one of its messages, oldest first."""
    return [e["content"]["m.new_content"]["body"] for e in await timeline(inst.kabinet, room_id)
            if e["sender"] == inst.kabinet.hs.bot_mxid
            and e["content"].get("m.relates_to", {}).get("rel_type") == "m.replace"
            and e["content"]["m.relates_to"].get("event_id") == event_id]
