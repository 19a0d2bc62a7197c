"""Indexes the rollup refresh's watermark reads (``dashboard.rollups``): screenings changed and
reviews written since the last refresh. Without them each refresh is a sequential scan of the
screening and review tables (10 M rows each at national scale). They live on the screening
app's tables but only the dashboard reads by them; built ``CONCURRENTLY`` (no write lock on a
live table), PostgreSQL only (the embedded SQLite has small tables)."""

from django.db import migrations

from portal.concurrent_index import index_create_concurrently

INDEXES = (
    ("dashboard_screening_updated", "screening_screening", "updated_at"),
    ("dashboard_review_created", "screening_review", "created_at"),
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, column in INDEXES:
        index_create_concurrently(schema_editor, name=name, on=f'"{table}" ("{column}")')


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in INDEXES:
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("dashboard", "0002_month_rollup"),
        ("screening", "0004_triage_keys_and_national_indexes"),
    ]

    operations = [migrations.RunPython(create, drop)]
