"""What the votes pages, streams, files and API share: their dependencies, labels and the
grouping of a roll-call by faction (path ids come from web.pages, as for every feature).

This package does not import web.sittings: the sitting page (web.sittings.pages) imports the
votes section from here, and a circle between the two would break the layers' contract."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web

from council import votes as domain
from council.store import Store
from council.votes.changes import Changes
from web.errors import N_

# (Ukrainian, English) for the PDF, which prints both; the web translates the English, a msgid
# of the Babel catalogs (the uk catalog carries the same Ukrainian).
NO_FACTION = ("Позафракційні", N_("Independent"))
HEAD_GROUP = ("Міський голова", N_("Head of the council"))


@dataclass
class Deps:
    store: Store
    context: Callable[[], domain.Context]
    staff_token: str | None
    changes: Changes
    on_change: Callable[[], None] = lambda: None  # wakes delivery after a staff API write
    # Set when the app shuts down: open event streams end instead of holding the shutdown.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)


DEPS: web.AppKey[Deps] = web.AppKey("votes_deps", Deps)




def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; they were written as UTC."""
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def local(moment: datetime | None, tz: ZoneInfo) -> str:
    """`dd.mm.yyyy hh:mm` in the council's time zone; empty for no moment."""
    m = aware(moment)
    return m.astimezone(tz).strftime("%d.%m.%Y %H:%M") if m else ""


def iso(moment: datetime | None, timespec: str = "auto") -> str | None:
    m = aware(moment)
    return m.isoformat(timespec=timespec) if m else None


@dataclass(frozen=True)
class Group:
    """One faction's part of a roll-call (or the independents', or the head's)."""

    uk: str
    en: str
    lines: list[Any]
    # "faction": uk and en are the faction's own name, shown as it is; "independent" or "head":
    # en is a msgid the page translates.
    kind: Literal["faction", "independent", "head"] = "faction"


def by_faction(lines: Sequence[Any], head_id: str | None) -> list[Group]:
    """Roll-call lines grouped by faction in the order factions first appear, then deputies
    without a faction, then the head of the council in a group of their own."""
    factions: dict[str, list[Any]] = {}
    independents: list[Any] = []
    head: list[Any] = []
    for line in lines:
        if head_id is not None and line.member_id == head_id:
            head.append(line)
        elif line.faction:
            factions.setdefault(line.faction, []).append(line)
        else:
            independents.append(line)
    groups = [Group(name, name, members) for name, members in factions.items()]
    if independents:
        groups.append(Group(*NO_FACTION, independents, "independent"))
    if head:
        groups.append(Group(*HEAD_GROUP, head, "head"))
    return groups


def head_id(ctx: domain.Context) -> str | None:
    return ctx.roster.head.id if ctx.roster.head else None
