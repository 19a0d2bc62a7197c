"""Indexes for search and the date filter at national scale (``python -m benchmarks.national``,
BENCHMARKS.md):

- ``screening_national_id_upper``: search by a whole national ID (``people.screening_search``:
  ``iexact``, i.e. ``UPPER(national_id::text) = UPPER(...)``), newest first. The reference prefix
  search uses the ``varchar_pattern_ops`` index Django keeps for the unique ``reference``; names
  keep the trigram index of 0004.
- ``screening_region_submitted``: one region's rows in a date range: the triage list's
  "submitted from" filter and its capped count for a district or province (before it, a
  BitmapAnd of every row of the region and every row of the week: 115-209 ms).

Built ``CONCURRENTLY`` (no write lock on a live table), so not atomic; PostgreSQL only.
"""

from django.db import migrations

from portal.concurrent_index import index_create_concurrently

INDEXES = {
    "screening_national_id_upper": "screening_screening (upper(national_id::text), submitted_at)",
    "screening_region_submitted": "screening_screening (region_id, submitted_at)",
}


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, definition in INDEXES.items():
        index_create_concurrently(schema_editor, name=name, on=definition)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("screening", "0004_triage_keys_and_national_indexes"),
    ]

    operations = [migrations.RunPython(create_index, drop_index)]
