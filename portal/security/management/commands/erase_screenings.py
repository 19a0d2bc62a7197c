"""``manage.py erase_screenings (--reference CXR-... | --expired) [--dry-run]``."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal.security.erasure import screening_erase, screenings_past_retention


class Command(BaseCommand):
    help = (
        "Erase screenings completely (row, prediction, reviews, image, heatmaps, DICOM, derived "
        "files); the audit trail keeps a record of each erasure."
    )

    def add_arguments(self, parser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--reference", action="append", help="A screening reference.")
        group.add_argument(
            "--expired",
            action="store_true",
            help="Every screening older than SCREENING_RETENTION_DAYS.",
        )
        parser.add_argument("--reason", default="", help="Recorded in the audit trail.")
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, **options) -> None:
        from screening.models import Screening

        if options["expired"]:
            qs = screenings_past_retention()
            reason = options["reason"] or f"retention ({settings.SCREENING_RETENTION_DAYS} days)"
        else:
            qs = Screening.objects.filter(reference__in=options["reference"])
            missing = set(options["reference"]) - set(qs.values_list("reference", flat=True))
            if missing:
                raise CommandError(f"No screening {', '.join(sorted(missing))}.")
            reason = options["reason"] or "erasure request"
        ids = list(qs.values_list("pk", flat=True))
        if options["dry_run"]:
            self.stdout.write(f"{len(ids)} screening(s) would be erased.")
            return
        for pk in ids:
            screening_erase(screening_id=pk, reason=reason)
        self.stdout.write(f"{len(ids)} screening(s) erased.")
