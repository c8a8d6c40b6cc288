"""What the sittings pages and API share: their dependencies, path ids and download links."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


