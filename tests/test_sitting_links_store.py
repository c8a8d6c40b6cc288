"""Where a sitting is in Matrix, read from the store (SQLite and PostgreSQL) for the web's links:
no room and no events before the appservice has made them, no event for a draft still queued,
the delivered event of each version's message in the sitting room (not the commission's copy),
a dropped file's own event; and the sitting page's revision changes with each of them, so a
cached page never hides a link that exists (council/sittings/links.py, web/sittings/pages.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from council import outbox
from council import rooms as registry
from council import sittings as domain
from council.models import OutboxMessage
from council.sittings.links import MatrixPlaces, matrix_places
from council.store import Store
from tests.test_sittings_store import KYIV, ctx, draft, new_sitting, pdf
from web.sittings.pages import revision_reader

__all__ = ["ctx"]


async def mark_delivered(store: Store, key: str, event_id: str) -> None:
    async with store.session() as s:
        message_id = await s.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key))
    assert message_id is not None, key
    await outbox.mark_sent(store, message_id, event_id)


async def test_links_appear_once_the_room_is_made_and_each_message_delivered(
        store: Store, ctx: domain.Context) -> None:
    sitting = await new_sitting(store, ctx, starts_at=datetime(2026, 12, 24, 10, 0, tzinfo=KYIV))
    async with store.session() as s:
        first = await domain.add_draft(s, ctx, sitting.id, draft("1"),
                                       domain.prepare_file(ctx, pdf("1"), "p1.pdf"), source="cli")
        dropped = await domain.add_draft(s, ctx, sitting.id, draft("2", commission=None),
                                         domain.prepare_file(ctx, pdf("2"), "p2.pdf"),
                                         source="matrix", room_event_id="$dropped")
    revision = revision_reader(store)
    seen = [await revision(sitting.id)]

    async def places() -> MatrixPlaces:
        async with store.session() as s:
            return await matrix_places(s, sitting.id)

    nothing = await places()
    assert nothing.room_id is None and nothing.events == {}  # the appservice has not made it

    await registry.save_room(store, registry.sitting(sitting.id), "sitting", str(sitting.id),
                             "!sitting:localhost")
    queued = await places()
    assert queued.room_id == "!sitting:localhost"
    assert queued.events == {(dropped.id, 1): "$dropped"}  # item 1's file is still queued
    seen.append(await revision(sitting.id))

    # The commission's copy is delivered first: it is not the sitting room's message.
    await mark_delivered(store, f"draft:{first.id}:v1:commission", "$in-commission")
    assert (await places()).events == queued.events
    assert await revision(sitting.id) == seen[-1]

    await mark_delivered(store, f"draft:{first.id}:v1:sitting", "$first")
    sent = await places()
    assert sent.events == {(first.id, 1): "$first", (dropped.id, 1): "$dropped"}
    seen.append(await revision(sitting.id))

    async with store.session() as s:  # version 2: a thread reply, queued, then delivered
        await domain.revise_draft(s, ctx, sitting.id, "1",
                                  domain.prepare_file(ctx, pdf("1", pages=2), "p1-v2.pdf"),
                                  source="cli")
    assert (await places()).events == sent.events
    seen.append(await revision(sitting.id))
    await mark_delivered(store, f"draft:{first.id}:v2:sitting", "$second")
    assert (await places()).events[(first.id, 2)] == "$second"
    seen.append(await revision(sitting.id))
    assert len(set(seen)) == len(seen), seen  # each change is a new revision of the page
