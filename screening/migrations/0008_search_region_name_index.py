"""A name search inside the user's regions from one index: (region, name trigrams), GIN with
``btree_gin`` for the region column.

At 10 M rows a first-and-last-name search in the busiest district took 478 ms: PostgreSQL ANDed
a bitmap of the district's 169,000 rows with one of the 111,000 national name matches, the
bitmap went lossy and 544,000 rows were rechecked for 1,873 matches. With the region inside the
trigram index the scan yields the district's matches only (37 ms inside PostgreSQL, 58 ms the
whole call; BENCHMARKS.md, section 5d). The query must give the region ids as bigint
(``screenings_visible_for_search``): btree_gin before PostgreSQL 18 has no
integer = bigint operator.

Partial on ``region_id > 0`` (every row) so that only a query with a region condition can use
it (PostgreSQL proves the predicate from ``region_id IN (...)``; ``IS NOT NULL`` would also be
proved by the join to the region table): a search over every region keeps walking newest
first, which is what serves a common name there (15 ms, where this index's bitmap read 111,000
rows in 1.2 s). ``CONCURRENTLY``, so not atomic; PostgreSQL only.
"""

from django.db import migrations

from portal.concurrent_index import index_create_concurrently

NAME = "screening_region_full_name_trgm"
ON = (
    "screening_screening USING gin (region_id, upper(full_name::text) gin_trgm_ops) "
    "WHERE region_id > 0"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    index_create_concurrently(schema_editor, name=NAME, on=ON)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("screening", "0007_pending_region_index"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
