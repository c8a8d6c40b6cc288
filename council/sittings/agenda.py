"""What a sitting looks like in Matrix: the agenda message (and its edits), draft file events,
the announcement. Pure functions of the stored records; council/sittings.py enqueues them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from council.language import Text, _
from council.law.rules import LawWarning

DRAFT_KEY = "ua.kabinet.draft"
AGENDA_KEY = "ua.kabinet.agenda"
KIND_NAMES = {
    "plenary": Text("Plenary session"),
    "commission": Text("Commission sitting"),
    "executive": Text("Executive committee sitting"),
}


@dataclass(frozen=True)
class ItemView:
    id: int
    number: str
    title: str
    initiator: str
    commission_name: str | None
    status: str
    version: int
    filename: str
    file_event: str  # the latest version's event id, or "$outbox:<key>" until it is sent
    warnings: tuple[LawWarning, ...] = ()


def when(moment: datetime, tz: ZoneInfo) -> str:
    if moment.tzinfo is None:  # SQLite hands back naive datetimes; they were written as UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz).strftime("%d.%m.%Y %H:%M")


def sitting_heading(kind: str, title: str, number: str | None, language: str | None = None) -> str:
    """"Пленарне засідання сесії № 42: …", in `language` (default: the council's)."""
    name = KIND_NAMES.get(kind, KIND_NAMES["plenary"]).render(language)
    if number:
        return Text("{kind} No. {number}: {title}", kind=name, number=number,
                    title=title).render(language)
    return f"{name}: {title}"


# Matrix events are limited to 64 KiB (canonical JSON); the agenda stays well below, and
# beyond that it lists the first items and points to the web page for the rest.
AGENDA_BUDGET = 56_000  # of 65,536: the edit's envelope and fallback fit in the rest
TITLE_CHARS = 160


def _size(content: dict[str, Any]) -> int:
    return len(json.dumps(content, ensure_ascii=False).encode())


def _line(n: int, item: ItemView) -> tuple[str, str]:
    title = item.title if len(item.title) <= TITLE_CHARS else item.title[:TITLE_CHARS - 1] + "…"
    text = _("No. {number} “{title}” — {initiator}, version {version}", number=item.number,
             title=title, initiator=item.initiator, version=item.version)
    if item.status == "withdrawn":
        return (f"{n}. " + _("[WITHDRAWN] {item}", item=text),
                f"<li><del>{escape(text)}</del> <strong>{escape(_('withdrawn'))}</strong></li>")
    flag = "".join(f" ⚠️ {RULE_FLAGS.get(w.rule, w.rule)}" for w in item.warnings)
    return f"{n}. {text}{flag}", f"<li>{escape(text)}{escape(flag)}</li>"


RULE_FLAGS = {"access_to_public_information_art15_p3": Text("< 10 working days (art. 15 p. 3)")}


def agenda_message(sitting_id: int, heading: str, starts: str, place: str, revision: int,
                   items: list[ItemView], warnings: list[LawWarning]) -> dict[str, Any]:
    """The agenda as one m.notice (body, HTML and a compact machine-readable copy)."""
    title = "📋 " + _("Agenda — {heading}", heading=heading)
    head = [title, f"🕙 {starts}, {place}", *(w.text for w in warnings)]
    head_html = (f"<h3>{escape(title)}</h3>"
                 f"<p>🕙 {escape(starts)}, {escape(place)}</p>"
                 + "".join(f"<p><strong>{escape(w.text)}</strong></p>" for w in warnings))
    lines = [_line(n, item) for n, item in enumerate(items, 1)]
    structured = {
        "sitting": sitting_id, "revision": revision, "warnings": [w.rule for w in warnings],
        "items": [{"id": i.id, "number": i.number, "version": i.version, "status": i.status,
                   "event_id": i.file_event,
                   **({"warnings": [w.rule for w in i.warnings]} if i.warnings else {})}
                  for i in items],
    }
    shown = len(lines)
    while True:
        rest = len(lines) - shown
        more = [_("… {n} more: the full agenda is on the website", n=rest)] if rest else []
        empty = [] if items else [_("No items yet")]
        tail = _("Revision {revision}", revision=revision)
        content = {
            "msgtype": "m.notice",
            "body": "\n".join([*head, *empty, *(b for b, _ in lines[:shown]), *more, tail]),
            "format": "org.matrix.custom.html",
            "formatted_body": head_html + "".join(f"<p><em>{escape(x)}</em></p>" for x in empty)
            + "<ol>" + "".join(h for _, h in lines[:shown]) + "</ol>"
            + "".join(f"<p>{escape(x)}</p>" for x in more) + f"<p><small>{tail}</small></p>",
            AGENDA_KEY: structured,
        }
        if shown == 0 or _size(content) <= AGENDA_BUDGET:
            return content
        shown = max(0, shown - max(1, shown // 10))


def agenda_edit(original_key: str, new_content: dict[str, Any]) -> dict[str, Any]:
    """An m.replace edit of the pinned agenda (clients show the newest edit in place); the
    fallback for clients without edits is one line, so the event stays half the size."""
    revision = new_content[AGENDA_KEY]["revision"]
    return {
        "msgtype": "m.notice",
        "body": "* " + _("Agenda updated (revision {revision})", revision=revision),
        "m.new_content": new_content,
        "m.relates_to": {"rel_type": "m.replace", "event_id": f"$outbox:{original_key}"},
    }


def file_message(item_id: int, sitting_id: int, number: str, title: str, version: int,
                 filename: str, mimetype: str, size: int, sha256: str,
                 thread_root: str | None) -> dict[str, Any]:
    """An m.file message for one draft version; a revision is a thread reply to version 1."""
    caption = (_("Draft decision No. {number} — {title} (version {version})", number=number,
                 title=title, version=version) if version > 1
               else _("Draft decision No. {number} — {title}", number=number, title=title))
    content: dict[str, Any] = {
        "msgtype": "m.file", "body": caption, "filename": filename,
        "info": {"mimetype": mimetype, "size": size},
        DRAFT_KEY: {"id": item_id, "number": number, "version": version, "sitting": sitting_id,
                    "sha256": sha256},
    }
    if thread_root:
        content["m.relates_to"] = {"rel_type": "m.thread", "event_id": thread_root,
                                   "is_falling_back": True,
                                   "m.in_reply_to": {"event_id": thread_root}}
    return content


def notice(text: str, *, thread_root: str | None = None, reply_to: str | None = None
           ) -> dict[str, Any]:
    """An m.notice; with `thread_root`, in that thread, as a reply to `reply_to` (an event in
    the thread) or else with the spec's fallback reply to the root (`is_falling_back`)."""
    content: dict[str, Any] = {"msgtype": "m.notice", "body": text}
    if thread_root:
        content["m.relates_to"] = {"rel_type": "m.thread", "event_id": thread_root,
                                   "is_falling_back": reply_to in (None, thread_root),
                                   "m.in_reply_to": {"event_id": reply_to or thread_root}}
    return content
