"""`kabinet` — the command line: up, roster apply, roster check."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from contextlib import asynccontextmanager
from pathlib import Path

from council.roster import Roster, RosterError, load_roster
from kabinet import cli_appeals, cli_sittings
from kabinet.config import ConfigError, Settings, load_settings
from kabinet.launcher import HomeserverError, ping_homeserver
from kabinet.wiring import Kabinet, start, stop_signals

# Feature command modules: each has add_commands(subparsers, add_common_options) and sets
# `run=<async function(kabinet, args) -> exit code>` on its parsers (see kabinet/cli_*.py).
FEATURE_CLIS: list = [cli_sittings, cli_appeals]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML configuration (see config/kabinet.example.yaml)")
    p.add_argument("--data-dir", type=Path, help="where data lives (default ./var)")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="kabinet", description="The deputy's electronic cabinet "
                                   "on Matrix / Електронний кабінет депутата")
    sub = root.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the homeserver (embedded), appservice and web site")
    _common(up)
    up.add_argument("--roster", type=Path, help="roster file (default config/council.example.yaml)")
    up.add_argument("--web-port", type=int)
    up.add_argument("--homeserver-port", type=int)
    up.add_argument("--homeserver-url", help="use this external homeserver; start no Synapse")
    up.add_argument("--registration", type=Path, help="appservice registration (external)")
    up.add_argument("--demo", action="store_true",
                    help="also load the demo council's sittings, drafts and appeals (idempotent)")

    roster = sub.add_parser("roster", help="roster commands")
    rsub = roster.add_subparsers(dest="roster_command", required=True)
    apply = rsub.add_parser("apply", help="reconcile the installation with a roster")
    apply.add_argument("file", type=Path)
    _common(apply)
    check = rsub.add_parser("check", help="validate a roster; change nothing")
    check.add_argument("file", type=Path)
    for feature in FEATURE_CLIS:
        feature.add_commands(sub, _common)
    return root


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {
        "data_dir": getattr(args, "data_dir", None),
        "roster": getattr(args, "roster", None),
        "web.port": getattr(args, "web_port", None),
        "homeserver.port": getattr(args, "homeserver_port", None),
        "homeserver.url": getattr(args, "homeserver_url", None),
        "homeserver.registration": getattr(args, "registration", None),
    }
    if overrides["homeserver.url"]:
        overrides["homeserver.embedded"] = False
    return load_settings(args.config, **{k: v for k, v in overrides.items() if v is not None})


def banner(kabinet: Kabinet, report_summary: str) -> str:
    s = kabinet.settings
    lines = [
        "",
        "Кабінет депутата працює / Kabinet is running",
        f"  Web site:    {s.web.base_url}/",
        f"  Homeserver:  {s.homeserver.public_client_url}  (server name {s.homeserver.server_name})",
        f"  Council Space: #{s.appservice.alias_prefix}council:{s.homeserver.server_name}",
        f"  Roster:      {report_summary}",
    ]
    if s.homeserver.embedded:
        deputy = next((d for d in kabinet.roster.deputies if d.password), None)
        staff = next((p for p in kabinet.roster.secretariat if p.password), None)
        lines.append("  Sign in from Element (or any Matrix client) with homeserver "
                     f"{s.homeserver.public_client_url}:")
        if deputy:
            lines.append(f"    deputy:      user {deputy.id}  password {deputy.password}  "
                         f"({deputy.name})")
        if staff:
            lines.append(f"    secretariat: user {staff.id}  password {staff.password}  "
                         f"({staff.name})")
    lines.append("  Ctrl-C stops everything; running again reuses the data.")
    return "\n".join(lines)


async def cmd_up(settings: Settings, roster: Roster, demo: bool) -> int:
    kabinet = Kabinet(settings, roster)
    stop = stop_signals()  # before anything starts: Ctrl-C at any moment stops in order
    starting = asyncio.ensure_future(start(kabinet, demo=demo))
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        print("Stopping before the start finished…", flush=True)
        starting.cancel()  # start() cleans up what it had started
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        return 0
    stopped.cancel()
    running = starting.result()
    print(banner(kabinet, running.report.summary()), flush=True)
    try:
        await stop.wait()
    finally:
        print("Stopping…", flush=True)
        await running.stop()
    return 0


async def cmd_apply(settings: Settings, roster: Roster) -> int:
    kabinet = Kabinet(settings, roster)
    if kabinet.synapse is not None and await ping_homeserver(kabinet.hs.url):
        kabinet.synapse = None  # a running installation: use its homeserver, start none
    async with asynccontextmanager(kabinet.store_ctx)(), \
            asynccontextmanager(kabinet.homeserver_ctx)():
        report = await kabinet.apply_roster()
    for line in report.changes:
        print(line)
    for line in report.problems:
        print("problem:", line, file=sys.stderr)
    print(report.summary())
    return 1 if report.problems else 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "roster" and args.roster_command == "check":
            roster = load_roster(args.file)
            print(f"{args.file}: valid — {len(roster.deputies)} deputies, "
                  f"{len(roster.commissions)} commissions, {len(roster.secretariat)} secretariat")
            return 0
        settings = settings_from(args)
        logging.getLogger().setLevel(settings.log_level)
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
        roster_path = args.file if args.command == "roster" else settings.roster
        roster = load_roster(roster_path)
        if args.command == "up":
            return asyncio.run(cmd_up(settings, roster, args.demo))
        if args.command == "roster":
            return asyncio.run(cmd_apply(settings, roster))
        return asyncio.run(args.run(Kabinet(settings, roster), args))
    except (RosterError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except HomeserverError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
