"""Citizens' appeals: the room worker, mail sender, reminders, housekeeping, bot commands,
the answer's edits, ✅ and files, the web form and API, `kabinet appeals list` and the demo appeals."""

from __future__ import annotations

import logging
from functools import partial
from zoneinfo import ZoneInfo

from aiohttp import web

from appservice.appeals import AnswerEvents, AppealCommands, AppealRooms
from bridges.mail import MailSender
from council import appeals
from council.appeals.upkeep import Housekeeping, Reminders
from council.law import deadlines
from council.roster import Roster
from kabinet.core import Core
from kabinet.features import CommonOptions, Subparsers, appeals_cli
from kabinet.installation import Installation
from kabinet.secrets import ensure_secrets
from web import appeals as web_appeals
from web.security import TRUSTED_PROXIES, RateLimiter, TrustedProxies

log = logging.getLogger(__name__)


def context(core: Core) -> appeals.Context:
    s = core.settings
    return appeals.Context(server_name=s.homeserver.server_name,
                           ghost_prefix=s.appservice.ghost_prefix, base_url=s.web.base_url,
                           terms={str(k): v for k, v in s.appeals.deadline_days.items()},
                           tz=ZoneInfo(s.sittings.timezone),
                           mail_configured=s.mail.host is not None)


class Appeals:
    name = "appeals"
    rooms: AppealRooms
    mail: MailSender
    commands: AppealCommands
    web: web_appeals.AppealsWeb | None = None  # once the web site is built

    def install(self, kabinet: Installation) -> None:
        s = kabinet.settings
        ctx = context(kabinet)

        def roster() -> Roster:  # the roster may be replaced by a re-apply
            return kabinet.roster

        self.rooms = rooms = AppealRooms(
            kabinet.hs, kabinet.store, ctx, roster, alias_prefix=s.appservice.alias_prefix,
            room_version=s.homeserver.room_version, on_ready=kabinet.delivery.poke)
        async def mail_done(job_id: int) -> None:  # the appeal's room hears what became of it
            async with kabinet.store.session() as s:
                told = await appeals.mail_outcome(s, job_id)
            if told:
                kabinet.delivery.poke()

        self.mail = mail = MailSender(kabinet.store, lambda: kabinet.settings.mail,
                                      on_done=mail_done)
        mail.on_delivered = partial(kabinet.metrics.delivered, "mail")  # kabinet/metrics.py
        self.commands = AppealCommands(ctx, roster, s.homeserver.server_name, on_change=rooms.poke)
        self.commands.install(kabinet.commands)
        kabinet.transactions.handlers.append(AnswerEvents(
            self.commands, kabinet.hs, kabinet.blobs, kabinet.hs.bot_mxid,
            s.appservice.ghost_prefix, s.appeals.max_attachment_bytes))
        kabinet.on_homeserver_back.append(rooms.poke)

        def poke_all() -> None:
            rooms.poke()
            mail.poke()
            kabinet.delivery.poke()

        reminders = Reminders(kabinet.store, s.appeals.reminder_interval,
                              partial(deadlines.local_today, ctx.tz), poke_all)
        housekeeping = Housekeeping(kabinet.store, kabinet.blobs, s.appeals.housekeeping_interval)
        kabinet.workers.extend([rooms.run, mail.run, reminders.run, housekeeping.run])

        def web_setup(app: web.Application) -> None:
            # Who the client is behind a reverse proxy (web.security.client_address), site-wide.
            app[TRUSTED_PROXIES] = TrustedProxies(list(s.web.trusted_proxies))
            secret = ensure_secrets(s.data_dir)["session_secret"]
            self.web = web_appeals.AppealsWeb(
                kabinet.store, kabinet.blobs, ctx, secret,
                web_appeals.Limits(s.appeals.max_attachments, s.appeals.max_attachment_bytes,
                       s.appeals.max_total_bytes),
                RateLimiter(s.appeals.rate_limit_requests, s.appeals.rate_limit_seconds),
                on_registered=poke_all)
            web_appeals.setup(app, self.web)

        kabinet.web_setups.append(web_setup)

        async def seed() -> None:
            from kabinet.features import appeals_demo

            await appeals_demo.seed(kabinet, ctx)
            poke_all()

        kabinet.demo_seeders.append(seed)

    def cli(self, sub: Subparsers, common: CommonOptions) -> None:
        appeals_cli.add_commands(sub, common)
