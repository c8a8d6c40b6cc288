"""The event loop every kabinet command runs on."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TypeVar

import uvloop

T = TypeVar("T")


def run(main: Coroutine[object, object, T]) -> T:
    """Runs a command's coroutine on uvloop: the loop that serves the site, the appservice and
    the background work of one process. Against asyncio's own loop it takes 10-20 % less CPU
    per appeal (bench/appeals.py --loop, "CPU ms/req"); at 20 concurrent submitters a request waits
    for about twenty others' CPU, so that is its latency too."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)
