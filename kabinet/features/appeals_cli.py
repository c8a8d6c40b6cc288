"""`kabinet appeals list [--overdue]`: the secretariat's view of appeals and their deadlines.

Prints numbers, statuses, deadlines and the responsible deputy — never the citizen's
personal data (that stays in the appeal room and the store).
"""

from __future__ import annotations

import argparse
from contextlib import asynccontextmanager
from zoneinfo import ZoneInfo

from council import appeals
from council.appeals.texts import STATUS_EN
from council.law import deadlines
from kabinet.core import Core
from kabinet.features import CommonOptions, Subparsers


def add_commands(sub: Subparsers, add_common: CommonOptions) -> None:
    p = sub.add_parser("appeals", help="citizens' appeals")
    asub = p.add_subparsers(dest="appeals_command", required=True)
    lst = asub.add_parser("list", help="list appeals (number, status, deadline, deputy)")
    add_common(lst)
    lst.add_argument("--overdue", action="store_true", help="only open appeals past their deadline")
    lst.set_defaults(run=run_list)


async def run_list(core: Core, args: argparse.Namespace) -> int:
    today = deadlines.local_today(ZoneInfo(core.settings.sittings.timezone))  # the law's days
    async with asynccontextmanager(core.store_ctx)():
        async with core.store.session() as s:
            rows = await (appeals.overdue(s, today) if args.overdue else appeals.listing(s))
    if not rows:
        print("Прострочених звернень немає / No overdue appeals" if args.overdue
              else "Звернень немає / No appeals")
        return 0
    print(f"{'number':<16} {'status':<12} {'registered':<10} {'deadline':<10} deputy")
    for a in rows:
        who = a.responsible or (f"district {a.addressee_district}" if a.addressee_kind == "district"
                                else "secretariat")
        late = " OVERDUE" if a.status in appeals.OPEN and a.deadline < today else ""
        print(f"{a.number:<16} {STATUS_EN[a.status]:<12} {a.received_on.isoformat():<10} "
              f"{a.deadline.isoformat():<10} {who}{late}")
    return 0
