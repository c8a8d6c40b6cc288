"""The directory: `!хто`/`!who` (contact cards), `!написати`/`!dm` (a direct chat made by the
bot), and the lounge's pinned directory kept current by edits. The web directory (web/directory)
needs only the roster and the viewer, so web/app.py mounts it with the public pages. No CLI: the
roster is the data."""

from __future__ import annotations

from appservice.directory import DirectChats, DirectoryCommands, PinnedDirectory
from council import directory as domain
from kabinet.core import Core
from kabinet.features import CommonOptions, Subparsers
from kabinet.installation import Installation


def context(core: Core) -> domain.Context:
    """The directory's view of this installation (read afresh: the roster may change)."""
    return domain.Context(roster=core.roster, server_name=core.settings.homeserver.server_name)


class Directory:
    name = "directory"
    commands: DirectoryCommands
    direct: DirectChats
    pinned: PinnedDirectory

    def install(self, kabinet: Installation) -> None:
        def ctx() -> domain.Context:
            return context(kabinet)

        def name_of(mxid: str) -> str:
            person = kabinet.roster.people_by_mxid(kabinet.settings.homeserver.server_name).get(mxid)
            return person.name if person else mxid

        s = kabinet.settings
        self.direct = DirectChats(kabinet.hs, kabinet.store, name_of,
                                  alias_prefix=s.appservice.alias_prefix,
                                  room_version=s.homeserver.room_version,
                                  on_queued=kabinet.delivery.poke)
        self.pinned = PinnedDirectory(kabinet.store, ctx, on_queued=kabinet.delivery.poke)
        self.commands = DirectoryCommands(ctx, on_request=self.direct.poke)
        self.commands.install(kabinet.commands)
        kabinet.workers += [self.direct.run, self.pinned.run]
        kabinet.on_homeserver_back.append(self.direct.poke)
        kabinet.on_roster_applied.append(self.pinned.poke)

    def cli(self, sub: Subparsers, common: CommonOptions) -> None:
        """No commands: the directory is the roster's, and `kabinet roster apply` changes it."""
        del sub, common
