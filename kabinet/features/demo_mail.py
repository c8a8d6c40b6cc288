"""The demo's mail: while the mail catcher runs (kabinet/mailcatcher.py: `kabinet up --demo`
without a mail server), it listens for the life of the web site and the page /demo/mail
(web/demo/) shows what it caught; otherwise this feature adds nothing to a running Kabinet, so a
production site has no such page. `kabinet mail list` and `kabinet mail show N|FILE` read the
caught messages from a terminal. No workers, no bot commands, no demo data of its own."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web

from kabinet import mailcatcher
from kabinet.core import Core
from kabinet.features import CliError, CommonOptions, Subparsers
from kabinet.installation import Installation
from web import demo as web_demo
from web.demo import mailbox

NOTHING = ("Листів немає / No e-mail caught (only `kabinet up --demo` without a mail server "
           "keeps e-mail here)")


class DemoMail:
    name = "demo_mail"

    def install(self, kabinet: Installation) -> None:
        catcher = mailcatcher.catcher_of(kabinet.settings)
        if catcher is None:
            return  # a real mail server, or not a demo: no catcher, no page

        def tz() -> ZoneInfo:
            return ZoneInfo(kabinet.settings.sittings.timezone)

        def setup(app: web.Application) -> None:
            app.cleanup_ctx.append(catcher.serve)  # before any worker sends, after the store
            web_demo.setup(app, web_demo.Deps(catcher.folder, tz))

        kabinet.web_setups.append(setup)

    def cli(self, sub: Subparsers, common: CommonOptions) -> None:
        p = sub.add_parser("mail", help="the e-mail the demo kept instead of sending it")
        msub = p.add_subparsers(dest="mail_command", required=True)
        lst = msub.add_parser("list", help="caught messages, newest first: number, time, to, "
                              "subject, file")
        common(lst)
        lst.set_defaults(run=run_list)
        show = msub.add_parser("show", help="one caught message, decoded (text parts only)")
        show.add_argument("message", help="its number in `kabinet mail list` (1: the newest), "
                          "or its file")
        common(show)
        show.set_defaults(run=run_show)


def _local(core: Core, moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(core.settings.sittings.timezone)).strftime("%Y-%m-%d %H:%M:%S")


async def run_list(core: Core, _args: argparse.Namespace) -> int:
    folder = mailbox.folder_of(core.settings.data_dir)
    rows = await asyncio.to_thread(mailbox.entries, folder)
    if not rows:
        print(NOTHING)
        return 0
    print(f"{'#':>3}  {'received':<19}  {'to':<32}  {'subject':<40}  file")
    for n, e in enumerate(rows, 1):
        print(f"{n:>3}  {_local(core, e.received):<19}  {e.to:<32}  {e.subject:<40}  {e.path}")
    return 0


def _find(folder: Path, which: str) -> Path:
    if which.isascii() and which.isdigit():
        rows = mailbox.entries(folder)
        if not 1 <= int(which) <= len(rows):
            raise CliError(f"no message {which}: `kabinet mail list` shows {len(rows)}")
        return rows[int(which) - 1].path
    given = Path(which)
    path = given if given.is_file() else folder / given.name
    if not (mailbox.NAME.match(path.name) and path.is_file()):
        raise CliError(f"{which}: not a message the demo kept (see `kabinet mail list`)")
    return path


async def run_show(core: Core, args: argparse.Namespace) -> int:
    folder = mailbox.folder_of(core.settings.data_dir)
    try:
        path = await asyncio.to_thread(_find, folder, args.message)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    shown = await asyncio.to_thread(mailbox.show, path)
    e = shown.entry
    print(f"From:     {e.sender}\nTo:       {e.to}\nSubject:  {e.subject}\n"
          f"Received: {_local(core, e.received)}\nFile:     {path}\n")
    print("\n\n".join(text.rstrip("\n") for text in shown.texts) or "(no text part)")
    if shown.others:
        print(f"\n(parts not shown: {', '.join(shown.others)})")
    return 0
