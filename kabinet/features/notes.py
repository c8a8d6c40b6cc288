"""Private notes: the notes room's handler (a person's messages, edits and redactions there), the
`!note` command, and the cabinet's note forms and JSON API. Comes after `Accounts` (the web side
needs to know who is signed in). No CLI: nobody but the author reads a note, the secretariat's
tools included."""

from __future__ import annotations

from aiohttp import web

from appservice.notes import NoteCommands, NoteEvents
from council import notes as domain
from kabinet.core import Core
from kabinet.features import CommonOptions, Subparsers
from kabinet.installation import Installation
from web import notes as web_notes


def context(core: Core) -> domain.Context:
    """The notes domain's view of this installation (read afresh: the roster may change)."""
    return domain.Context(roster=core.roster, server_name=core.settings.homeserver.server_name)


class Notes:
    name = "notes"
    events: NoteEvents
    commands: NoteCommands

    def install(self, kabinet: Installation) -> None:
        def ctx() -> domain.Context:
            return context(kabinet)

        self.events = NoteEvents(ctx)
        kabinet.transactions.handlers.append(self.events)
        self.commands = NoteCommands(ctx)
        self.commands.install(kabinet.commands)

        def setup(app: web.Application) -> None:
            web_notes.setup(app, web_notes.Deps(kabinet.store, kabinet.delivery.poke))

        kabinet.web_setups.append(setup)

    def cli(self, sub: Subparsers, common: CommonOptions) -> None:
        """No commands: a note is read and changed by its author only."""
        del sub, common
