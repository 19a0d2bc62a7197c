"""Refresh the national dashboard's rollup: what changed since the last refresh (the default,
what Celery beat runs every ``DASHBOARD_ROLLUP_INTERVAL_SECONDS``), or every month with
``--full`` (a backfill: after a restore, an import, or a change of the rollup's definition)."""

from django.core.management.base import BaseCommand

from dashboard.rollups import rollup_backfill, rollup_refresh


class Command(BaseCommand):
    help = "Refresh the dashboard rollup (incremental, or --full to rebuild every month)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--full", action="store_true", help="rebuild every month")

    def handle(self, *args, full: bool, **options) -> None:
        if full:
            result = rollup_backfill(
                progress=lambda month: self.stdout.write(f"  {month:%Y-%m} done")
            )
        else:
            result = rollup_refresh()
        kind = "months" if result.full else "region-month pairs"
        self.stdout.write(
            f"{'backfill' if result.full else 'refresh'}: {result.pairs} {kind} in "
            f"{result.seconds:.1f} s; figures as of {result.as_of:%Y-%m-%d %H:%M:%S %Z}"
        )
