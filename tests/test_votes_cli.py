"""`kabinet votes …` on a stopped installation: what it queues, what it refuses (exit 2, the
reason, nothing written)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from kabinet.features.sittings_demo import draft_pdf


def kabinet(data_dir: Path, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kabinet", *map(str, args), "--data-dir",
                           str(data_dir)], capture_output=True, text=True, timeout=120)


def test_the_secretariat_runs_registration_and_votes_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "var"
    day = (date.today() + timedelta(days=30)).isoformat()
    assert kabinet(data, "sitting", "create", "--number", "7", "--title", "Сьома сесія", "--date",
                   day, "--place", "Сесійна зала").returncode == 0
    draft = tmp_path / "p1.pdf"
    draft.write_bytes(draft_pdf("1", "Про бюджет", "Виконком", ["Текст."]))
    assert kabinet(data, "drafts", "add", 1, draft, "--number", "1", "--title", "Про бюджет",
                   "--initiator", "Виконком").returncode == 0

    opened = kabinet(data, "votes", "registration", 1)
    assert opened.returncode == 0, opened.stderr
    # The demo council: a total composition of 42 (`total_seats`), so a quorum of 22.
    assert "registration 1 queued for sitting 1 (quorum 22 of 42)" in opened.stdout

    refused = kabinet(data, "votes", "open", 1, "1", "--majority", "two_thirds")
    assert refused.returncode == 2
    assert "немає кворуму: зареєстровано 0, потрібно 22" in refused.stderr
    unknown = kabinet(data, "votes", "open", 1, "9")
    assert unknown.returncode == 2 and "питання № 9 немає" in unknown.stderr
    bad = kabinet(data, "votes", "open", 1, "1", "--duration", "3")
    assert bad.returncode == 2 and "duration" in bad.stderr

    absent = kabinet(data, "votes", "absent", 1, "tkachuk", "лікарняний")
    assert absent.returncode == 0 and "absence of tkachuk recorded" in absent.stdout
    staff = kabinet(data, "votes", "absent", 1, "secretary", "відпустка")
    assert staff.returncode == 2 and "не входить до складу" in staff.stderr
    conflict = kabinet(data, "votes", "conflict", 1, "1", "tkachuk", "Родич є засновником підрядника")
    assert conflict.returncode == 0, conflict.stderr
    nothing = kabinet(data, "votes", "close", 1)
    assert nothing.returncode == 2 and "немає відкритого голосування" in nothing.stderr
    results = kabinet(data, "votes", "results", 1)
    assert results.returncode == 0 and results.stdout == ""
