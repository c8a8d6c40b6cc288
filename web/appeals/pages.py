"""The HTML pages: the appeal form, the status page, the follow-up form and file downloads."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from council import appeals
from web.appeals.common import (
    ALREADY_SENT,
    APPEALS,
    EXPIRED,
    TOO_LARGE,
    TOO_MANY,
    WRONG_TYPE,
    _Bad,
    _find,
    _follow_up,
    _lang,
    _limited,
    _limits_args,
    _local,
    _read,
    _refused_follow_up,
    _register,
)
from web.appeals.input import (
    N_,
    Submission,
    TooLarge,
    WrongType,
    check_appeal,
    read_multipart,
)
from web.appeals.tokens import (
    FORM_TOKEN,
    _csrf_ok,
    _csrf_token,
    _form_token_ok,
    _new_form_token,
    _once,
    _with_csrf,
)
from web.pages import ROSTER, render

# -- HTML ------------------------------------------------------------------------------------

def _form_context(request: web.Request, values: dict[str, Any], errors: dict[str, str],
                  message: str | None = None, form_token: str | None = None) -> dict[str, Any]:
    roster = request.app[ROSTER]
    districts = sorted({d.district for d in roster.deputies if d.district})
    cfg = request.app[APPEALS]
    return {"values": values, "errors": errors, "message": message, "args": {},
            "deputies": roster.deputies, "form_token": form_token or _new_form_token(cfg),
            "districts": districts, "limits": cfg.limits}


def _chosen(request: web.Request) -> dict[str, Any]:
    """`?deputy=<id>` (the directory's "write an appeal to this deputy"): that deputy is the
    addressee; an id not in the roster is ignored."""
    wanted = request.query.get("deputy", "")
    if any(d.id == wanted for d in request.app[ROSTER].deputies):
        return {"addressee": f"deputy:{wanted}"}
    return {}


async def new_form(request: web.Request) -> web.Response:
    cfg = request.app[APPEALS]
    token = _csrf_token(cfg, request)
    ctx = _form_context(request, _chosen(request), {})
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
           "sent": request.query.get("sent") == "1", "message": None,
           "mail_waits": bool(appeal.email) and not cfg.ctx.mail_configured}
    resp = render(request, "appeal_status.html", ctx)
    resp.headers["Cache-Control"] = "no-store"
    return _with_csrf(request, resp, token)


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
