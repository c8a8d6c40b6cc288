"""`kabinet region check|apply` (docs/region.md): every council of a region file validated, then
provisioned or re-applied against the region's running homeserver, several at once.

Nothing is applied while anything is wrong: the plan (kabinet/region.py) and what the councils
must not share (kabinet/region_checks.py), the database servers, the homeserver and whether it
has loaded every council's registration are all checked first. Then each council is applied
the way `kabinet roster apply` applies one: by its running Kabinet when one holds its data dir
(`region up`), else here, with its own store, appservice token and `/as` endpoint on its own
web port, so that what the homeserver sends meanwhile is handled as the council's (its answers
wait in the council's outbox for its Kabinet). A council that fails fails alone.

The bot's language is one per process (council/language.py): councils are applied here in
groups of one language each.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import TextIO

import aiohttp
import asyncpg
import yaml
from aiohttp import web
from mautrix.errors import MatrixError
from sqlalchemy.engine import make_url

from appservice.roster.desired import desired_rooms
from appservice.roster.reconcile import Progress, Reconciler
from council import language
from council import rooms as registry
from council.store import Store
from kabinet import control
from kabinet.launcher import HomeserverError, ping_homeserver, register_user
from kabinet.lock import DataDirInUse, Holder, holder
from kabinet.progress import RosterProgress
from kabinet.region import Council, Plan, RegionError
from kabinet.region_checks import database_problems, static_problems
from kabinet.secrets import ensure_secrets, read_secrets, write_private, write_registration
from kabinet.wiring import Kabinet


async def check(plan: Plan) -> None:
    """Everything that can be known without writing: RegionError if anything is wrong."""
    problems = static_problems(plan) + await database_problems(plan)
    if problems:
        raise RegionError(plan.path, problems)


# -- before the apply: files, the homeserver, the databases ------------------------------------

def write_files(plan: Plan) -> list[str]:
    """Each council's data dir and secrets, its effective configuration (`kabinet.yaml`) and
    its registration, and app_services.yaml listing the registrations (a Synapse config
    fragment: `--config-path` it). Returns the councils whose registration changed."""
    changed = []
    server = plan.region.homeserver.server_name
    for c in plan.councils:
        tokens = ensure_secrets(c.data_dir)
        write_private(c.config_path, yaml.safe_dump(c.config, allow_unicode=True, sort_keys=False))
        before = c.registration_path.read_text() if c.registration_path.exists() else None
        a = c.settings.appservice
        write_registration(c.registration_path, as_id=a.id, url=c.settings.appservice_url,
                           bot_localpart=a.bot_localpart, ghost_prefix=a.ghost_prefix,
                           alias_prefix=a.alias_prefix, server_name=server, tokens=tokens)
        if c.registration_path.read_text() != before:
            changed.append(c.id)
    files = [str(c.registration_path.resolve()) for c in plan.councils]
    write_private(plan.app_services_file, "# Written by `kabinet region apply|up`: every "
                  "council's appservice registration.\n" + yaml.safe_dump(
                      {"app_service_config_files": files}, sort_keys=False))
    return changed


async def homeserver_problems(plan: Plan, changed: list[str]) -> list[str]:
    """The homeserver answers and has loaded every council's registration as it is now."""
    url = plan.region.homeserver.client_url
    if not await ping_homeserver(url):
        return [f"the homeserver does not answer at {url} (homeserver.url; `kabinet region up` "
                f"starts the embedded one)"]
    restart = (f"add {plan.app_services_file} to its configuration (--config-path, or its "
               f"app_service_config_files) and restart it")
    problems = [f"council {cid}: its registration was written or changed just now; the "
                f"homeserver loads registrations when it starts: {restart}" for cid in changed]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        for c in plan.councils:
            if c.id in changed:
                continue
            token = read_secrets(c.data_dir)["as_token"]
            async with http.get(f"{url}/_matrix/client/v3/account/whoami",
                                headers={"Authorization": f"Bearer {token}"}) as resp:
                if resp.status != 200:
                    problems.append(f"council {c.id}: the homeserver does not know its "
                                    f"registration {c.registration_path}: {restart}")
    return problems


async def create_databases(plan: Plan) -> None:
    """The councils' PostgreSQL databases that do not exist yet (checked: we may)."""
    for c in plan.councils:
        u = make_url(c.settings.db_url)
        if u.get_backend_name() != "postgresql":
            continue
        dsn = u.set(drivername="postgresql", database="postgres")
        conn = await asyncpg.connect(dsn.render_as_string(hide_password=False), timeout=10)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", u.database):
                await conn.execute(f'CREATE DATABASE "{u.database}"')
        except asyncpg.DuplicateDatabaseError:
            pass  # made meanwhile
        finally:
            await conn.close()


def shared_secret(plan: Plan) -> str | None:
    """What creates the councils' accounts: the external homeserver's secret from the region
    file, or the embedded shared homeserver's (generated by `region up`)."""
    hs = plan.region.homeserver
    if hs.registration_shared_secret is not None:
        return hs.registration_shared_secret.get_secret_value()
    if hs.embedded:
        return read_secrets(plan.synapse_dir).get("registration_shared_secret")
    return None


async def prepare(plan: Plan) -> str | None:
    """All the checks, then the files and the databases. Returns the account secret."""
    await check(plan)
    changed = write_files(plan)
    problems = await homeserver_problems(plan, changed)
    if problems:
        raise RegionError(plan.path, problems)
    await create_databases(plan)
    return shared_secret(plan)


# -- the apply -----------------------------------------------------------------------------------

@dataclass
class CouncilResult:
    id: str
    seconds: float = 0.0
    where: str = "here"  # or "by its running Kabinet (pid …)"
    summary: str = ""
    changes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    def line(self) -> str:
        what = f"failed: {self.error}" if self.error else self.summary
        return f"{self.id}: {what} ({self.seconds:.1f} s, {self.where})"


@dataclass
class _CouncilKabinet(Kabinet):
    """A council's Kabinet whose reconciler creates accounts on the shared homeserver with the
    region's shared secret, as the embedded one's does with its own."""

    account_secret: str | None = None

    def reconciler(self) -> Reconciler:
        reconciler = super().reconciler()
        secret = self.account_secret
        if secret is not None and reconciler.create_account is None:
            async def create(localpart: str, password: str, displayname: str) -> bool:
                return await register_user(self.hs.url, secret, localpart, password,
                                           displayname, http=self._admin_http)
            reconciler.create_account = create
        return reconciler


@asynccontextmanager
async def _endpoint(kabinet: Kabinet) -> AsyncIterator[None]:
    """The council's appservice endpoint on its web port, as its `kabinet up` serves it."""
    app = web.Application()
    app.add_subapp("/as", kabinet.transactions.web_app())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        s = kabinet.settings.web
        await web.TCPSite(runner, s.host, s.port).start()
        yield
    finally:
        await runner.cleanup()


# Alembic keeps its context in a module global: two stores migrated at once in one process
# interleave (one's tables created in the other). One at a time.
MIGRATING = asyncio.Lock()


async def apply_here(c: Council, secret: str | None, on_progress: Callable[[Progress], None],
                     slots: asyncio.Semaphore | None = None, full: bool = False
                     ) -> CouncilResult:
    kabinet = _CouncilKabinet(c.settings, c.roster, account_secret=secret)
    if slots is not None:  # the region's budget, not `concurrency` councils × their own
        kabinet.hs.share_slots(slots)
    ctl = control.Control(kabinet, command="region apply")
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(asynccontextmanager(ctl.lock_ctx)())
        async with MIGRATING:  # Alembic's context is one per process: one store at a time
            await stack.enter_async_context(asynccontextmanager(kabinet.store_ctx)())
        await stack.enter_async_context(asynccontextmanager(kabinet.homeserver_ctx)())
        await stack.enter_async_context(_endpoint(kabinet))
        report = await kabinet.apply_roster(progress=on_progress, full=full)
    return CouncilResult(c.id, summary=report.summary(), changes=report.changes,
                         problems=report.problems)


async def create_missing_accounts(c: Council, secret: str) -> list[str]:
    """Before a running Kabinet applies the roster (it creates no accounts on a homeserver it
    did not start): the accounts its store does not know yet. Returns what was created."""
    server = c.settings.homeserver.server_name
    store = Store(c.settings.db_url)
    try:
        known = await registry.known_accounts(store)
    finally:
        await store.close()
    people = [*c.roster.deputies, *c.roster.secretariat, *([c.roster.head] if c.roster.head
                                                            else [])]
    created = []
    async with aiohttp.ClientSession() as http:
        for p in people:
            localpart, _, domain = p.mxid(server)[1:].partition(":")
            if p.password and domain == server and p.mxid(server) not in known and \
                    await register_user(c.settings.homeserver.client_url, secret, localpart,
                                        p.password, p.name, http=http):
                created.append(f"created account {p.mxid(server)} ({p.name})")
    return created


async def apply_there(c: Council, running: Holder, secret: str | None, full: bool = False
                      ) -> CouncilResult:
    created = [] if secret is None else await create_missing_accounts(c, secret)
    remote = await control.apply_remote(c.data_dir, running, c.roster_path, full=full)
    text = f"{len(created)} accounts created; {remote.summary}" if created else remote.summary
    return CouncilResult(c.id, where=f"by its running Kabinet (pid {running.pid})", summary=text,
                         changes=created + remote.changes, problems=remote.problems)


class RegionProgress:
    """One aggregate bar over every council (kabinet/progress.py) and a line per council done."""

    def __init__(self, plan: Plan, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.bar = RosterProgress(self.stream, tty=tty, label="region")
        server = plan.region.homeserver.server_name
        self.planned = {c.id: Progress(
            accounts_total=len(c.roster.deputies) + len(c.roster.secretariat)
            + (1 if c.roster.head else 0),
            rooms_total=len(desired_rooms(c.roster, server))) for c in plan.councils}
        self.now = dict(self.planned)

    def council(self, cid: str) -> Callable[[Progress], None]:
        def told(p: Progress) -> None:
            self.now[cid] = p
            self._draw()
        return told

    def done(self, result: CouncilResult) -> None:
        p = self.now[result.id]
        self.now[result.id] = replace(p, accounts=p.accounts_total, rooms=p.rooms_total)
        self.bar.clear()
        self.stream.write(result.line() + "\n")
        for problem in result.problems:
            self.stream.write(f"  problem: {problem}\n")
        self.stream.flush()
        self._draw()

    def _draw(self) -> None:
        ps = self.now.values()
        self.bar(Progress(*(sum(getattr(p, f) for p in ps) for f in (
            "accounts", "accounts_total", "rooms", "rooms_total", "invites"))))

    def __enter__(self) -> RegionProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)


FAILURES = (MatrixError, HomeserverError, DataDirInUse, control.ControlError, aiohttp.ClientError,
            asyncpg.PostgresError, TimeoutError, OSError)


async def apply_councils(plan: Plan, secret: str | None, progress: RegionProgress | None = None,
                         full: bool = False) -> list[CouncilResult]:
    """Every council, `concurrency` at a time; one language group after another. The councils
    applied here share `requests` homeserver requests in flight: 4 councils with 8 each once
    queued createRoom calls on one Synapse past the client's 60 s timeout (20 × 40, workers).
    `full`: every room's state read from the homeserver, not the room-state cache (after
    restoring one of a council's two databases without the other)."""
    limit = asyncio.Semaphore(plan.region.concurrency)
    slots = asyncio.Semaphore(plan.region.requests)

    async def one(c: Council) -> CouncilResult:
        async with limit:
            began = time.monotonic()
            try:
                running = await asyncio.to_thread(holder, c.data_dir)
                if running is not None and running.control_url:
                    result = await apply_there(c, running, secret, full)
                else:
                    told = progress.council(c.id) if progress else (lambda _p: None)
                    result = await apply_here(c, secret, told, slots, full)
            except FAILURES as exc:
                result = CouncilResult(c.id, error=f"{type(exc).__name__}: {exc}".splitlines()[0])
            result.seconds = time.monotonic() - began
            if progress is not None:
                progress.done(result)
            return result

    results: list[CouncilResult] = []
    languages = sorted({c.settings.language for c in plan.councils})
    for lang in languages:
        language.use(lang)
        group = [c for c in plan.councils if c.settings.language == lang]
        results += await asyncio.gather(*(one(c) for c in group))
    order = {c.id: i for i, c in enumerate(plan.councils)}
    return sorted(results, key=lambda r: order[r.id])


async def apply_region(plan: Plan, stream: TextIO | None = None, tty: bool | None = None,
                       full: bool = False) -> list[CouncilResult]:
    secret = await prepare(plan)
    with RegionProgress(plan, stream, tty) as progress:
        return await apply_councils(plan, secret, progress, full)


def summary(results: list[CouncilResult], seconds: float) -> str:
    failed = [r.id for r in results if r.error]
    troubled = [r.id for r in results if r.problems]
    changed = sum(1 for r in results if r.changes)
    text = (f"region: {len(results)} councils in {seconds:.1f} s — {changed} changed, "
            f"{len(results) - changed - len(failed)} already matched their rosters")
    if failed:
        text += f"; failed: {', '.join(failed)}"
    if troubled:
        text += f"; with problems: {', '.join(troubled)}"
    return text
