"""Before the embedded Synapse starts: make it resend the appservice transactions it stored
but never sent (its own database, which Kabinet owns in embedded mode: the SQLite file, or
its PostgreSQL database in the workers topology, kabinet/synapse_workers.py)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any


def resume_unsent_transactions(database: Path) -> int:
    """Make Synapse send again the appservice transactions it stored but never sent.

    Synapse stores a transaction before sending it, and after a restart retries stored ones
    only for appservices it has marked down; a Synapse stopped between storing and sending
    (an ordinary restart while deputies are voting) would never deliver those events. Marking
    such an appservice down before the start makes Synapse's recoverer send them first, in
    order. Returns the number of unsent transactions found (0 for a fresh database)."""
    if not database.exists():
        return 0
    with contextlib.closing(sqlite3.connect(database, timeout=10)) as conn:
        return mark_stranded_down(conn, "?", sqlite3.OperationalError)


def mark_stranded_down(conn: Any, param: str, not_created: type[Exception]) -> int:
    """The same on any DB-API connection (`param`: its placeholder; `not_created`: what it
    raises for a missing table). Commits."""
    cur = conn.cursor()
    try:
        cur.execute("SELECT as_id, COUNT(*) FROM application_services_txns GROUP BY as_id")
        rows = cur.fetchall()
    except not_created:  # not created yet
        conn.rollback()
        return 0
    for as_id, _ in rows:
        cur.execute(f"INSERT INTO application_services_state (as_id, state) VALUES ({param}, "
                    "'down') ON CONFLICT (as_id) DO UPDATE SET state = 'down'", (as_id,))
    conn.commit()
    return sum(n for _, n in rows)
