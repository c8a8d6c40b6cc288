"""What the notes pages and API share: their dependencies, the person a viewer is as an author,
where a form may send the browser back to, and the answers to the domain's refusals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from council import notes as domain
from council.language import Text
from council.store import Store
from web.accounts import Viewer

# The notes' refusals as (status, errcode). A note of someone else is "unknown" (404), never
# "forbidden": nobody learns that it exists. (Kept here until web/errors.DOMAIN_ERRORS lists
# NoteError; the table's entries would be the same.)
STATUS: dict[str, int] = {"KB_UNKNOWN_NOTE": 404, "KB_UNKNOWN_SUBJECT": 422,
                          "KB_NO_NOTES_ROOM": 403}


@dataclass
class Deps:
    store: Store
    on_queued: Callable[[], None] = lambda: None  # wakes delivery: a message for the notes room


DEPS: web.AppKey[Deps] = web.AppKey("notes_deps", Deps)


def author_of(me: Viewer) -> domain.Author:
    """The viewer as a note's author. The staff token is nobody: it has no notes room."""
    if me.session_id is None:
        raise domain.NoteError("KB_NO_NOTES_ROOM", Text("the staff token has no notes"))
    return domain.Author(me.mxid, me.person_id)


def safe_next(target: object, default: str = "/cabinet") -> str:
    """Only a path on this site: starts with "/", not "//" nor "/\\" (browsers read both as
    another host), no control characters."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if len(target) > 2000 or any(ord(c) < 0x20 or c == "\x7f" for c in target):
        return default
    return target


def status_of(exc: domain.NoteError) -> int:
    return STATUS.get(exc.code, 400)
