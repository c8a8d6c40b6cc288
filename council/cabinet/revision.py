"""A cabinet's revision: one cheap read whose value changes whenever anything the cabinet shows
may have changed, so that the page can be rendered once per revision and person.

Each part follows a table the page reads, by what every change to it writes: appeals write a
history row on every change (appeal_events), an agenda change bumps its sitting's agenda_rev
and a new draft version is a new row, a room made for an appeal or a sitting is a new row in the
registry, roll-calls and registrations are new rows, and a note's change sets its edited_at or
deleted_at (or adds a row). The last visit is part of it too, as "new" marks depend on it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, String, bindparam, func, select

from council.accounts.tables import CabinetVisit
from council.appeals.tables import AppealEvent
from council.models import ManagedRoom
from council.notes.tables import Note
from council.sittings.tables import DraftVersion, Sitting
from council.store import Store
from council.votes.tables import Attendance, RollCall


def _statement() -> Select[Any]:
    """Built once, with the person as a parameter: building costs more than running it."""
    mxid = bindparam("mxid", type_=String)
    mine = Note.author == mxid
    return select(
        select(func.max(AppealEvent.id)).scalar_subquery(),
        select(func.max(DraftVersion.id)).scalar_subquery(),
        select(func.count(Sitting.id) + func.coalesce(func.sum(Sitting.agenda_rev), 0))
        .scalar_subquery(),
        select(func.count()).select_from(ManagedRoom).scalar_subquery(),
        select(func.max(RollCall.id)).scalar_subquery(),
        select(func.max(Attendance.id)).scalar_subquery(),
        select(func.count(Note.id)).where(mine).scalar_subquery(),
        select(func.max(Note.edited_at)).where(mine).scalar_subquery(),
        select(func.max(Note.deleted_at)).where(mine).scalar_subquery(),
        select(CabinetVisit.seen_at).where(CabinetVisit.mxid == mxid).scalar_subquery(),
    )


REVISION = _statement()


async def revision(store: Store, mxid: str) -> tuple[Any, ...]:
    return await store.read_one(REVISION, {"mxid": mxid})
