"""News feeds and sitting reminders in the announcements room: the feeds bridge's poller
(bridges/feeds.py; `feeds:` in the config) and the worker that reminds of each sitting the day
before (council/sittings/reminders.py). Both only write store and outbox rows and poke delivery.
No CLI: the feeds are configured in the config file, and their state shows in the rooms."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bridges.feeds import FeedPoller
from council.sittings import reminders
from kabinet.features import CommonOptions, Subparsers
from kabinet.installation import Installation


class Feeds:
    name = "feeds"
    poller: FeedPoller
    reminders: reminders.SittingReminders

    def install(self, kabinet: Installation) -> None:
        def tz() -> ZoneInfo:
            return ZoneInfo(kabinet.settings.sittings.timezone)

        def reminder_settings() -> reminders.Settings:
            return reminders.Settings(tz=tz(), public_url=kabinet.settings.web.base_url)

        self.poller = FeedPoller(kabinet.store, lambda: kabinet.settings.feeds, tz,
                                 kabinet.delivery.poke)
        self.reminders = reminders.SittingReminders(kabinet.store, reminder_settings,
                                                    kabinet.delivery.poke)
        kabinet.workers.extend([self.poller.run, self.reminders.run])

    def cli(self, sub: Subparsers, common: CommonOptions) -> None:
        """No commands: feeds are configured in the config file."""
        del sub, common
