"""Paperless sittings: the room worker and file-drop handler, the web pages and API, the
secretariat's commands (`kabinet sitting|drafts|report`) and the demo sittings."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from appservice.sittings import SittingRooms
from council import sittings as domain
from council.law import holidays as ua_holidays
from kabinet.core import Core
from kabinet.features import CommonOptions, Subparsers, sittings_cli
from kabinet.installation import Installation
from web import sittings as web_sittings


def context(core: Core) -> domain.Context:
    """The sittings domain's view of this installation (read afresh: the roster may change)."""
    s = core.settings.sittings
    return domain.Context(
        roster=core.roster, blobs=core.blobs,
        holidays=ua_holidays.load(s.holidays_file or ua_holidays.DEFAULT_FILE),
        tz=ZoneInfo(s.timezone), max_bytes=s.max_file_bytes)


class Sittings:
    name = "sittings"
    rooms: SittingRooms

    def install(self, kabinet: Installation) -> None:
        s = kabinet.settings

        def ctx() -> domain.Context:
            return context(kabinet)

        self.rooms = rooms = SittingRooms(
            kabinet.hs, kabinet.store, kabinet.blobs, ctx,
            alias_prefix=s.appservice.alias_prefix,
            room_version=s.homeserver.room_version, resync_interval=s.sittings.sync_interval,
            on_change=kabinet.delivery.poke)
        kabinet.transactions.handlers.append(rooms)
        kabinet.workers.extend([rooms.run, rooms.preupload])
        kabinet.on_homeserver_back.append(rooms.poke)

        def changed() -> None:
            rooms.poke()
            kabinet.delivery.poke()

        async def seed() -> None:
            from kabinet.features import sittings_demo  # fpdf and fonts: only for the demo

            await sittings_demo.seed(kabinet, ctx())
            changed()

        kabinet.demo_seeders.append(seed)
        token = s.staff_api_token.get_secret_value() if s.staff_api_token else None
        kabinet.web_setups.append(lambda app: web_sittings.setup(app, web_sittings.Deps(
            kabinet.store, ctx, token, changed)))

    def cli(self, sub: Subparsers, common: CommonOptions) -> None:
        sittings_cli.add_commands(sub, common, context)
