"""Wiring: the one place that knows every package. Builds and runs a Kabinet installation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from appservice.commands import Commands
from appservice.delivery import Delivery
from appservice.homeserver import Homeserver
from appservice.roster.reconcile import Reconciler, Report
from appservice.sittings.rooms import SittingRooms
from appservice.transactions import FailedEventRetries, TransactionServer
from council import inbox
from council import sittings as sittings_domain
from council.files.blobs import BlobStore
from council.law import holidays as ua_holidays
from council.roster import Roster
from council.store import Store
from kabinet import control
from kabinet.config import Settings
from kabinet.features import appeals as wiring_appeals
from kabinet.launcher import (
    EmbeddedSynapse,
    HomeserverError,
    ping_homeserver,
    prepare_embedded,
    register_account,
)
from kabinet.secrets import Registration, ensure_secrets
from web.app import SiteInfo, create_app
from web.health import REPORTS
from web.sittings import pages as web_sittings

log = logging.getLogger(__name__)

KABINET: web.AppKey[Kabinet] = web.AppKey("kabinet")


@dataclass
class Kabinet:
    settings: Settings
    roster: Roster
    store: Store = field(init=False)
    blobs: BlobStore = field(init=False)
    synapse: EmbeddedSynapse | None = field(init=False, default=None)
    registration: Registration = field(init=False)
    hs: Homeserver = field(init=False)
    delivery: Delivery = field(init=False)
    transactions: TransactionServer = field(init=False)
    _admin_http: aiohttp.ClientSession = field(init=False)
    commands: Commands = field(init=False)
    # Feature hooks: long-running loops started after the roster is applied, and demo data
    # loaders run by `kabinet up --demo` (each must be idempotent: `make run` runs them again).
    workers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    demo_seeders: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    web_setups: list[Callable[[web.Application], None]] = field(default_factory=list)
    sitting_rooms: SittingRooms = field(init=False)
    appeals: wiring_appeals.AppealsParts = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.store = Store(s.db_url)
        if s.homeserver.embedded:
            self.synapse, self.registration = prepare_embedded(
                s.data_dir, s.homeserver, as_id=s.appservice.id, as_url=s.appservice_url,
                bot_localpart=s.appservice.bot_localpart, ghost_prefix=s.appservice.ghost_prefix,
                alias_prefix=s.appservice.alias_prefix, log_level=s.log_level)
        else:
            if s.homeserver.registration is None or s.homeserver.url is None:
                raise HomeserverError("an external homeserver needs both --homeserver-url and "
                                      "--registration")
            self.registration = Registration.load(s.homeserver.registration)
        self.hs = Homeserver(s.homeserver.client_url, self.registration.as_token,
                             self.registration.sender_localpart, s.homeserver.server_name,
                             concurrency=s.appservice.concurrency)
        self.blobs = BlobStore(s.data_dir / "files")
        self.delivery = Delivery(self.hs, self.store, self.blobs)
        ghosts = f"@{s.appservice.ghost_prefix}"
        self.transactions = TransactionServer(
            self.store, self.registration.hs_token, on_handled=self.delivery.poke,
            own_users=lambda mxid: mxid == self.hs.bot_mxid or mxid.startswith(ghosts))
        self.commands = Commands(self.hs.bot_mxid, s.appservice.ghost_prefix)
        self.transactions.handlers.append(self.commands)
        self.workers.append(FailedEventRetries(self.transactions).run)
        self.workers.append(self.prune_inbox)
        self._setup_sittings()
        self.appeals = wiring_appeals.install(self)  # citizens' appeals
        control.install(self)  # data dir lock, loopback control endpoint, homeserver supervisor

    def _setup_sittings(self) -> None:
        """Paperless sittings: the room worker + file-drop handler, the web pages, the demo."""
        from kabinet.features import sittings_demo as demo_sittings

        s = self.settings
        self.sitting_rooms = SittingRooms(
            self.hs, self.store, self.blobs, self.sittings_context,
            alias_prefix=s.appservice.alias_prefix,
            room_version=s.homeserver.room_version, resync_interval=s.sittings.sync_interval,
            on_change=self.delivery.poke)
        self.transactions.handlers.append(self.sitting_rooms)
        self.workers.append(self.sitting_rooms.run)
        self.workers.append(self.sitting_rooms.preupload)
        self.demo_seeders.append(lambda: demo_sittings.seed(self))
        token = s.staff_api_token.get_secret_value() if s.staff_api_token else None

        def changed() -> None:
            self.sitting_rooms.poke()
            self.delivery.poke()

        self.web_setups.append(lambda app: web_sittings.setup(app, web_sittings.Deps(
            self.store, self.sittings_context, token, changed)))

    def sittings_context(self) -> sittings_domain.Context:
        s = self.settings.sittings
        return sittings_domain.Context(
            roster=self.roster, blobs=self.blobs,
            holidays=ua_holidays.load(s.holidays_file or ua_holidays.DEFAULT_FILE),
            tz=ZoneInfo(s.timezone), max_bytes=s.max_file_bytes)

    async def prune_inbox(self) -> None:
        """Daily: forget handled event ids and parked failures older than a week."""
        while True:
            removed = await inbox.prune(self.store)
            log.info("pruned %d handled event ids and parked failures", removed)
            await asyncio.sleep(24 * 3600)

    # -- lifecycle pieces, each usable alone (CLI) or as an aiohttp cleanup context ----------

    async def store_ctx(self, _app: web.Application | None = None) -> AsyncIterator[None]:
        await self.store.migrate()
        yield
        await self.store.close()

    async def homeserver_ctx(self, _app: web.Application | None = None) -> AsyncIterator[None]:
        if self.synapse is not None:
            await self.synapse.start()
        elif not await ping_homeserver(self.hs.url):
            raise HomeserverError(f"the homeserver at {self.hs.url} does not answer; "
                                  f"check --homeserver-url and that it is running")
        await self.hs.open()
        self._admin_http = aiohttp.ClientSession()  # shared-secret account registration
        try:
            yield
        finally:
            await self._admin_http.close()
            await self.hs.close()
            if self.synapse is not None:
                await self.synapse.stop()

    def reconciler(self) -> Reconciler:
        create = None
        if self.synapse is not None:
            secret = ensure_secrets(self.settings.data_dir)["registration_shared_secret"]

            async def create(localpart: str, password: str, displayname: str) -> bool:
                return await register_account(self.hs.url, secret, localpart, password,
                                              displayname, http=self._admin_http)

        return Reconciler(self.hs, self.store, alias_prefix=self.settings.appservice.alias_prefix,
                          room_version=self.settings.homeserver.room_version,
                          create_account=create)

    async def apply_roster(self, roster: Roster | None = None) -> Report:
        report = await self.reconciler().apply(roster or self.roster)
        if roster is not None:
            self.roster = roster
        return report

    def site(self) -> SiteInfo:
        s = self.settings
        return SiteInfo(
            council_name=self.roster.council.name, server_name=s.homeserver.server_name,
            homeserver_url=s.homeserver.public_client_url,
            space_alias=f"#{s.appservice.alias_prefix}council:{s.homeserver.server_name}",
            base_url=s.web.base_url)

    def web_app(self) -> web.Application:
        checks = {
            "database": self.store.ping,
            "homeserver": lambda: ping_homeserver(self.hs.url),
            "appservice": lambda: self.hs.ping(self.registration.id),
        }
        app = create_app(self.site(), self.roster, checks)
        app[KABINET] = self
        # Events whose handler failed: waiting for a retry, or parked after the last one.
        app[REPORTS] = {"events": lambda: inbox.failure_counts(self.store)}
        app.cleanup_ctx.append(self.store_ctx)
        app.cleanup_ctx.append(self.homeserver_ctx)
        for setup in self.web_setups:
            setup(app)
        app.add_subapp("/as", self.transactions.web_app())
        return app


@dataclass
class Running:
    kabinet: Kabinet
    runner: web.AppRunner
    report: Report
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def web_url(self) -> str:
        return self.kabinet.settings.web.base_url

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.kabinet.delivery.stop()
        await self.runner.cleanup()


async def _guarded(worker: Callable[[], Awaitable[None]]) -> None:
    """A worker that crashes is logged and restarted after a pause, never silently gone."""
    while True:
        try:
            await worker()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("worker %s failed; restarting in 5 s", getattr(worker, "__name__", worker))
        await asyncio.sleep(5)


async def start(kabinet: Kabinet, *, demo: bool = False) -> Running:
    """Start everything: store, homeserver, web + appservice endpoint, roster, delivery."""
    s = kabinet.settings
    runner = web.AppRunner(kabinet.web_app(), access_log=None)
    await runner.setup()  # runs the cleanup contexts: migrations, Synapse, clients
    try:
        await web.TCPSite(runner, s.web.host, s.web.port).start()
        if not await kabinet.hs.ping(kabinet.registration.id):
            log.warning("the homeserver cannot reach the appservice at %s", s.appservice_url)
        await kabinet.hs.bot.set_displayname(s.appservice.bot_displayname)  # writes only a change
        report = await kabinet.apply_roster()
        kabinet.delivery.start()
        if demo:
            for seed in kabinet.demo_seeders:
                await seed()
        tasks = [asyncio.create_task(_guarded(w)) for w in kabinet.workers]
    except BaseException:
        await kabinet.delivery.stop()
        await runner.cleanup()
        raise
    return Running(kabinet, runner, report, tasks)


def stop_signals() -> asyncio.Event:
    """An event set by Ctrl-C or SIGTERM. Install it before anything is announced, so that a
    Ctrl-C arriving right after the banner still stops everything in order."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop

