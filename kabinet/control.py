"""A running installation, seen from its data dir, and what it does for the command line.

- The data dir lock (kabinet/lock.py), taken before anything else starts: one Kabinet per data
  dir, recognisable by its pid and URLs whatever ports it was started with.
- The control endpoint: HTTP on a loopback port of the running Kabinet, named in the lock file,
  authenticated with `control_token` from the data dir's secrets.yaml (0600). `kabinet roster
  apply --data-dir DIR` sends the roster there, and the running Kabinet applies it itself (its
  homeserver, its in-memory roster) and answers with the report.
- The supervisor of the embedded homeserver (EmbeddedSynapse.supervise) as a worker.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web
from mautrix.errors import MatrixError

from council.roster import Roster, RosterError, parse_roster
from kabinet.installation import Installation
from kabinet.launcher import HomeserverError
from kabinet.lock import DataDirLock, Holder
from kabinet.secrets import ensure_secrets, private_data_dir, read_secrets
from web.pages import ROSTER

log = logging.getLogger(__name__)

APPLY_PATH = "/roster/apply"
MAX_ROSTER_BYTES = 4 * 1024 * 1024


class ControlError(RuntimeError):
    """The running Kabinet could not be asked, or refused; the message is for people."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class RemoteReport:
    """What the running Kabinet answered: the reconciler's report, as lines."""

    changes: list[str]
    problems: list[str]
    summary: str


def parse_roster_text(text: str, source: str) -> Roster:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RosterError(source, [f"not valid YAML: {exc}"]) from None
    return parse_roster(data, source)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@dataclass
class Control:
    kabinet: Installation
    command: str = "up"  # what the lock file says this process is doing
    lock: DataDirLock | None = None
    url: str | None = None  # the control endpoint, once it listens
    app: web.Application | None = None  # the web site, whose roster a re-apply replaces
    _applying: asyncio.Lock = field(default_factory=asyncio.Lock)
    _token: str = ""  # control_token from secrets.yaml, read when the endpoint starts

    async def lock_ctx(self, _app: web.Application | None = None) -> AsyncIterator[None]:
        """Hold the data dir for the life of this process; make it private (umask, modes)."""
        s = self.kabinet.settings
        self.lock = DataDirLock.acquire(
            s.data_dir, command=self.command, homeserver_url=s.homeserver.client_url,
            web_url=s.web.base_url if self.command == "up" else None)
        synapse = self.kabinet.synapse
        try:
            private_data_dir(s.data_dir)
            if synapse is not None:
                synapse.lock = self.lock
            yield
        finally:
            if synapse is not None and synapse.lock is self.lock:
                synapse.lock = None
            self.lock.release()

    # -- the control endpoint (a worker: it listens once the first roster apply is done) ------

    async def serve(self) -> None:
        self._token = ensure_secrets(self.kabinet.settings.data_dir)["control_token"]
        app = web.Application(client_max_size=MAX_ROSTER_BYTES)
        app.router.add_post(APPLY_PATH, self._apply)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            # Loopback only, on a port of the kernel's choosing: never reachable through the
            # reverse proxy, never in the way of another installation.
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            if self.lock is not None and self.lock.held:
                self.lock.update(control_url=self.url)
            await asyncio.Event().wait()  # until Kabinet stops (the worker is cancelled)
        finally:
            self.url = None
            if self.lock is not None and self.lock.held:
                self.lock.update(control_url=None)
            await runner.cleanup()

    async def _apply(self, request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not self._token or not hmac.compare_digest(given.encode(), self._token.encode()):
            return _error(403, "wrong or missing control token")
        try:
            body = await request.json()
            text, source = body["roster"], str(body.get("source") or "<roster>")
            full = body.get("full", False)  # read every room's state, not the cache
            if not isinstance(text, str) or not isinstance(full, bool):
                raise TypeError
        except (ValueError, KeyError, TypeError, AttributeError):
            return _error(400, 'expected JSON {"roster": "<YAML text>", "source": "<file name>"}')
        try:
            roster = parse_roster_text(text, source)
        except RosterError as exc:
            return _error(422, str(exc))
        async with self._applying:  # one apply at a time
            try:
                report = await self.kabinet.apply_roster(roster, full=full)
            except (MatrixError, HomeserverError, aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.warning("a roster apply from the command line failed: %s", exc)
                return _error(503, f"the roster could not be applied: {exc}")
            except Exception:
                log.exception("a roster apply from the command line failed")
                return _error(500, "the roster could not be applied; the Kabinet log says why")
        self._publish(roster)
        log.info("roster applied from the command line: %s", report.summary())
        return web.json_response({"changes": report.changes, "problems": report.problems,
                                  "summary": report.summary()})

    def _publish(self, roster: Roster) -> None:
        """The web site shows the roster it was built with: give it the new one. aiohttp warns
        about state changed on a running app (meant for configuration mistakes); the roster is
        the one value that legitimately changes while Kabinet runs."""
        if self.app is None:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.app[ROSTER] = roster


def install(kabinet: Installation) -> Control:
    """Wire the lock, the control endpoint and the homeserver's supervisor into an installation."""
    control = Control(kabinet)

    def web_setup(app: web.Application) -> None:
        control.app = app
        # First of the cleanup contexts: the data dir is held before the store is migrated and
        # the homeserver started, and given back after both have stopped.
        app.cleanup_ctx.insert(0, control.lock_ctx)

    kabinet.web_setups.append(web_setup)
    kabinet.process_workers.append(control.serve)  # in every process, leading or not
    synapse = kabinet.synapse
    if synapse is not None:
        def resumed() -> None:  # the homeserver is back: work that waited for it goes on now
            for wake in kabinet.on_homeserver_back:
                wake()
            stranded = asyncio.get_running_loop().create_task(kabinet.send_stranded_transactions())
            stranded.add_done_callback(_log_failure)

        async def supervise_homeserver() -> None:
            await synapse.supervise(on_restart=resumed)

        kabinet.process_workers.append(supervise_homeserver)
    return control


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not nudge the homeserver to resend stranded transactions: %s",
                    task.exception())


# -- the command line's side ------------------------------------------------------------------

async def apply_remote(data_dir: Path, running: Holder, roster_file: Path, *,
                       full: bool = False) -> RemoteReport:
    """Ask the Kabinet running on data_dir to apply the roster in roster_file."""
    assert running.control_url is not None
    try:
        token = read_secrets(data_dir).get("control_token")
    except OSError as exc:
        raise ControlError(f"cannot read {data_dir / 'secrets.yaml'}: {exc.strerror}; run this "
                           f"as the user that runs Kabinet") from None
    if not token:
        raise ControlError(f"{data_dir / 'secrets.yaml'} has no control_token; restart the running "
                           f"Kabinet with this version")
    text = await asyncio.to_thread(roster_file.read_text, encoding="utf-8")
    source = await asyncio.to_thread(roster_file.resolve)  # photos are relative to it
    body = {"roster": text, "source": str(source), "full": full}
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)  # a big council takes minutes
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http, http.post(
                running.control_url + APPLY_PATH, json=body,
                headers={"Authorization": f"Bearer {token}"}) as resp:
            status = resp.status
            try:
                data = await resp.json(content_type=None)
            except ValueError:
                data = None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise ControlError(f"the Kabinet running on {data_dir} ({running.describe()}) did not "
                           f"answer at {running.control_url}: {exc}") from None
    if status == 200 and isinstance(data, dict):
        return RemoteReport(list(data["changes"]), list(data["problems"]), str(data["summary"]))
    message = data.get("error", f"HTTP {status}") if isinstance(data, dict) else f"HTTP {status}"
    raise ControlError(f"the running Kabinet refused the roster: {message}",
                       exit_code=2 if status == 422 else 1)
