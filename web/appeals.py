"""Citizens' appeals on the web: the form, the status page and the JSON API.

An appeal is committed to the store (with its room messages and receipt mail queued in the
same transaction) before the citizen gets an answer; the homeserver is never waited for, so
intake keeps working while it is down. Personal data is never echoed in errors or logs.

A citizen cut off mid-submission may simply send again: the API honours an `Idempotency-Key`
(scoped by the client's address) and the form carries a one-time, signed form token; the same
key with the same request answers the appeal it registered, for 24 hours. Dates and times are
shown in the council's time zone; API times carry their offset.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from council import appeals
from council.blobs import BlobStore
from council.models import aware
from council.store import Store
from web import openapi
from web.app import ROSTER, render
from web.appeal_api_doc import PATHS, SCHEMAS
from web.appeal_input import (
    N_,
    Checked,
    Limits,
    Submission,
    TooLarge,
    WrongType,
    check_appeal,
    read_multipart,
)
from web.errors import json_error, read_json
from web.ratelimit import RateLimiter, client_address

CSRF_COOKIE = "kb_csrf"
FORM_TOKEN = "form_token"  # the hidden field: one form, one appeal
IDEMPOTENCY_KEY = "Idempotency-Key"
KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as HTTP header tokens go
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
    # SQLite has one writer: queueing registrations here is cheaper than letting them meet
    # SQLite's busy handler, whose sleeps made the tail latency (PostgreSQL needs no lock).
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


APPEALS: web.AppKey[AppealsWeb] = web.AppKey("appeals", AppealsWeb)


def setup(app: web.Application, cfg: AppealsWeb) -> None:
    app[APPEALS] = cfg
    r = app.router
    r.add_get("/appeals/new", new_form, name="appeal_new")
    r.add_post("/appeals/new", submit_form)
    r.add_get("/appeals/{token}", status_page, name="appeal_status")
    r.add_post("/appeals/{token}/messages", follow_up_form)
    r.add_get("/appeals/{token}/files/{file_id:\\d+}", download)
    r.add_post("/api/v1/appeals", api_submit)
    r.add_get("/api/v1/appeals/{token}", api_status)
    r.add_post("/api/v1/appeals/{token}/messages", api_follow_up)
    openapi.register(app, PATHS, SCHEMAS)


# -- CSRF: a double-submit token signed with the installation's session secret ---------------

def _mac(cfg: AppealsWeb, purpose: str, text: str) -> str:
    mac = hmac.new(cfg.session_secret.encode(), f"{purpose}:{text}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def _sign(cfg: AppealsWeb, nonce: str) -> str:
    return f"{nonce}.{_mac(cfg, 'csrf', nonce)}"


def _csrf_ok(cfg: AppealsWeb, request: web.Request, submitted: Any) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not isinstance(submitted, str) or not cookie or "." not in cookie:
        return False
    nonce = cookie.split(".", 1)[0]
    return hmac.compare_digest(cookie, submitted) and hmac.compare_digest(cookie, _sign(cfg, nonce))


def _with_csrf(request: web.Request, response: web.Response, token: str) -> web.Response:
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/appeals")
    return response


def _csrf_token(cfg: AppealsWeb, request: web.Request) -> str:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if cookie and "." in cookie and hmac.compare_digest(cookie, _sign(cfg, cookie.split(".")[0])):
        return cookie
    return _sign(cfg, secrets.token_urlsafe(16))


# -- one form, one appeal: a signed form token; the API's Idempotency-Key --------------------

def _new_form_token(cfg: AppealsWeb) -> str:
    body = f"{secrets.token_urlsafe(16)}.{int(time.time())}"
    return f"{body}.{_mac(cfg, 'form', body)}"


def _form_token_ok(cfg: AppealsWeb, value: str) -> bool:
    """Ours (signed) and younger than the keys are kept: an older one could register twice."""
    body, _, mac = value.rpartition(".")
    issued = body.rpartition(".")[2]
    if not issued.isascii() or not issued.isdigit() or not hmac.compare_digest(
            mac, _mac(cfg, "form", body)):
        return False
    return 0 <= time.time() - int(issued) < appeals.KEY_RETENTION.total_seconds()


def _request_hash(checked: Checked, sub: Submission) -> str:
    """What makes two submissions the same request: the checked values and the files' bytes."""
    files = [[f.name, f.mimetype, hashlib.sha256(f.data).hexdigest()] for f in sub.files]
    canon = json.dumps({"values": checked.values, "files": files}, sort_keys=True,
                       ensure_ascii=False, default=list)
    return hashlib.sha256(canon.encode()).hexdigest()


async def _once(cfg: AppealsWeb, scoped_key: str, checked: Checked, sub: Submission
                ) -> appeals.Idempotency:
    """The key's hash (all the store keeps), the request's hash, and the status token: derived
    from the key with the session secret, so a replay can answer it and a copy of the
    database alone still opens nothing."""
    mac = hmac.new(cfg.session_secret.encode(), f"appeal-token:{scoped_key}".encode(),
                   hashlib.sha256).digest()[:appeals.TOKEN_BYTES]
    request_hash = await asyncio.to_thread(_request_hash, checked, sub)
    return appeals.Idempotency(
        key_hash=hashlib.sha256(f"intake-key:{scoped_key}".encode()).hexdigest(),
        request_hash=request_hash, token=base64.urlsafe_b64encode(mac).decode().rstrip("="))


async def _registered_by(cfg: AppealsWeb, once: appeals.Idempotency) -> appeals.Appeal | None:
    async with cfg.store.session() as s:  # a read of its own: see appeals.next_number
        return await appeals.by_key(s, once)


# -- shared ----------------------------------------------------------------------------------

def _limited(cfg: AppealsWeb, request: web.Request) -> float:
    return cfg.limiter.check(client_address(request))


def _local(cfg: AppealsWeb, moment: datetime) -> datetime:
    return aware(moment).astimezone(cfg.ctx.tz)


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
    registered and nothing new (files included); appeals.KeyReused for another request."""
    if once is not None and (found := await _registered_by(cfg, once)) is not None:
        return found, once.token, True
    v = checked.values
    new = appeals.NewAppeal(
        name=v["name"], residence=v["residence"], subject=v["subject"], text=v["text"],
        email=v["email"], phone=v["phone"], addressee_kind=v["addressee_kind"],
        addressee_deputy=v["addressee_deputy"], addressee_district=v["addressee_district"],
        candidates=v["candidates"], type=v["type"], lang=lang)
    new = dataclasses.replace(new, attachments=await _store_files(cfg, sub))
    try:
        async with _writing(cfg):
            # A twin (double click) may have committed while this one stored its files.
            if once is not None and (found := await _registered_by(cfg, once)) is not None:
                return found, once.token, True
            async with cfg.store.session() as s:
                appeal, token = await appeals.register(s, cfg.ctx, new,
                                                       token=once.token if once else None)
                if once is not None:
                    await appeals.remember_key(s, once, appeal.id)
    except IntegrityError:  # PostgreSQL: a concurrent twin committed the key first
        if once is None or (found := await _registered_by(cfg, once)) is None:
            raise
        return found, once.token, True
    assert token is not None
    cfg.on_registered()
    return appeal, token, False


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


def _limits_message(cfg: AppealsWeb) -> str:
    return TOO_LARGE.format(**_limits_args(cfg))


# -- HTML ------------------------------------------------------------------------------------

def _form_context(request: web.Request, values: dict[str, Any], errors: dict[str, str],
                  message: str | None = None, form_token: str | None = None) -> dict[str, Any]:
    roster = request.app[ROSTER]
    districts = sorted({d.district for d in roster.deputies if d.district})
    cfg = request.app[APPEALS]
    return {"values": values, "errors": errors, "message": message, "args": {},
            "deputies": roster.deputies, "form_token": form_token or _new_form_token(cfg),
            "districts": districts, "limits": cfg.limits}


async def new_form(request: web.Request) -> web.Response:
    cfg = request.app[APPEALS]
    token = _csrf_token(cfg, request)
    ctx = _form_context(request, {}, {})
    resp = render(request, "appeal_new.html", {**ctx, "csrf": token})
    resp.headers["Cache-Control"] = "no-store"  # a cached page would share its form token
    return _with_csrf(request, resp, token)


async def submit_form(request: web.Request) -> web.Response:
    cfg = request.app[APPEALS]
    wait = _limited(cfg, request)
    if wait:
        resp = render(request, "appeal_error.html", {"message": TOO_MANY}, status=429)
        resp.headers["Retry-After"] = cfg.limiter.retry_after(wait)
        return resp
    token = _csrf_token(cfg, request)
    try:
        sub = await read_multipart(request, cfg.limits) if request.content_type.startswith(
            "multipart/") else Submission(fields=dict(await request.post()))
    except TooLarge:
        return _form_error(request, token, {}, TOO_LARGE, 413, args=_limits_args(cfg))
    except WrongType:
        return _form_error(request, token, {}, WRONG_TYPE, 415)
    if not _csrf_ok(cfg, request, sub.fields.get("csrf")):
        return render(request, "appeal_error.html", {"message": EXPIRED}, status=403)
    values = {k: v for k, v in sub.fields.items() if k not in ("csrf", "website", FORM_TOKEN)}
    if sub.fields.get("website"):  # the honeypot: people do not see this field
        return _form_error(request, token, values, N_("The form could not be accepted."), 400)
    form_token = sub.fields.get(FORM_TOKEN) or None  # absent: a page older than the token
    if form_token is not None and not (isinstance(form_token, str) and _form_token_ok(cfg, form_token)):
        return _form_error(request, token, values, EXPIRED, 403)
    checked = check_appeal(sub.fields, request.app[ROSTER])
    if checked.errors:
        message = (N_("Anonymous appeals are not considered.") if checked.anonymous
                   else N_("Please correct the marked fields."))
        return _form_error(request, token, values, message, 422, checked.errors,
                           form_token=form_token)
    once = await _once(cfg, f"form:{form_token}", checked, sub) if form_token else None
    try:
        _, appeal_token, _ = await _register(cfg, checked, sub, _lang(request), once)
    except appeals.KeyReused:  # Back, an edit, Send: not silently the old appeal, nor a new one
        return _form_error(request, token, values, ALREADY_SENT, 409)
    raise web.HTTPSeeOther(f"/appeals/{appeal_token}?new=1")


def _form_error(request: web.Request, token: str, values: dict[str, Any], message: str,
                status: int, errors: dict[str, str] | None = None,
                args: dict[str, int] | None = None, form_token: str | None = None
                ) -> web.Response:
    ctx = {**_form_context(request, values, errors or {}, message, form_token), "csrf": token,
           "args": args or {}}
    return _with_csrf(request, render(request, "appeal_new.html", ctx, status=status), token)


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


async def status_page(request: web.Request) -> web.Response:
    found = await _find(request)
    if found is None:
        raise web.HTTPNotFound()
    appeal, events, files, _ = found
    cfg = request.app[APPEALS]
    token = _csrf_token(cfg, request)
    ctx = {"appeal": appeal, "events": events, "token": request.match_info["token"],
           "local": lambda moment: _local(cfg, moment),
           "answer_files": [f for f in files if f.origin == "answer"],
           "my_files": [f for f in files if f.origin == "citizen"],
           "new": request.query.get("new") == "1", "csrf": token,
           "sent": request.query.get("sent") == "1", "message": None}
    resp = render(request, "appeal_status.html", ctx)
    resp.headers["Cache-Control"] = "no-store"
    return _with_csrf(request, resp, token)


async def _refused_follow_up(cfg: AppealsWeb, token: str) -> tuple[int, str] | None:
    """Checked before the body is read: a wrong or closed appeal's files are never stored."""
    async with cfg.store.session() as s:
        appeal = await appeals.by_token(s, token)
    if appeal is None:
        return 404, NO_APPEAL
    if appeal.status == "closed":
        return 409, CLOSED
    return None


async def follow_up_form(request: web.Request) -> web.Response:
    cfg = request.app[APPEALS]
    wait = _limited(cfg, request)
    if wait:
        raise web.HTTPTooManyRequests(headers={"Retry-After": cfg.limiter.retry_after(wait)})
    refused = await _refused_follow_up(cfg, request.match_info["token"])
    if refused is not None:
        return render(request, "appeal_error.html", {"message": refused[1]}, status=refused[0])
    try:
        sub = await _read(request, cfg)
    except (TooLarge, WrongType, _Bad) as exc:
        status = 413 if isinstance(exc, TooLarge) else 415 if isinstance(exc, WrongType) else 400
        message = TOO_LARGE if status == 413 else WRONG_TYPE if status == 415 else EXPIRED
        return render(request, "appeal_error.html", {"message": message,
                                                     "args": _limits_args(cfg)}, status=status)
    if not _csrf_ok(cfg, request, sub.fields.get("csrf")):
        return render(request, "appeal_error.html", {"message": EXPIRED}, status=403)
    token = request.match_info["token"]
    result = await _follow_up(cfg, token, sub)
    if result is not None:
        return render(request, "appeal_error.html", {"message": result[1]}, status=result[0])
    raise web.HTTPSeeOther(f"/appeals/{token}?sent=1")


async def _follow_up(cfg: AppealsWeb, token: str, sub: Submission) -> tuple[int, str] | None:
    text = sub.fields.get("text")
    text = text.strip() if isinstance(text, str) else ""
    if not text and not sub.files:
        return 422, N_("Write a message or attach a file.")
    if len(text) > 20000:
        return 422, N_("Required, 5 to 20000 characters.")
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


async def download(request: web.Request) -> web.StreamResponse:
    found = await _find(request)
    if found is None:
        raise web.HTTPNotFound()
    wanted = int(request.match_info["file_id"])
    f = next((a for a in found[2] if a.id == wanted), None)
    if f is None:
        raise web.HTTPNotFound()
    data = await asyncio.to_thread(request.app[APPEALS].blobs.read, f.sha256)
    return web.Response(body=data, content_type=f.mimetype, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(f.name)}",
        "Cache-Control": "private, no-store"})


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


# -- JSON API --------------------------------------------------------------------------------

async def _api_read(request: web.Request, cfg: Any,
                    before_body: Callable[[], Awaitable[web.Response | None]] | None = None) -> Any:
    """The rate limit, then the body (JSON or multipart) as a submission, or the JSON error
    (429, 413, 415, 400) to answer with; nothing is stored before this passes. `before_body`
    may refuse (its answer is returned) before the body is read."""
    wait = _limited(cfg, request)
    if wait:
        resp = json_error(429, "KB_RATE_LIMITED", "Too many requests from this address",
                          retry_after=round(wait, 1))
        resp.headers["Retry-After"] = cfg.limiter.retry_after(wait)
        return resp
    if before_body is not None and (refused := await before_body()) is not None:
        return refused
    try:
        return await _read(request, cfg)
    except TooLarge:
        return json_error(413, "KB_TOO_LARGE", _limits_message(cfg))
    except WrongType:
        return json_error(415, "KB_UNSUPPORTED_MEDIA_TYPE", WRONG_TYPE)
    except _Bad:
        return json_error(400, "KB_BAD_REQUEST", "Send JSON or multipart/form-data")


async def api_submit(request: web.Request) -> web.Response:
    cfg = request.app[APPEALS]
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is not None and not KEY_RE.fullmatch(key):
        return json_error(400, "KB_BAD_IDEMPOTENCY_KEY",
                          "Idempotency-Key must be 1 to 255 visible ASCII characters")
    sub = await _api_read(request, cfg)
    if isinstance(sub, web.Response):
        return sub
    checked = check_appeal(sub.fields, request.app[ROSTER])
    if checked.errors:
        if checked.anonymous:
            return json_error(422, "KB_APPEAL_ANONYMOUS", "Anonymous appeals are not considered "
                              "(art. 8 of the Law of Ukraine \"On citizens' appeals\")",
                              fields=checked.errors)
        return json_error(422, "KB_INVALID_APPEAL", "Some fields are invalid", fields=checked.errors)
    # Scoped by the client: two clients that happen to pick one key never meet.
    once = (await _once(cfg, f"api:{client_address(request)}:{key}", checked, sub)
            if key is not None else None)
    try:
        appeal, token, replayed = await _register(cfg, checked, sub, _lang(request), once)
    except appeals.KeyReused:
        return json_error(422, "KB_IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was already "
                          "used for a different request; use a new key for a new appeal")
    return web.json_response({
        "number": appeal.number, "token": token, "status_url": cfg.ctx.status_url(token),
        "deadline": appeal.deadline.isoformat()}, status=201,
        headers={"Idempotent-Replayed": "true"} if replayed else None)


async def api_status(request: web.Request) -> web.Response:
    found = await _find(request)
    if found is None:
        return json_error(404, "KB_NOT_FOUND", "No appeal with this token")
    appeal, events, files, _ = found
    token = request.match_info["token"]
    cfg = request.app[APPEALS]
    base = f"{cfg.ctx.base_url}/appeals/{token}/files"
    answer = None
    if appeal.answer_text:
        answer = {"text": appeal.answer_text, "answered_at": _iso(cfg, appeal.answered_at),
                  "attachments": [{"name": f.name, "mimetype": f.mimetype, "size": f.size,
                                   "url": f"{base}/{f.id}"} for f in files if f.origin == "answer"]}
    return web.json_response({
        "number": appeal.number, "status": appeal.status,
        "registered_at": _iso(cfg, appeal.registered_at), "deadline": appeal.deadline.isoformat(),
        "history": [{"kind": e.kind, "status": e.status, "at": _iso(cfg, e.at), "note": e.note}
                    for e in events],
        "answer": answer}, headers={"Cache-Control": "no-store"})


def _follow_up_error(status: int, message: str) -> web.Response:
    code = {404: "KB_NOT_FOUND", 409: "KB_APPEAL_CLOSED"}.get(status, "KB_INVALID_MESSAGE")
    return json_error(status, code, message,
                      **({"fields": {"text": message}} if status == 422 else {}))


async def api_follow_up(request: web.Request) -> web.Response:
    cfg = request.app[APPEALS]
    token = request.match_info["token"]

    async def appeal_open() -> web.Response | None:
        refused = await _refused_follow_up(cfg, token)
        return _follow_up_error(*refused) if refused is not None else None

    sub = await _api_read(request, cfg, before_body=appeal_open)
    if isinstance(sub, web.Response):
        return sub
    result = await _follow_up(cfg, token, sub)
    if result is not None:
        return _follow_up_error(*result)
    return web.json_response({"ok": True}, status=201)
