"""The per-region triage index carries ``status``, so that the triage list's capped count
(``selectors.triage_page``: at most ``TRIAGE_COUNT_CAP`` + 1 matching rows) is an index-only scan.

Without it the count of a province's "reviewed" list (status completed, reviewed) read the heap
for every candidate row: PostgreSQL chose a sequential scan that stopped at the 1,001st match,
62-94 ms at 10 M rows (BENCHMARKS.md section 4). The old index is dropped once the new one is
built; both steps ``CONCURRENTLY`` (no write lock on a live table), so not atomic; PostgreSQL
only.
"""

from django.db import migrations

from portal.concurrent_index import index_create_concurrently

RANK = "(COALESCE(triage_score, -1.0) * -1.0)"
NEW = (
    "screening_triage_region_status",
    f"screening_screening (region_id, is_reviewed, {RANK}, submitted_at, id) INCLUDE (status)",
)
OLD = (
    "screening_triage_region",
    f"screening_screening (region_id, is_reviewed, {RANK}, submitted_at, id)",
)


def _swap(schema_editor, build, drop) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    index_create_concurrently(schema_editor, name=build[0], on=build[1])
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {drop[0]}")


def forwards(apps, schema_editor):
    _swap(schema_editor, NEW, OLD)


def backwards(apps, schema_editor):
    _swap(schema_editor, OLD, NEW)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("screening", "0005_search_national_id_upper"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
