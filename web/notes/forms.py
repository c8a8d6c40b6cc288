"""The cabinet's note forms (no script needed): add, edit, delete, each answered with a 303 back
to the page it came from (`next`, a path on this site only). A bad CSRF token is a 403, bad
input a 4xx page, someone else's note the 404 page; nothing is written then."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from council import notes as domain
from web.accounts import form_ok, signed_in, viewer_of
from web.errors import N_
from web.notes.common import DEPS, author_of, safe_next, status_of
from web.pages import path_id, render

MESSAGES = {
    403: N_("The form has expired. Reload the page and try again."),
    404: N_("There is no such note."),
    422: N_("A note must be 1 to 10,000 characters, about a draft or an appeal that exists."),
}


def _refused(request: web.Request, status: int) -> web.Response:
    if status == 404:
        return render(request, "404.html", {}, status=404)
    return render(request, "error.html", {"message": MESSAGES.get(status, MESSAGES[422])},
                  status=status)


async def _form(request: web.Request) -> Any:
    """The posted form (parsed once by web.errors' guard, under its body checks)."""
    return await request.post()


async def _run(request: web.Request, action: Any) -> web.StreamResponse:
    """Check the CSRF token, run `action(session, form)` in one unit of work, go back."""
    form = await _form(request)
    if not form_ok(request, form):
        return _refused(request, 403)
    deps = request.app[DEPS]
    try:
        async with deps.store.session() as s:
            await action(s, form)
    except domain.NoteError as exc:
        return _refused(request, status_of(exc))
    except ValidationError:
        return _refused(request, 422)
    deps.on_queued()
    raise web.HTTPSeeOther(safe_next(form.get("next")))


def _text(form: Any, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


@signed_in()
async def add_note(request: web.Request) -> web.StreamResponse:
    author = author_of(viewer_of(request))

    async def write(s: Any, form: Any) -> None:
        spec = domain.NewNote(subject=_text(form, "subject") or None, body=_text(form, "body") or "")
        await domain.write(s, author, spec)
    return await _run(request, write)


@signed_in()
async def edit_note(request: web.Request) -> web.StreamResponse:
    me, note_id = viewer_of(request), path_id(request.match_info["id"])

    async def edit(s: Any, form: Any) -> None:
        await domain.edit(s, me.mxid, note_id, domain.NoteEdit(body=_text(form, "body") or ""))
    return await _run(request, edit)


@signed_in()
async def delete_note(request: web.Request) -> web.StreamResponse:
    me, note_id = viewer_of(request), path_id(request.match_info["id"])

    async def delete(s: Any, _form: Any) -> None:
        await domain.delete(s, me.mxid, note_id)
    return await _run(request, delete)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/cabinet/notes", add_note)
    app.router.add_post("/cabinet/notes/{id}", edit_note)
    app.router.add_post("/cabinet/notes/{id}/delete", delete_note)
