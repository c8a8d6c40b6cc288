"""`kabinet` — the command line: up, roster apply, roster check, and each feature's commands
(kabinet/features/), which get the store only (kabinet.core.Core)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from contextlib import asynccontextmanager
from pathlib import Path

from pydantic import SecretStr

from council.roster import Roster, RosterError, load_roster
from kabinet import backup, control, event_loop, mailcatcher, region_cli, registration, restore
from kabinet.config import ConfigError, Settings, load_settings
from kabinet.control import ControlError
from kabinet.core import Core
from kabinet.features import Feature, default_features
from kabinet.launcher import HomeserverError
from kabinet.lock import DataDirInUse, Holder, holder
from kabinet.progress import RosterProgress
from kabinet.secrets import PRIVATE_UMASK, ensure_secrets
from kabinet.wiring import Kabinet, settle_heap, start, stop_signals


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML configuration (see config/kabinet.example.yaml)")
    p.add_argument("--data-dir", type=Path, help="where data lives (default ./var)")


def parser(features: list[Feature]) -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="kabinet", description="The deputy's electronic cabinet "
                                   "on Matrix / Електронний кабінет депутата")
    sub = root.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the homeserver (embedded), appservice and web site")
    _common(up)
    up.add_argument("--roster", type=Path, help="roster file (default config/council.example.yaml)")
    up.add_argument("--web-port", type=int)
    up.add_argument("--homeserver-port", type=int)
    up.add_argument("--public-host", metavar="HOST",
                    help="this machine's address on the network (e.g. 192.168.1.20): the site and "
                    "the embedded homeserver listen on every interface, their URLs use HOST")
    up.add_argument("--homeserver-url", help="use this external homeserver; start no Synapse")
    up.add_argument("--database-url", help="Kabinet's store, e.g. postgresql://kabinet@127.0.0.1/"
                    "kabinet (default: SQLite in the data dir)")
    up.add_argument("--synapse-workers", action="store_true", default=None,
                    help="the embedded Synapse with workers on PostgreSQL (--database-url's "
                    "server) and Redis (docs/synapse-workers.md)")
    up.add_argument("--registration", type=Path, help="appservice registration (external)")
    up.add_argument("--demo", action="store_true",
                    help="also load the demo council's sittings, drafts and appeals (idempotent)")

    roster = sub.add_parser("roster", help="roster commands")
    rsub = roster.add_subparsers(dest="roster_command", required=True)
    apply = rsub.add_parser("apply", help="reconcile the installation with a roster")
    apply.add_argument("file", type=Path)
    apply.add_argument("--full", action="store_true",
                       help="read every room's state from the homeserver instead of the room-state "
                       "cache (e.g. after restoring only one of the two databases)")
    _common(apply)
    check = rsub.add_parser("check", help="validate a roster; change nothing")
    check.add_argument("file", type=Path)
    serve = sub.add_parser("serve", help="one more process for a council on PostgreSQL and an "
                           "external homeserver, beside `kabinet up` or other `serve`s on the same "
                           "data dir: web site and appservice endpoint; background work while it "
                           "leads (docs/scaling-out.md)")
    _common(serve)
    serve.add_argument("--roster", type=Path, help="roster file (the same as the others')")
    serve.add_argument("--web-port", type=int, help="this process's own port")
    serve.add_argument("--homeserver-url", help="the external homeserver")
    serve.add_argument("--registration", type=Path, help="its appservice registration")
    serve.add_argument("--database-url", help="the council's PostgreSQL store, postgresql://…")
    backup.add_command(sub, _common)  # these two, like a feature's, set run=
    restore.add_command(sub, _common)
    registration.add_command(sub, _common)  # an external homeserver's registration
    region_cli.add_command(sub)  # many councils on one homeserver (docs/region.md)
    for feature in features:
        feature.cli(sub, _common)  # each command sets run=<async (core, args) -> exit code>
    return root


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {
        "data_dir": getattr(args, "data_dir", None),
        "roster": getattr(args, "roster", None),
        "web.port": getattr(args, "web_port", None),
        "homeserver.port": getattr(args, "homeserver_port", None),
        "homeserver.url": getattr(args, "homeserver_url", None),
        "homeserver.registration": getattr(args, "registration", None),
        "public_host": getattr(args, "public_host", None),
        "database_url": getattr(args, "database_url", None),
        "homeserver.workers.enabled": getattr(args, "synapse_workers", None),
    }
    if overrides["homeserver.url"]:
        overrides["homeserver.embedded"] = False
    return load_settings(args.config, **{k: v for k, v in overrides.items() if v is not None})


def banner(kabinet: Kabinet, report_summary: str, demo: bool = False) -> str:
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
    if demo and s.staff_api_token is not None:  # the demo's token only, never a real one
        lines.append(f"  Staff API (see {s.web.base_url}/api/openapi.json):  curl -H "
                     f"'Authorization: Bearer {s.staff_api_token.get_secret_value()}' "
                     f"{s.web.base_url}/api/v1/sittings")
    if s.mail.host is None:
        lines.append("  ⚠ No mail server (`mail:` in the config): e-mails to citizens are queued, "
                     "not sent, until one is set.")
    lines.extend(mailcatcher.banner_lines(s))  # `--demo` without a mail server: where mail goes
    lines.append("  Ctrl-C stops everything; running again reuses the data.")
    return "\n".join(lines)


def serving(settings: Settings) -> Settings:
    """`kabinet serve` shares the council with other processes: only over PostgreSQL (SQLite is
    one process's) and an external homeserver (an embedded one belongs to `kabinet up`)."""
    if settings.homeserver.embedded or not settings.db_url.startswith("postgresql"):
        raise ConfigError("kabinet serve runs beside other processes of the council: it needs "
                          "--database-url postgresql://… and an external homeserver "
                          "(--homeserver-url, --registration); see docs/scaling-out.md")
    return settings


def with_demo_staff_token(settings: Settings, demo: bool) -> Settings:
    """The demo's staff API works out of the box: without a configured token, `--demo` uses one
    generated into the data dir's secrets (0600). Without `--demo` nothing changes: a
    production config still needs its own token, or the staff API answers 403."""
    if not demo or settings.staff_api_token is not None:
        return settings
    token = ensure_secrets(settings.data_dir)["demo_staff_token"]
    return settings.model_copy(update={"staff_api_token": SecretStr(token)})


async def cmd_up(settings: Settings, roster: Roster, demo: bool, features: list[Feature],
                 *, serve: bool = False) -> int:
    # One Kabinet per data dir: refused before anything is built (the lock taken at the start
    # is what guarantees it; this only says so sooner). `serve` is one of several: no lock.
    if not serve and (other := await asyncio.to_thread(holder, settings.data_dir)) is not None:
        raise DataDirInUse(settings.data_dir, other)
    kabinet = Kabinet(settings, roster, features, lock_data_dir=not serve)
    stop = stop_signals()  # before anything starts: Ctrl-C at any moment stops in order
    with RosterProgress() as progress:  # the roster's accounts and rooms, done out of all
        starting = asyncio.ensure_future(start(kabinet, demo=demo, progress=progress))
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
    try:
        if await _ready(kabinet, stop):  # the banner says it runs once /readyz says so
            print(banner(kabinet, running.roster_summary, demo), flush=True)
            settle_heap()
            await stop.wait()
    finally:
        print("Stopping…", flush=True)
        await running.stop()
    return 0


async def _ready(kabinet: Kabinet, stop: asyncio.Event) -> bool:
    """Wait for what the start still waits for (with --demo: the demo's rooms); False if
    stopped meanwhile."""
    readiness = kabinet.readiness
    if not readiness.ready:
        print(f"waiting for: {', '.join(readiness.waiting_for)}…", file=sys.stderr, flush=True)
    ready = asyncio.ensure_future(readiness.wait())
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({ready, stopped}, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    stopped.cancel()
    return not stop.is_set()


async def _running_installation(data_dir: Path, wait: float) -> Holder | None:
    """The Kabinet running on data_dir, once its control endpoint listens (a Kabinet that is
    still starting is waited for), or None when nothing runs there."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    told = False
    while (running := await asyncio.to_thread(holder, data_dir)) is not None:
        if running.control_url:
            return running
        if running.command != "up":
            raise DataDirInUse(data_dir, running)  # e.g. another `roster apply`: try again later
        if loop.time() > deadline:
            raise ControlError(f"the Kabinet running on {data_dir} ({running.describe()}) did not "
                               f"finish starting within {wait:.0f} s; try again")
        if not told:
            print("waiting for the Kabinet running on this data dir to finish starting…",
                  file=sys.stderr, flush=True)
            told = True
        await asyncio.sleep(1)
    return None


def print_report(changes: list[str], problems: list[str], summary: str) -> int:
    for line in changes:
        print(line)
    for line in problems:
        print("problem:", line, file=sys.stderr)
    print(summary)
    return 1 if problems else 0


async def cmd_apply(settings: Settings, roster: Roster, roster_file: Path,
                    full: bool = False) -> int:
    """Apply a roster. A Kabinet running on the data dir applies it itself (its homeserver,
    its in-memory roster); otherwise the homeserver is started just for this and stopped."""
    running = await _running_installation(settings.data_dir, wait=settings.homeserver.start_timeout
                                          + 600)
    if running is not None:
        print(f"applied by the Kabinet running on {settings.data_dir}: {running.describe()}",
              file=sys.stderr, flush=True)
        remote = await control.apply_remote(settings.data_dir, running, roster_file, full=full)
        return print_report(remote.changes, remote.problems, remote.summary)
    kabinet = Kabinet(settings, roster)
    ctl = control.Control(kabinet, command="roster apply")
    async with asynccontextmanager(ctl.lock_ctx)(), \
            asynccontextmanager(kabinet.store_ctx)(), \
            asynccontextmanager(kabinet.homeserver_ctx)():
        with RosterProgress() as progress:
            report = await kabinet.apply_roster(progress=progress, full=full)
    return print_report(report.changes, report.problems, report.summary())


# Libraries whose INFO lines say nothing to whoever runs Kabinet (fontTools alone wrote 372 lines
# before the banner, subsetting the PDF font); at DEBUG they speak again.
NOISY = ("aiohttp.access", "fontTools", "fpdf", "PIL", "aiosqlite", "alembic", "mautrix")


def quiet_logs(level: str) -> None:
    logging.getLogger().setLevel(level)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)


def main(argv: list[str] | None = None, features: list[Feature] | None = None) -> int:
    # Before anything is created: the data dir holds secrets and citizens' personal data, so
    # every file this process and its Synapse make is for the owner only (0600/0700).
    os.umask(PRIVATE_UMASK)
    features = default_features() if features is None else features
    args = parser(features).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "region":  # its own files: no Kabinet configuration
            return region_cli.run(args)
        if args.command == "roster" and args.roster_command == "check":
            roster = load_roster(args.file)
            print(f"{args.file}: valid — {len(roster.deputies)} deputies, "
                  f"{len(roster.commissions)} commissions, {len(roster.secretariat)} secretariat")
            return 0
        settings = settings_from(args)
        quiet_logs(settings.log_level)
        roster_path = args.file if args.command == "roster" else settings.roster
        roster = load_roster(roster_path)
        if args.command == "serve":
            return event_loop.run(cmd_up(serving(settings), roster, False, features, serve=True))
        if args.command == "up":
            settings = with_demo_staff_token(settings, args.demo)
            settings = mailcatcher.for_demo(settings, args.demo)  # no mail server: catch it
            return event_loop.run(cmd_up(settings, roster, args.demo, features))
        if args.command == "roster":
            return event_loop.run(cmd_apply(settings, roster, args.file, args.full))
        # A feature's command works on the store only: no homeserver, registration or secrets.
        return event_loop.run(args.run(Core(settings, roster), args))
    except (RosterError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (HomeserverError, DataDirInUse) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ControlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
