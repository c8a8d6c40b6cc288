"""`kabinet region check|apply|up REGION.yaml` (docs/region.md)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path

from kabinet import event_loop
from kabinet.features import Subparsers
from kabinet.launcher import HomeserverError
from kabinet.lock import DataDirInUse
from kabinet.region import RegionError, plan
from kabinet.region_apply import apply_region, check, summary


def add_command(sub: Subparsers) -> None:
    region = sub.add_parser("region", help="many councils on one homeserver: one region file "
                            "(config/region.example.yaml)")
    rsub = region.add_subparsers(dest="region_command", required=True)
    for name, text in (
            ("check", "validate the region file, every council's configuration and roster, and "
                      "that their database servers answer; change nothing"),
            ("apply", "provision or re-apply every council's roster against the running "
                      "homeserver, several councils at once"),
            ("up", "start the region's shared homeserver with every council's registration, "
                   "apply every roster, and run one Kabinet process per council")):
        p = rsub.add_parser(name, help=text)
        p.add_argument("file", type=Path, help="the region file")
        if name == "apply":
            p.add_argument("--full", action="store_true",
                           help="read every room's state from the homeserver, not the room-state "
                                "cache (after restoring one of a council's databases alone)")


async def _check(path: Path) -> int:
    p = plan(path)
    await check(p)
    people = sum(len(c.roster.deputies) for c in p.councils)
    print(f"{path}: valid — {len(p.councils)} councils, {people} deputies, on "
          f"{p.region.homeserver.server_name}")
    for c in p.councils:
        print(f"  {c.id}: web port {c.settings.web.port}, appservice {c.settings.appservice.id}, "
              f"space {c.space_alias}, data {c.data_dir}")
    return 0


async def _apply(path: Path, full: bool = False) -> int:
    began = time.monotonic()
    results = await apply_region(plan(path), full=full)
    print(summary(results, time.monotonic() - began))
    return 1 if any(r.error or r.problems for r in results) else 0


async def _up(path: Path) -> int:
    from kabinet.region_up import run_region  # the launcher's machinery only when asked for

    return await run_region(plan(path))


def run(args: argparse.Namespace) -> int:
    commands: dict[str, Callable[[], Coroutine[object, object, int]]] = {
        "check": lambda: _check(args.file), "apply": lambda: _apply(args.file, args.full),
        "up": lambda: _up(args.file)}
    try:
        return event_loop.run(commands[args.region_command]())
    except RegionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (HomeserverError, DataDirInUse) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
