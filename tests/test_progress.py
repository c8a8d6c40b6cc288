"""The roster's progress on the command line: one line redrawn on a terminal, a bounded number
of plain lines elsewhere; and `kabinet roster apply` on a real Synapse ends at done == total."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from appservice.roster.reconcile import Progress
from kabinet.progress import CLEAR, RosterProgress
from tests.conftest import SMALL_ROSTER, free_port


def first_start(accounts: int = 39, rooms: int = 119, invites: int = 5) -> Iterator[Progress]:
    """What the reconciler tells on a first start of the demo council's size."""
    yield Progress(accounts_total=accounts, rooms_total=rooms)
    for a in range(1, accounts + 1):
        yield Progress(a, accounts, 0, rooms, 0)
    for r in range(1, rooms + 1):
        yield Progress(accounts, accounts, r, rooms, r * invites)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_on_a_terminal_one_line_is_redrawn_in_place():
    out, clock = io.StringIO(), Clock()
    with RosterProgress(out, tty=True, clock=clock) as bar:
        for p in first_start():
            clock.now += 0.05  # two steps per redraw at most
            bar(p)
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, ended once it is full
    frames = text[:-1].split(CLEAR)[1:]
    assert 40 <= len(frames) <= 90, len(frames)  # 159 steps: redrawn, but not at each
    assert frames[0] == "roster [........................]   0%  accounts 0/39, rooms 0/119, invites 0"
    assert frames[-1] == "roster [########################] 100%  accounts 39/39, rooms 119/119, " \
                         "invites 595"


def test_elsewhere_a_plain_line_at_each_tenth_with_the_totals():
    out = io.StringIO()
    with RosterProgress(out, tty=False) as bar:
        for p in first_start():
            bar(p)
    lines = out.getvalue().splitlines()
    shares = [int(re.match(r"roster: +(\d+)%", line)[1]) for line in lines]  # type: ignore[index]
    assert [share // 10 for share in shares] == list(range(11))  # one line per tenth
    assert lines[-1] == "roster: 100% — accounts 39/39, rooms 119/119, invites 595"
    assert CLEAR not in out.getvalue()


def test_a_log_line_clears_the_bar_and_an_early_end_leaves_it_on_its_own_line():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with RosterProgress(out, tty=True, clock=Clock()) as bar:
            bar(Progress(accounts_total=2, rooms_total=3))
            logging.getLogger("kabinet.test").warning("created room lounge")
            bar(Progress(1, 2, 0, 3, 0))  # drawn at once again, under the log line
        assert handler.filters == []  # the terminal's log handler is left as it was
    finally:
        root.removeHandler(handler)
    assert out.getvalue() == (
        f"{CLEAR}roster [........................]   0%  accounts 0/2, rooms 0/3, invites 0"
        f"{CLEAR}created room lounge\n"
        f"{CLEAR}roster [####....................]  20%  accounts 1/2, rooms 0/3, invites 0\n")


def test_roster_apply_shows_its_progress_up_to_done_equals_total(tmp_path: Path):
    env = {**os.environ, "KABINET_HOMESERVER__BCRYPT_ROUNDS": "4",
           "KABINET_HOMESERVER__PORT": str(free_port())}
    result = subprocess.run(
        [sys.executable, "-m", "kabinet", "roster", "apply", str(SMALL_ROSTER),
         "--data-dir", str(tmp_path / "var")],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    # stderr is a pipe here: plain lines, a handful, the last one complete.
    lines = [line for line in result.stderr.splitlines() if line.startswith("roster:")]
    assert 2 <= len(lines) <= 11, lines
    last = re.fullmatch(r"roster: 100% — accounts (\d+)/(\d+), rooms (\d+)/(\d+), invites (\d+)",
                        lines[-1])
    assert last, lines
    accounts, accounts_total, rooms, rooms_total, invites = map(int, last.groups())
    assert (accounts, rooms) == (accounts_total, rooms_total) and accounts == 5
    assert f"{rooms} rooms created, {invites} invites" in result.stdout  # as the report says
