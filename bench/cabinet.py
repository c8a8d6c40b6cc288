"""The cabinet page under load: a deputy with 200 open appeals and 500 notes, and coming sittings
with drafts; p50/p99 of `/cabinet` from a second process on loopback (16 keep-alive
connections), beside a bare aiohttp handler measured in the same run.

    .venv/bin/python -m bench.cabinet                     # 16 connections, 5 s per target
    .venv/bin/python -m bench.cabinet --duration 2        # a smoke run

The page touches no homeserver, so the bench serves Kabinet's web application (sign-in, cabinet,
notes, on the demo roster) over a fresh SQLite store, without Synapse. Goal (the issue): p99 of
the cabinet page ≤ 50 ms. Results are printed and written to bench/results/cabinet-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.pages import bare_app, load  # noqa: E402
from bench.provision import free_port  # noqa: E402
from council import accounts, appeals, notes  # noqa: E402
from council import sittings as sittings_domain  # noqa: E402
from council import votes as votes_domain  # noqa: E402
from council.files.blobs import BlobStore  # noqa: E402
from council.law import holidays  # noqa: E402
from council.roster import load_roster  # noqa: E402
from council.store import Store  # noqa: E402
from kabinet import event_loop  # noqa: E402
from kabinet.features.sittings_demo import draft_pdf  # noqa: E402
from kabinet.wiring import settle_heap  # noqa: E402
from web import accounts as web_accounts  # noqa: E402
from web import cabinet as web_cabinet  # noqa: E402
from web import notes as web_notes  # noqa: E402
from web.app import SiteInfo, create_app  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DEMO_ROSTER = REPO / "config" / "council.example.yaml"
SERVER = "localhost"
DEPUTY = "tkachuk"
KYIV = ZoneInfo("Europe/Kyiv")
GOAL_P99_MS = 50.0


async def seed(store: Store, data: Path, n_appeals: int, n_notes: int, n_drafts: int) -> str:
    """The deputy's load of work; returns a session token for them."""
    roster = load_roster(DEMO_ROSTER)
    actx = appeals.Context(server_name=SERVER, ghost_prefix="kabinet_", base_url="http://x")
    sctx = sittings_domain.Context(roster, BlobStore(data / "files"), holidays.load(), KYIV,
                                   25 * 1024 * 1024)
    me = notes.Author(f"@{DEPUTY}:{SERVER}", DEPUTY)
    subjects: list[str | None] = [None]
    async with store.session() as s:
        for i in range(n_appeals):
            appeal, _ = await appeals.register(s, actx, appeals.NewAppeal(
                name="Петренко Марія", residence="вул. Незалежності, 5", subject=f"Звернення {i}",
                text="Прошу допомогти.", email=f"c{i}@example.org", addressee_kind="deputy",
                addressee_deputy=DEPUTY), today=date.today() - timedelta(days=i % 40))
            subjects.append(notes.subject_of("appeal", appeal.id))
        for k in range(2):
            sitting, _ = await sittings_domain.create_sitting(s, sctx, sittings_domain.NewSitting(
                kind="plenary", number=f"{k + 1}", title=f"Сесія {k + 1}", place="Зала",
                starts_at=datetime.now(KYIV) + timedelta(days=20 + k)))
            for n in range(1, n_drafts + 1):
                pdf = draft_pdf(str(n), f"Про питання {n}", "Секретаріат", ["Текст."])
                item = await sittings_domain.add_draft(
                    s, sctx, sitting.id, sittings_domain.NewDraft(
                        number=str(n), title=f"Про питання {n}", initiator="Секретаріат"),
                    sittings_domain.prepare_file(sctx, pdf, f"d{n}.pdf"), source="cli")
                subjects.append(notes.subject_of("draft", item.id))
        for i in range(n_notes):
            await notes.write(s, me, notes.NewNote(subject=subjects[i % len(subjects)],
                                                   body=f"Нотатка {i}: перевірити цифри."))
        return await accounts.start_session(s, me.mxid, "bench")


async def serve(store: Store, port: int) -> web.AppRunner:
    roster = load_roster(DEMO_ROSTER)
    app = create_app(SiteInfo(roster.council.name, SERVER, "http://127.0.0.1:1", "#c:" + SERVER,
                              f"http://127.0.0.1:{port}"), roster, {})
    web_accounts.setup(app, web_accounts.Deps(
        store, lambda: roster, SERVER, "bench-secret-0123456789abcdef", None,
        "http://127.0.0.1:1", f"http://127.0.0.1:{port}", secure_cookies=False))
    vctx = votes_domain.Context(roster, SERVER, KYIV, f"http://127.0.0.1:{port}")
    web_cabinet.setup(app, web_cabinet.Deps(store, lambda: vctx))
    web_notes.setup(app, web_notes.Deps(store))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kabinet-bench-cabinet-") as tmp:
        data = Path(tmp)
        store = Store(f"sqlite+aiosqlite:///{data / 'kabinet.db'}")
        await store.migrate()
        began = time.perf_counter()
        token = await seed(store, data, args.appeals, args.notes, args.drafts)
        seeded = time.perf_counter() - began
        port, bare_port = free_port(), free_port()
        site, bare = await serve(store, port), await bare_app(bare_port)
        if not args.default_gc:
            settle_heap()  # as `kabinet up` does once started
        try:
            cookie = {"Cookie": f"kb_session={token}"}
            base = await load(f"http://127.0.0.1:{bare_port}/", args)
            page = await load(f"http://127.0.0.1:{port}/cabinet", args, cookie)
        finally:
            await site.cleanup()
            await bare.cleanup()
            await store.close()
    return {"appeals": args.appeals, "notes": args.notes, "drafts": 2 * args.drafts,
            "seed_s": seeded, "bare": base, "cabinet": page,
            "ratio": page["rps"] / base["rps"] if base["rps"] else 0.0,
            "goal_p99_ms": GOAL_P99_MS, "met": page["p99_ms"] <= GOAL_P99_MS}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--appeals", type=int, default=200)
    p.add_argument("--notes", type=int, default=500)
    p.add_argument("--drafts", type=int, default=15, help="per sitting (two sittings)")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--default-gc", action="store_true", help="skip settle_heap() (to compare)")
    args = p.parse_args(argv)
    result = event_loop.run(run(args))
    c, b = result["cabinet"], result["bare"]
    print(f"cabinet page ({result['appeals']} appeals, {result['notes']} notes, "
          f"{result['drafts']} drafts): {c['rps']:.0f} req/s, p50 {c['p50_ms']:.1f} ms, "
          f"p99 {c['p99_ms']:.1f} ms (goal ≤ {GOAL_P99_MS:.0f} ms: "
          f"{'met' if result['met'] else 'NOT met'}); bare handler {b['rps']:.0f} req/s "
          f"(ratio {result['ratio']:.3f}); errors {c['errors']}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"cabinet-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0 if c["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
