"""Triage sort keys on the screening row, and the indexes the triage list and search need at
national scale (measured with ``python -m benchmarks.national``; plans in BENCHMARKS.md).

The PostgreSQL indexes are built ``CONCURRENTLY`` (no write lock on a live table), so this
migration is not atomic; SQLite (the embedded development default) gets the fields only.
"""

from django.db import migrations, models

from portal.concurrent_index import index_create_concurrently

BACKFILL = """
UPDATE screening_screening SET
    triage_score = (
        SELECT p.prob_covid FROM screening_prediction p WHERE p.screening_id = screening_screening.id
    ),
    is_reviewed = EXISTS (
        SELECT 1 FROM screening_review r WHERE r.screening_id = screening_screening.id
    )
"""

# The triage order as one ascending key (selectors.TRIAGE_KEY): is_reviewed, rank, submitted_at,
# id, with rank = -probability (NULL, not yet scored, last), written exactly as Django writes it
# so that the planner matches it. One region's list is an index range, every region's list an
# index walk; the unreviewed backlog (what clinicians work through) has its own small partial
# index. A keyset cursor is one row comparison on the same key (an index condition).
RANK = "(COALESCE(triage_score, -1.0) * -1.0)"
POSTGRES_INDEXES = {
    # INCLUDE: the dashboard's backlog counts (status, score per region) read the index only.
    "screening_triage_unreviewed": (
        f"screening_screening (region_id, {RANK}, submitted_at, id) "
        "INCLUDE (status, triage_score) WHERE NOT is_reviewed"
    ),
    "screening_triage_region": (
        f"screening_screening (region_id, is_reviewed, {RANK}, submitted_at, id)"
    ),
    "screening_triage_all": f"screening_screening (is_reviewed, {RANK}, submitted_at, id)",
    # The failed / rejected / pending lists (1-2 % of rows): region last, checked in the index.
    "screening_triage_not_completed": (
        f"screening_screening (status, is_reviewed, {RANK}, submitted_at, id, region_id) "
        "WHERE status <> 'completed'"
    ),
    # Exact national ID: a patient's earlier screenings, the duplicate check at submission.
    "screening_national_id": "screening_screening (national_id, submitted_at)",
    # Search: Django's icontains is UPPER(col::text) LIKE UPPER('%...%'); trigrams serve it.
    "screening_national_id_trgm": (
        "screening_screening USING gin (upper(national_id::text) gin_trgm_ops)"
    ),
    "screening_reference_trgm": "screening_screening USING gin (upper(reference::text) gin_trgm_ops)",
    "screening_full_name_trgm": "screening_screening USING gin (upper(full_name::text) gin_trgm_ops)",
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, definition in POSTGRES_INDEXES.items():
        index_create_concurrently(schema_editor, name=name, on=definition)


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in POSTGRES_INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("screening", "0003_screening_claimed_by"),
    ]

    operations = [
        migrations.AddField(
            model_name="screening",
            name="triage_score",
            field=models.FloatField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="screening",
            name="is_reviewed",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
