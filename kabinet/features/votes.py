"""Roll-call votes: registration and quorum, votes as Matrix polls counted by the bot, the
roll-call published in the sitting room and the announcements; the commands, the clock that
closes votes on time, the hall view and open data on the web, `kabinet votes …`."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from appservice.votes import VoteClock, VoteCommands, VoteEvents
from council import votes as domain
from council.votes.changes import Changes
from kabinet.core import Core
from kabinet.features import CommonOptions, Subparsers, votes_cli
from kabinet.installation import Installation
from web import votes as web_votes


def context(core: Core) -> domain.Context:
    """The votes domain's view of this installation (read afresh: the roster may change)."""
    s = core.settings
    return domain.Context(roster=core.roster, server_name=s.homeserver.server_name,
                          tz=ZoneInfo(s.sittings.timezone), base_url=s.web.base_url)


class Votes:
    name = "votes"
    changes: Changes  # one per Kabinet: the appservice side says, the hall view listens
    clock: VoteClock
    events: VoteEvents
    commands: VoteCommands

    def install(self, kabinet: Installation) -> None:
        s = kabinet.settings
        self.changes = changes = Changes()

        def ctx() -> domain.Context:
            return context(kabinet)

        def sitting_changed(sitting_id: int) -> None:  # after a commit
            changes.changed(sitting_id)
            kabinet.delivery.poke()

        self.events = events = VoteEvents(kabinet.hs, ctx, changes, on_queued=kabinet.delivery.poke,
                                          on_registered=lambda: clock.registered())
        self.clock = clock = VoteClock(kabinet.store, ctx,
                                       catch_up=lambda: events.catch_up_all(kabinet.store),
                                       on_closing=sitting_changed, on_queued=kabinet.delivery.poke)
        kabinet.transactions.handlers.append(events)
        self.commands = VoteCommands(ctx, on_change=sitting_changed)
        self.commands.install(kabinet.commands)
        kabinet.workers.append(clock.run)
        # Registrations may be handled in another process (kabinet/leader.py): a poke passed on
        # from there refreshes the live counts here, where the clock runs.
        kabinet.poked_elsewhere[clock] = clock.registered
        kabinet.on_homeserver_back.append(clock.homeserver_back)

        def changed() -> None:  # the web queued something: deliver it, look at the timers
            clock.poke()
            kabinet.delivery.poke()

        token = s.staff_api_token.get_secret_value() if s.staff_api_token else None
        kabinet.web_setups.append(lambda app: web_votes.setup(app, web_votes.Deps(
            kabinet.store, ctx, token, self.changes, changed)))

    def cli(self, sub: Subparsers, common: CommonOptions) -> None:
        votes_cli.add_commands(sub, common, context)
