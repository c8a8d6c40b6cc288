"""Wiring of citizens' appeals: the room worker, mail sender, reminders, bot commands, web."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from appservice.appeal_commands import AnswerFiles, AppealCommands
from bridges.appeals import AppealRooms, reminders
from bridges.mail import MailSender
from council import appeals
from kabinet.secrets import ensure_secrets
from web import appeals as web_appeals
from web.appeal_input import Limits
from web.ratelimit import RateLimiter

if TYPE_CHECKING:
    from kabinet.wiring import Kabinet


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
                           terms=dict(s.appeals.deadline_days))


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

    async def remind() -> None:
        await reminders(kabinet.store, s.appeals.reminder_interval, poke_all)

    kabinet.workers.extend([rooms.run, mail.run, remind])

    def web_setup(app):  # type: ignore[no-untyped-def]
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
        from kabinet import demo_appeals

        await demo_appeals.seed(kabinet, ctx)
        poke_all()

    kabinet.demo_seeders.append(seed)
    return parts
