"""What the embedded Synapse's processes share, the main one (kabinet/launcher.py) and its workers
(kabinet/synapse_workers.py): the error said to people, how an exit is told, the restart backoff,
and how a Synapse process is started as Kabinet's child."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable
from pathlib import Path

from kabinet.secrets import PRIVATE_UMASK

log = logging.getLogger(__name__)

# Restarts of a Synapse process that died: 1 s, doubling up to 60 s; back to 1 s once it has
# stayed up for STABLE_AFTER seconds (a crash loop must not hammer the machine, a rare crash
# must not wait).
RESTART_MIN = 1.0
RESTART_MAX = 60.0
STABLE_AFTER = 60.0


class HomeserverError(RuntimeError):
    """The homeserver could not be started or reached; the message says why, for people."""


def exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


async def first(*aws: Awaitable[object]) -> None:
    """Wait until the first of these completes; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def run_synapse(app: str, configs: list[Path], *args: str) -> asyncio.subprocess.Process:
    """`python -m <app> --config-path …` as a child: its own session (Ctrl-C reaches Kabinet,
    which stops Synapse in order), private files (its database, logs, media and keys are for
    their owner only), console output on a pipe (read it: a full pipe blocks it)."""
    paths = [arg for path in configs for arg in ("--config-path", str(path))]
    # The child inherits the umask; uvloop (kabinet.event_loop) takes no `umask=` argument. For
    # the moment of the spawn, files this process makes are private too: stricter, not looser.
    umask = os.umask(PRIVATE_UMASK)
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", app, *paths, *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        os.umask(umask)


async def keep_output(proc: asyncio.subprocess.Process, into: collections.deque[str]) -> None:
    """Read a Synapse process's console output for its whole life, keeping the last lines for
    the message when it fails to start."""
    assert proc.stdout is not None
    into.clear()
    async for line in proc.stdout:
        into.append(line.decode(errors="replace"))


def leftover_pid(pid_path: Path, config_path: Path) -> int | None:
    """The pid in pid_path, if that process still runs with config_path on its command line
    (a Synapse process of this data dir, not a stranger that got the pid since)."""
    try:
        pid = int(pid_path.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError):
        return None
    return pid if str(config_path) in cmdline else None


async def stop_leftover(pid_path: Path, config_path: Path, what: str) -> None:
    """A Synapse process of this data dir left running by a Kabinet that was killed: stop it, so
    that a restart after a crash just works. Called only with the data dir's lock held, so its
    owner is dead: a live owner would hold the lock."""
    pid = leftover_pid(pid_path, config_path)
    if pid is None:
        return
    log.warning("stopping %s left running by an earlier Kabinet (pid %d)", what, pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    for _ in range(100):
        if leftover_pid(pid_path, config_path) is None:
            break
        await asyncio.sleep(0.2)


async def terminate(proc: asyncio.subprocess.Process, grace: float = 20.0) -> None:
    """SIGTERM to the process's group, SIGKILL after `grace` seconds."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
