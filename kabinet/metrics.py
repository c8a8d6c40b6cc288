"""The installation's metrics in Prometheus terms (docs/metrics.md; served by web/metrics.py).

One registry per installation, never prometheus-client's global one: tests run several
installations in one process. What happens is counted where it happens, through the small
interface of council/metrics.py (homeserver transactions, failed events, delivery latency); what
the store holds (outbox depth, appeals, votes) is read at scrape time by `StoreCollector`, with
one aggregate query per table (`council.metrics.snapshot`). The process's own figures (memory,
CPU, open files, garbage collection) come from prometheus-client's default collectors.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from council import metrics
from council.store import Store
from council.types import utcnow

log = logging.getLogger(__name__)

# From enqueue to delivered: Matrix messages take well under a second; mail may wait minutes for
# a slow server, or hours for one that is down (or, until mail.host is set, for ever).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400)


class StoreCollector:
    """The store's figures as of the last `refresh` (the /metrics handler refreshes before it
    renders). A store that does not answer leaves `kabinet_store_up` at 0 and its figures out,
    so an alert sees the gap instead of stale numbers."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._snapshot: metrics.Snapshot | None = None
        self._read_at = utcnow()
        self._took = 0.0
        self._lock = asyncio.Lock()  # concurrent scrapes query one after another, not at once

    async def refresh(self) -> None:
        async with self._lock:
            began = time.perf_counter()
            try:
                self._snapshot = await metrics.snapshot(self.store)
            except Exception as exc:
                log.warning("metrics: the store's figures could not be read (%s)", type(exc).__name__)
                self._snapshot = None
            self._took = time.perf_counter() - began
            self._read_at = utcnow()

    def describe(self) -> Iterable[Metric]:
        return []  # names are not known before the first read; nothing else registers them

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("kabinet_store_up", "1 if the store's figures below were read "
                               "for this scrape, 0 if the store did not answer")
        up.add_metric([], 1 if self._snapshot is not None else 0)
        took = GaugeMetricFamily("kabinet_store_scrape_seconds",
                                 "Seconds the store's figures took to read for this scrape")
        took.add_metric([], self._took)
        yield from (up, took)
        snap = self._snapshot
        if snap is None:
            return
        depth = GaugeMetricFamily("kabinet_outbox_depth", "Outbox rows waiting to be sent "
                                  "(pending), per channel", labels=["channel"])
        parked = GaugeMetricFamily("kabinet_outbox_parked", "Outbox rows given up on (parked "
                                   "after a permanent error or the last retry), per channel",
                                   labels=["channel"])
        age = GaugeMetricFamily("kabinet_outbox_oldest_pending_age_seconds", "Seconds since the "
                                "oldest pending row was enqueued, per channel; 0 when none waits",
                                labels=["channel"])
        for channel, queue in snap.queues.items():
            depth.add_metric([channel], queue.pending)
            parked.add_metric([channel], queue.parked)
            oldest = queue.oldest_pending
            age.add_metric([channel], max((self._read_at - oldest).total_seconds(), 0.0)
                           if oldest is not None else 0.0)
        appeals = GaugeMetricFamily("kabinet_appeals", "Citizens' appeals by status",
                                    labels=["status"])
        for status, count in snap.appeals.items():
            appeals.add_metric([status], count)
        votes_open = GaugeMetricFamily("kabinet_votes_open", "Roll-call votes open for ballots")
        votes_open.add_metric([], snap.votes["open"])
        closing = GaugeMetricFamily("kabinet_votes_closing", "Roll-call votes closed for ballots "
                                    "and not yet counted (normally 0 but for a moment)")
        closing.add_metric([], snap.votes["closing"])
        yield from (depth, parked, age, appeals, votes_open, closing)


class PrometheusMetrics:
    """council.metrics.Metrics on a registry of its own, with the store's figures and the
    process's."""

    def __init__(self, store: Store) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.store_figures = StoreCollector(store)
        registry.register(self.store_figures)
        self._transactions = Counter(
            "kabinet_homeserver_transactions", "Transactions from the homeserver by outcome: "
            "handled (200), refused (4xx: a wrong or missing hs_token, not a transaction), "
            "failed (500: not handled; the homeserver sends it again)", ["outcome"],
            registry=registry)
        self._event_failures = Counter(
            "kabinet_homeserver_event_failures", "Events whose handler failed (recorded and "
            "retried alone; each failed attempt counts)", registry=registry)
        self._latency = Histogram(
            "kabinet_outbox_delivery_seconds", "Seconds from an outbox row's enqueueing to its "
            "delivery, per channel", ["channel"], buckets=LATENCY_BUCKETS, registry=registry)
        for outcome in metrics.TRANSACTION_OUTCOMES:  # every series from the start, at 0
            self._transactions.labels(outcome)
        for channel in metrics.CHANNELS:
            self._latency.labels(channel)

    def transaction(self, outcome: str) -> None:
        self._transactions.labels(outcome).inc()

    def event_failed(self) -> None:
        self._event_failures.inc()

    def delivered(self, channel: str, seconds: float) -> None:
        self._latency.labels(channel).observe(seconds)

    async def refresh(self) -> None:
        """Read the store's figures: called by /metrics before each render."""
        await self.store_figures.refresh()
