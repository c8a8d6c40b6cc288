"""Reading a poll's relations back from the homeserver, for `kabinet votes audit`."""

from __future__ import annotations

from typing import Any

from mautrix.api import Method, Path

from appservice.homeserver import Homeserver


async def poll_relations(hs: Homeserver, room_id: str, poll_id: str) -> list[dict[str, Any]]:
    """Every `m.reference` relation of the poll (responses and its end) in timeline order."""
    events: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        query = {"dir": "f", "limit": "100", **({"from": token} if token else {})}
        page = await hs.request(Method.GET, Path.v1.rooms[room_id].relations[poll_id]["m.reference"],
                                query=query)
        events.extend(page.get("chunk") or [])
        token = page.get("next_batch")
        if not token:
            return events
