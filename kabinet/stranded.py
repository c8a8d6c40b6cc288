"""Before the embedded Synapse starts: make it resend the appservice transactions it stored
but never sent (its own database, which Kabinet owns in embedded mode)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path


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
        try:
            rows = conn.execute("SELECT as_id, COUNT(*) FROM application_services_txns "
                                "GROUP BY as_id").fetchall()
        except sqlite3.OperationalError:  # not created yet
            return 0
        for as_id, _ in rows:
            conn.execute("INSERT INTO application_services_state (as_id, state) VALUES (?, 'down') "
                         "ON CONFLICT (as_id) DO UPDATE SET state = 'down'", (as_id,))
        conn.commit()
    return sum(n for _, n in rows)
