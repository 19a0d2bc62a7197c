"""Re-publish screenings whose task message was lost (run every few minutes, e.g. from cron).

Received/queued screenings waiting longer than ``--minutes`` are published again; processing
ones older than ``--processing-minutes`` (default: the task's hard time limit plus a minute) are
put back in the queue. Screenings claimed ``SCREENING_MAX_ATTEMPTS`` times are marked failed.
A duplicate message is harmless: the worker's conditional claim makes it a no-op.
"""

import datetime
import math

from django.conf import settings
from django.core.management.base import BaseCommand

from screening.services import screening_requeue_stale


class Command(BaseCommand):
    help = "Re-enqueue screenings stuck in received/queued/processing (lost task messages)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--minutes", type=int, default=15, help="age of waiting screenings")
        parser.add_argument(
            "--processing-minutes",
            type=int,
            default=math.ceil(settings.CELERY_TASK_TIME_LIMIT / 60) + 1,
            help="age of screenings stuck in processing",
        )
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, minutes: int, processing_minutes: int, dry_run: bool, **options):
        report = screening_requeue_stale(
            pending_older_than=datetime.timedelta(minutes=minutes),
            processing_older_than=datetime.timedelta(minutes=processing_minutes),
            dry_run=dry_run,
        )
        prefix = "would requeue" if dry_run else "requeued"
        self.stdout.write(f"{prefix} {len(report.requeued)}, failed {len(report.failed)}")
        for sid in report.requeued:
            self.stdout.write(f"  requeue {sid}")
        for sid in report.failed:
            self.stdout.write(f"  failed  {sid}")
