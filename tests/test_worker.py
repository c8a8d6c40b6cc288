"""The one loop shape: pokes are never lost, failures back off and are said once, not a second."""

from __future__ import annotations

import asyncio
import logging

import pytest

from council import worker as worker_module
from council.worker import Worker


class Flaky(Worker):
    """Fails `failing` rounds in a row (an outage), then works."""

    def __init__(self, failing: int, idle: float = 0.01) -> None:
        super().__init__(idle)
        self.failing = failing
        self.rounds = 0

    async def round(self) -> bool:
        self.rounds += 1
        if self.rounds <= self.failing:
            raise ConnectionError("homeserver away")
        return False


async def run_for(w: Worker, seconds: float) -> None:
    task = asyncio.create_task(w.run())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_an_outage_is_logged_once_then_its_end(caplog: pytest.LogCaptureFixture,
                                                     monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(worker_module, "MAX_BACKOFF", 0.02)  # many failed rounds, quickly
    w = Flaky(failing=40)
    with caplog.at_level(logging.INFO, logger="council.worker"):
        await run_for(w, 1.5)
    assert w.rounds > 40, "the worker must go on after the outage"
    lines = [r for r in caplog.records if r.name == "council.worker"]
    assert [r.levelname for r in lines] == ["ERROR", "WARNING"], [r.getMessage() for r in lines]
    assert lines[0].exc_info is not None  # the first failure keeps its traceback
    assert "after 40 failed rounds" in lines[1].getMessage()


async def test_failed_rounds_back_off(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(worker_module, "MAX_BACKOFF", 0.4)
    w = Flaky(failing=10_000, idle=0.01)
    await run_for(w, 1.0)
    # 0.02, 0.04, 0.08, 0.16, 0.32, 0.4, … : about 7 rounds in a second, not a hundred.
    assert 4 <= w.rounds <= 10, w.rounds


async def test_a_poke_during_a_round_starts_the_next_round_at_once():
    class Slow(Worker):
        def __init__(self) -> None:
            super().__init__(idle=30)
            self.started = asyncio.Event()
            self.rounds = 0

        async def round(self) -> bool:
            self.rounds += 1
            self.started.set()
            await asyncio.sleep(0.05)
            return False

    w = Slow()
    task = asyncio.create_task(w.run())
    await w.started.wait()
    w.poke()  # while the first round runs
    await asyncio.sleep(0.3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert w.rounds == 2  # not 1 until the 30 s idle timeout
