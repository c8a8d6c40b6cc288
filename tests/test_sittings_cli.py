"""`kabinet sitting|drafts|report` against a stopped installation (the store only), and the demo
seeder: idempotent, real PDFs in Ukrainian."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from pypdf import PdfReader
from sqlalchemy import func, select

from council import sittings as domain
from council.models import OutboxMessage
from council.roster import load_roster
from kabinet.features import sittings_demo as demo_sittings
from kabinet.features.sittings import context as sittings_context
from kabinet.features.sittings_demo import draft_pdf
from kabinet.wiring import Kabinet
from tests.conftest import DEMO_ROSTER, test_settings


def kabinet(data_dir: Path, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kabinet", *map(str, args), "--data-dir",
                           str(data_dir)], capture_output=True, text=True, timeout=120)


def test_the_secretariat_publishes_a_session_from_the_command_line(tmp_path: Path):
    data = tmp_path / "var"
    day = (date.today() + timedelta(days=30)).isoformat()
    made = kabinet(data, "sitting", "create", "--number", "42", "--title", "Сорок друга сесія",
                   "--date", day, "--time", "10:00", "--place", "Сесійна зала")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("created sitting 1:")

    folder = tmp_path / "drafts"
    folder.mkdir()
    for n in ("1", "2"):
        (folder / f"p{n}.pdf").write_bytes(draft_pdf(n, f"Про питання {n}", "Виконком", ["Текст."]))
    (folder / "manifest.csv").write_text(
        "file,number,title,initiator,commission\n"
        "p1.pdf,1,Про питання 1,Виконком,budget\n"
        "p2.pdf,2,Про питання 2,Депутат Ткачук,\n", encoding="utf-8")
    added = kabinet(data, "drafts", "add", 1, folder)
    assert added.returncode == 0, added.stderr
    assert "added draft № 1 «Про питання 1» (p1.pdf, 1 pages)" in added.stdout

    single = tmp_path / "p3.pdf"
    single.write_bytes(draft_pdf("3", "Про питання 3", "Виконком", ["Текст."], pages=3))
    ok = kabinet(data, "drafts", "add", 1, single, "--number", "3", "--title", "Про питання 3",
                 "--initiator", "Виконком")
    assert ok.returncode == 0, ok.stderr

    # Bad input: exit 2 with the reason, nothing stored.
    fake = tmp_path / "fake.pdf"
    fake.write_bytes(b"PK\x03\x04 not really")
    yaml_folder = tmp_path / "more"
    yaml_folder.mkdir()
    (yaml_folder / "p.pdf").write_bytes(draft_pdf("9", "Дев'ять", "Виконком", ["Текст."]))
    (yaml_folder / "bad.odt").write_bytes(b"\x00\x01")
    (yaml_folder / "manifest.yaml").write_text(
        "- {file: p.pdf, number: '9', title: Про питання 9, initiator: Виконком}\n"
        "- {file: bad.odt, number: '10', title: Про питання 10, initiator: Виконком}\n",
        encoding="utf-8")
    for args, reason in [
        (("drafts", "add", 1, fake, "--number", "4", "--title", "Про фейк", "--initiator", "Хтось"),
         "непідтримуваний тип файлу"),
        (("drafts", "add", 1, single, "--number", "3", "--title", "Ще раз", "--initiator", "Хтось"),
         "уже є в порядку денному цього засідання"),
        (("drafts", "add", 7, single, "--number", "5", "--title", "Про щось", "--initiator", "Хтось"),
         "засідання 7 не знайдено"),
        (("drafts", "add", 1, single, "--number", "5", "--title", "Про щось", "--initiator", "Хтось",
          "--commission", "nope"), "невідома комісія «nope»"),
        (("drafts", "add", 1, yaml_folder), "bad.odt: "),
        (("drafts", "add", 1, tmp_path / "missing.pdf", "--number", "6", "--title", "Про щось",
          "--initiator", "Хтось"), "cannot read"),
        (("sitting", "create", "--kind", "commission", "--body", "nope", "--title", "Засідання",
          "--date", day, "--place", "Каб. 1"), "невідома комісія «nope»"),
        (("sitting", "create", "--title", "Засідання", "--date", "31.12.2026", "--place", "Зала"),
         "expected YYYY-MM-DD"),
    ]:
        result = kabinet(data, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert reason in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr

    assert kabinet(data, "drafts", "revise", 1, "2", single).returncode == 0
    assert kabinet(data, "drafts", "withdraw", 1, "1").returncode == 0
    assert kabinet(data, "drafts", "reorder", 1, "3", "2", "1").returncode == 0
    report = kabinet(data, "report", "paper")
    assert report.returncode == 0, report.stderr
    # 1 + 1 + 3 + 3 (version 2 of draft 2) pages, 36 deputies, the head and 3 staff.
    assert "total: 8 pages of drafts; 320 single-sided copies or 240 double-sided sheets" \
        in report.stdout
    listing = kabinet(data, "sitting", "list")
    assert "Пленарне засідання сесії № 42: Сорок друга сесія" in listing.stdout


async def test_the_demo_seeder_is_idempotent_and_makes_real_ukrainian_pdfs(tmp_path: Path):
    k = Kabinet(test_settings(tmp_path, DEMO_ROSTER), load_roster(DEMO_ROSTER))
    await k.store.migrate()
    try:
        async def snapshot() -> tuple:
            async with k.store.session() as s:
                return (await s.scalar(select(func.count()).select_from(domain.Sitting)),
                        tuple((await s.scalars(select(domain.DraftVersion.sha256)
                                               .order_by(domain.DraftVersion.id))).all()),
                        await s.scalar(select(func.count()).select_from(OutboxMessage)))

        await demo_sittings.seed(k, sittings_context(k))
        first = await snapshot()
        await demo_sittings.seed(k, sittings_context(k))
        assert await snapshot() == first
        sittings, shas, _ = first
        assert sittings == 2 and len(shas) == len(demo_sittings.PLENARY) + len(demo_sittings.COMMISSION)
        text = PdfReader(io.BytesIO(k.blobs.read(shas[0]))).pages[0].extract_text()
        assert "ПРОЄКТ РІШЕННЯ № 1" in text and "громадського транспорту" in text
        async with k.store.session() as s:
            views = [await domain.view(s, sittings_context(k), x.id)
                     for x in await domain.list_sittings(s)]
        budget, plenary = views  # by date: the commission sitting comes first
        assert budget.sitting.kind == "commission" and budget.warnings  # the demo shows a warning
        assert plenary.sitting.kind == "plenary" and not plenary.warnings
        assert plenary.paper.pages == 5  # draft 2 has two pages
    finally:
        await k.store.close()
