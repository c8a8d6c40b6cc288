"""Features are wired through one protocol (kabinet/features/__init__.py): a Kabinet installs the
features it is handed, the command line lists their commands, and neither knows one by name."""

from __future__ import annotations

import argparse
import ast
import logging
import os
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import func, select

from council import appeals
from council import sittings as domain
from council.roster import load_roster
from kabinet import cli
from kabinet.core import Core
from kabinet.features import CommonOptions, Subparsers, default_features
from kabinet.features.appeals import Appeals
from kabinet.features.sittings import Sittings
from kabinet.wiring import Kabinet
from tests.conftest import DEMO_ROSTER, REPO, SMALL_ROSTER, test_settings


async def hello(_request: web.Request) -> web.Response:
    return web.Response(text="hello")


class Greeter:
    """A feature made up for the test: one worker, one page, one demo seeder, one command."""

    name = "greeter"

    def __init__(self) -> None:
        self.installed_into: Kabinet | None = None
        self.ran_with: Core | None = None

    def install(self, kabinet: Kabinet) -> None:
        self.installed_into = kabinet

        async def worker() -> None: ...

        async def seed() -> None: ...

        kabinet.workers.append(worker)
        kabinet.demo_seeders.append(seed)
        kabinet.web_setups.append(lambda app: app.router.add_get("/hello", hello))

    def cli(self, sub: Subparsers, common: CommonOptions) -> None:
        greet = sub.add_parser("greet")
        common(greet)
        greet.set_defaults(run=self.run)

    async def run(self, core: Core, _args: argparse.Namespace) -> int:
        self.ran_with = core
        return 0


def paths(app: web.Application) -> set[str]:
    return {r.resource.canonical for r in app.router.routes() if r.resource is not None}


def test_a_kabinet_installs_exactly_the_features_it_is_handed(tmp_path: Path):
    settings = test_settings(tmp_path / "var", SMALL_ROSTER)
    greeter = Greeter()
    bare = Kabinet(settings, load_roster(SMALL_ROSTER), [greeter])
    assert greeter.installed_into is bare and bare.feature(Greeter) is greeter
    routes = paths(bare.web_app())
    assert "/hello" in routes
    assert not {"/sittings", "/appeals/new", "/api/v1/sittings"} & routes
    assert len(bare.demo_seeders) == 1
    with pytest.raises(LookupError):
        bare.feature(Appeals)

    full = Kabinet(settings, load_roster(SMALL_ROSTER))
    assert [f.name for f in full.features] == [
        "accounts", "sittings", "appeals", "votes", "notes", "directory", "desk", "feeds",
        "widgets", "announcements", "demo_mail"]
    assert {"/sittings", "/appeals/new", "/api/v1/sittings", "/login", "/cabinet", "/desk",
            "/api/v1/notes"} <= paths(full.web_app())
    assert len(full.workers) > len(bare.workers)
    assert full.feature(Sittings).rooms.poke in full.on_homeserver_back
    assert full.feature(Appeals).rooms.poke in full.on_homeserver_back


async def test_the_demo_seeders_of_every_feature_fill_a_fresh_store_once(tmp_path: Path):
    k = Kabinet(test_settings(tmp_path / "var", DEMO_ROSTER), load_roster(DEMO_ROSTER))
    await k.store.migrate()
    try:
        async def counts() -> tuple[int | None, ...]:
            async with k.store.session() as s:
                return tuple([await s.scalar(select(func.count()).select_from(t))
                              for t in (domain.Sitting, domain.DraftVersion, appeals.Appeal)])

        for seed in k.demo_seeders:
            await seed()
        first = await counts()
        for seed in k.demo_seeders:
            await seed()
        assert await counts() == first and all(first), first
    finally:
        await k.store.close()


def test_default_features_are_fresh_for_each_kabinet():
    first, second = default_features(), default_features()
    assert [f.name for f in first] == [f.name for f in second]
    assert not {id(f) for f in first} & {id(f) for f in second}


def test_a_feature_command_runs_on_the_store_only(tmp_path: Path):
    greeter = Greeter()
    data_dir = tmp_path / "var"
    umask, level = os.umask(0o077), logging.getLogger().level  # main() sets both: put back
    try:
        code = cli.main(["greet", "--data-dir", str(data_dir)], features=[greeter])
    finally:
        os.umask(umask)
        logging.getLogger().setLevel(level)
    assert code == 0
    assert type(greeter.ran_with) is Core  # not a Kabinet: no homeserver, no registration
    assert greeter.installed_into is None
    assert not (data_dir / "secrets.yaml").exists()


def _identifiers(module: Path) -> set[str]:
    """Every imported module, name and attribute a module's code uses (not its comments)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names} | {a.asname or "" for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            found |= {node.module or ""} | {a.name for a in node.names}
            found |= {a.asname or "" for a in node.names}
        elif isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
    return found


@pytest.mark.parametrize("module", ["kabinet/wiring.py", "kabinet/installation.py", "kabinet/cli.py",
                                    "kabinet/control.py", "kabinet/core.py"])
def test_the_wiring_and_the_command_line_know_no_feature_by_name(module: str):
    stems = [f.name.rstrip("s") for f in default_features()]  # "sitting", "appeal"
    named = {i for i in _identifiers(REPO / module) if any(s in i.lower() for s in stems)}
    assert not named, f"{module} names a feature: {sorted(named)}"

