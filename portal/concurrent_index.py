"""``CREATE INDEX CONCURRENTLY`` for the index migrations (PostgreSQL; no write lock on a live
table, so those migrations are not atomic and are rerun after an interruption).

An interrupted concurrent build (a deadlock with another index build, seen in the twelfth
session; a cancelled deploy) leaves the index behind marked invalid, and ``IF NOT EXISTS`` would
then keep it for good: the planner never uses an invalid index, but every write still updates it.
"""

from __future__ import annotations


def index_create_concurrently(schema_editor, *, name: str, on: str) -> None:
    """``CREATE INDEX CONCURRENTLY IF NOT EXISTS name ON on``, dropping first an invalid
    leftover of an interrupted build of the same name."""
    with schema_editor.connection.cursor() as cur:
        cur.execute(
            "SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [name]
        )
        leftover = cur.fetchone()
    if leftover and leftover[0]:
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
    schema_editor.execute(f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON {on}')
