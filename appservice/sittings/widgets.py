"""The widgets a sitting room carries (Element web and desktop): the sitting's page (agenda,
drafts, the live vote) in the top container, and, when the council configures a video service
(`sittings.video_url`), the sitting's video conference. Element X shows no widgets and loses
nothing: everything the sitting widget shows is also in the room (agenda, drafts, polls), and
the video link is also said in a notice.

State (Element's conventions, matrix-widget-api):
- `im.vector.modular.widgets`, state_key the widget id, content {type, url, name, data,
  creatorUserId, id}; `m.custom` for the page, `jitsi` for a Jitsi conference (Element reads
  `data.domain`/`data.conferenceId`), `m.custom` for an Element Call URL;
- `io.element.widgets.layout` (state_key ""): {widgets: {<id>: {container: "top", index, width,
  height}}} pins the sitting widget for everyone.
A new room is created with these (initial state); rooms made before, or before the config
changed, get what differs from their current state once per process start, through the outbox
(the homeserver makes a new event even of an identical state event: only differences are sent).
With no video service configured there is no video widget and no line (a widget a former config
put in the room is removed: empty content).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from council import outbox, rooms
from council import sittings as domain
from council.language import _
from council.sittings import agenda

WIDGETS = "im.vector.modular.widgets"
LAYOUT = "io.element.widgets.layout"
SITTING_WIDGET = "kabinet_sitting"
VIDEO_WIDGET = "kabinet_video"


@dataclass(frozen=True)
class WidgetPlan:
    public_url: str  # the site's base URL (web.base_url): the widget page lives there
    video_url: str | None  # sittings.video_url: a Jitsi or Element Call base URL, or None
    bot_mxid: str
    secret: bytes  # the installation's session secret: conference names cannot be guessed

    def page_url(self, sitting_id: int) -> str:
        return f"{self.public_url.rstrip('/')}/widgets/sittings/{sitting_id}"

    def conference(self, sitting_id: int) -> str:
        """Stable for the sitting, unguessable without the secret (a Jitsi room is open to
        whoever knows its name)."""
        digest = hmac.new(self.secret, rooms.sitting(sitting_id).encode(), hashlib.sha256)
        return f"kabinet-{sitting_id}-{digest.hexdigest()[:16]}"

    def video_link(self, sitting_id: int) -> str | None:
        if not self.video_url:
            return None
        return f"{self.video_url.rstrip('/')}/{self.conference(sitting_id)}"


def sitting_widget(plan: WidgetPlan, sitting_id: int) -> dict[str, Any]:
    # No title in it: a renamed sitting would otherwise change the widget (a new state event).
    return {"type": "m.custom", "url": plan.page_url(sitting_id), "name": _("Sitting"),
            "id": SITTING_WIDGET, "creatorUserId": plan.bot_mxid, "data": {"sitting": sitting_id}}


def video_widget(plan: WidgetPlan, sitting_id: int) -> dict[str, Any]:
    """{} (no widget) when no video service is configured."""
    link = plan.video_link(sitting_id)
    if link is None:
        return {}
    host = urlsplit(link).netloc
    element_call = host.startswith("call.") or "/room" in urlsplit(plan.video_url or "").path
    return {"type": "m.custom" if element_call else "jitsi", "url": link,
            "name": _("Video conference"), "id": VIDEO_WIDGET,
            "creatorUserId": plan.bot_mxid,
            "data": {"domain": host, "conferenceId": plan.conference(sitting_id),
                     "isAudioOnly": False, "title": _("The sitting's video conference")}}


def layout(plan: WidgetPlan) -> dict[str, Any]:
    widgets: dict[str, Any] = {SITTING_WIDGET: {"container": "top", "index": 0, "width": 100,
                                                "height": 40}}
    if plan.video_url:
        widgets[VIDEO_WIDGET] = {"container": "right"}
    return {"widgets": widgets}


def room_state(plan: WidgetPlan, sitting_id: int) -> list[dict[str, Any]]:
    """The widget state of a sitting room, as createRoom's `initial_state` entries."""
    state = [{"type": WIDGETS, "state_key": SITTING_WIDGET,
              "content": sitting_widget(plan, sitting_id)}]
    video = video_widget(plan, sitting_id)
    if video:
        state.append({"type": WIDGETS, "state_key": VIDEO_WIDGET, "content": video})
    state.append({"type": LAYOUT, "state_key": "", "content": layout(plan)})
    return state


def video_notice(plan: WidgetPlan, sitting_id: int) -> dict[str, Any] | None:
    """How to join a remote sitting, said in the room (clients without widgets see it too)."""
    link = plan.video_link(sitting_id)
    if link is None:
        return None
    return agenda.notice("🎥 " + _("Remote sitting: the video conference is at {link} (in Element, "
                                   "the “Video conference” widget above the timeline)", link=link))


def _digest(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


# (event type, state key) -> (event id, content): the room's current widget state.
Current = Mapping[tuple[str, str], tuple[str, dict[str, Any]]]


def current_state(events: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """The widget part of a room's state (the client API's /state answer)."""
    return {(e["type"], e["state_key"]): (str(e.get("event_id", "")), e.get("content") or {})
            for e in events if e.get("type") in (WIDGETS, LAYOUT) and "state_key" in e}


async def enqueue(session: AsyncSession, plan: WidgetPlan, sitting_id: int, *,
                  announce: bool, current: Current | None) -> int:
    """What differs from the room's `current` widget state (None: the room was just created
    with it), and, if `announce`, the video line, through the outbox. The homeserver makes a
    new event of an identical state event too, so only differences are sent; a key names the
    event it replaces, so each change is enqueued once. How many rows were added."""
    room = domain.room(sitting_id)
    added = 0
    wanted = [(s["type"], s["state_key"], s["content"]) for s in room_state(plan, sitting_id)]
    if current is not None and current.get((WIDGETS, VIDEO_WIDGET), ("", {}))[1] and not plan.video_url:
        wanted.insert(-1, (WIDGETS, VIDEO_WIDGET, {}))  # switched off: removed, before the layout
    for event_type, state_key, content in wanted:
        if current is None:
            break  # the room was created with this state
        before, now = current.get((event_type, state_key), ("none", {}))
        if now == content:
            continue
        key = f"sitting:{sitting_id}:widget:{state_key or 'layout'}:{before}:{_digest(content)}"
        added += await outbox.enqueue(session, key, room, event_type, content, state_key=state_key)
    notice = video_notice(plan, sitting_id) if announce else None
    if notice is not None:  # once per link, in whatever language it was said
        key = f"sitting:{sitting_id}:video:{_digest({'link': plan.video_link(sitting_id)})}"
        added += await outbox.enqueue(session, key, room, "m.room.message", notice)
    return added
