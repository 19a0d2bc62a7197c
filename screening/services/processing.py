"""The worker's side: claim a screening, analyse it, store the result; recover lost work.

``screening_process`` reads as decode -> analyse -> store. Each step is its own function
(``screening_load_image``, ``screening_analyse``, ``screening_store_result``) so that a batched
variant can run the same steps for several claimed screenings around one model call.
"""

from __future__ import annotations

import datetime
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from inference.constants import CLASSES
from inference.pipeline import (
    LUNG_CHECK_NOT_RUN,
    LUNG_FLAGS,
    PREDICTED,
    Analysis,
    ImageDecodeError,
    RenderedHeatmap,
    decode_stored,
    lung_check_flags,
    lung_quality_flags,
    render_heatmap,
)

from .. import rules, storage
from ..ml import get_lung_finder, get_predictor
from ..models import (
    CLAIMABLE_STATUSES,
    PROBABILITY_SUM_TOLERANCE,
    Heatmap,
    Prediction,
    Screening,
    ScreeningStatus,
)

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

logger = logging.getLogger(__name__)

# Grad-CAM: the predicted class, and COVID-19 as well when it is not the prediction.
HEATMAP_CLASSES = (PREDICTED, "covid")


# --- claiming ---------------------------------------------------------------------------------
def screening_claim(*, screening_id: str, owner: str = "") -> bool:
    """Atomically move a screening to ``processing`` for this attempt. False: not claimable.

    Claimable: ``received``/``queued``, or ``processing`` under a claim that is stale (older than
    the task's hard time limit: its worker was killed) or whose ``owner`` is ``owner`` itself
    (a redelivery of the same task id after its worker process died).
    """
    now = timezone.now()
    stale = now - datetime.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    takeover = Q(status=ScreeningStatus.PROCESSING) & (
        Q(processing_started_at__lt=stale) | (Q(claimed_by=owner) & ~Q(claimed_by=""))
    )
    claimed = Screening.objects.filter(
        Q(pk=screening_id) & (Q(status__in=CLAIMABLE_STATUSES) | takeover)
    ).update(
        status=ScreeningStatus.PROCESSING,
        processing_started_at=now,
        claimed_by=owner,
        attempts=F("attempts") + 1,
        status_reason="",
    )
    return bool(claimed)


def screening_release(*, screening_id: str) -> bool:
    """Give a claimed screening back to the queue (before a retry after a transient error)."""
    return bool(
        Screening.objects.filter(pk=screening_id, status=ScreeningStatus.PROCESSING).update(
            status=ScreeningStatus.QUEUED, queued_at=timezone.now(), claimed_by=""
        )
    )


def screening_mark_failed(
    *,
    screening_id: str,
    reason: str,
    from_statuses: tuple[str, ...] = (ScreeningStatus.PROCESSING,),
) -> bool:
    updated = Screening.objects.filter(pk=screening_id, status__in=from_statuses).update(
        status=ScreeningStatus.FAILED,
        status_reason=reason[: rules.STATUS_REASON_MAX_LENGTH],
        completed_at=timezone.now(),
    )
    if updated:
        logger.warning("screening %s failed: %s", screening_id, reason)
    return bool(updated)


# --- processing -------------------------------------------------------------------------------
class ScreeningFailed(Exception):
    """This screening cannot be analysed (a reason for the patient); other screenings can."""


def screening_process(*, screening_id: str) -> Screening:
    """Run the model on a claimed (``processing``) screening and store the prediction.

    An unreadable stored image or an invalid model output ends as ``failed`` with a reason.
    Database and model-loading errors propagate (the task retries them).
    """
    screening = Screening.objects.get(pk=screening_id)
    if screening.status != ScreeningStatus.PROCESSING:
        logger.info("screening %s is %s, not processing: skipped", screening_id, screening.status)
        return screening
    try:
        image = screening_load_image(screening=screening)
        analysis = screening_analyse(image=image)
    except ScreeningFailed as exc:
        screening_mark_failed(screening_id=screening_id, reason=str(exc))
    else:
        (lung_flags,) = screening_lung_flags(images=[image], analyses=[analysis])
        screening_store_result(
            screening_id=screening_id,
            analysis=analysis,
            quality_flags=quality_flags_merged(screening.quality_flags, lung_flags),
            region_id=screening.region_id,
        )
    screening.refresh_from_db()
    return screening


def screening_lung_flags(
    *, images: list[Image.Image], analyses: list[Analysis | Exception] | None = None
) -> list[tuple[str, ...]]:
    """The lung check's quality flags per image (one forward pass of the lung U-Net for the
    images whose analysis does not carry a check already: a model that reads the lung cut ran
    the U-Net on the film itself, ``Analysis.lung_check``).

    The prediction is made either way: a film without plausible lung fields is flagged for the
    clinician, not failed, and a lung model that cannot load or run never fails a screening.
    """
    if not settings.INFERENCE_LUNG_CHECK:
        return [() for _ in images]
    checks = [getattr(a, "lung_check", None) for a in analyses or [None] * len(images)]
    flags = [None if check is None else lung_check_flags(check) for check in checks]
    missing = [i for i, f in enumerate(flags) if f is None]
    if missing:
        try:
            found = lung_quality_flags(get_lung_finder(), [images[i] for i in missing])
        except Exception as exc:  # noqa: BLE001 - the check is advisory; no image data in the log
            logger.error("lung check not run (%s); screenings flagged", type(exc).__name__)
            found = [(LUNG_CHECK_NOT_RUN,) for _ in missing]
        for i, f in zip(missing, found, strict=True):
            flags[i] = f
    return flags


def quality_flags_merged(stored: list[str] | None, lung_flags: tuple[str, ...]) -> list[str]:
    """The gate's flags as stored, and this run's lung flags in place of any earlier run's (a
    redelivered screening is not flagged twice, nor keeps a "not run" that now ran)."""
    kept = [flag for flag in stored or [] if flag not in LUNG_FLAGS]
    return kept + [flag for flag in lung_flags if flag not in kept]


def screening_load_image(*, screening: Screening) -> Image.Image:
    """Decode the stored radiograph (the re-encoded PNG written at submission)."""
    try:
        return decode_stored(storage.read_stored(screening.image.name))
    except FileNotFoundError:
        raise ScreeningFailed(rules.FAILED_IMAGE_MISSING) from None
    except (ImageDecodeError, ValueError) as exc:
        raise ScreeningFailed(rules.FAILED_IMAGE_UNREADABLE.format(error=exc)) from None


def screening_analyse(*, image: Image.Image) -> Analysis:
    """The model's probabilities and (unless switched off) Grad-CAM maps, from one pass."""
    analysis = get_predictor().analyse(
        image, explain=heatmap_classes(), heat_max_side=settings.HEATMAP_MAX_SIDE
    )
    return analysis_validated(analysis)


def heatmap_classes() -> tuple[str, ...]:
    """What Grad-CAM explains for each screening (nothing when heatmaps are switched off)."""
    return HEATMAP_CLASSES if settings.INFERENCE_HEATMAPS else ()


def analysis_validated(analysis: Analysis) -> Analysis:
    """The analysis, if its probabilities are a distribution; else ``ScreeningFailed``."""
    values = [float(analysis.probabilities[c]) for c in CLASSES]
    if (
        not all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in values)
        or abs(sum(values) - 1.0) > PROBABILITY_SUM_TOLERANCE
    ):
        raise ScreeningFailed(rules.FAILED_NO_VALID_RESULT)
    return analysis


def _render_heatmaps(analysis: Analysis) -> dict[str, RenderedHeatmap]:
    """PNGs of the analysis' maps, or none at all: a heatmap never fails a screening."""
    try:
        return {
            label: render_heatmap(heat, max_side=settings.HEATMAP_MAX_SIDE)
            for label, heat in analysis.heatmaps.items()
        }
    except Exception:  # noqa: BLE001 - the prediction stands without its explanation
        logger.exception("Grad-CAM heatmaps could not be rendered")
        return {}


def screening_store_result(
    *,
    screening_id: str,
    analysis: Analysis,
    quality_flags: list[str] | None = None,
    region_id: int | None = None,
) -> bool:
    """Complete a ``processing`` screening with its prediction and heatmaps, atomically
    (``quality_flags``: the screening's flags after the worker's checks; None: unchanged;
    ``region_id``: the screening's region when the caller has it, saving a query).

    Files are written before the transaction and removed again if the result is dropped (the
    screening changed state meanwhile) or the transaction fails. True when stored.
    """
    rendered = _render_heatmaps(analysis)
    names: dict[str, str] = {}
    replaced: list[str] = []
    try:
        names = {label: storage.store_heatmap(h.png_bytes) for label, h in rendered.items()}
        with transaction.atomic():
            flags = {} if quality_flags is None else {"quality_flags": quality_flags}
            finished = Screening.objects.filter(
                pk=screening_id, status=ScreeningStatus.PROCESSING
            ).update(
                status=ScreeningStatus.COMPLETED,
                status_reason="",
                completed_at=timezone.now(),
                **flags,
            )
            if finished:
                if region_id is None:
                    region_id = Screening.objects.values_list("region_id", flat=True).get(
                        pk=screening_id
                    )
                priority = _regional_priority(region_id, analysis)
                replaced = _write_prediction(screening_id, analysis, priority, rendered, names)
    except BaseException:
        for name in names.values():
            storage.delete_stored(name)
        raise
    for name in replaced if finished else names.values():
        storage.delete_stored(name)
    if finished:
        logger.info(
            "screening %s completed in %d ms (%s, %d heatmaps)",
            screening_id,
            analysis.inference_ms,
            analysis.model_version,
            len(names),
        )
    else:
        logger.warning("screening %s changed state during processing; result dropped", screening_id)
    return bool(finished)


def _regional_priority(region_id: int, analysis: Analysis) -> str:
    """The band under the region's confirmed thresholds (dashboard, model watch), else the
    model's own. Imported here because the dashboard app reads this app's models."""
    from dashboard.selectors import priority_for_region

    return priority_for_region(
        region_id=region_id,
        covid_probability=float(analysis.probabilities["covid"]),
        default=analysis.priority,
    )


def _write_prediction(
    screening_id: str,
    analysis: Analysis,
    priority: str,
    rendered: dict[str, RenderedHeatmap],
    names: dict[str, str],
) -> list[str]:
    """One Prediction per screening (replaced, not duplicated); returns replaced heatmap files.

    An UPDATE, and an INSERT when there was none, instead of update_or_create's SELECT FOR
    UPDATE and savepoints (issue 14: the worker's own cost). No insert can race: the caller holds
    the screening's row lock from its conditional UPDATE. ``save()`` on the insert keeps the
    triage key and the ``post_save`` metrics (portal.metrics) of a new prediction."""
    values = {
        **{f"prob_{c}": float(analysis.probabilities[c]) for c in CLASSES},
        "label": analysis.label,
        "model_version": analysis.model_version,
        "weights_sha256": analysis.weights_sha256,
        "priority": priority,
        "inference_ms": analysis.inference_ms,
    }
    if Prediction.objects.filter(pk=screening_id).update(**values):
        Screening.objects.filter(pk=screening_id).update(triage_score=values["prob_covid"])
    else:
        Prediction(screening_id=screening_id, **values).save(force_insert=True)
    earlier = Heatmap.objects.filter(prediction_id=screening_id)
    replaced = list(earlier.values_list("image", flat=True))
    if replaced:
        earlier.delete()
    Heatmap.objects.bulk_create(
        Heatmap(
            prediction_id=screening_id,
            class_label=label,
            image=names[label],
            width=heat.width,
            height=heat.height,
        )
        for label, heat in rendered.items()
    )
    return replaced


# --- recovery ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RequeueReport:
    requeued: list[str]
    failed: list[str]


def screening_requeue_stale(
    *,
    pending_older_than: datetime.timedelta,
    processing_older_than: datetime.timedelta,
    dry_run: bool = False,
) -> RequeueReport:
    """Recover screenings whose task message was lost (broker restart, worker killed).

    Re-publishes ``received``/``queued`` screenings waiting longer than ``pending_older_than``
    and puts back ``processing`` ones older than ``processing_older_than`` (choose more than the
    task's hard time limit). A screening already claimed ``SCREENING_MAX_ATTEMPTS`` times is
    marked failed instead. Duplicate messages are harmless: the claim makes them no-ops.
    """
    from .submission import screening_enqueue

    now = timezone.now()
    stale_pending = Q(status__in=CLAIMABLE_STATUSES) & Q(submitted_at__lt=now - pending_older_than)
    stale_pending &= Q(queued_at__isnull=True) | Q(queued_at__lt=now - pending_older_than)
    stale_processing = Q(status=ScreeningStatus.PROCESSING) & Q(
        processing_started_at__lt=now - processing_older_than
    )
    requeued: list[str] = []
    failed: list[str] = []
    for screening in Screening.objects.filter(stale_pending | stale_processing).only(
        "id", "status", "attempts"
    ):
        sid = str(screening.pk)
        if screening.attempts >= settings.SCREENING_MAX_ATTEMPTS:
            failed.append(sid)
            if not dry_run:
                screening_mark_failed(
                    screening_id=sid,
                    reason=rules.FAILED_TOO_MANY_ATTEMPTS,
                    from_statuses=(screening.status,),
                )
            continue
        requeued.append(sid)
        if dry_run:
            continue
        if screening.status == ScreeningStatus.PROCESSING:
            Screening.objects.filter(pk=sid, status=ScreeningStatus.PROCESSING).update(
                status=ScreeningStatus.QUEUED, claimed_by=""
            )
        Screening.objects.filter(pk=sid).update(queued_at=now)
        screening_enqueue(screening=screening)
    return RequeueReport(requeued=requeued, failed=failed)
