"""What the directory says: a person's contact card (for `!who`) and the lounge's pinned
directory (grouped by faction), with the digest that tells whether it changed."""

from __future__ import annotations

import hashlib
import json
from html import escape
from typing import Any

from council.directory.search import Entry
from council.language import Text, _
from council.roster import Roster

NO_FACTION = Text("Independent")
ROLE_TITLES = {"head": Text("City head"), "staff": Text("Secretariat")}


def card(entry: Entry) -> str:
    """A contact card in plain text: name, position, faction, district, commissions, public
    contacts and the matrix.to link."""
    lines = [f"👤 {entry.name} — {entry.position}"]
    facts = []
    if entry.faction:
        facts.append(_("faction «{faction}»", faction=entry.faction))
    if entry.district is not None:
        facts.append(_("district {district}", district=entry.district))
    if facts:
        text = ", ".join(facts)
        lines.append(text[:1].upper() + text[1:])
    if entry.commissions:
        lines.append(_("Commissions: {names}", names="; ".join(entry.commissions)))
    c = entry.contacts
    contacts = [x for x in (f"✉ {c.email}" if c.email else "", f"☎ {c.phone}" if c.phone else "",
                            _("🕑 Reception: {hours}", hours=c.reception) if c.reception else "")
                if x]
    if contacts:
        lines.append(" · ".join(contacts))
    lines.append(f"💬 {entry.link}")
    return "\n".join(lines)


def _groups(entries: list[Entry]) -> list[tuple[str, list[Entry]]]:
    """Deputies by faction (factions alphabetically, the unaffiliated last), then the head, then
    the secretariat; names alphabetically within a group."""
    factions: dict[str, list[Entry]] = {}
    for e in entries:
        if e.role == "deputy":
            factions.setdefault(e.faction or "", []).append(e)
    order = sorted(f for f in factions if f) + ([""] if "" in factions else [])
    groups = [(_("Faction «{faction}»", faction=f) if f else NO_FACTION.render(), factions[f])
              for f in order]
    for role, title in ROLE_TITLES.items():
        people = [e for e in entries if e.role == role]
        if people:
            groups.append((title.render(), people))
    return [(title, sorted(people, key=lambda e: e.name)) for title, people in groups]


def _line(e: Entry) -> str:
    district = ", " + _("district {district}", district=e.district) if e.district is not None \
        else ""
    position = f" — {e.position}" if e.role == "staff" else ""
    return f"{e.name}{district}{position}"


def directory_content(roster: Roster, entries: list[Entry]) -> dict[str, Any]:
    """The pinned directory message (in the council's language), plain and HTML with links to
    each person."""
    title = _("📇 Directory: {council}", council=roster.council.name)
    tail = _("Find a colleague: !who <name, faction or district>; write to them: !dm <name>. "
             "Help: !help")
    body, html = [title], [f"<p><strong>{escape(title)}</strong></p>"]
    for heading, people in _groups(entries):
        body.append(f"\n{heading} ({len(people)}):")
        body += [f"• {_line(e)} — {e.link}" for e in people]
        html.append(f"<p><strong>{escape(heading)}</strong> ({len(people)})</p><ul>"
                    + "".join(f'<li><a href="{escape(e.link)}">{escape(e.name)}</a>'
                              f"{escape(_line(e).removeprefix(e.name))}</li>" for e in people)
                    + "</ul>")
    body.append(f"\n{tail}")
    html.append(f"<p><small>{escape(tail)}</small></p>")
    return {"msgtype": "m.notice", "body": "\n".join(body), "format": "org.matrix.custom.html",
            "formatted_body": "".join(html)}


def digest(content: dict[str, Any]) -> str:
    """A stable digest of the message: it changes exactly when the text does."""
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
