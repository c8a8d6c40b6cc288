"""Wiring: a Kabinet is an installation (kabinet/installation.py) with the features it is handed
(kabinet/features/), which it knows only through their protocol, and the control endpoint;
`start` runs it all."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from aiohttp import web

from appservice.roster.reconcile import OnProgress, Report
from council.worker import Worker
from kabinet import control, readiness
from kabinet.features import Feature, default_features
from kabinet.installation import Installation
from kabinet.leader import Lost

log = logging.getLogger(__name__)

# How long a stop waits for requests in flight (aiohttp's default is 60 s). One still running
# after it is cancelled and changes nothing: its unit of work rolls back, a transaction left
# unanswered is sent again by the homeserver, a citizen's form is sent again from the browser.
SHUTDOWN_GRACE = 5.0

F = TypeVar("F", bound=Feature)


@dataclass
class Kabinet(Installation):
    """The whole of a Kabinet: each feature it is handed is installed in turn."""

    features: list[Feature] = field(default_factory=default_features)
    # False for `kabinet serve`, one of several processes of a council on PostgreSQL and an
    # external homeserver (docs/scaling-out.md): no data dir lock and no control endpoint.
    lock_data_dir: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        for feature in self.features:
            feature.install(self)
        if self.lock_data_dir:
            control.install(self)  # data dir lock, loopback control endpoint, homeserver supervisor
        # What another process's pokes wake here: delivery and every worker of the background.
        owners = (getattr(w, "__self__", None) for w in self.workers)
        self.leadership.relay([self.delivery, *(w for w in owners if isinstance(w, Worker))],
                              self.poked_elsewhere)

    def feature(self, kind: type[F]) -> F:
        """The installed feature of this kind, e.g. `kabinet.feature(Appeals).rooms`."""
        for feature in self.features:
            if isinstance(feature, kind):
                return feature
        raise LookupError(f"no {kind.__name__} feature in this Kabinet")


@dataclass
class Running:
    kabinet: Kabinet
    runner: web.AppRunner
    report: Report
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    applied: bool = True  # False: another process led at the start, and applies the roster

    @property
    def web_url(self) -> str:
        return self.kabinet.settings.web.base_url

    @property
    def roster_summary(self) -> str:
        return (self.report.summary() if self.applied else
                "applied by the process that leads (this one serves beside it)")

    async def stop(self) -> None:
        began = time.monotonic()
        watchdog = asyncio.create_task(_report_slow_stop(asyncio.current_task()))
        try:
            await self._stop(began)
        finally:
            watchdog.cancel()

    async def _stop(self, began: float) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.kabinet.delivery.stop()
        workers_done = time.monotonic()
        await self.runner.cleanup()  # requests in flight (SHUTDOWN_GRACE), homeserver, store
        # Said with its parts, so that a slow stop shows where its time went.
        log.info("stopped in %.1f s (workers %.1f s, web site and homeserver %.1f s)",
                 time.monotonic() - began, workers_done - began, time.monotonic() - workers_done)


async def _report_slow_stop(stopping: asyncio.Task[object] | None, after: float = 15.0) -> None:
    """A stop that takes longer than it should says what it is waiting for, task by task."""
    await asyncio.sleep(after)
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task() and not task.done():
            stack = io.StringIO()
            task.print_stack(limit=12, file=stack)
            log.warning("still stopping after %.0f s%s: %s", after,
                        " (the stop itself)" if task is stopping else "", stack.getvalue())


async def _guarded(worker: Callable[[], Awaitable[None]]) -> None:
    """A worker that crashes is logged and restarted after a pause, never silently gone."""
    while True:
        try:
            await worker()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("worker %s failed; restarting in 5 s", getattr(worker, "__name__", worker))
        await asyncio.sleep(5)


async def _background(kabinet: Kabinet, took_over: bool) -> None:
    """The council's background work, in the leading process only (kabinet/leader.py): outbox
    delivery and every worker of the installation and its features; cancelled when the process
    stops or may have lost the lead. A process that took over applies its roster too, beside
    the loops: the last leader may have stopped halfway through its own apply."""
    await kabinet.leadership.settled()
    kabinet.delivery.start()
    tasks = [asyncio.create_task(_guarded(w)) for w in kabinet.workers]
    if took_over:
        tasks.append(asyncio.create_task(_apply_after_take_over(kabinet)))
    try:
        await asyncio.Event().wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await kabinet.delivery.stop()


async def _apply_after_take_over(kabinet: Kabinet) -> None:
    try:
        report = await kabinet.apply_roster()
    except Exception:  # said, never silently gone; the next leader's start applies it again
        log.exception("the roster could not be applied after the take-over")
        return
    log.info("roster applied after the take-over: %s", report.summary())


async def start(kabinet: Kabinet, *, demo: bool = False,
                progress: OnProgress | None = None) -> Running:
    """Start everything: store, homeserver, web + appservice endpoint, roster, delivery.
    `kabinet.readiness` (/readyz) is done once the roster is applied and, with the demo, once
    the demo's sittings and appeals have their rooms (a task of the Running: after this returns).
    On PostgreSQL the roster and the background work are the leading process's
    (kabinet/leader.py); another process serves beside it and takes over when it goes."""
    s = kabinet.settings
    if demo:
        kabinet.readiness.expect(readiness.DEMO)
    runner = web.AppRunner(kabinet.web_app(), access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
    await runner.setup()  # runs the cleanup contexts: migrations, Synapse, clients
    tasks: list[asyncio.Task[None]] = []
    leadership = kabinet.leadership
    try:
        await web.TCPSite(runner, s.web.host, s.web.port).start()
        if not await kabinet.hs.ping(kabinet.registration.id):
            log.warning("the homeserver cannot reach the appservice at %s", s.appservice_url)
        await kabinet.send_stranded_transactions()  # now that the appservice endpoint answers
        await kabinet.hs.bot.set_displayname(s.appservice.bot_displayname)  # writes only a change
        report, applied = Report(), False
        if await leadership.try_lead():  # SQLite: always; PostgreSQL: unless another process leads
            with contextlib.suppress(Lost):  # lost meanwhile: the next leader applies it
                report = await leadership.while_leading(kabinet.apply_roster(progress=progress))
                applied = True
        else:
            log.info("another Kabinet process leads: it applies the roster and runs the "
                     "background work; this one serves the web site and the appservice endpoint")
        kabinet.readiness.done(readiness.ROSTER)
        tasks += [asyncio.create_task(_guarded(w)) for w in kabinet.process_workers]
        tasks.append(asyncio.create_task(leadership.run(partial(_background, kabinet)),
                                         name="leadership"))
        if demo:
            for seed in kabinet.demo_seeders:
                await seed()
            tasks.append(asyncio.create_task(readiness.when_rooms_made(
                kabinet.store, kabinet.readiness, readiness.DEMO)))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await kabinet.delivery.stop()
        await leadership.release()
        await runner.cleanup()
        raise
    return Running(kabinet, runner, report, tasks, applied)


def settle_heap() -> None:
    """After the start, for a long-running process: what was built to start (settings, roster,
    templates, catalogs, the ORM's and Synapse client's machinery) is moved out of the garbage
    collector's sight, and young objects are collected less often. A full collection of that
    heap stalled every request in flight for 100-150 ms under load (bench/cabinet.py: p99 of
    the cabinet page 184 ms with the defaults, 42 ms with this). Not for tests, which start many
    installations in one process: frozen objects are never collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def stop_signals() -> asyncio.Event:
    """An event set by Ctrl-C or SIGTERM. Install it before anything is announced, so that a
    Ctrl-C arriving right after the banner still stops everything in order."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop

