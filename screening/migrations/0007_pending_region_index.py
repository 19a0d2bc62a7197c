"""A partial index of the screenings that are not scored, by region and time, carrying the id:
the triage page's pending list (``selectors.pending_list_for_user``, the newest 50) takes its ids
from it without reading the table.

Without it the busiest district's list read all of its ~2,000 not-scored rows (failures over two
years) through ``screening_triage_not_completed`` and sorted them, 11.8 ms inside PostgreSQL at
10 M rows; a province's read ~2,100 rows from the table (8-9 ms). BENCHMARKS.md, section 5b
("the pending list from a partial index"). The predicate lists ``selectors.NON_TRIAGE_STATUSES``
as they were when this was written; a test fails if PostgreSQL can no longer prove that the
list's ``status IN (...)`` implies it (tests/benchmarks/test_triage_queries.py).
``CONCURRENTLY`` (no write lock on a live table), so not atomic; PostgreSQL only.
"""

from django.db import migrations

from portal.concurrent_index import index_create_concurrently

STATUSES = ("received", "queued", "processing", "failed", "rejected")
NAME = "screening_pending_region"
ON = (
    "screening_screening (region_id, submitted_at) INCLUDE (id) "
    f"WHERE status IN ({', '.join(repr(s) for s in STATUSES)})"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        index_create_concurrently(schema_editor, name=NAME, on=ON)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("screening", "0006_triage_region_includes_status"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
