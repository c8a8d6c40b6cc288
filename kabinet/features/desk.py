"""The secretariat's desk (/desk): sittings, drafts, registration and votes, appeals, the log
and the paper report, for signed-in secretariat and administrators. It has no workers of its
own: it is wired to the sittings, votes and appeals features' web parts and reuses their
contexts and the hooks that wake delivery, so it must come after them and after accounts in
`default_features()`."""

from __future__ import annotations

from aiohttp import web

from kabinet.features import CommonOptions, Subparsers
from kabinet.installation import Installation
from web import appeals as web_appeals
from web import desk as web_desk
from web import sittings as web_sittings
from web import votes as web_votes


def desk_deps(app: web.Application, kabinet: Installation) -> web_desk.Deps:
    """The desk's dependencies, from what the other features put on the app."""
    sittings = app[web_sittings.DEPS]
    votes = app[web_votes.DEPS]
    appeals = app[web_appeals.APPEALS]

    def votes_changed(sitting_id: int) -> None:  # as web.votes.api does after a write
        votes.on_change()
        votes.changes.changed(sitting_id)

    return web_desk.Deps(
        store=kabinet.store, sittings=sittings.context, votes=votes.context, appeals=appeals.ctx,
        on_sittings_change=sittings.on_change, on_votes_change=votes_changed,
        on_appeals_change=appeals.on_registered)


class Desk:
    name = "desk"

    def install(self, kabinet: Installation) -> None:
        kabinet.web_setups.append(lambda app: web_desk.setup(app, desk_deps(app, kabinet)))

    def cli(self, sub: Subparsers, common: CommonOptions) -> None:
        """No commands: `kabinet sitting|drafts|report|votes|appeals` are the desk's CLI."""
        del sub, common
