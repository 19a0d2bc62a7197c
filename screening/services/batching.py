"""Several queued screenings through one forward pass (``INFERENCE_BATCH_SIZE`` > 1).

The task that holds a message claims its own screening, then up to N - 1 other claimable ones
(each with the same conditional UPDATE as its own, owned by this task id), waiting at most
``INFERENCE_BATCH_WINDOW_MS`` for more when fewer are waiting. They are decoded one by one, the
model runs once on the batch (``Predictor.analyse_batch``), and each is stored in its own
transaction or failed with its own reason: one bad image never fails the others.

Why the database and not a batching consumer: Celery's prefork pool hands each message to one
child process, and the batching consumer on PyPI (``celery-batches`` 0.11) requires
celery < 5.7 (we pin 5.7.0) and acknowledges late messages together, after the whole batch.
Here every message keeps ``acks_late`` and ``reject_on_worker_lost``; the message of a screening
a batch took along finds it claimed and is a no-op. If the worker dies mid-batch, the redelivered
message of the task that claimed the batch takes its claims over again (same task id), and the
sweeper puts back whatever stays ``processing`` past its hard time limit: nothing is lost.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Q

from .. import rules
from ..ml import get_predictor
from ..models import CLAIMABLE_STATUSES, Screening, ScreeningStatus
from .processing import (
    ScreeningFailed,
    analysis_validated,
    heatmap_classes,
    quality_flags_merged,
    screening_claim,
    screening_load_image,
    screening_lung_flags,
    screening_mark_failed,
    screening_store_result,
)

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from inference.pipeline import Analysis

logger = logging.getLogger(__name__)


def batch_size() -> int:
    return max(1, int(settings.INFERENCE_BATCH_SIZE))


# --- claiming ---------------------------------------------------------------------------------
def screenings_claim_more(*, owner: str, exclude: str, limit: int) -> list[str]:
    """Claim up to ``limit`` more screenings for this task, oldest first. When some are waiting
    but fewer than ``limit``, look once more after the collection window (a batch is forming);
    when none are, do not wait: a lone screening pays one query. Each claim is its own
    conditional UPDATE (``screening_claim``): one another task took meanwhile is not taken."""
    claimed: list[str] = []
    window = float(settings.INFERENCE_BATCH_WINDOW_MS) / 1000
    for attempt in range(2):
        if attempt:
            if not claimed or len(claimed) >= limit or window <= 0:
                break
            time.sleep(window)
        mine = Q(status=ScreeningStatus.PROCESSING, claimed_by=owner) & ~Q(claimed_by="")
        candidates = (
            Screening.objects.filter(Q(status__in=CLAIMABLE_STATUSES) | mine)
            .exclude(pk__in=[exclude, *claimed])
            .order_by("queued_at", "submitted_at")
            .values_list("pk", flat=True)[: limit - len(claimed)]
        )
        for pk in list(candidates):
            if screening_claim(screening_id=str(pk), owner=owner):
                claimed.append(str(pk))
    return claimed


def screenings_release(*, screening_ids: list[str], owner: str) -> list[str]:
    """Give the batch's other screenings back (the task is about to retry or give up) and
    publish them again: their own messages may already have been acknowledged as no-ops."""
    from .submission import screening_enqueue

    released = []
    for sid in screening_ids:
        if Screening.objects.filter(
            pk=sid, status=ScreeningStatus.PROCESSING, claimed_by=owner
        ).update(status=ScreeningStatus.QUEUED, claimed_by=""):
            released.append(sid)
            screening_enqueue(screening=Screening.objects.get(pk=sid))
    return released


# --- processing -------------------------------------------------------------------------------
def screenings_process(*, screening_ids: list[str]) -> dict[str, str]:
    """Process claimed screenings as one batch; each one's final status by id."""
    by_id = {str(s.pk): s for s in Screening.objects.filter(pk__in=screening_ids)}
    loaded: list[tuple[Screening, Image.Image]] = []
    for sid in screening_ids:
        screening = by_id.get(sid)
        if screening is None or screening.status != ScreeningStatus.PROCESSING:
            continue
        try:
            loaded.append((screening, screening_load_image(screening=screening)))
        except ScreeningFailed as exc:
            screening_mark_failed(screening_id=sid, reason=str(exc))
    images = [image for _, image in loaded]
    analyses = screenings_analyse(images=images)
    lung_flags = screening_lung_flags(images=images, analyses=analyses)
    for (screening, _), analysis, flags in zip(loaded, analyses, lung_flags, strict=True):
        sid = str(screening.pk)
        if isinstance(analysis, ScreeningFailed):
            screening_mark_failed(screening_id=sid, reason=str(analysis))
            continue
        screening_store_result(
            screening_id=sid,
            analysis=analysis,
            quality_flags=quality_flags_merged(screening.quality_flags, flags),
            region_id=screening.region_id,
        )
    rows = Screening.objects.filter(pk__in=screening_ids).values_list("pk", "status")
    return {str(pk): str(status) for pk, status in rows}


def screenings_analyse(*, images: list[Image.Image]) -> list[Analysis | ScreeningFailed]:
    """One forward pass for the batch; if the batch itself fails, each image alone, so that
    only the image that breaks the model fails (with a reason)."""
    predictor = get_predictor()  # ModelUnavailable propagates: the task retries
    explain = heatmap_classes()
    side = settings.HEATMAP_MAX_SIDE
    try:
        results: list = list(predictor.analyse_batch(images, explain=explain, heat_max_side=side))
    except Exception:  # noqa: BLE001 - fall back to one image at a time
        logger.exception("batch of %d failed; analysing its images one by one", len(images))
        results = []
        for image in images:
            try:
                results.append(predictor.analyse(image, explain=explain, heat_max_side=side))
            except Exception as exc:  # noqa: BLE001 - this image, not the others
                logger.error("analysis failed (%s)", type(exc).__name__)
                results.append(ScreeningFailed(rules.FAILED_NO_VALID_RESULT))
    return [r if isinstance(r, ScreeningFailed) else _checked(r) for r in results]


def _checked(analysis: Analysis) -> Analysis | ScreeningFailed:
    try:
        return analysis_validated(analysis)
    except ScreeningFailed as exc:
        return exc
