"""Complete erasure of a screening (retention expired, or an erasure request).

Removes the row and everything hanging off it (prediction, heatmaps, reviews, notifications and
any other dependent rows) and every stored file any of them points to: the radiograph, the
de-identified DICOM, heatmaps and other derived files, through the storage backend that holds
them (the filesystem, or object storage). What stays is the audit trail, which names the
screening by its reference only, plus one ``screening.erase`` event.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.contrib import admin, messages
from django.db import models, router, transaction
from django.db.models.deletion import Collector
from django.utils import timezone

from portal.audit.services import audit_record

logger = logging.getLogger(__name__)


def _stored_files(objects: list[models.Model]) -> list[tuple[object, str]]:
    """(storage, name) of every non-empty FileField value of ``objects``."""
    files = []
    for obj in objects:
        for field in obj._meta.concrete_fields:
            if isinstance(field, models.FileField):
                value = getattr(obj, field.attname)
                if value:
                    files.append((field.storage, str(value)))
    return files


def screening_erase(*, screening_id, reason: str, request=None, user=None) -> str | None:
    """Erase one screening completely; returns its reference (None if there was none)."""
    from screening.models import Review, Screening

    with transaction.atomic():
        screening = Screening.objects.select_for_update().filter(pk=screening_id).first()
        if screening is None:
            return None
        reference = screening.reference
        reviews = list(Review.objects.filter(screening=screening))  # PROTECT: goes first
        collector = Collector(using=router.db_for_write(Screening))
        Review.objects.filter(screening=screening).delete()
        collector.collect([screening])
        doomed: list[models.Model] = [*reviews]
        for instances in collector.data.values():
            doomed.extend(instances)
        for queryset in collector.fast_deletes:  # rows Django deletes without loading them
            doomed.extend(queryset)
        files = _stored_files(doomed)
        collector.delete()
        audit_record(
            action="screening.erase",
            request=request,
            user=user,
            object_type="screening",
            object_ref=reference,
            detail={"reason": reason[:200], "rows": len(doomed), "files": len(files)},
        )

        def remove_files() -> None:
            for storage, name in files:
                try:
                    storage.delete(name)
                except OSError:
                    logger.exception("erasure of %s: could not delete a stored file", reference)

        transaction.on_commit(remove_files)
    logger.info("screening %s erased (%s)", reference, reason[:60])
    return reference


def screenings_past_retention(*, now: datetime.datetime | None = None):
    from screening.models import Screening

    cutoff = (now or timezone.now()) - datetime.timedelta(days=settings.SCREENING_RETENTION_DAYS)
    return Screening.objects.filter(submitted_at__lt=cutoff)


@admin.action(description="Erase selected screenings completely (cannot be undone)")
def erase_selected_screenings(modeladmin, request, queryset) -> None:
    """Admin action; needs the ``screening.delete_screening`` permission (or a superuser)."""
    if not request.user.has_perm("screening.delete_screening"):
        modeladmin.message_user(
            request, "You do not have permission to erase screenings.", messages.ERROR
        )
        return
    erased = [
        screening_erase(screening_id=pk, reason="admin erasure", request=request)
        for pk in list(queryset.values_list("pk", flat=True))
    ]
    modeladmin.message_user(request, f"{len([e for e in erased if e])} screening(s) erased.")
