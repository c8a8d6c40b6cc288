"""What the sitting room worker enqueues for the widgets (SQLite and PostgreSQL): nothing but
the video line for a room made with the state, nothing for a room already in order, only the
differences otherwise, the video widget removed when the service is switched off, and no video
widget or line without one."""

from __future__ import annotations

from sqlalchemy import select

from appservice.sittings import widgets
from council.models import OutboxMessage
from council.store import Store

WITH_VIDEO = widgets.WidgetPlan("https://rada.example", "https://meet.example.org", "@kabinet:test",
                                b"secret")
WITHOUT = widgets.WidgetPlan("https://rada.example", None, "@kabinet:test", b"secret")


def as_current(plan: widgets.WidgetPlan, sid: int) -> dict:
    return {(e["type"], e["state_key"]): (f"$ev-{e['state_key']}", e["content"])
            for e in widgets.room_state(plan, sid)}


async def sent(store: Store) -> list[tuple[str, str | None, dict]]:
    async with store.session() as s:
        rows = await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return [(m.event_type, m.state_key, m.content) for m in rows]


async def test_only_differences_are_sent(store: Store) -> None:
    async with store.session() as s:
        # A room made with the state just now: only the video line.
        assert await widgets.enqueue(s, WITH_VIDEO, 1, announce=True, current=None) == 1
        # A room in order: nothing, however often asked (the line is said once).
        assert await widgets.enqueue(s, WITH_VIDEO, 1, announce=True,
                                     current=as_current(WITH_VIDEO, 1)) == 0
        # A room made before widgets: all three state events, no line for a past sitting.
        assert await widgets.enqueue(s, WITH_VIDEO, 2, announce=False, current={}) == 3
    rows = await sent(store)
    assert rows[0][0] == "m.room.message" and "https://meet.example.org/kabinet-1-" in rows[0][2]["body"]
    assert [(t, k) for t, k, _ in rows[1:]] == [(widgets.WIDGETS, widgets.SITTING_WIDGET),
                                                (widgets.WIDGETS, widgets.VIDEO_WIDGET),
                                                (widgets.LAYOUT, "")]


async def test_switching_the_video_service_off_removes_its_widget(store: Store) -> None:
    async with store.session() as s:
        added = await widgets.enqueue(s, WITHOUT, 3, announce=True,
                                      current=as_current(WITH_VIDEO, 3))
    rows = await sent(store)
    assert added == 2 and [(t, k, c) for t, k, c in rows if k == widgets.VIDEO_WIDGET] == [
        (widgets.WIDGETS, widgets.VIDEO_WIDGET, {})]
    assert rows[-1][0] == widgets.LAYOUT and widgets.VIDEO_WIDGET not in rows[-1][2]["widgets"]
    assert not any(t == "m.room.message" for t, _, _ in rows)  # no service: no line


def test_the_conference_is_stable_and_needs_the_secret() -> None:
    other = widgets.WidgetPlan("https://rada.example", "https://meet.example.org", "@kabinet:test",
                               b"another secret")
    assert WITH_VIDEO.conference(7) == WITH_VIDEO.conference(7) != other.conference(7)
    assert WITH_VIDEO.conference(7) != WITH_VIDEO.conference(8)
    assert widgets.video_widget(WITHOUT, 7) == {} and widgets.video_notice(WITHOUT, 7) is None
    call = widgets.WidgetPlan("https://rada.example", "https://call.example.org", "@kabinet:test", b"s")
    assert widgets.video_widget(call, 7)["type"] == "m.custom"
