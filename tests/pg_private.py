"""A PostgreSQL server of a test's own, to stop and start at will (tests/test_pg_restart.py):
the machine's shared server is never restarted. Debian's binaries (postgresql-15 and the like,
or KABINET_TEST_PG_BIN); a data dir in a temporary folder, trust auth, loopback TCP only on
one port, kept across restarts. PostgreSQL refuses to run as root: as root, its tools run as
the `postgres` user (runuser), which owns that folder; nothing else on the machine changes."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import tempfile
from pathlib import Path

TOOLS = ("initdb", "pg_ctl", "postgres")


def binaries() -> Path | None:
    """The newest folder with PostgreSQL's server tools, or None."""
    wanted = os.environ.get("KABINET_TEST_PG_BIN")
    found = [Path(wanted)] if wanted else sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
        if p.parent.name.isdigit() else 0, reverse=True)
    return next((d for d in found if all((d / t).is_file() for t in TOOLS)), None)


def unusable() -> str | None:
    """Why no private server can be started here, or None."""
    if binaries() is None:
        return ("PostgreSQL's server binaries (initdb, pg_ctl, postgres) not found under "
                "/usr/lib/postgresql/*/bin (Debian: postgresql-15) nor KABINET_TEST_PG_BIN")
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser: PostgreSQL refuses to run as root"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run PostgreSQL as"
    return None


class PrivatePostgres:
    def __init__(self, port: int) -> None:
        bin_dir = binaries()
        assert bin_dir is not None, unusable()
        self.bin, self.port = bin_dir, port
        self.root = Path(tempfile.mkdtemp(prefix="kabinet-pg-"))  # not pytest's root-only tmp
        self.data, self.log = self.root / "data", self.root / "postgres.log"
        self.user = "postgres" if os.geteuid() == 0 else None
        self.running = False

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    async def _run(self, tool: str, *args: str) -> str:
        argv = [str(self.bin / tool), *args]
        if self.user:
            argv = ["runuser", "-u", self.user, "--", *argv]
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"})
        out, _ = await proc.communicate()
        text = out.decode(errors="replace")
        if proc.returncode:
            raise RuntimeError(f"{tool} {' '.join(args)} exited with {proc.returncode}:\n{text}\n"
                               f"{self.log_tail()}")
        return text

    async def init(self) -> None:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        await self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                        "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")

    async def start(self) -> None:
        """Started and accepting connections (pg_ctl -w); crash recovery first after a crash."""
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                   "-c max_connections=100")
        await self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "120",
                        "-o", options, "start")
        self.running = True

    async def stop(self, mode: str) -> None:
        """`fast`: sessions ended, a clean shutdown; `immediate`: every process killed at once,
        as in a crash (the next start recovers from the WAL)."""
        await self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "120", "stop")
        self.running = False

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log, lines)

    async def destroy(self) -> None:
        if self.running:
            try:
                await self.stop("immediate")
            except RuntimeError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


def log_tail(log: Path, lines: int = 30) -> str:
    """The last lines of a private server's log, for a failure's message."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
