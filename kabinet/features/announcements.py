"""Announcements: the `!announce` command (secretariat, in any council room or the
secretariat's room), the desk's page (/desk/announcements), and the worker that ends expired
ones (edit + unpin). All of it writes store and outbox rows only and pokes delivery. Comes after
`Accounts` (the desk page needs to know who is signed in). No CLI: the desk and the command
are the ways in."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiohttp import web

from appservice.announcements import AnnounceCommand, Context
from council import announcements as domain
from kabinet.features import CommonOptions, Subparsers
from kabinet.installation import Installation
from web.desk import announcements as desk_page


class Announcements:
    name = "announcements"
    command: AnnounceCommand
    expiry: domain.AnnouncementExpiry

    def install(self, kabinet: Installation) -> None:
        def tz() -> ZoneInfo:
            return ZoneInfo(kabinet.settings.sittings.timezone)

        def context() -> Context:  # read afresh: the roster may change
            return Context(roster=kabinet.roster, server_name=kabinet.settings.homeserver.server_name,
                           tz=tz())

        self.command = AnnounceCommand(context)
        self.command.install(kabinet.commands)
        self.expiry = domain.AnnouncementExpiry(kabinet.store, tz, kabinet.delivery.poke)
        kabinet.workers.append(self.expiry.run)

        def setup(app: web.Application) -> None:
            desk_page.setup(app, desk_page.Deps(kabinet.store, tz, kabinet.delivery.poke))

        kabinet.web_setups.append(setup)

    def cli(self, sub: Subparsers, common: CommonOptions) -> None:
        """No commands: announcements are posted from the desk or in Element."""
        del sub, common
