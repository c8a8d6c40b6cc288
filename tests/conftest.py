"""Fixtures: a real Synapse started by Kabinet's own launcher, real databases, nio deputies."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from nio import AsyncClient, LoginResponse

from council import language
from council.roster import Roster, load_roster
from council.store import Store
from kabinet.config import Settings, load_settings
from kabinet.wiring import Kabinet, Running, start
from tests.matrix_helpers import settle

REPO = Path(__file__).resolve().parents[1]
DEMO_ROSTER = REPO / "config" / "council.example.yaml"
SMALL_ROSTER = REPO / "tests" / "data" / "small-roster.yaml"
PG_ADMIN_URL = os.environ.get("KABINET_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_settings(data_dir: Path, roster: Path, **overrides: object) -> Settings:
    """Settings for an installation under test: its own ports and data dir, fast password hashing."""
    return load_settings(None, **{
        "data_dir": data_dir, "roster": roster, "web.port": free_port(),
        "homeserver.port": free_port(), "homeserver.bcrypt_rounds": 4, **overrides})


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


async def start_installation(data_dir: Path, roster_path: Path, **overrides: object) -> Running:
    settings = test_settings(data_dir, roster_path, **overrides)
    return await start(Kabinet(settings, load_roster(roster_path)))


@pytest.fixture(scope="session")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    """The demo council, as `make run` starts it (embedded Synapse, SQLite)."""
    running = await start_installation(tmp_path_factory.mktemp("demo"), DEMO_ROSTER)
    yield running
    await running.stop()


@pytest.fixture(scope="session")
def demo_roster() -> Roster:
    return load_roster(DEMO_ROSTER)


@pytest.fixture(scope="session")
async def settled(demo: Running, demo_roster: Roster) -> Running:
    """The demo council once every deputy has landed in their rooms."""
    await settle(demo.kabinet, demo_roster)
    return demo


class Deputies:
    """Logs people in with matrix-nio, as their Element would; closes the clients at the end."""

    def __init__(self, homeserver: str) -> None:
        self.homeserver = homeserver
        self.clients: list[AsyncClient] = []

    async def login(self, localpart: str, password: str, server_name: str = "localhost"
                    ) -> AsyncClient:
        client = AsyncClient(self.homeserver, f"@{localpart}:{server_name}")
        resp = await client.login(password, device_name="pytest")
        assert isinstance(resp, LoginResponse), f"login of {localpart} failed: {resp}"
        self.clients.append(client)
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.close()


@pytest.fixture
async def people(settled: Running) -> AsyncIterator[Deputies]:
    deputies = Deputies(settled.kabinet.settings.homeserver.client_url)
    yield deputies
    await deputies.close()


async def _pg_available() -> str | None:
    import asyncpg

    try:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"
    await conn.close()
    return None


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database on each back end; PostgreSQL gets a throw-away database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'kabinet.db'}"
        return
    reason = await _pg_available()
    if reason:
        pytest.skip(reason)
    async with pg_databases(1) as (url,):
        yield url


@asynccontextmanager
async def pg_databases(count: int) -> AsyncIterator[list[str]]:
    """`count` fresh PostgreSQL databases on the test server (their SQLAlchemy URLs), dropped
    afterwards. Callers check `_pg_available()` first and skip with its reason."""
    import asyncpg

    names = [f"kabinet_test_{uuid.uuid4().hex[:12]}" for _ in range(count)]
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        for name in names:
            await admin.execute(f'CREATE DATABASE "{name}"')
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        yield [f"{base}/{name}" for name in names]
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    """A migrated store on each back end."""
    s = Store(db_url)
    await s.migrate()
    yield s
    await s.close()


@pytest.fixture
def english() -> Iterator[None]:
    """A council whose language is English, for one test (the bot's texts, the catalogs)."""
    language.use("en")
    yield
    language.use("uk")
