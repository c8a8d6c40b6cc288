"""The embedded homeserver: matrix-synapse from PyPI, run as a child process.

`make run` and the test suite start Synapse through this one launcher, so what
the tests exercise is what a newcomer runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import jinja2

from kabinet.config import HomeserverConfig
from kabinet.secrets import Registration, ensure_secrets, write_registration

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "synapse"


class HomeserverError(RuntimeError):
    """The homeserver could not be started or reached; the message says why, for people."""


@dataclass
class EmbeddedSynapse:
    data_dir: Path
    config: HomeserverConfig
    registration_path: Path
    log_level: str = "INFO"
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return self.config.client_url

    @property
    def config_path(self) -> Path:
        return self.data_dir / "homeserver.yaml"

    def render(self) -> None:
        """Write homeserver.yaml and its log config from the templates in synapse/."""
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
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
            "registration_path": self.registration_path.resolve(),
            "bcrypt_rounds": self.config.bcrypt_rounds,
            "max_upload_size": self.config.max_upload_size,
            "log_level": self.log_level,
        }
        (data_dir / "media_store").mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(env.get_template("homeserver.yaml.j2").render(values))
        (data_dir / "homeserver.log.yaml").write_text(env.get_template("log.yaml.j2").render(values))

    async def _run_synapse(self, *args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "synapse.app.homeserver", "--config-path", str(self.config_path),
            *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us, and we stop Synapse in order
        )

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "synapse.pid"

    def _leftover_pid(self) -> int | None:
        """The pid of a Synapse started with our config and still running, if any."""
        try:
            pid = int(self.pid_path.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            return None
        return pid if str(self.config_path) in cmdline else None

    async def _stop_leftover(self) -> None:
        """A Synapse of this data dir left running by a Kabinet that was killed: stop it, so
        that a restart after a crash just works."""
        pid = self._leftover_pid()
        if pid is None:
            return
        log.warning("stopping a Synapse left running by an earlier Kabinet (pid %d)", pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        for _ in range(100):
            if self._leftover_pid() is None:
                break
            await asyncio.sleep(0.2)

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.render()
        await self._stop_leftover()
        if await ping_homeserver(self.url):
            raise HomeserverError(
                f"something already answers at {self.url}: another Kabinet or Synapse is running "
                f"(stop it, or choose another --homeserver-port)"
            )
        if not (self.data_dir / "signing.key").exists():
            gen = await self._run_synapse("--generate-keys")
            out, _ = await gen.communicate()
            if gen.returncode != 0:
                raise HomeserverError("Synapse could not generate its keys:\n" + out.decode()[-2000:])
        self.process = await self._run_synapse()
        self.pid_path.write_text(str(self.process.pid))
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise

    async def _wait_ready(self) -> None:
        assert self.process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.start_timeout
        while loop.time() < deadline:
            if self.process.returncode is not None:
                out = await self.process.stdout.read() if self.process.stdout else b""
                raise HomeserverError(
                    f"Synapse exited with code {self.process.returncode} while starting; "
                    f"see {self.data_dir / 'homeserver.log'}\n{out.decode(errors='replace')[-2000:]}"
                )
            if await ping_homeserver(self.url):
                log.info("Synapse answers at %s", self.url)
                return
            await asyncio.sleep(0.25)
        raise HomeserverError(f"Synapse did not answer at {self.url} within "
                              f"{self.config.start_timeout:.0f} s; see {self.data_dir}/homeserver.log")

    async def stop(self) -> None:
        proc, self.process = self.process, None
        self.pid_path.unlink(missing_ok=True)
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


async def ping_homeserver(url: str, timeout: float = 2.0) -> bool:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http, \
                http.get(f"{url}/_matrix/client/versions") as resp:
            return resp.status == 200
    except (aiohttp.ClientError, TimeoutError, OSError):
        return False


def prepare_embedded(
    data_dir: Path, hs: HomeserverConfig, *, as_id: str, as_url: str, bot_localpart: str,
    ghost_prefix: str, alias_prefix: str, log_level: str = "INFO",
) -> tuple[EmbeddedSynapse, Registration]:
    """Secrets, registration and config for the embedded homeserver (nothing started yet)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    tokens = ensure_secrets(data_dir)
    reg_path = data_dir / "appservice-registration.yaml"
    registration = write_registration(
        reg_path, as_id=as_id, url=as_url, bot_localpart=bot_localpart,
        ghost_prefix=ghost_prefix, alias_prefix=alias_prefix, server_name=hs.server_name,
        tokens=tokens,
    )
    return EmbeddedSynapse(data_dir, hs, reg_path, log_level), registration


async def register_account(
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
