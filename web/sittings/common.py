"""What the sittings pages and API share: their dependencies, path ids and download links."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web

from council import sittings as domain
from council.store import Store


@dataclass
class Deps:
    store: Store
    context: Callable[[], domain.Context]
    staff_token: str | None
    on_change: Callable[[], None] = lambda: None


DEPS: web.AppKey[Deps] = web.AppKey("sittings_deps", Deps)


def download_path(sitting_id: int, item_id: int, version: int) -> str:
    return f"/sittings/{sitting_id}/drafts/{item_id}/{version}"


def matrix_to(room_id: str | None, event_id: str | None = None, *, via: str) -> str | None:
    """A matrix.to link to a room (or to one event in it) that any Matrix client opens; None
    while there is no room. `via` is a server in the room, so a client can find it."""
    if not room_id:
        return None
    target = quote(room_id, safe="!:") + (f"/{quote(event_id, safe='$:')}" if event_id else "")
    return f"https://matrix.to/#/{target}?via={quote(via)}"
