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


# (migration module, its forwards function, one index it builds): every index migration that
# builds CONCURRENTLY goes through portal.concurrent_index.
CONCURRENT_BUILDS = [
    (
        "screening.migrations.0004_triage_keys_and_national_indexes",
        "create_indexes",
        "screening_full_name_trgm",
    ),
    (
        "screening.migrations.0005_search_national_id_upper",
        "create_index",
        "screening_national_id_upper",
    ),
    (
        "screening.migrations.0006_triage_region_includes_status",
        "forwards",
        "screening_triage_region_status",
    ),
    ("screening.migrations.0007_pending_region_index", "forwards", "screening_pending_region"),
    (
        "screening.migrations.0008_search_region_name_index",
        "forwards",
        "screening_region_full_name_trgm",
    ),
    ("dashboard.migrations.0003_rollup_watermark_indexes", "create", "dashboard_screening_updated"),
]


@pytest.mark.parametrize(("module", "function", "index"), CONCURRENT_BUILDS)
def test_rerunning_an_index_migration_rebuilds_an_index_an_interrupted_build_left_invalid(
    transactional_db, module, function, index
):
    if connection.vendor != "postgresql":
        pytest.skip("needs DATABASE_URL (PostgreSQL); see make test")
    forwards = getattr(importlib.import_module(module), function)
    assert index_valid(index) is True
    # What a cancelled CREATE INDEX CONCURRENTLY leaves: the index, marked invalid.
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass(%s)", [index]
        )
    assert index_valid(index) is False
    with connection.schema_editor(atomic=False) as editor:
        forwards(None, editor)
    assert index_valid(index) is True
