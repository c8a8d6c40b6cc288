"""Group commit for appeal intake: the registrations waiting at one moment are stored in ONE
transaction (one commit, one fsync), and each submitter gets its own answer once that
transaction is committed, never before.

- One batcher per process (`Intake`, in the one loop shape of council/worker.py): `register`
  queues the appeal and waits; a round takes every appeal queued by then (at most `max_batch`)
  and registers them with `register_many`, in one `Store.run_sync` (on SQLite the whole
  transaction goes to the database's thread in one hop). While a batch commits, the next one
  gathers.
- Numbers: the batch takes its numbers in one upsert of the year's counter (which holds its row
  till the commit), in the batch's order: unique and gap-free on both databases.
- Idempotency keys: the batch's keys are looked up in one read. A key already stored answers its
  submission alone (its appeal, replayed, or KeyReused); two submissions with one new key in a
  batch: the first is registered, the second is its replay (same request) or KeyReused.
- A fault of one appeal (a constraint: e.g. a twin's key committed by another process in the
  meantime) fails the whole transaction: it is rolled back and the batch is registered again
  one appeal per transaction, so the bad one fails alone. Any other failure (the connection
  lost, the database locked, the commit refused) is every submitter's error, and nothing of the
  batch is stored; when a commit's outcome is unknown, a retry with the same key finds it.
- Stopped (the web app's cleanup) after the queue is done, or a grace; whoever still waits
  gets IntakeStopped. A crash before the commit answers nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from council.appeals import texts
from council.appeals.keys import by_key, key_lookup
from council.appeals.operations import register_many
from council.appeals.tables import Appeal, IntakeKey
from council.appeals.values import Context, Idempotency, KeyReused, NewAppeal
from council.store import Store
from council.worker import Worker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registered:
    """A submission's answer: its appeal and status token; `replayed` when its key named an
    appeal already registered (nothing new was stored)."""

    appeal: Appeal
    token: str
    replayed: bool = False


class IntakeStopped(RuntimeError):
    """The batcher is not running (the site is stopping): nothing was registered."""


@dataclass(eq=False)
class _Waiting:
    new: NewAppeal
    once: Idempotency | None
    answer: asyncio.Future[Registered]


Outcome = Registered | Exception


class Intake(Worker):
    def __init__(self, store: Store, ctx: Context, max_batch: int = 200) -> None:
        super().__init__(idle=60.0)
        self.store = store
        self.ctx = ctx
        self.max_batch = max_batch
        self.batches: Counter[int] = Counter()  # committed transactions by their size
        self._queue: list[_Waiting] = []
        self._task: asyncio.Task[None] | None = None
        self._busy = False

    async def register(self, new: NewAppeal, once: Idempotency | None = None) -> Registered:
        """The appeal once committed with the others waiting now; KeyReused, IntakeStopped or
        the database's error if it was not registered."""
        if self._task is None:
            raise IntakeStopped("appeal intake is not running")
        answer: asyncio.Future[Registered] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(new, once, answer))
        self.poke()
        return await answer

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="appeal-intake")

    async def stop(self, grace: float = 10.0) -> None:
        """New submissions are refused at once; those queued are registered within `grace`."""
        task, self._task = self._task, None
        if task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                while self._queue or self._busy:  # noqa: ASYNC110 — the loop empties it
                    await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        _answer(self._queue, IntakeStopped("appeal intake stopped"))
        self._queue.clear()

    async def round(self) -> bool:
        batch = [w for w in self._queue[:self.max_batch] if not w.answer.done()]
        del self._queue[:self.max_batch]
        if batch:
            self._busy = True
            try:
                await self._store(batch)
            except Exception as exc:  # a bug: its submitters hear of it, the next batch goes on
                log.exception("appeal intake: a batch of %d failed", len(batch))
                _answer(batch, exc)
            except BaseException:  # cancelled mid-batch: nobody is told "registered"
                _answer(batch, IntakeStopped("appeal intake stopped"))
                raise
            finally:
                self._busy = False
        return bool(self._queue)

    async def _store(self, batch: list[_Waiting]) -> None:
        try:
            outcomes = await self._transaction(batch)
            self.batches[len(batch)] += 1
        except IntegrityError as exc:  # one appeal's fault failed them all: each on its own
            if len(batch) > 1:
                for waiting in batch:
                    await self._store([waiting])
                return
            try:
                outcomes = [await self._conflict(batch[0], exc)]
            except Exception as lost:  # the database went away meanwhile
                outcomes = [lost]
        except Exception as exc:  # the connection, the lock, the commit: nothing stored
            _answer(batch, exc)
            return
        for waiting, outcome in zip(batch, outcomes, strict=True):
            _answer([waiting], outcome)

    async def _transaction(self, batch: list[_Waiting]) -> list[Outcome]:
        """Registers the batch in one transaction; each submission's outcome, once committed."""
        return await self.store.run_sync(self._register, batch)

    def _register(self, s: Session, batch: list[_Waiting]) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        first_with: dict[str, int] = {}  # a key new to the store → the submission registering it
        twins: dict[int, int] = {}  # a later submission with that key → that first one
        self._stored_keys(s, batch, outcomes)
        for i, w in enumerate(batch):
            if w.once is not None and i not in outcomes:
                first = first_with.setdefault(w.once.key_hash, i)
                if first != i:
                    twins[i] = first
        fresh = [i for i in range(len(batch)) if i not in outcomes and i not in twins]
        if fresh:
            done = register_many(s, self.ctx, [(batch[i].new, _token(batch[i].once))
                                               for i in fresh])
            keys = []
            for i, (appeal, token) in zip(fresh, done, strict=True):
                outcomes[i] = Registered(appeal, token)
                if (once := batch[i].once) is not None:
                    keys.append({"key_hash": once.key_hash,
                                 "request_hash": once.request_hash, "appeal_id": appeal.id})
            if keys:  # a twin committed elsewhere meanwhile fails here, on the primary key
                s.execute(insert(IntakeKey), keys)
        for i, first in twins.items():
            outcomes[i] = _twin(batch[i], batch[first], outcomes[first])
        return [outcomes[i] for i in range(len(batch))]

    @staticmethod
    def _stored_keys(s: Session, batch: list[_Waiting], outcomes: dict[int, Outcome]) -> None:
        """Submissions whose key is already stored: answered with its appeal, or refused."""
        keyed = {i: w.once for i, w in enumerate(batch) if w.once is not None}
        if not keyed:
            return
        stored = set(s.scalars(select(IntakeKey.key_hash).where(
            IntakeKey.key_hash.in_({once.key_hash for once in keyed.values()}))))
        for i, once in keyed.items():
            if once.key_hash not in stored:
                continue
            try:
                found = key_lookup(s, once)
            except KeyReused as exc:
                outcomes[i] = exc
                continue
            if found is not None:
                outcomes[i] = Registered(found, once.token, replayed=True)

    async def _conflict(self, waiting: _Waiting, exc: IntegrityError) -> Outcome:
        """Alone and still refused: a twin with its key committed meanwhile (answered from it),
        or a fault of this appeal's own (its error)."""
        if waiting.once is not None:
            try:
                async with self.store.session() as s:
                    found = await by_key(s, waiting.once)
            except KeyReused as reused:
                return reused
            if found is not None:
                return Registered(found, waiting.once.token, replayed=True)
        return exc


def _twin(waiting: _Waiting, first: _Waiting, outcome: Outcome) -> Outcome:
    """A second submission with a key the batch registers: the first's appeal if the same
    request, else refused."""
    assert waiting.once is not None and first.once is not None
    if not isinstance(outcome, Registered):
        return outcome
    if waiting.once.request_hash != first.once.request_hash \
            or waiting.once.token != first.once.token:
        return KeyReused("KB_IDEMPOTENCY_KEY_REUSED", texts.KEY_REUSED)
    return Registered(outcome.appeal, waiting.once.token, replayed=True)


def _token(once: Idempotency | None) -> str | None:
    """The status token: derived from the key (a replay can answer it), else a new one."""
    return once.token if once is not None else None


def _answer(waiting: list[_Waiting], outcome: Outcome) -> None:
    for w in waiting:
        if w.answer.done():  # its submitter stopped waiting
            continue
        if isinstance(outcome, Exception):
            w.answer.set_exception(outcome)
        else:
            w.answer.set_result(outcome)
