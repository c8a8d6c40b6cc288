"""A Redis server of a test's own, to stop and start at will (tests/test_redis_restart.py): the
machine's shared Redis is never touched. `redis-server` from PATH (Debian: redis-server), on one
loopback port, kept across restarts; nothing saved (`--save ""`, no AOF): Synapse keeps nothing
in Redis that it needs after a restart, so a restarted Redis is an empty one, as in production."""

from __future__ import annotations

import asyncio
import shutil
import signal
import tempfile
from pathlib import Path

from tests.pg_private import log_tail


def unusable() -> str | None:
    """Why no private Redis can be started here, or None."""
    if shutil.which("redis-server") is None:
        return "redis-server not found on PATH (Debian: apt-get install redis-server)"
    return None


class PrivateRedis:
    def __init__(self, port: int) -> None:
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="kabinet-redis-"))
        self.log = self.root / "redis.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, timeout: float = 20) -> None:
        """Started and answering PING (the port may still be in TIME_WAIT: Redis binds with
        SO_REUSEADDR, as after a real restart)."""
        self.process = await asyncio.create_subprocess_exec(
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--dir", str(self.root),
            "--logfile", str(self.log), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await self.ping():
            if self.process.returncode is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n"
                                   f"{self.log_tail()}")
            if loop.time() > deadline:
                raise RuntimeError(f"redis-server does not answer on {self.port}:\n"
                                   f"{self.log_tail()}")
            await asyncio.sleep(0.05)

    async def stop(self, sig: signal.Signals) -> None:
        """SIGTERM: Redis closes its clients and exits; SIGKILL: it is gone at once, its clients'
        connections reset by the kernel."""
        proc, self.process = self.process, None
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(sig)
        await asyncio.wait_for(proc.wait(), 20)

    async def ping(self) -> bool:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.port), 1)
        except (OSError, TimeoutError):
            return False
        try:
            writer.write(b"*1\r\n$4\r\nPING\r\n")
            await writer.drain()
            return await asyncio.wait_for(reader.readline(), 1) == b"+PONG\r\n"
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()

    async def clients(self) -> int:
        """CLIENT LIST's length, this connection excluded: Synapse's processes connected now."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port), 2)
        try:
            writer.write(b"*2\r\n$6\r\nCLIENT\r\n$4\r\nLIST\r\n")
            await writer.drain()
            size = int((await asyncio.wait_for(reader.readline(), 2))[1:])
            body = await asyncio.wait_for(reader.readexactly(size + 2), 2)
        finally:
            writer.close()
        return len(body.decode().strip().splitlines()) - 1

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log, lines)

    async def destroy(self) -> None:
        await self.stop(signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)
