"""Write operations (HackSoft style: keyword-only, typed; views and tasks stay thin).

No function here logs patient data: only screening ids and references.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import math
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from inference.constants import CLASSES

from . import explain, imaging
from .models import (
    CLAIMABLE_STATUSES,
    PROBABILITY_SUM_TOLERANCE,
    Heatmap,
    Prediction,
    Region,
    Review,
    ReviewDecision,
    Screening,
    ScreeningStatus,
)
from .selectors import screening_get_for_user
from .validators import normalize_national_id, normalize_phone, validate_upload_size

logger = logging.getLogger(__name__)

# Unambiguous alphabet for references: no 0/O, 1/I/L, U.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
REVIEWABLE_STATUSES = (ScreeningStatus.COMPLETED, ScreeningStatus.FAILED)


# --- helpers ----------------------------------------------------------------------------------
def reference_generate() -> str:
    chars = [secrets.choice(REFERENCE_ALPHABET) for _ in range(8)]
    return f"CXR-{''.join(chars[:4])}-{''.join(chars[4:])}"


def access_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- submission -------------------------------------------------------------------------------
def screening_submit(
    *,
    region: Region | str | None,
    national_id: str,
    full_name: str,
    date_of_birth: datetime.date | None,
    sex: str,
    phone: str,
    image_file: UploadedFile | None,
    consent: bool,
    symptoms: str = "",
) -> Screening:
    """Validate a patient's submission, store the image, create the row, enqueue processing.

    The single validation path of the HTML form and the API. Raises ``ValidationError`` with a
    message per field; nothing is written then. The image is decoded before any row exists; the
    file is written first and removed again if the row cannot be created.

    Returns the screening with ``access_token`` set: the plain token, shown to the patient once.
    """
    errors: dict[str, list[str]] = {}

    def add(field: str, error: ValidationError | str) -> None:
        messages = error.messages if isinstance(error, ValidationError) else [error]
        errors.setdefault(field, []).extend(messages)

    if consent is not True:
        add("consent", "Please tick the box to agree before you submit.")

    region_obj: Region | None = None
    if region is not None and region != "":
        code = region.code if isinstance(region, Region) else str(region)
        region_obj = Region.objects.selectable().filter(code=code).first()
    if region_obj is None:
        add("region", "Choose your region from the list.")

    now = timezone.now()
    screening = Screening(
        region=region_obj,
        national_id=normalize_national_id(national_id),
        full_name=" ".join((full_name or "").split()),
        date_of_birth=date_of_birth,
        sex=sex or "",
        phone=normalize_phone(phone),
        symptoms=(symptoms or "").strip(),
        consent_at=now,
        submitted_at=now,
    )
    try:
        screening.full_clean(
            exclude=["region", "image", "reference", "access_token_hash", "status"],
            validate_unique=False,
            validate_constraints=False,
        )
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            for message in messages:
                add(field, message)

    decoded: imaging.DecodedUpload | None = None
    quality_flags: list[str] = []
    if image_file is None:
        add("image", "Choose a chest X-ray image (PNG, JPEG or DICOM).")
    else:
        try:
            validate_upload_size(image_file.size)  # before reading a single byte
            image_file.seek(0)
            decoded = imaging.decode_upload(image_file.read(settings.MAX_UPLOAD_BYTES + 1))
            # The chest X-ray gate, here in the request: the patient learns at once.
            quality_flags = imaging.check_chest_xray(decoded)
        except ValidationError as exc:
            decoded = None
            for message in exc.messages:
                add("image", message)

    if errors:
        raise ValidationError(errors)
    assert decoded is not None

    token = secrets.token_urlsafe(32)
    screening.access_token_hash = access_token_hash(token)
    screening.image_width, screening.image_height = decoded.width, decoded.height
    screening.source_format = decoded.kind
    screening.quality_flags = quality_flags
    screening.intake_notes = list(decoded.notes)
    stored: list[str] = []
    try:
        stored.append(imaging.store_png(decoded.png_bytes))
        screening.image.name = stored[-1]
        if decoded.dicom_bytes is not None:  # the de-identified copy, never the upload itself
            stored.append(imaging.store_dicom(decoded.dicom_bytes))
            screening.dicom_file.name = stored[-1]
        with transaction.atomic():
            _insert_with_unique_reference(screening)
            transaction.on_commit(lambda: screening_enqueue(screening=screening), robust=True)
    except BaseException:
        for name in stored:
            imaging.delete_stored(name)
        raise
    if not transaction.get_connection().in_atomic_block:
        # The commit hook ran already: report the status it left (queued, or later in eager mode).
        screening.refresh_from_db(fields=["status", "queued_at"])
    logger.info("screening %s submitted (%s)", screening.pk, screening.reference)
    screening.access_token = token
    return screening


def _insert_with_unique_reference(screening: Screening, attempts: int = 5) -> None:
    for attempt in range(attempts):
        screening.reference = reference_generate()
        try:
            with transaction.atomic():
                screening.save(force_insert=True)
            return
        except IntegrityError:
            if (
                attempt == attempts - 1
                or not Screening.objects.filter(reference=screening.reference).exists()
            ):
                raise


def screening_enqueue(*, screening: Screening) -> bool:
    """Mark a received screening queued and publish the task (called after commit).

    If the broker cannot be reached the screening stays ``queued`` and ``requeue_stale``
    publishes it again later; the patient's submission is not lost.
    """
    from .tasks import process_screening

    now = timezone.now()
    if Screening.objects.filter(pk=screening.pk, status=ScreeningStatus.RECEIVED).update(
        status=ScreeningStatus.QUEUED, queued_at=now
    ):
        screening.status, screening.queued_at = ScreeningStatus.QUEUED, now
    try:
        process_screening.delay(str(screening.pk))
    except Exception:
        logger.exception("could not publish screening %s; requeue_stale will retry", screening.pk)
        return False
    return True


# --- processing (worker) ----------------------------------------------------------------------
def screening_claim(*, screening_id: str) -> bool:
    """Atomically move a received/queued screening to processing. False: someone else has it."""
    claimed = Screening.objects.filter(pk=screening_id, status__in=CLAIMABLE_STATUSES).update(
        status=ScreeningStatus.PROCESSING,
        processing_started_at=timezone.now(),
        attempts=F("attempts") + 1,
        status_reason="",
    )
    return bool(claimed)


def screening_release(*, screening_id: str) -> bool:
    """Give a claimed screening back to the queue (before a retry after a transient error)."""
    return bool(
        Screening.objects.filter(pk=screening_id, status=ScreeningStatus.PROCESSING).update(
            status=ScreeningStatus.QUEUED, queued_at=timezone.now()
        )
    )


def screening_mark_failed(
    *,
    screening_id: str,
    reason: str,
    from_statuses: tuple[str, ...] = (ScreeningStatus.PROCESSING,),
) -> bool:
    updated = Screening.objects.filter(pk=screening_id, status__in=from_statuses).update(
        status=ScreeningStatus.FAILED, status_reason=reason[:300], completed_at=timezone.now()
    )
    if updated:
        logger.warning("screening %s failed: %s", screening_id, reason)
    return bool(updated)


def screening_process(*, screening_id: str) -> Screening:
    """Run the model on a claimed (``processing``) screening and store the prediction.

    An unreadable stored image ends as ``failed`` with a reason. Database and model-loading
    errors propagate (the task retries them).
    """
    from inference.decode import ImageDecodeError, decode_image

    from .ml import get_predictor

    screening = Screening.objects.get(pk=screening_id)
    if screening.status != ScreeningStatus.PROCESSING:
        logger.info("screening %s is %s, not processing: skipped", screening_id, screening.status)
        return screening

    try:
        data = imaging.read_stored(screening.image.name)
        image = decode_image(data)
    except (FileNotFoundError, ImageDecodeError, ValueError) as exc:
        reason = (
            "The stored image file is missing."
            if isinstance(exc, FileNotFoundError)
            else f"The image could not be read: {exc}"
        )
        screening_mark_failed(screening_id=screening_id, reason=reason)
        screening.refresh_from_db()
        return screening

    predictor = get_predictor()
    started = time.perf_counter()
    result = predictor.predict(image)
    inference_ms = round((time.perf_counter() - started) * 1000)

    probabilities = {c: float(result["probabilities"][c]) for c in CLASSES}
    total = sum(probabilities.values())
    if (
        not all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in probabilities.values())
        or abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE
    ):
        screening_mark_failed(
            screening_id=screening_id, reason="The model returned no valid result."
        )
        screening.refresh_from_db()
        return screening

    # Grad-CAM after the prediction (the stored probabilities are predict()'s own); files are
    # written before the transaction and removed again if the result is dropped.
    heatmaps = explain.heatmaps_compute_safely(
        predictor=predictor, image=image, label=result["label"]
    )
    heatmap_names: list[str] = []
    replaced: list[str] = []
    finished = 0
    now = timezone.now()
    try:
        heatmap_names = [imaging.store_heatmap(h.png_bytes) for h in heatmaps]
        with transaction.atomic():
            finished = Screening.objects.filter(
                pk=screening_id, status=ScreeningStatus.PROCESSING
            ).update(status=ScreeningStatus.COMPLETED, status_reason="", completed_at=now)
            if finished:
                prediction, _ = Prediction.objects.update_or_create(
                    screening_id=screening_id,
                    defaults={
                        "prob_covid": probabilities["covid"],
                        "prob_normal": probabilities["normal"],
                        "prob_pneumonia": probabilities["pneumonia"],
                        "label": result["label"],
                        "model_version": result.get("model_version") or predictor.model_version,
                        "weights_sha256": predictor.weights_sha256,
                        "priority": predictor.priority(probabilities["covid"]),
                        "inference_ms": inference_ms,
                    },
                )
                replaced = list(prediction.heatmaps.values_list("image", flat=True))
                prediction.heatmaps.all().delete()
                Heatmap.objects.bulk_create(
                    Heatmap(
                        prediction=prediction,
                        class_label=h.class_label,
                        image=name,
                        width=h.width,
                        height=h.height,
                    )
                    for h, name in zip(heatmaps, heatmap_names, strict=True)
                )
    except BaseException:
        for name in heatmap_names:
            imaging.delete_stored(name)
        raise
    for name in replaced if finished else heatmap_names:
        imaging.delete_stored(name)
    if finished:
        logger.info(
            "screening %s completed in %d ms (%s, %d heatmaps)",
            screening_id,
            inference_ms,
            predictor.model_version,
            len(heatmap_names),
        )
    else:
        logger.warning("screening %s changed state during processing; result dropped", screening_id)
    screening.refresh_from_db()
    return screening


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
    now = timezone.now()
    max_attempts = settings.SCREENING_MAX_ATTEMPTS
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
        if screening.attempts >= max_attempts:
            failed.append(sid)
            if not dry_run:
                screening_mark_failed(
                    screening_id=sid,
                    reason="The analysis did not finish after several attempts.",
                    from_statuses=(screening.status,),
                )
            continue
        requeued.append(sid)
        if dry_run:
            continue
        if screening.status == ScreeningStatus.PROCESSING:
            Screening.objects.filter(pk=sid, status=ScreeningStatus.PROCESSING).update(
                status=ScreeningStatus.QUEUED
            )
        Screening.objects.filter(pk=sid).update(queued_at=now)
        screening_enqueue(screening=screening)
    return RequeueReport(requeued=requeued, failed=failed)


# --- clinician review -------------------------------------------------------------------------
def review_create(
    *,
    user: AbstractBaseUser,
    screening_id: str,
    decision: str,
    note: str = "",
) -> Review:
    """Record a clinician's decision; it becomes current and earlier ones stay as history.

    Raises ``Http404`` outside the clinician's regions (same rule as every read).
    """
    screening = screening_get_for_user(user=user, screening_id=screening_id)
    errors: dict[str, list[str]] = {}
    if decision not in ReviewDecision.values:
        errors["decision"] = ["Choose one of the decisions."]
    note = (note or "").strip()
    if len(note) > 2000:
        errors["note"] = ["Keep the note under 2000 characters."]
    if screening.status not in REVIEWABLE_STATUSES:
        errors.setdefault("decision", []).append(
            "A decision can be recorded once the analysis has finished."
        )
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        Screening.objects.select_for_update().filter(pk=screening.pk).first()
        Review.objects.filter(screening=screening, is_current=True).update(is_current=False)
        review = Review.objects.create(
            screening=screening, clinician=user, decision=decision, note=note, is_current=True
        )
    logger.info("screening %s reviewed by user %s: %s", screening.pk, user.pk, decision)
    return review
