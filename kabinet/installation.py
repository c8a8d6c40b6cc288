"""An installation: the core, the homeserver (embedded or external) and the appservice in front
of it, delivery, the web site, and the lists that features add their parts to. Knows no
feature: kabinet/wiring.py installs them into it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

import aiohttp
from aiohttp import web
from mautrix.types import EventType, Obj, RoomID

from appservice.commands import Commands
from appservice.delivery import Delivery
from appservice.homeserver import Homeserver
from appservice.roster.reconcile import OnProgress, Reconciler, Report
from appservice.transactions import FailedEventRetries, TransactionServer
from council import inbox
from council import rooms as room_registry
from council.roster import Roster
from council.worker import Foreground, Worker
from kabinet.core import Core
from kabinet.launcher import (
    EmbeddedSynapse,
    HomeserverError,
    ping_homeserver,
    prepare_embedded,
    register_user,
)
from kabinet.leader import Leadership
from kabinet.metrics import PrometheusMetrics
from kabinet.readiness import start_steps
from kabinet.secrets import Registration, ensure_secrets
from kabinet.synapse_workers import redis_report
from web import health
from web import metrics as web_metrics
from web.app import SiteInfo, create_app

log = logging.getLogger(__name__)


@dataclass
class Installation(Core):
    """The Core, the homeserver (embedded or external) with its appservice and delivery, and the
    hooks that features fill (kabinet/features/): what a feature installs itself into."""

    synapse: EmbeddedSynapse | None = field(init=False, default=None)
    registration: Registration = field(init=False)
    hs: Homeserver = field(init=False)
    delivery: Delivery = field(init=False)
    transactions: TransactionServer = field(init=False)
    _admin_http: aiohttp.ClientSession = field(init=False)
    commands: Commands = field(init=False)
    metrics: PrometheusMetrics = field(init=False)  # /metrics, a registry of its own (docs/metrics.md)
    # What /readyz and `kabinet up` wait for (kabinet/readiness.py): the roster, the demo.
    readiness: health.Readiness = field(init=False, default_factory=start_steps)
    # Who does the background work when several processes share a PostgreSQL store
    # (kabinet/leader.py); on SQLite this process, always.
    leadership: Leadership = field(init=False)
    # What features add: long-running loops started after the roster is applied (`workers`: the
    # council's background work, run by the leading process only; `process_workers`: what each
    # process runs for itself, its control endpoint and its homeserver's supervisor); what a
    # poke passed on from another process does here, where a poke alone says too little
    # (default: the worker's poke); demo data loaders run by `kabinet up --demo` (each must be
    # idempotent: `make run` runs them again); web routes; what to wake when a restarted
    # homeserver answers again, and after a roster is applied.
    workers: list[Callable[[], Awaitable[None]]] = field(init=False, default_factory=list)
    process_workers: list[Callable[[], Awaitable[None]]] = field(init=False, default_factory=list)
    poked_elsewhere: dict[Worker, Callable[[], None]] = field(init=False, default_factory=dict)
    demo_seeders: list[Callable[[], Awaitable[None]]] = field(init=False, default_factory=list)
    web_setups: list[Callable[[web.Application], None]] = field(init=False, default_factory=list)
    on_homeserver_back: list[Callable[[], None]] = field(init=False, default_factory=list)
    on_roster_applied: list[Callable[[], None]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        s = self.settings
        if s.homeserver.embedded:
            self.synapse, self.registration = prepare_embedded(
                s.data_dir, s.homeserver, as_id=s.appservice.id, as_url=s.appservice_url,
                bot_localpart=s.appservice.bot_localpart, ghost_prefix=s.appservice.ghost_prefix,
                alias_prefix=s.appservice.alias_prefix, log_level=s.log_level, store_url=s.db_url)
        else:
            if s.homeserver.registration is None or s.homeserver.url is None:
                raise HomeserverError("an external homeserver needs both --homeserver-url and "
                                      "--registration")
            self.registration = Registration.load(s.homeserver.registration)
        self.foreground = Foreground()  # the site's requests before the bot's (council.worker)
        self.hs = Homeserver(s.homeserver.client_url, self.registration.as_token,
                             self.registration.sender_localpart, s.homeserver.server_name,
                             concurrency=s.appservice.concurrency,
                             ghost_prefix=s.appservice.ghost_prefix, foreground=self.foreground)
        self.metrics = PrometheusMetrics(self.store)
        self.leadership = Leadership(self.store)
        self.delivery = Delivery(self.hs, self.store, self.blobs)
        self.delivery.on_delivered = partial(self.metrics.delivered, "matrix")
        self.on_homeserver_back.append(self.delivery.poke)
        self.transactions = TransactionServer(
            self.store, self.registration.hs_token, on_handled=self.delivery.poke,
            own_users=self.hs.is_ours, metrics=self.metrics)
        self.commands = Commands(self.hs.bot_mxid, s.appservice.ghost_prefix)
        self.transactions.handlers.append(self.commands)
        self.workers.append(FailedEventRetries(self.transactions).run)
        self.workers.append(inbox.Pruning(self.store).run)

    # -- lifecycle pieces, each usable alone (CLI) or as an aiohttp cleanup context ----------

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
                return await register_user(self.hs.url, secret, localpart, password,
                                              displayname, http=self._admin_http)

        return Reconciler(self.hs, self.store, alias_prefix=self.settings.appservice.alias_prefix,
                          room_version=self.settings.homeserver.room_version,
                          create_account=create)

    async def send_stranded_transactions(self) -> None:
        """Synapse starts sending to appservices (and so resending what it had stranded) only
        when a new event concerns one; after a restart that writes nothing there may be none.
        One hidden event in the council space (clients show no space timeline) starts it."""
        if self.synapse is None or not self.synapse.unsent:
            return
        space = (await room_registry.room_map(self.store)).get(room_registry.council_space())
        if space is not None:
            await self.hs.bot.send_message_event(RoomID(space), EventType.find("ua.kabinet.nudge"),
                                                 Obj(reason="resend stranded transactions"))
        self.synapse.unsent = 0

    async def apply_roster(self, roster: Roster | None = None,
                           progress: OnProgress | None = None, *, full: bool = False) -> Report:
        report = await self.reconciler().apply(roster or self.roster, progress, full=full)
        if roster is not None:
            self.roster = roster
        for hook in self.on_roster_applied:  # what shows the roster (the pinned directory)
            hook()
        return report

    def site(self) -> SiteInfo:
        s = self.settings
        return SiteInfo(
            council_name=self.roster.council.name, server_name=s.homeserver.server_name,
            homeserver_url=s.homeserver.public_client_url,
            space_alias=f"#{s.appservice.alias_prefix}council:{s.homeserver.server_name}",
            base_url=s.web.base_url)

    def web_app(self) -> web.Application:
        checks: dict[str, health.Check] = {
            "database": self.store.ping,
            "homeserver": lambda: ping_homeserver(self.hs.url),
            "appservice": lambda: self.hs.ping(self.registration.id),
        }
        app = create_app(self.site(), self.roster, checks, self.foreground)
        # Events whose handler failed: waiting for a retry, or parked after the last one.
        reports: dict[str, health.Report] = {"events": lambda: inbox.failure_counts(self.store),
                                             "leader": self.leadership.report}
        workers = self.settings.homeserver.workers
        if workers.enabled:  # Synapse's replication: a figure beside the checks, not a 503
            reports["redis"] = partial(redis_report, workers.redis_host, workers.redis_port)
        app[health.REPORTS] = reports
        app[health.READINESS] = self.readiness
        token = self.settings.web.metrics_token  # who may read /metrics (web/metrics.py)
        web_metrics.setup(app, web_metrics.Deps(self.metrics.registry, self.metrics.refresh,
                                                token.get_secret_value() if token else None))
        app.cleanup_ctx.append(self.store_ctx)
        app.cleanup_ctx.append(self.homeserver_ctx)
        for setup in self.web_setups:
            setup(app)
        app.add_subapp("/as", self.transactions.web_app())
        return app
