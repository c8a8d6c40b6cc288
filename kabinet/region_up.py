"""`kabinet region up REGION.yaml` (docs/region.md): the region's shared homeserver, started by
Kabinet's own launcher with every council's registration (on SQLite, or with workers on
PostgreSQL and Redis), every roster applied (kabinet/region_apply.py, which creates the
accounts with the homeserver's shared secret), then one `kabinet up --config
<data_dir>/kabinet.yaml` process per council, each with its own web port, store and appservice.

A council process that exits without being asked is started again alone, with backoff (1 s
doubling to 60 s); the homeserver is supervised as `kabinet up` supervises its own. Ctrl-C
stops the councils first, then the homeserver. Each council's output goes to
`<data_dir>/kabinet.log`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from sqlalchemy.engine import make_url

from kabinet.config import LOOPBACK_OF
from kabinet.launcher import EmbeddedSynapse, HomeserverError
from kabinet.region import Council, Plan, RegionError
from kabinet.region_apply import (
    RegionProgress,
    apply_councils,
    check,
    create_databases,
    homeserver_problems,
    shared_secret,
    summary,
    write_files,
)
from kabinet.region_checks import synapse_database_url
from kabinet.synapse_workers import SynapseWorkers
from kabinet.wiring import stop_signals

log = logging.getLogger(__name__)

RESTART_MIN, RESTART_MAX = 1.0, 60.0
STOP_GRACE = 30.0


def shared_homeserver(plan: Plan) -> EmbeddedSynapse:
    """The region's Synapse in `<data_root>/synapse`, loading every council's registration."""
    hs = plan.region.homeserver
    if not hs.embedded:
        raise RegionError(plan.path, ["homeserver.embedded is false: `region up` starts the "
                                      "shared homeserver; with an external one use `region "
                                      "apply` and start each council with `kabinet up --config "
                                      "<data_dir>/kabinet.yaml`"])
    workers = None
    if hs.workers.enabled:
        if plan.region.database_url is None:
            raise RegionError(plan.path, ["homeserver.workers: the shared Synapse's workers run "
                                          "on PostgreSQL: set database_url"])
        synapse_db = make_url(synapse_database_url(plan))
        hs = hs.model_copy(update={"workers": hs.workers.model_copy(
            update={"database": synapse_db.database})})
        # The "store" SynapseWorkers creates beside Synapse's database: the server's own.
        workers = SynapseWorkers(plan.synapse_dir, hs, synapse_db.set(
            database="postgres").render_as_string(hide_password=False))
    first, *more = [c.registration_path for c in plan.councils]
    return EmbeddedSynapse(plan.synapse_dir, hs, first, workers=workers, more_registrations=more)


async def start_homeserver(synapse: EmbeddedSynapse) -> None:
    """Start it; with workers, its PostgreSQL database is created first if missing (what
    launcher.prepare_embedded does for a council's own)."""
    if synapse.workers is not None:
        await asyncio.to_thread(synapse.workers.ensure_databases)
    await synapse.start()


def rss_mib(pid: int | None) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text() if pid else ""
    except OSError:
        return None
    kib = next((int(line.split()[1]) for line in status.splitlines()
                if line.startswith("VmRSS:")), None)
    return None if kib is None else kib / 1024


@dataclass
class CouncilProcess:
    """One council's `kabinet up`, as a child of `region up`."""

    council: Council
    process: asyncio.subprocess.Process | None = None
    wanted: bool = False
    restarts: int = 0
    _log: object = field(default=None, repr=False)

    @property
    def ready_url(self) -> str:
        web = self.council.settings.web
        return f"http://{LOOPBACK_OF.get(web.host, web.host)}:{web.port}/readyz"

    async def start(self, timeout: float) -> None:
        c = self.council
        self.wanted = True
        out = (c.data_dir / "kabinet.log").open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "kabinet", "up", "--config", str(c.config_path),
                stdout=out, stderr=out, stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True)  # Ctrl-C reaches `region up`, which stops it in order
        finally:
            out.close()
        await self.wait_ready(timeout)

    async def wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise HomeserverError(
                        f"council {self.council.id}: its Kabinet exited with "
                        f"{self.process.returncode} while starting; see "
                        f"{self.council.data_dir / 'kabinet.log'}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError):
                    async with http.get(self.ready_url) as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.5)
        raise HomeserverError(f"council {self.council.id}: its Kabinet was not ready within "
                              f"{timeout:.0f} s; see {self.council.data_dir / 'kabinet.log'}")

    async def stop(self) -> None:
        self.wanted = False
        proc, self.process = self.process, None
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    async def supervise(self, timeout: float) -> None:
        """Start it again alone whenever it exits while wanted."""
        delay = RESTART_MIN
        while self.wanted:
            proc = self.process
            if proc is not None:
                began = time.monotonic()
                code = await proc.wait()
                if not self.wanted or self.process is not proc:
                    return
                if time.monotonic() - began > 60:
                    delay = RESTART_MIN
                log.error("council %s: its Kabinet (pid %d) exited with %s; starting it again "
                          "in %.0f s", self.council.id, proc.pid, code, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_MAX)
            try:
                await self.start(timeout)
                self.restarts += 1
                log.warning("council %s: its Kabinet runs again (pid %d)", self.council.id,
                            self.process.pid if self.process else 0)
            except (HomeserverError, OSError) as exc:
                log.error("council %s: could not be started again: %s", self.council.id, exc)


def banner(plan: Plan, synapse: EmbeddedSynapse, councils: list[CouncilProcess]) -> str:
    hs = plan.region.homeserver
    main = synapse.process.pid if synapse.process else None
    lines = ["", f"Регіон працює / The region is running: {len(councils)} councils on "
             f"{hs.public_client_url} (server name {hs.server_name})",
             f"  homeserver: pid {main}, RSS {rss_mib(main) or 0:.0f} MiB"]
    if synapse.workers is not None:
        for w in synapse.workers.processes:
            pid = w.process.pid if w.process else None
            lines.append(f"  worker {w.name}: pid {pid}, RSS {rss_mib(pid) or 0:.0f} MiB")
    lines.append(f"  region up: pid {os.getpid()}, RSS {rss_mib(os.getpid()) or 0:.0f} MiB")
    for p in councils:
        c, pid = p.council, p.process.pid if p.process else None
        lines.append(f"  {c.id}: {c.settings.web.base_url}/  {c.space_alias}  pid {pid}, RSS "
                     f"{rss_mib(pid) or 0:.0f} MiB")
    lines.append("  Ctrl-C stops every council, then the homeserver.")
    return "\n".join(lines)


async def start_region(plan: Plan, synapse: EmbeddedSynapse, councils: list[CouncilProcess]
                       ) -> None:
    began = time.monotonic()
    await check(plan)
    write_files(plan)  # every registration, before the homeserver reads them
    await start_homeserver(synapse)
    problems = await homeserver_problems(plan, [])
    if problems:
        raise RegionError(plan.path, problems)
    await create_databases(plan)
    with RegionProgress(plan) as progress:
        results = await apply_councils(plan, shared_secret(plan), progress)
    print(summary(results, time.monotonic() - began), file=sys.stderr, flush=True)
    limit = asyncio.Semaphore(plan.region.concurrency)
    timeout = plan.region.homeserver.start_timeout + 600

    async def one(p: CouncilProcess) -> None:
        async with limit:
            await p.start(timeout)

    await asyncio.gather(*(one(p) for p in councils))


async def run_region(plan: Plan) -> int:
    synapse = shared_homeserver(plan)
    councils = [CouncilProcess(c) for c in plan.councils]
    stop = stop_signals()
    tasks: list[asyncio.Task[None]] = []
    try:
        starting = asyncio.ensure_future(start_region(plan, synapse, councils))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            print("Stopping before the start finished…", flush=True)
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return 0
        stopped.cancel()
        starting.result()  # raises what the start raised
        timeout = plan.region.homeserver.start_timeout + 600
        tasks = [asyncio.create_task(p.supervise(timeout)) for p in councils]
        tasks.append(asyncio.create_task(synapse.supervise()))
        print(banner(plan, synapse, councils), flush=True)
        await stop.wait()
        return 0
    finally:
        print("Stopping…", flush=True)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(p.stop() for p in councils))
        await synapse.stop()
