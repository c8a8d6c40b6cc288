"""`kabinet sitting …`, `kabinet drafts …`, `kabinet report paper`: the secretariat's commands.

They work on the store only (a `kabinet.core.Core`: no homeserver, no secrets): they write
sittings and drafts (and the outbox) and exit; a running `kabinet up` creates the room and
delivers the messages. Bad input is refused with a message and exit code 2, changing nothing.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from council import sittings as domain
from council.models import utcnow
from council.sittings.agenda import sitting_heading, when
from council.sittings.paper import Paper
from kabinet.core import Core
from kabinet.features import CliError, CommonOptions, Subparsers, guarded

MANIFESTS = ("manifest.yaml", "manifest.yml", "manifest.csv")

# How a command gets the sittings domain's context (kabinet.features.sittings.context).
Context = Callable[[Core], domain.Context]


def add_commands(sub: Subparsers, common: CommonOptions, context: Context) -> None:
    sitting = sub.add_parser("sitting", help="sittings: create, list")
    ssub = sitting.add_subparsers(dest="sitting_command", required=True)
    create = ssub.add_parser("create", help="create a sitting (its room and announcement follow)")
    common(create)
    create.add_argument("--kind", choices=["plenary", "commission", "executive"], default="plenary")
    create.add_argument("--body", help="commission id (for a commission sitting)")
    create.add_argument("--number", help="the session's number, e.g. 42")
    create.add_argument("--title", required=True)
    create.add_argument("--date", required=True, help="YYYY-MM-DD")
    create.add_argument("--time", default="10:00", help="HH:MM, council local time")
    create.add_argument("--place", required=True)
    create.set_defaults(run=partial(cmd_create, context))
    listing = ssub.add_parser("list", help="list sittings")
    common(listing)
    listing.set_defaults(run=partial(cmd_list, context))

    drafts = sub.add_parser("drafts", help="draft decisions: add, revise, withdraw, reorder")
    dsub = drafts.add_subparsers(dest="drafts_command", required=True)
    add = dsub.add_parser("add", help="add one file, or a folder with manifest.yaml / manifest.csv")
    common(add)
    add.add_argument("sitting", type=int)
    add.add_argument("path", type=Path)
    add.add_argument("--number")
    add.add_argument("--title")
    add.add_argument("--initiator")
    add.add_argument("--commission", help="responsible commission id")
    add.set_defaults(run=partial(cmd_add, context))
    revise = dsub.add_parser("revise", help="publish a new version of a draft")
    common(revise)
    revise.add_argument("sitting", type=int)
    revise.add_argument("number")
    revise.add_argument("file", type=Path)
    revise.set_defaults(run=partial(cmd_revise, context))
    withdraw = dsub.add_parser("withdraw", help="withdraw an agenda item (kept, marked withdrawn)")
    common(withdraw)
    withdraw.add_argument("sitting", type=int)
    withdraw.add_argument("number")
    withdraw.set_defaults(run=partial(cmd_withdraw, context))
    order = dsub.add_parser("reorder", help="set the agenda order: every draft number once")
    common(order)
    order.add_argument("sitting", type=int)
    order.add_argument("numbers", nargs="+")
    order.set_defaults(run=partial(cmd_reorder, context))

    report = sub.add_parser("report", help="reports")
    rsub = report.add_subparsers(dest="report_command", required=True)
    paper = rsub.add_parser("paper", help="paper saved per sitting and in total")
    common(paper)
    paper.set_defaults(run=partial(cmd_paper, context))


async def _guarded(core: Core, context: Context, body: Any) -> int:
    return await guarded(core, context(core), body, (domain.SittingError,))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror}") from None


async def cmd_create(context: Context, core: Core, args: argparse.Namespace) -> int:
    async def body(ctx: domain.Context) -> int:
        try:
            starts = datetime.fromisoformat(f"{args.date}T{args.time}").replace(tzinfo=ctx.tz)
        except ValueError:
            raise CliError(f"--date {args.date} --time {args.time}: expected YYYY-MM-DD and HH:MM") \
                from None
        spec = domain.NewSitting(kind=args.kind, body=args.body, number=args.number,
                                 title=args.title, starts_at=starts, place=args.place)
        async with core.store.session() as s:
            sitting, _ = await domain.create_sitting(s, ctx, spec)
            warnings = domain.sitting_warnings(ctx, sitting)
        print(f"created sitting {sitting.id}: {sitting_heading(sitting.kind, sitting.title, sitting.number)}"
              f" — {when(starts, ctx.tz)}")
        for w in warnings:
            print(f"warning: {w.text}")
        return 0
    return await _guarded(core, context, body)


async def cmd_list(context: Context, core: Core, args: argparse.Namespace) -> int:
    async def body(ctx: domain.Context) -> int:
        async with core.store.session() as s:
            for x in await domain.list_sittings(s):
                print(f"{x.id}\t{when(x.starts_at, ctx.tz)}"
                      f"\t{sitting_heading(x.kind, x.title, x.number)}")
        return 0
    return await _guarded(core, context, body)


def load_manifest(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(file, fields) per row of the folder's manifest (YAML list or CSV with a header)."""
    found = [folder / m for m in MANIFESTS if (folder / m).exists()]
    if not found:
        raise CliError(f"{folder}: no {' or '.join(MANIFESTS)} in the folder")
    manifest = found[0]
    try:
        text = manifest.read_text(encoding="utf-8-sig")
        if manifest.suffix == ".csv":
            rows: Any = list(csv.DictReader(text.splitlines()))
        else:
            rows = yaml.safe_load(text)
            rows = rows.get("drafts") if isinstance(rows, dict) else rows
    except (OSError, yaml.YAMLError, csv.Error, UnicodeDecodeError) as exc:
        raise CliError(f"{manifest}: cannot read: {exc}") from None
    if not isinstance(rows, list) or not rows:
        raise CliError(f"{manifest}: expected a list of drafts (file, number, title, initiator, "
                       f"commission)")
    out = []
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not row.get("file"):
            raise CliError(f"{manifest}: entry {n}: needs at least `file`")
        fields = {k: str(v).strip() for k, v in row.items() if k != "file" and v not in (None, "")}
        out.append((folder / str(row["file"]), fields))
    return out


async def cmd_add(context: Context, core: Core, args: argparse.Namespace) -> int:
    async def body(ctx: domain.Context) -> int:
        if args.path.is_dir():
            entries = load_manifest(args.path)
        else:
            fields = {k: getattr(args, k) for k in ("number", "title", "initiator", "commission")
                      if getattr(args, k)}
            entries = [(args.path, fields)]
        prepared = []
        for path, fields in entries:  # everything is checked before anything is stored
            try:
                spec = domain.NewDraft.model_validate(fields)
                file = domain.prepare_file(ctx, _read(path), path.name)
            except domain.SittingError as exc:
                raise CliError(f"{path}: {exc}") from None
            except ValidationError as exc:
                reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                raise CliError(f"{path}: {reasons}") from None
            prepared.append((spec, file))
        async with core.store.session() as s:
            items = await domain.add_drafts(s, ctx, args.sitting, prepared, source="cli")
            sitting = await domain.get_sitting(s, args.sitting)
            late = [] if domain.draft_warnings(ctx, sitting, domain.DraftVersion(
                published_at=utcnow())) == [] else [i.number for i in items]
        for item, (_, file) in zip(items, prepared, strict=True):
            print(f"added draft № {item.number} «{item.title}» ({file.filename}, {file.pages} pages)")
        if late:
            print(f"warning: published less than 10 working days before the sitting (art. 15 p.3 "
                  f"of the Access to Public Information Law): № {', '.join(late)}")
        return 0
    return await _guarded(core, context, body)


async def cmd_revise(context: Context, core: Core, args: argparse.Namespace) -> int:
    async def body(ctx: domain.Context) -> int:
        file = domain.prepare_file(ctx, _read(args.file), args.file.name)
        async with core.store.session() as s:
            version = await domain.revise_draft(s, ctx, args.sitting, args.number, file, source="cli")
        print(f"published version {version.version} of draft № {args.number}")
        return 0
    return await _guarded(core, context, body)


async def cmd_withdraw(context: Context, core: Core, args: argparse.Namespace) -> int:
    async def body(ctx: domain.Context) -> int:
        async with core.store.session() as s:
            await domain.withdraw_item(s, ctx, args.sitting, args.number)
        print(f"withdrew draft № {args.number}")
        return 0
    return await _guarded(core, context, body)


async def cmd_reorder(context: Context, core: Core, args: argparse.Namespace) -> int:
    async def body(ctx: domain.Context) -> int:
        async with core.store.session() as s:
            await domain.reorder(s, ctx, args.sitting, args.numbers)
        print(f"new order: {' '.join(args.numbers)}")
        return 0
    return await _guarded(core, context, body)


async def paper_report(core: Core, ctx: domain.Context) -> list[tuple[domain.Sitting, Paper]]:
    async with core.store.session() as s:
        return [(x, (await domain.view(s, ctx, x.id)).paper) for x in await domain.list_sittings(s)]


async def cmd_paper(context: Context, core: Core, args: argparse.Namespace) -> int:
    async def body(ctx: domain.Context) -> int:
        rows = await paper_report(core, ctx)
        print(f"{'id':>4}  {'pages':>6}  {'recip.':>6}  {'copies':>8}  {'sheets':>8}  sitting")
        total = Paper(0, 0, 0, 0)
        for sitting, p in rows:
            total = total + p
            print(f"{sitting.id:>4}  {p.pages:>6}  {p.recipients:>6}  {p.copies:>8}  {p.sheets:>8}  "
                  f"{sitting_heading(sitting.kind, sitting.title, sitting.number)}")
        print(f"total: {total.pages} pages of drafts; {total.copies} single-sided copies "
              f"or {total.sheets} double-sided sheets not printed")
        return 0
    return await _guarded(core, context, body)
