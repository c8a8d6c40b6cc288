"""Every kabinet command runs on uvloop (kabinet/event_loop.py), and a Synapse child still
starts with private files whichever loop spawns it (uvloop takes no `umask=`)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import uvloop

from kabinet import event_loop
from kabinet.synapse_process import run_synapse


def test_commands_run_on_uvloop() -> None:
    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert event_loop.run(loop_module()).startswith("uvloop")


@pytest.mark.parametrize("new_loop", [asyncio.new_event_loop, uvloop.new_event_loop],
                         ids=["asyncio", "uvloop"])
def test_a_synapse_child_starts_with_umask_077_and_ours_is_put_back(
        new_loop: Callable[[], asyncio.AbstractEventLoop], tmp_path: Path) -> None:
    async def spawn() -> str:
        proc = await run_synapse("tests.umask_probe", [tmp_path / "unused.yaml"])
        out, _ = await proc.communicate()
        return out.decode().strip()

    before = os.umask(0o022)
    try:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            printed = runner.run(spawn())
        assert os.umask(0o022) == 0o022  # ours is what it was before the spawn
    finally:
        os.umask(before)
    assert printed == "0o77"
