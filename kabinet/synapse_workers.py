"""The embedded Synapse with workers, on PostgreSQL and Redis (docs/synapse-workers.md).

`homeserver.workers.enabled` (`kabinet up --synapse-workers`): the main process keeps every
client request (no reverse proxy needed), and three generic workers take over what it would
otherwise do beside them:
- `event_persister1` writes every event (`stream_writers.events`);
- `appservice1` sends the appservice transactions to Kabinet (`notify_appservices_from_worker`);
- `background_worker1` runs Synapse's background tasks (`run_background_tasks_on`).
They talk over Redis and over HTTP replication listeners on loopback (`instance_map`, guarded by
`worker_replication_secret`); each process has a metrics listener on loopback. Synapse's
database is its own (`<Kabinet's database>_synapse`) on the PostgreSQL server of Kabinet's store.

EmbeddedSynapse (kabinet/launcher.py) starts the workers once the main process answers, stops
them before it, and supervises them with it: a worker that dies is started again, alone.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jinja2
import psycopg2
import psycopg2.errors
from psycopg2 import sql
from sqlalchemy.engine import URL, make_url

from kabinet.config import HomeserverConfig
from kabinet.secrets import write_private
from kabinet.stranded import mark_stranded_down
from kabinet.synapse_process import (
    RESTART_MAX,
    RESTART_MIN,
    STABLE_AFTER,
    HomeserverError,
    exit_reason,
    first,
    keep_output,
    run_synapse,
    stop_leftover,
    terminate,
)

log = logging.getLogger(__name__)

EVENT_PERSISTER = "event_persister1"
APPSERVICE_SENDER = "appservice1"
BACKGROUND = "background_worker1"
# Each worker's HTTP listener serves /health, and what others reach it for.
WORKERS = ((EVENT_PERSISTER, ("replication",)), (APPSERVICE_SENDER, ("health",)),
           (BACKGROUND, ("health",)))
PORTS = 2 + 2 * len(WORKERS)  # main: replication, metrics; each worker: HTTP, metrics
# What Synapse requires of its PostgreSQL database (its docs, "Using Postgres").
SYNAPSE_DATABASE = "ENCODING 'UTF8' LC_COLLATE='C' LC_CTYPE='C' TEMPLATE template0"


@dataclass(frozen=True)
class Worker:
    name: str
    resources: tuple[str, ...]
    http_port: int
    metrics_port: int


@dataclass
class WorkerProcess:
    """One worker as Kabinet's child: started, waited for, stopped."""

    worker: Worker
    data_dir: Path
    process: asyncio.subprocess.Process | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)  # its watcher looks again
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one start at a time
    _output: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=40))
    _drain: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.worker.name

    @property
    def config_path(self) -> Path:
        return self.data_dir / f"worker-{self.name}.yaml"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / f"worker-{self.name}.pid"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def spawn(self, main_config: Path) -> None:
        self.process = await run_synapse("synapse.app.generic_worker",
                                         [main_config, self.config_path])
        self._drain = asyncio.create_task(keep_output(self.process, self._output))
        self.pid_path.write_text(str(self.process.pid))

    async def wait_healthy(self, timeout: float) -> None:
        """Until its HTTP listener answers /health with 200."""
        assert self.process is not None
        url = f"http://127.0.0.1:{self.worker.http_port}/health"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.process.returncode is not None:
                if self._drain is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(self._drain), 2)
                raise HomeserverError(
                    f"Synapse worker {self.name} exited with "
                    f"{exit_reason(self.process.returncode)} while starting; see "
                    f"{self.data_dir / f'worker-{self.name}.log'}\n{''.join(self._output)[-2000:]}")
            if await _answers(url):
                return
            await asyncio.sleep(0.25)
        raise HomeserverError(f"Synapse worker {self.name} did not answer at {url} within "
                              f"{timeout:.0f} s; see {self.data_dir / f'worker-{self.name}.log'}")

    async def stop(self) -> None:
        proc, self.process = self.process, None
        self.pid_path.unlink(missing_ok=True)
        if proc is not None:
            await terminate(proc)
        if self._drain is not None:
            self._drain.cancel()


class SynapseWorkers:
    """The workers of one embedded Synapse: their configs, databases, start, stop, supervision."""

    def __init__(self, data_dir: Path, hs: HomeserverConfig, store_url: str) -> None:
        self.data_dir, self.hs, self.conf = data_dir, hs, hs.workers
        self.store: URL = make_url(store_url)
        if self.store.get_backend_name() != "postgresql" or not self.store.database:
            raise HomeserverError("the Synapse workers topology needs Kabinet's store on "
                                  "PostgreSQL: set database_url to postgresql://…/<database>")
        self.database = self.conf.database or f"{self.store.database}_synapse"
        self.first_port = self.conf.ports_from or hs.port + 1000
        if self.first_port + PORTS - 1 > 65535:
            raise HomeserverError(f"the workers' loopback ports {self.first_port}-"
                                  f"{self.first_port + PORTS - 1} do not exist; set "
                                  f"homeserver.workers.ports_from")
        self.processes = [
            WorkerProcess(Worker(name, resources, self.first_port + 2 + 2 * i,
                                 self.first_port + 3 + 2 * i), data_dir)
            for i, (name, resources) in enumerate(WORKERS)]
        self._wanted = False  # start() says yes, stop() says no: watchers restart only then
        self._starting = False

    @property
    def main_config(self) -> Path:
        return self.data_dir / "homeserver.yaml"

    def _libpq(self, database: str) -> dict[str, Any]:
        u = self.store
        args = {"user": u.username, "password": u.password, "host": u.host, "port": u.port,
                "dbname": database}
        return {key: value for key, value in args.items() if value is not None}

    # -- before the start ----------------------------------------------------------------------

    def ensure_databases(self) -> None:
        """Kabinet's database and Synapse's (with the collation Synapse requires), created on
        the store's PostgreSQL server if missing. pg_database is seen from any database."""
        conn = None
        for maintenance in (self.store.database, "postgres"):
            with contextlib.suppress(psycopg2.OperationalError):
                conn = psycopg2.connect(**self._libpq(str(maintenance)), connect_timeout=10)
                break
        if conn is None:
            where = self.store.render_as_string(hide_password=True)
            raise HomeserverError(f"cannot connect to the PostgreSQL server of {where} (nor to "
                                  f"its database postgres) to create the databases")
        conn.autocommit = True  # CREATE DATABASE runs outside a transaction
        with contextlib.closing(conn), conn.cursor() as cur:
            for name, options in ((self.store.database, ""), (self.database, SYNAPSE_DATABASE)):
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    log.warning("creating the PostgreSQL database %s", name)
                    with contextlib.suppress(psycopg2.errors.DuplicateDatabase):
                        cur.execute(sql.SQL("CREATE DATABASE {} " + options).format(
                            sql.Identifier(name)))

    def template_values(self) -> dict[str, Any]:
        """What homeserver.yaml.j2 says of the topology."""
        persister = next(p.worker for p in self.processes if p.name == EVENT_PERSISTER)
        return {
            "replication_port": self.first_port, "metrics_port": self.first_port + 1,
            "database": {**self._libpq(self.database), "cp_min": 1, "cp_max": 8},
            "redis_host": self.conf.redis_host, "redis_port": self.conf.redis_port,
            "instance_map": {"main": self.first_port, EVENT_PERSISTER: persister.http_port},
            "event_persister": EVENT_PERSISTER, "appservice_sender": APPSERVICE_SENDER,
            "background": BACKGROUND,
        }

    def render(self, env: jinja2.Environment, values: dict[str, Any]) -> None:
        """Each worker's config and log config (0600, like homeserver.yaml)."""
        for p in self.processes:
            write_private(p.config_path, env.get_template("worker.yaml.j2").render(
                values, worker=p.worker))
            write_private(self.data_dir / f"worker-{p.name}.log.yaml", env.get_template(
                "log.yaml.j2").render(values, log_file=f"worker-{p.name}.log"))

    async def before_main(self) -> None:
        """Before the main process starts: workers left running by a killed Kabinet stopped,
        then the loopback ports and Redis checked, so that a conflict is said in words."""
        for p in self.processes:
            if not p.alive:
                await stop_leftover(p.pid_path, p.config_path, f"Synapse worker {p.name}")
        ports = [self.first_port, self.first_port + 1] + [
            port for p in self.processes if not p.alive
            for port in (p.worker.http_port, p.worker.metrics_port)]
        taken = [port for port in ports if not _port_free(port)]
        if taken:
            raise HomeserverError(f"the workers' loopback port(s) {', '.join(map(str, taken))} "
                                  f"are in use by another program; set homeserver.workers."
                                  f"ports_from (now {self.first_port}: {PORTS} ports from it)")
        others = await self._redis_subscribers()
        if others and not any(p.alive for p in self.processes):
            raise HomeserverError(
                f"another homeserver named {self.hs.server_name} already uses the Redis at "
                f"{self.conf.redis_host}:{self.conf.redis_port} (its replication channel has "
                f"{others} subscriber(s)); one Redis serves several homeservers only with "
                f"distinct server names")

    async def _redis_subscribers(self) -> int:
        """PUBSUB NUMSUB of Synapse's replication channel (named after the server)."""
        where = f"{self.conf.redis_host}:{self.conf.redis_port}"
        name = self.hs.server_name.encode()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                self.conf.redis_host, self.conf.redis_port), 5)
            try:
                writer.write(b"*3\r\n$6\r\nPUBSUB\r\n$6\r\nNUMSUB\r\n$%d\r\n%s\r\n" % (len(name), name))
                await writer.drain()
                lines = [await asyncio.wait_for(reader.readline(), 5)]
                if lines[0].startswith(b"*2"):
                    lines += [await asyncio.wait_for(reader.readline(), 5) for _ in range(3)]
            finally:
                writer.close()
        except (OSError, TimeoutError) as exc:
            raise HomeserverError(f"Redis does not answer at {where} (homeserver.workers."
                                  f"redis_host, redis_port), which Synapse's workers need: "
                                  f"{exc or type(exc).__name__}") from None
        if len(lines) < 4 or not lines[3].startswith(b":"):
            raise HomeserverError(f"Redis at {where} refused PUBSUB NUMSUB: {lines[0]!r}")
        return int(lines[3][1:])

    # -- running -------------------------------------------------------------------------------

    def resume_unsent(self) -> int:
        """kabinet/stranded.py on Synapse's PostgreSQL database; only while no appservice
        sender runs (a sender that finds its appservice marked down stops sending)."""
        conn = psycopg2.connect(**self._libpq(self.database), connect_timeout=10)
        with contextlib.closing(conn):
            unsent = mark_stranded_down(conn, "%s", psycopg2.errors.UndefinedTable)
        if unsent:
            log.warning("the homeserver stopped with %d appservice transaction(s) unsent; they "
                        "are sent again now", unsent)
        return unsent

    def _set_state(self, *, wanted: bool | None = None, starting: bool | None = None) -> None:
        if wanted is not None:
            self._wanted = wanted
        if starting is not None:
            self._starting = starting
        for p in self.processes:
            p.changed.set()

    async def start(self, timeout: float) -> int:
        """Start the workers that do not run and wait until each answers /health. Returns the
        appservice transactions found stored but unsent (resume_unsent)."""
        began = asyncio.get_running_loop().time()
        self._set_state(wanted=True, starting=True)
        try:
            results = await asyncio.gather(*(self._start_one(p, timeout) for p in self.processes),
                                           return_exceptions=True)
        finally:
            self._set_state(starting=False)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        log.info("Synapse's workers answer (%s) after %.1f s", ", ".join(
            p.name for p in self.processes), asyncio.get_running_loop().time() - began)
        return sum(r for r in results if isinstance(r, int))

    async def _start_one(self, p: WorkerProcess, timeout: float) -> int:
        unsent = 0
        async with p.lock:
            if not p.alive:
                if p.name == APPSERVICE_SENDER:
                    unsent = await asyncio.to_thread(self.resume_unsent)
                await p.spawn(self.main_config)
            await p.wait_healthy(timeout)
        return unsent

    async def stop(self) -> None:
        """Stop every worker (before the main process: Synapse's own synctl order)."""
        self._set_state(wanted=False)
        await asyncio.gather(*(p.stop() for p in self.processes))

    async def supervise(self, on_restart: Callable[[int], None]) -> None:
        """Restart a worker that exits while wanted, with the main process's backoff;
        `on_restart(unsent)` runs once it answers again."""
        await asyncio.gather(*(self._watch(p, on_restart) for p in self.processes))

    async def _watch(self, p: WorkerProcess, on_restart: Callable[[int], None]) -> None:
        loop = asyncio.get_running_loop()
        delay = RESTART_MIN
        while True:
            p.changed.clear()
            proc = p.process
            if not self._wanted or self._starting:
                await p.changed.wait()
                continue
            if proc is not None and proc.returncode is None:
                started = loop.time()
                await first(proc.wait(), p.changed.wait())
                if proc.returncode is None or p.process is not proc or not self._wanted:
                    continue
                uptime = loop.time() - started
                if uptime >= STABLE_AFTER:
                    delay = RESTART_MIN
                log.error("Synapse worker %s (pid %d) exited with %s after %.0f s; restarting "
                          "it in %.0f s", p.name, proc.pid, exit_reason(proc.returncode), uptime,
                          delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_MAX)
            if not self._wanted or self._starting or p.process is not proc:
                continue
            try:
                unsent = await self._start_one(p, self.hs.start_timeout)
            except (HomeserverError, OSError, psycopg2.Error) as exc:
                await p.stop()
                log.error("Synapse worker %s could not be restarted (next try in %.0f s): %s",
                          p.name, delay, str(exc).splitlines()[0])
                continue
            log.warning("Synapse worker %s was restarted and answers", p.name)
            on_restart(unsent)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Twisted binds
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _answers(url: str) -> bool:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http, \
                http.get(url) as resp:
            return resp.status == 200
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False


async def redis_report(host: str, port: int, timeout: float = 2.0) -> dict[str, Any]:
    """For /healthz: whether the Redis that carries Synapse's replication answers PING. A report,
    not a check: Kabinet itself needs no Redis and keeps taking appeals and drafts while it is
    away; only their delivery to Matrix waits (docs/synapse-workers.md, "Redis restarts")."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        try:
            writer.write(b"*1\r\n$4\r\nPING\r\n")
            await writer.drain()
            answering = (await asyncio.wait_for(reader.readline(), timeout)).startswith(b"+PONG")
        finally:
            writer.close()
    except (OSError, TimeoutError):
        answering = False
    return {"answering": answering} if answering else {
        "answering": False, "effect": "delivery to Matrix waits until Redis is back; "
                                      "appeals and drafts are still taken"}
