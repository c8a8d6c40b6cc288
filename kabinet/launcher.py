"""The embedded homeserver: matrix-synapse from PyPI, run as a child process.

`make run` and the test suite start Synapse through this one launcher, so what
the tests exercise is what a newcomer runs. Synapse is started only by the process that
holds the data dir's lock (kabinet/lock.py): two homeservers on one database are impossible.
While Kabinet runs, `supervise()` restarts a Synapse that died without being asked to.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import importlib.resources
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import jinja2

from kabinet.config import HomeserverConfig
from kabinet.lock import DataDirInUse, DataDirLock, holder
from kabinet.secrets import (
    DIR_MODE,
    Registration,
    ensure_secrets,
    write_private,
    write_registration,
)
from kabinet.stranded import resume_unsent_transactions
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
from kabinet.synapse_workers import SynapseWorkers

log = logging.getLogger(__name__)

# The homeserver's config templates are package data of `kabinet`, read through importlib.resources,
# so that an installed Kabinet (`pip install .`, not only a checkout) finds them. They are not in
# a top-level `synapse/` folder: installed, that would be a top-level package named `synapse`,
# colliding with matrix-synapse's own package, the one we run.
TEMPLATES = importlib.resources.files("kabinet") / "synapse_templates"

@dataclass
class EmbeddedSynapse:
    data_dir: Path
    config: HomeserverConfig
    registration_path: Path
    log_level: str = "INFO"
    process: asyncio.subprocess.Process | None = None
    # The data dir lock of the Kabinet that owns this homeserver. Without one, start() takes
    # its own (and stop() gives it back).
    lock: DataDirLock | None = None
    _own_lock: bool = field(default=False, repr=False)
    # Whether the homeserver should be running: start() says yes, stop() says no. The supervisor
    # restarts only a process that exited while it was wanted.
    _wanted: bool = field(default=False, repr=False)
    _starting: bool = field(default=False, repr=False)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _output: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=40), repr=False)
    _drain: asyncio.Task[None] | None = field(default=None, repr=False)
    # Transactions found stored but unsent at the last start (resume_unsent_transactions).
    unsent: int = 0
    # The workers topology (kabinet/synapse_workers.py), or None: Synapse alone on SQLite.
    workers: SynapseWorkers | None = None
    # Further appservice registrations for Synapse to load: a region's shared homeserver serves
    # every council's (kabinet/region_up.py), `registration_path` being the first.
    more_registrations: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.config.client_url

    @property
    def config_path(self) -> Path:
        return self.data_dir / "homeserver.yaml"

    def render(self) -> None:
        """Write homeserver.yaml and its log config from TEMPLATES (0600: the config holds
        registration_shared_secret, enough to create a homeserver admin)."""
        env = jinja2.Environment(
            loader=jinja2.FunctionLoader(_template_source),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )
        data_dir = self.data_dir.resolve()
        values = {
            "data_dir": data_dir,
            "server_name": self.config.server_name,
            "public_baseurl": self.config.public_client_url + "/",
            "bind": self.config.bind,
            "port": self.config.port,
            "x_forwarded": False,
            "federation": self.config.federation,
            "secrets": ensure_secrets(self.data_dir),
            "registration_paths": [p.resolve() for p in (self.registration_path,
                                                          *self.more_registrations)],
            "bcrypt_rounds": self.config.bcrypt_rounds,
            "max_upload_size": self.config.max_upload_size,
            "log_level": self.log_level,
            "topology": self.workers.template_values() if self.workers is not None else None,
        }
        (data_dir / "media_store").mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        write_private(self.config_path, env.get_template("homeserver.yaml.j2").render(values))
        write_private(data_dir / "homeserver.log.yaml", env.get_template("log.yaml.j2").render(values))
        if self.workers is not None:
            self.workers.render(env, values)

    async def _run_synapse(self, *args: str) -> asyncio.subprocess.Process:
        return await run_synapse("synapse.app.homeserver", [self.config_path], *args)

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "synapse.pid"

    def _hold_lock(self) -> None:
        if self.lock is not None and self.lock.held:
            return
        self.lock = DataDirLock.acquire(self.data_dir, command="up", homeserver_url=self.url)
        self._own_lock = True

    def _release_own_lock(self) -> None:
        if self._own_lock and self.lock is not None:
            self.lock.release()
            self.lock, self._own_lock = None, False

    def _set_state(self, *, wanted: bool | None = None, starting: bool | None = None) -> None:
        if wanted is not None:
            self._wanted = wanted
        if starting is not None:
            self._starting = starting
        self._changed.set()  # the supervisor looks again

    async def start(self) -> None:
        self.data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        self._hold_lock()  # never a second homeserver on this data dir
        self._set_state(wanted=True, starting=True)
        try:
            self.render()
            await stop_leftover(self.pid_path, self.config_path, "a Synapse")
            if self.workers is not None:  # theirs too; their loopback ports and Redis free
                await self.workers.before_main()
            if await ping_homeserver(self.url):
                raise HomeserverError(
                    f"something already answers at {self.url}: another Kabinet or Synapse is "
                    f"running (stop it, or choose another --homeserver-port)"
                )
            if not (self.data_dir / "signing.key").exists():
                gen = await self._run_synapse("--generate-keys")
                out, _ = await gen.communicate()
                if gen.returncode != 0:
                    raise HomeserverError("Synapse could not generate its keys:\n"
                                          + out.decode()[-2000:])
            resumed = await asyncio.to_thread(resume_unsent_transactions,
                                              self.data_dir / "homeserver.db")
            if resumed:
                log.warning("the homeserver stopped with %d appservice transaction(s) unsent; "
                            "they are sent again now", resumed)
                self.unsent = resumed  # the owner nudges the stream once it serves (see there)
            self.process = await self._run_synapse()
            self._drain = asyncio.create_task(keep_output(self.process, self._output))
            self.pid_path.write_text(str(self.process.pid))
            await self._wait_ready()
            if self.workers is not None:  # once the main process answers (docs/synapse-workers.md)
                self.unsent += await self.workers.start(self.config.start_timeout)
        except BaseException:
            await self.stop()
            raise
        finally:
            self._set_state(starting=False)

    async def _wait_ready(self) -> None:
        assert self.process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.start_timeout
        while loop.time() < deadline:
            if self.process.returncode is not None:
                if self._drain is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(self._drain), 2)
                raise HomeserverError(
                    f"Synapse exited with {exit_reason(self.process.returncode)} while starting; "
                    f"see {self.data_dir / 'homeserver.log'}\n{''.join(self._output)[-2000:]}"
                )
            if await ping_homeserver(self.url):
                log.info("Synapse answers at %s", self.url)
                return
            await asyncio.sleep(0.25)
        raise HomeserverError(f"Synapse did not answer at {self.url} within "
                              f"{self.config.start_timeout:.0f} s; see {self.data_dir}/homeserver.log")

    async def stop(self) -> None:
        """Stop on purpose: the supervisor leaves a homeserver stopped this way alone."""
        proc, self.process = self.process, None
        self._set_state(wanted=False)
        self.pid_path.unlink(missing_ok=True)
        try:
            if self.workers is not None:
                await self.workers.stop()  # the workers first, then the main process
            if proc is not None:
                await terminate(proc)
        finally:
            if self._drain is not None and proc is not None and proc.returncode is not None:
                self._drain.cancel()  # its output is of no use any more
            self._release_own_lock()

    async def supervise(self, on_restart: Callable[[], None] = lambda: None) -> None:
        if self.workers is None:
            return await self._supervise_main(on_restart)

        def worker_back(unsent: int) -> None:  # a restarted worker: like the main process
            self.unsent += unsent
            on_restart()

        await asyncio.gather(self._supervise_main(on_restart), self.workers.supervise(worker_back))

    async def _supervise_main(self, on_restart: Callable[[], None]) -> None:
        """Run for as long as Kabinet runs: a homeserver that exits without stop() having been
        called (killed, out of memory, crashed) is started again, with backoff; each restart is
        logged once with the reason. `on_restart` runs once it answers again (to wake delivery).
        A homeserver stopped on purpose stays stopped until someone calls start()."""
        loop = asyncio.get_running_loop()
        delay = RESTART_MIN
        while True:
            self._changed.clear()
            proc = self.process
            if not self._wanted or self._starting:
                await self._changed.wait()  # stopped on purpose, or its owner is starting it
                continue
            if proc is not None and proc.returncode is None:
                started = loop.time()
                await first(proc.wait(), self._changed.wait())
                if proc.returncode is None or self.process is not proc or not self._wanted:
                    continue  # stopped or replaced by its owner: not ours to restart
                uptime = loop.time() - started
                if uptime >= STABLE_AFTER:
                    delay = RESTART_MIN
                log.error("the homeserver (Synapse, pid %d) exited with %s after %.0f s; "
                          "restarting it in %.0f s", proc.pid, exit_reason(proc.returncode),
                          uptime, delay)
            # Wanted, and no live process: it died, or the last restart failed.
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_MAX)
            if not self._wanted or self._starting or self.process is not proc:
                continue  # stopped, or started by its owner meanwhile
            try:
                await self.start()
            except (HomeserverError, DataDirInUse, OSError) as exc:
                self._set_state(wanted=True)  # start() stopped it; it is still wanted
                log.error("the homeserver could not be restarted (next try in %.0f s): %s",
                          delay, str(exc).splitlines()[0])
                continue
            log.warning("the homeserver was restarted and answers at %s", self.url)
            on_restart()


def _template_source(name: str) -> str | None:
    try:
        return (TEMPLATES / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None  # jinja2 says which template is missing


async def ping_homeserver(url: str, timeout: float = 2.0) -> bool:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http, \
                http.get(f"{url}/_matrix/client/versions") as resp:
            return resp.status == 200
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False


def prepare_embedded(
    data_dir: Path, hs: HomeserverConfig, *, as_id: str, as_url: str, bot_localpart: str,
    ghost_prefix: str, alias_prefix: str, log_level: str = "INFO", store_url: str | None = None,
) -> tuple[EmbeddedSynapse, Registration]:
    """Secrets, registration and config for the embedded homeserver (nothing started yet).
    `store_url`: Kabinet's store, whose PostgreSQL server the workers topology shares."""
    reg_path = data_dir / "appservice-registration.yaml"
    workers = SynapseWorkers(data_dir, hs, store_url or "") if hs.workers.enabled else None
    running = holder(data_dir) if data_dir.exists() else None
    if running is not None and running.pid != os.getpid() and reg_path.exists():
        # A command beside a running Kabinet (`sitting create`, ...): its files are left as
        # they are (rewriting the registration would point its homeserver at our ports on its
        # next start), and start() refuses to start a second homeserver.
        return (EmbeddedSynapse(data_dir, hs, reg_path, log_level, workers=workers),
                Registration.load(reg_path))
    if workers is not None:
        workers.ensure_databases()  # before the store is migrated into its own
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    tokens = ensure_secrets(data_dir)
    registration = write_registration(
        reg_path, as_id=as_id, url=as_url, bot_localpart=bot_localpart,
        ghost_prefix=ghost_prefix, alias_prefix=alias_prefix, server_name=hs.server_name,
        tokens=tokens,
    )
    return EmbeddedSynapse(data_dir, hs, reg_path, log_level, workers=workers), registration


async def register_user(
    url: str, shared_secret: str, localpart: str, password: str, displayname: str,
    *, admin: bool = False, http: aiohttp.ClientSession,
) -> bool:
    """Create an account through Synapse's shared-secret admin registration.

    Returns False when the account already exists (registration is idempotent for us).
    """
    endpoint = f"{url}/_synapse/admin/v1/register"
    async with http.get(endpoint) as resp:
        resp.raise_for_status()
        nonce = (await resp.json())["nonce"]
    body = {
        "nonce": nonce, "username": localpart, "password": password,
        "displayname": displayname, "admin": admin,
    }
    # HMAC-SHA1 over nonce, user, password and admin flag, NUL-separated (Synapse admin API).
    mac = hmac.new(shared_secret.encode(), digestmod=hashlib.sha1)
    mac.update(b"\x00".join(p.encode() for p in
                            (nonce, localpart, password, "admin" if admin else "notadmin")))
    body["mac"] = mac.hexdigest()
    async with http.post(endpoint, json=body) as resp:
        if resp.status == 200:
            return True
        data = await resp.json(content_type=None)
        if data.get("errcode") == "M_USER_IN_USE":
            return False
        raise HomeserverError(f"could not create @{localpart}: {data.get('error', resp.status)}")
