"""`/cabinet`: my appeals (overdue first), the coming sittings with their drafts (new versions
since my last visit marked), my roll-call answers and commissions, and my notes, each under
the draft or appeal it is about. Only for the person signed in (`Cache-Control: private,
no-store`).

The page is rendered once per revision of what it shows (council/cabinet/revision.py: one cheap
read) and kept per session and language, in this process: a deputy with hundreds of appeals
and notes gets the kept bytes until something they would see changes. The revision is read
before the page's data, so a change committed in between makes the next request render again;
a kept page is never older than its revision."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web

from council import cabinet as domain
from council import notes, votes
from council.cabinet.revision import revision
from council.sittings.queries import local_day
from council.store import Store
from council.types import utcnow
from web import i18n
from web.accounts import signed_in, viewer_of
from web.cache import Same
from web.pages import render
from web.votes.pages import LABELS

KEPT_PAGES = 512  # (session, language) pairs; the least recently used go first


@dataclass(frozen=True)
class Kept:
    revision: tuple[Hashable, ...]
    body: bytes
    content_type: str
    language: str


@dataclass
class Deps:
    store: Store
    context: Callable[[], votes.Context]
    kept: OrderedDict[tuple[int, str], Kept] = field(default_factory=OrderedDict)
    # One render at a time per key: requests that come while it runs wait for it, instead of
    # each rendering the same page (and each marking the visit, which changes the revision).
    rendering: dict[tuple[int, str], asyncio.Lock] = field(default_factory=dict)

    def keep(self, key: tuple[int, str], page: Kept) -> None:
        self.kept[key] = page
        self.kept.move_to_end(key)
        while len(self.kept) > KEPT_PAGES:
            self.kept.popitem(last=False)


DEPS: web.AppKey[Deps] = web.AppKey("cabinet_deps", Deps)


def room_link(room_id: str | None, server_name: str) -> str | None:
    if not room_id:
        return None
    return f"https://matrix.to/#/{quote(room_id, safe='!:')}?via={quote(server_name)}"


def _grouped(found: list[notes.NoteView]) -> dict[str | None, list[notes.NoteView]]:
    groups: dict[str | None, list[notes.NoteView]] = {}
    for note in found:
        groups.setdefault(note.subject, []).append(note)
    return groups


def _answer(page: Kept) -> web.Response:
    response = web.Response(body=page.body, content_type=page.content_type, charset="utf-8")
    response.headers["Content-Language"] = page.language
    response.headers["Cache-Control"] = "private, no-store"
    return response


@signed_in()
async def cabinet_page(request: web.Request) -> web.StreamResponse:
    deps, me = request.app[DEPS], viewer_of(request)
    ctx = deps.context()
    now = utcnow()
    data = await revision(deps.store, me.mxid)
    # Days left and which sittings are still coming move with the clock: the hour is part of it.
    current = (*data, me.role, Same(ctx.roster), local_day(now, ctx.tz), now.hour)
    key = (me.session_id or 0, i18n.request_locale(request))
    if i18n.COOKIE in request.query:  # the answer also sets the language cookie
        return await _render(request, ctx)
    if (kept := _fresh(deps, key, current)) is not None:
        return _answer(kept)
    lock = deps.rendering.setdefault(key, asyncio.Lock())
    async with lock:
        # A render that finished while this request waited was read after its revision.
        if (kept := _fresh(deps, key, current)) is not None:
            return _answer(kept)
        response = await _render(request, ctx)
        assert isinstance(response.body, bytes)
        deps.keep(key, Kept(current, response.body, response.content_type, key[1]))
    if not lock.locked():
        deps.rendering.pop(key, None)
    return response


def _fresh(deps: Deps, key: tuple[int, str], current: tuple[Hashable, ...]) -> Kept | None:
    kept = deps.kept.get(key)
    if kept is None or kept.revision != current:
        return None
    deps.kept.move_to_end(key)
    return kept


async def _render(request: web.Request, ctx: votes.Context) -> web.Response:
    deps, me = request.app[DEPS], viewer_of(request)
    async with deps.store.session() as s:
        view = await domain.cabinet(s, ctx, me.identity)
        mine = await notes.for_author(s, me.mxid)
        groups = _grouped(mine)
        shown = {notes.subject_of("draft", d.item_id) for st in view.sittings for d in st.drafts}
        shown |= {notes.subject_of("appeal", a.id) for a in view.appeals}
        other_subjects = [k for k in groups if k is not None and k not in shown]
        subject_labels = await notes.subject_labels(s, other_subjects)
    context: dict[str, Any] = {
        "view": view, "notes": groups, "other_subjects": other_subjects, "subject_labels": subject_labels,
        "csrf": me.csrf, "labels": LABELS, "tz": ctx.tz,
        "room_link": lambda room_id: room_link(room_id, ctx.server_name),
    }
    response = render(request, "cabinet.html", context)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@signed_in()
async def notes_page(request: web.Request) -> web.StreamResponse:
    """My notes on one subject (`?subject=draft:12`, or none: the general ones), with the
    forms to add, edit and delete them. The cabinet lists the notes and links here, so that
    a cabinet with hundreds of items carries no form per note."""
    deps, me = request.app[DEPS], viewer_of(request)
    subject = request.query.get("subject") or None
    try:
        notes.parse_subject(subject)
    except notes.NoteError:
        raise web.HTTPNotFound() from None
    async with deps.store.session() as s:
        mine = [n for n in await notes.for_author(s, me.mxid) if n.subject == subject]
        labels = await notes.subject_labels(s, [subject] if subject else [])
    if subject and subject not in labels:
        raise web.HTTPNotFound()
    here = "/cabinet/notes" + (f"?subject={quote(subject)}" if subject else "")
    response = render(request, "cabinet_notes.html", {
        "subject": subject, "label": labels.get(subject or ""), "notes": mine, "csrf": me.csrf,
        "here": here})
    response.headers["Cache-Control"] = "private, no-store"
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/cabinet", cabinet_page, name="cabinet")
    app.router.add_get("/cabinet/notes", notes_page, name="cabinet_notes")
