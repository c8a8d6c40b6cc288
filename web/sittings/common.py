"""What the sittings pages and API share: their dependencies, path ids and download links."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from council import sittings as domain
from council.store import Store

MAX_ID = 2**63 - 1  # the store's integer keys: a larger id names nothing (and SQLite refuses it)


@dataclass
class Deps:
    store: Store
    context: Callable[[], domain.Context]
    staff_token: str | None
    on_change: Callable[[], None] = lambda: None


DEPS: web.AppKey[Deps] = web.AppKey("sittings_deps", Deps)


def download_path(sitting_id: int, item_id: int, version: int) -> str:
    return f"/sittings/{sitting_id}/drafts/{item_id}/{version}"


def path_id(text: str) -> int:
    """A positive id from the path, or 404: ASCII digits only (int() also takes "1_0", "٣")."""
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_ID:
        raise web.HTTPNotFound()
    return int(text)


def sitting_id(request: web.Request) -> int:
    return path_id(request.match_info["id"])
