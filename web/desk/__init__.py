"""The secretariat's desk (/desk): sittings and their drafts (home, agenda, drafts), registration
and votes (voting), citizens' appeals (casework), the log and the paper report (reports); and
who may use the staff JSON API (access). Wired by kabinet: `desk.setup(app, desk.Deps(...))`,
after web.accounts (sign-in), web.sittings, web.votes and web.appeals."""

from __future__ import annotations

from aiohttp import web

from web.desk import agenda, casework, home, reports, voting
from web.desk.common import DEPS, Deps

__all__ = ["DEPS", "Deps", "setup"]


def setup(app: web.Application, deps: Deps) -> None:
    app[DEPS] = deps
    home.add_routes(app)
    agenda.add_routes(app)
    voting.add_routes(app)
    casework.add_routes(app)
    reports.add_routes(app)
