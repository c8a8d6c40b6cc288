"""Shared by the appeals pages and API: the config, its key, messages, reading and registering."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web
from pydantic import ValidationError

from council import appeals
from council.appeals.intake import Intake
from council.files.blobs import BlobStore
from council.store import Store
from web.appeals.input import (
    N_,
    Checked,
    Limits,
    Submission,
    read_multipart,
)
from web.appeals.models import AppealMessage
from web.errors import read_json
from web.security import RateLimiter, client_address

TOO_LARGE = N_("The attachments are too large or too many: at most {n} files, {mb} MB each.")
TOO_MANY = N_("Too many submissions from your address. Please try again later.")
EXPIRED = N_("The form has expired or did not come from this site. Please open it again and resend.")
WRONG_TYPE = N_("Attachments must be PDF, JPEG, PNG or DOCX files.")
ALREADY_SENT = N_("This form was already sent and registered. To send another appeal, check the "
                  "form and send it again.")
NO_APPEAL = N_("No appeal with this link.")
CLOSED = N_("The appeal is closed.")


@dataclass
class AppealsWeb:
    store: Store
    blobs: BlobStore
    ctx: appeals.Context
    session_secret: str
    limits: Limits
    limiter: RateLimiter
    on_registered: Callable[[], None] = lambda: None
    # SQLite has one writer: queueing follow-ups here is cheaper than letting them meet
    # SQLite's busy handler, whose sleeps made the tail latency (PostgreSQL needs no lock).
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Registrations are group-committed, started and stopped with the app (web.appeals.setup).
    intake: Intake = field(init=False)

    def __post_init__(self) -> None:
        self.intake = Intake(self.store, self.ctx)


APPEALS: web.AppKey[AppealsWeb] = web.AppKey("appeals", AppealsWeb)


async def _registered_by(cfg: AppealsWeb, once: appeals.Idempotency) -> appeals.Appeal | None:
    async with cfg.store.session() as s:  # a read of its own: see appeals.next_number
        return await appeals.by_key(s, once)


def _limited(cfg: AppealsWeb, request: web.Request) -> float:
    return cfg.limiter.check(client_address(request))


def _local(cfg: AppealsWeb, moment: datetime) -> datetime:
    return moment.astimezone(cfg.ctx.tz)


def _iso(cfg: AppealsWeb, moment: datetime | None) -> str | None:
    """API times: the council's local time with its offset (+02:00 / +03:00)."""
    return _local(cfg, moment).isoformat() if moment is not None else None


async def _store_files(cfg: AppealsWeb, sub: Submission) -> tuple[appeals.StoredFile, ...]:
    out = []
    for f in sub.files:
        sha = await asyncio.to_thread(cfg.blobs.put, f.data)
        out.append(appeals.StoredFile(sha, f.name, f.mimetype, len(f.data)))
    return tuple(out)


async def _register(cfg: AppealsWeb, checked: Checked, sub: Submission, lang: str,
                    once: appeals.Idempotency | None = None) -> tuple[appeals.Appeal, str, bool]:
    """(appeal, token, replayed): with a key already used for this request, the appeal it
    registered and nothing new (files included); appeals.KeyReused for another request.
    Answered once the appeal is committed, with the others submitted meanwhile (intake)."""
    if once is not None and (found := await _registered_by(cfg, once)) is not None:
        return found, once.token, True
    v = checked.values
    new = appeals.NewAppeal(
        name=v["name"], residence=v["residence"], subject=v["subject"], text=v["text"],
        email=v["email"], phone=v["phone"], addressee_kind=v["addressee_kind"],
        addressee_deputy=v["addressee_deputy"], addressee_district=v["addressee_district"],
        candidates=v["candidates"], type=v["type"], lang=lang)
    new = dataclasses.replace(new, attachments=await _store_files(cfg, sub))
    # A twin (double click) that committed while this one stored its files is its replay.
    done = await cfg.intake.register(new, once)
    if not done.replayed:
        cfg.on_registered()
    return done.appeal, done.token, done.replayed


@asynccontextmanager
async def _writing(cfg: AppealsWeb) -> AsyncIterator[None]:
    if cfg.store.is_sqlite:
        async with cfg.write_lock:
            yield
    else:
        yield


async def _read(request: web.Request, cfg: AppealsWeb) -> Submission:
    """Malformed bodies raise BadInput (a 4xx from web.errors), too large ones TooLarge."""
    if request.content_type == "application/json":
        data = await read_json(request)
        if not isinstance(data, dict):
            raise _Bad()
        return Submission(fields=data)
    if request.content_type.startswith("multipart/"):
        return await read_multipart(request, cfg.limits)
    if request.content_type == "application/x-www-form-urlencoded":
        return Submission(fields=dict(await request.post()))
    raise _Bad()


class _Bad(Exception):  # a body that is not JSON nor a form
    pass


def _limits_args(cfg: AppealsWeb) -> dict[str, int]:
    return {"n": cfg.limits.max_attachments, "mb": cfg.limits.max_attachment_bytes // (1024 * 1024)}



def _lang(request: web.Request) -> str:
    from web.i18n import request_locale

    return request_locale(request)


async def _find(request: web.Request) -> tuple[appeals.Appeal, list, list, list] | None:
    cfg = request.app[APPEALS]
    async with cfg.store.session() as s:
        appeal = await appeals.by_token(s, request.match_info["token"])
        if appeal is None:
            return None
        return (appeal, await appeals.history(s, appeal.id), await appeals.attachments(s, appeal.id),
                await appeals.messages(s, appeal.id))


async def _refused_follow_up(cfg: AppealsWeb, token: str) -> tuple[int, str] | None:
    """Checked before the body is read: a wrong or closed appeal's files are never stored."""
    async with cfg.store.session() as s:
        appeal = await appeals.by_token(s, token)
    if appeal is None:
        return 404, NO_APPEAL
    if appeal.status == "closed":
        return 409, CLOSED
    return None


async def _follow_up(cfg: AppealsWeb, token: str, sub: Submission) -> tuple[int, str] | None:
    try:  # NUL dropped (PostgreSQL refuses it), stripped, at most 20,000 characters
        text = AppealMessage.model_validate({"text": sub.fields.get("text")}).text or ""
    except ValidationError:
        return 422, N_("Required, 5 to 20000 characters.")
    if not text and not sub.files:
        return 422, N_("Write a message or attach a file.")
    files = await _store_files(cfg, sub)
    async with _writing(cfg), cfg.store.session() as s:
        appeal = await appeals.by_token(s, token)  # again: it may have closed meanwhile
        if appeal is None:
            return 404, NO_APPEAL
        if appeal.status == "closed":
            return 409, CLOSED
        await appeals.follow_up(s, cfg.ctx, appeal, text, files)
    cfg.on_registered()
    return None
