"""One installation per data dir: a lock held by the Kabinet that uses it, for its whole life.

The lock is an `flock` on `<data_dir>/kabinet.lock`. The kernel drops it when the holder dies
(even on kill -9), so a held lock means a live owner, and a free one means that whatever that
owner left running (its Synapse) is a leftover. The file also says who holds it: pid, command,
web and homeserver URLs and the loopback control URL, so that `kabinet roster apply --data-dir`
finds a running installation whatever ports it was started with.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCK_FILE = "kabinet.lock"


@dataclass(frozen=True)
class Holder:
    """Who holds a data dir: what the lock file says about the live process holding it."""

    pid: int
    command: str
    web_url: str | None = None
    homeserver_url: str | None = None
    control_url: str | None = None

    def describe(self) -> str:
        if not self.command:
            return "Kabinet"
        where = ", ".join(f"{what} {url}" for what, url in
                          (("web", self.web_url), ("homeserver", self.homeserver_url)) if url)
        return f"`kabinet {self.command}` (pid {self.pid}{', ' + where if where else ''})"


class DataDirInUse(RuntimeError):
    """Another live process holds the data dir; the message says which, for people."""

    def __init__(self, data_dir: Path, holder: Holder | None) -> None:
        self.data_dir = data_dir
        self.holder = holder
        who = holder.describe() if holder else "another Kabinet"
        super().__init__(f"the data dir {data_dir} is in use by a running {who}; stop it first, "
                         f"or choose another --data-dir")


def _try_flock(fd: int, how: int, wait: float) -> bool:
    """flock without blocking, retried for `wait` seconds: a probe (holder()) takes the lock
    for a moment, and must not make a starting Kabinet believe the data dir is taken."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, how | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


class DataDirLock:
    """The held lock of one data dir. Not inherited by child processes (O_CLOEXEC): Synapse
    must not keep it alive after its owner died."""

    def __init__(self, data_dir: Path, fd: int) -> None:
        self.data_dir = data_dir
        self._fd: int | None = fd
        self._info: dict[str, Any] = {}

    @classmethod
    def acquire(cls, data_dir: Path, *, command: str, **info: str | None) -> DataDirLock:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            got = _try_flock(fd, fcntl.LOCK_EX, wait=1.0)
        except BaseException:
            os.close(fd)
            raise
        if not got:
            os.close(fd)
            raise DataDirInUse(data_dir, holder(data_dir))
        lock = cls(data_dir, fd)
        lock.update(pid=os.getpid(), command=command, **info)
        return lock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def update(self, **info: str | int | None) -> None:
        """Rewrite what the lock file says (e.g. the control URL, once it listens)."""
        if self._fd is None:
            raise RuntimeError("the data dir lock is not held")
        self._info.update(info)
        data = json.dumps(self._info).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # what it said is no longer true
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _read(path: Path) -> Holder | None:
    try:
        data = json.loads(path.read_bytes() or b"null")
        return Holder(pid=int(data["pid"]), command=str(data["command"]),
                      web_url=data.get("web_url"), homeserver_url=data.get("homeserver_url"),
                      control_url=data.get("control_url"))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def holder(data_dir: Path, *, settle: float = 3.0) -> Holder | None:
    """The live process holding the data dir, or None when nothing holds it.

    A holder that has just taken the lock may not have written its details yet: they are
    waited for up to `settle` seconds; after that the holder is reported with what is known."""
    path = data_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        if _try_flock(fd, fcntl.LOCK_SH, wait=0):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
    finally:
        os.close(fd)
    deadline = time.monotonic() + settle
    while (found := _read(path)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return found or Holder(pid=0, command="")


