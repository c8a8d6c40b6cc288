"""The notes JSON API: `/api/v1/notes` — the signed-in person's own notes only. A session cookie
(with `X-CSRF-Token` on changes) is the way in; the staff token passes authentication but owns
no notes: it finds none (404) and may neither list nor write any (403). Someone else's note is a
404, exactly like a note that never existed."""

from __future__ import annotations

import functools
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from council import notes as domain
from council.accounts import Role
from web import openapi
from web.accounts import api_auth, viewer_of
from web.errors import domain_error, invalid, json_error, read_json
from web.notes import models
from web.notes.common import DEPS, author_of, status_of
from web.pages import path_id

ROLES: tuple[Role, ...] = ("deputy", "head", "secretariat", "administrator")
M = TypeVar("M", bound=BaseModel)
Handler = Any


def refusals(handler: Handler) -> Handler:
    """A domain refusal as its JSON error (nothing was written: the unit of work rolled back)."""
    @functools.wraps(handler)
    async def answered(request: web.Request) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except domain.NoteError as exc:
            return domain_error(exc, status_of(exc), exc.code)
    return answered


def out(note: domain.NoteView, labels: dict[str, str]) -> models.NoteOut:
    return models.NoteOut(
        id=note.id, subject=note.subject, subject_label=labels.get(note.subject or ""),
        body=note.body, created_at=note.created_at.isoformat(),
        edited_at=note.edited_at.isoformat() if note.edited_at else None, origin=note.origin)


def _answer(body: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(body.model_dump(mode="json"), status=status)


async def _body(request: web.Request, model: type[M]) -> M | web.Response:
    data = await read_json(request)  # malformed JSON: a 4xx from web.errors
    if not isinstance(data, dict):
        return json_error(400, "KB_BAD_JSON", "The body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        return invalid(exc)


def _note_id(request: web.Request) -> int:
    return path_id(request.match_info["id"])  # not a positive ASCII id: 404


async def _one(request: web.Request, note_id: int) -> web.Response:
    deps, me = request.app[DEPS], viewer_of(request)
    async with deps.store.session() as s:
        note = domain.view(await domain.own(s, me.mxid, note_id))
        labels = await domain.subject_labels(s, [note.subject])
    return _answer(out(note, labels))


@api_auth(*ROLES)
@refusals
async def api_list(request: web.Request) -> web.Response:
    deps, author = request.app[DEPS], author_of(viewer_of(request))  # the staff token: 403
    async with deps.store.session() as s:
        found = await domain.for_author(s, author.mxid)
        labels = await domain.subject_labels(s, [n.subject for n in found])
    return _answer(models.NoteList(notes=[out(n, labels) for n in found]))


@api_auth(*ROLES)
@refusals
async def api_get(request: web.Request) -> web.Response:
    return await _one(request, _note_id(request))


@api_auth(*ROLES)
@refusals
async def api_create(request: web.Request) -> web.Response:
    deps, me = request.app[DEPS], viewer_of(request)
    author = author_of(me)
    spec = await _body(request, domain.NewNote)
    if isinstance(spec, web.Response):
        return spec
    async with deps.store.session() as s:
        note = await domain.write(s, author, spec)
        view = domain.view(note)
        labels = await domain.subject_labels(s, [view.subject])
    deps.on_queued()
    return _answer(out(view, labels), 201)


@api_auth(*ROLES)
@refusals
async def api_edit(request: web.Request) -> web.Response:
    deps, me = request.app[DEPS], viewer_of(request)
    note_id = _note_id(request)
    spec = await _body(request, domain.NoteEdit)
    if isinstance(spec, web.Response):
        return spec
    async with deps.store.session() as s:
        note = await domain.edit(s, me.mxid, note_id, spec)
        view = domain.view(note)
        labels = await domain.subject_labels(s, [view.subject])
    deps.on_queued()
    return _answer(out(view, labels))


@api_auth(*ROLES)
@refusals
async def api_delete(request: web.Request) -> web.Response:
    deps, me = request.app[DEPS], viewer_of(request)
    note_id = _note_id(request)
    async with deps.store.session() as s:
        await domain.delete(s, me.mxid, note_id)
    deps.on_queued()
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/notes", api_list)
    app.router.add_post("/api/v1/notes", api_create)
    app.router.add_get("/api/v1/notes/{id}", api_get)
    app.router.add_patch("/api/v1/notes/{id}", api_edit)
    app.router.add_delete("/api/v1/notes/{id}", api_delete)
    openapi.register(app, PATHS, openapi.schemas(
        requests=[domain.NewNote, domain.NoteEdit], responses=[models.NoteOut, models.NoteList]))


_ID = {"name": "id", "in": "path", "required": True,
       "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
       "description": "The note's id; a note of someone else is a 404, as one that never existed"}
_SECURITY: list[dict[str, list[str]]] = [{"sessionCookie": []}, {"staffToken": []}]
_err = openapi.error_response
_INVALID = openapi.json_answer("Field-by-field reasons (KB_INVALID), or a subject that names no "
                               "draft or appeal (KB_UNKNOWN_SUBJECT)", openapi.FieldErrors)
_AUTH = {"401": _err("Not signed in (KB_UNAUTHORIZED)"),
         "403": _err("No CSRF token with the cookie (KB_CSRF); the staff token, which has no "
                      "notes (KB_NO_NOTES_ROOM)")}
_GONE = _err("No such note of yours (KB_UNKNOWN_NOTE)")


def _op(operation_id: str, summary: str, responses: dict[str, Any], *, body: type[BaseModel] |
        None = None, with_id: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary, "security": _SECURITY,
                          "responses": {**responses, **_AUTH}}
    if with_id:
        op["parameters"] = [_ID]
        op["responses"]["404"] = _GONE
    if body is not None:
        op["requestBody"] = openapi.request_body(body)
        op["responses"]["422"] = _INVALID
    return op


PATHS: dict[str, Any] = {
    "/api/v1/notes": {
        "get": _op("listNotes", "My notes (only the signed-in person's own)",
                   {"200": openapi.json_answer("My notes", models.NoteList)}),
        "post": _op("createNote", "Write a note; the bot posts it into my notes room",
                    {"201": openapi.json_answer("Written", models.NoteOut)}, body=domain.NewNote),
    },
    "/api/v1/notes/{id}": {
        "get": _op("getNote", "One of my notes",
                   {"200": openapi.json_answer("The note", models.NoteOut)}, with_id=True),
        "patch": _op("editNote", "Edit one of my notes (the notes room shows the new text)",
                     {"200": openapi.json_answer("Edited", models.NoteOut)}, body=domain.NoteEdit,
                     with_id=True),
        "delete": _op("deleteNote", "Delete one of my notes (its message in the room is redacted)",
                      {"204": {"description": "Deleted"}}, with_id=True),
    },
}
