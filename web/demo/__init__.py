"""The demo's pages: /demo/mail lists what `kabinet up --demo`'s mail catcher received (the
e-mails citizens would get), /demo/mail/{name} shows one, as text. Mounted only while the
catcher runs (kabinet/mailcatcher.py, kabinet/features/demo_mail.py): a production site has
no such route at all. Public on purpose, like the rest of a demo: whoever runs `make run` is
the one reading. Wired by kabinet: `demo.setup(app, demo.Deps(...))`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from web.demo import mailbox
from web.pages import render

__all__ = ["DEPS", "Deps", "setup"]

PATH = "/demo/mail"


@dataclass
class Deps:
    folder: Path  # the catcher's folder (mailbox.folder_of(data_dir))
    tz: Callable[[], ZoneInfo]  # times are shown in the council's time zone


DEPS: web.AppKey[Deps] = web.AppKey("demo_deps", Deps)


def _page(request: web.Request, context: dict[str, Any]) -> web.Response:
    deps = request.app[DEPS]
    tz = deps.tz()

    def local(moment: datetime) -> str:
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")

    response = render(request, "demo_mail.html", {
        "rows": [], "message": None, **context, "local": local, "folder": str(deps.folder)})
    response.headers["Cache-Control"] = "private, no-store"  # citizens' addresses and appeals
    return response


async def mail_list(request: web.Request) -> web.Response:
    """Every caught message, newest first."""
    rows = await asyncio.to_thread(mailbox.entries, request.app[DEPS].folder)
    return _page(request, {"rows": rows})


async def mail_message(request: web.Request) -> web.Response:
    """One message: its headers and text parts; an unknown name is the 404 page."""
    path = mailbox.find(request.app[DEPS].folder, request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound()
    return _page(request, {"message": await asyncio.to_thread(mailbox.show, path)})


def setup(app: web.Application, deps: Deps) -> None:
    app[DEPS] = deps
    app.router.add_get(PATH, mail_list, name="demo_mail")
    app.router.add_get(PATH + "/{name}", mail_message, name="demo_mail_message")
