"""Wiring of citizens' appeals: the room worker, mail sender, reminders, housekeeping, bot
commands, web."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from appservice.appeals.commands import AnswerFiles, AppealCommands
from appservice.appeals.rooms import AppealRooms, reminders
from bridges.mail import MailSender
from council import appeals
from council.files.blobs import BlobStore, collect_orphans
from council.law import deadlines
from council.store import Store
from council.worker import Worker
from kabinet.secrets import ensure_secrets
from web import appeals as web_appeals
from web.appeals.input import Limits
from web.ratelimit import TRUSTED_PROXIES, RateLimiter, TrustedProxies

if TYPE_CHECKING:
    from kabinet.wiring import Kabinet


log = logging.getLogger(__name__)


class Housekeeping(Worker):
    """Files that no row names (a refused upload, a crash between storing a file and its row)
    are removed after a grace period; Idempotency-Keys and form tokens after 24 hours."""

    def __init__(self, store: Store, blobs: BlobStore, interval: float) -> None:
        super().__init__(interval)
        self.store = store
        self.blobs = blobs

    async def round(self) -> bool:
        async with self.store.session() as s:
            keys = await appeals.prune_keys(s)
        if keys:
            log.info("forgot %d expired intake key(s)", keys)
        await collect_orphans(self.store, self.blobs)
        return False


@dataclass
class AppealsParts:
    rooms: AppealRooms
    mail: MailSender
    commands: AppealCommands
    web: web_appeals.AppealsWeb | None = None


def context(kabinet: Kabinet) -> appeals.Context:
    s = kabinet.settings
    return appeals.Context(server_name=s.homeserver.server_name,
                           ghost_prefix=s.appservice.ghost_prefix, base_url=s.web.base_url,
                           terms=dict(s.appeals.deadline_days), tz=ZoneInfo(s.sittings.timezone))


def install(kabinet: Kabinet) -> AppealsParts:
    s = kabinet.settings
    ctx = context(kabinet)

    def roster():  # type: ignore[no-untyped-def]  # the roster may be replaced by a re-apply
        return kabinet.roster

    rooms = AppealRooms(kabinet.hs, kabinet.store, ctx, roster,
                        alias_prefix=s.appservice.alias_prefix,
                        room_version=s.homeserver.room_version, on_ready=kabinet.delivery.poke)
    mail = MailSender(kabinet.store, lambda: kabinet.settings.mail)
    commands = AppealCommands(ctx, roster, s.homeserver.server_name, on_change=rooms.poke)
    commands.install(kabinet.commands)
    kabinet.transactions.handlers.append(AnswerFiles(
        kabinet.hs, kabinet.blobs, kabinet.hs.bot_mxid, s.appservice.ghost_prefix,
        s.appeals.max_attachment_bytes))
    parts = AppealsParts(rooms, mail, commands)

    def poke_all() -> None:
        rooms.poke()
        mail.poke()
        kabinet.delivery.poke()

    async def remind() -> None:  # the law's days are the council's local days
        await reminders(kabinet.store, s.appeals.reminder_interval, poke_all,
                        today=lambda: deadlines.local_today(ctx.tz))

    housekeeping = Housekeeping(kabinet.store, kabinet.blobs, s.appeals.housekeeping_interval)
    kabinet.workers.extend([rooms.run, mail.run, remind, housekeeping.run])

    def web_setup(app):  # type: ignore[no-untyped-def]
        # Who the client is behind a reverse proxy (web.ratelimit.client_address), site-wide.
        app[TRUSTED_PROXIES] = TrustedProxies(list(s.web.trusted_proxies))
        secret = ensure_secrets(s.data_dir)["session_secret"]
        cfg = web_appeals.AppealsWeb(
            kabinet.store, kabinet.blobs, ctx, secret,
            Limits(s.appeals.max_attachments, s.appeals.max_attachment_bytes,
                   s.appeals.max_total_bytes),
            RateLimiter(s.appeals.rate_limit_requests, s.appeals.rate_limit_seconds),
            on_registered=poke_all)
        parts.web = cfg
        web_appeals.setup(app, cfg)

    kabinet.web_setups.append(web_setup)

    async def seed() -> None:
        from kabinet.features import appeals_demo as demo_appeals

        await demo_appeals.seed(kabinet, ctx)
        poke_all()

    kabinet.demo_seeders.append(seed)
    return parts
