"""Signing in to the web site with Matrix (password checked by the homeserver, a one-time link
from the bot, a widget's OpenID token), sessions and the audit log; and the signed-in cabinet
page. Must come before the features whose pages need a signed-in person (desk, notes)."""

from __future__ import annotations

from aiohttp import web

from kabinet.features import CommonOptions, Subparsers
from kabinet.features.votes import context as votes_context
from kabinet.installation import Installation
from kabinet.secrets import ensure_secrets
from web import accounts as web_accounts
from web import cabinet as web_cabinet


def web_deps(kabinet: Installation) -> web_accounts.Deps:
    s = kabinet.settings
    token = s.staff_api_token.get_secret_value() if s.staff_api_token else None
    return web_accounts.Deps(
        store=kabinet.store, roster=lambda: kabinet.roster,
        server_name=s.homeserver.server_name,
        session_secret=ensure_secrets(s.data_dir)["session_secret"], staff_token=token,
        homeserver_url=s.homeserver.client_url, base_url=s.web.base_url,
        secure_cookies=s.web.base_url.startswith("https://"), on_queued=kabinet.delivery.poke)


class Accounts:
    name = "accounts"

    def install(self, kabinet: Installation) -> None:
        def setup(app: web.Application) -> None:
            web_accounts.setup(app, web_deps(kabinet))
            web_cabinet.setup(app, web_cabinet.Deps(kabinet.store, lambda: votes_context(kabinet)))

        kabinet.web_setups.append(setup)

    def cli(self, sub: Subparsers, common: CommonOptions) -> None:
        """No commands: sessions end by signing out (`/logout`, everywhere) or expire."""
        del sub, common

