"""Alembic environment: runs on the connection Store.migrate() hands over, or on sqlalchemy.url."""

from alembic import context
from sqlalchemy import Connection, create_engine, pool

import council.appeals  # noqa: F401  (appeals and mail-queue tables)
from council import accounts as _accounts  # noqa: F401  (web sessions, sign-in links, audit log)
from council import announcements as _announcements  # noqa: F401  (announcements, pins, expiry)
from council import directory as _directory  # noqa: F401  (pinned directory, direct chats)
from council import feeds as _feeds  # noqa: F401  (news feeds: polling state, entries seen)
from council import notes as _notes  # noqa: F401  (private notes and their anchors)
from council import sittings as _sittings  # noqa: F401  (sittings, agenda items, drafts)
from council import votes as _votes  # noqa: F401  (registration, votes, roll-calls)
from council.models import Base

config = context.config
target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    # CLI use (`alembic revision --autogenerate`): a sync driver for the configured URL.
    url = config.get_main_option("sqlalchemy.url", "sqlite:///var/kabinet.db")
    url = url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        run(conn)
