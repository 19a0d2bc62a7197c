"""Index migrations that build ``CONCURRENTLY`` on a live table can be rerun after an
interrupted build (PostgreSQL only)."""

import importlib

import pytest
from django.db import connection


def index_valid(name: str) -> bool | None:
    with connection.cursor() as cur:
        cur.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [name])
        row = cur.fetchone()
    return None if row is None else row[0]


def test_rerunning_0008_rebuilds_an_index_an_interrupted_build_left_invalid(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs DATABASE_URL (PostgreSQL); see make test")
    migration = importlib.import_module("screening.migrations.0008_search_region_name_index")
    assert index_valid(migration.NAME) is True
    # What a cancelled CREATE INDEX CONCURRENTLY leaves: the index, marked invalid.
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass(%s)",
            [migration.NAME],
        )
    assert index_valid(migration.NAME) is False
    with connection.schema_editor(atomic=False) as editor:
        migration.forwards(None, editor)
    assert index_valid(migration.NAME) is True
