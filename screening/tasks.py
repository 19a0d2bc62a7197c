"""Celery task: run the model on one screening. The message carries only the screening id.

The claim is owned by the task id: a redelivery of the same message (its worker process was
SIGKILLed, ``reject_on_worker_lost``) or a retry after the database went away takes the claim
over at once; any other duplicate is a no-op until the claim is older than the hard time limit.

With ``INFERENCE_BATCH_SIZE`` > 1 the task also claims other waiting screenings and runs them
as one batch (``services.batching``); each is still claimed, stored or failed on its own.
"""

from __future__ import annotations

import logging
import random

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init
from django.conf import settings
from django.db import InterfaceError, OperationalError

from . import rules
from .ml import ModelUnavailable, get_lung_finder, get_predictor
from .services import batching, processing

logger = logging.getLogger(__name__)

# Errors worth retrying: the database or the model files are temporarily unavailable.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ModelUnavailable)
MAX_RETRIES = 5


def retry_countdown(retries: int) -> float:
    """Exponential backoff with jitter: ~5 s, 10 s, 20 s ... capped at 5 minutes."""
    return min(300.0, 5.0 * 2**retries) * random.uniform(0.8, 1.2)  # noqa: S311


@shared_task(
    bind=True,
    name="screening.process_screening",  # routed to the "inference" queue (CELERY_TASK_ROUTES)
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
    ignore_result=True,
)
def process_screening(self, screening_id: str) -> str:
    """Claim the screening (conditional UPDATE; a second delivery is a no-op), then process it."""
    owner = self.request.id or ""
    others: list[str] = []
    try:
        if not processing.screening_claim(screening_id=screening_id, owner=owner):
            logger.info("screening %s not claimable (already taken or finished)", screening_id)
            return "skipped"
        if batching.batch_size() > 1 and owner:
            others = batching.screenings_claim_more(
                owner=owner, exclude=screening_id, limit=batching.batch_size() - 1
            )
        if others:
            statuses = batching.screenings_process(screening_ids=[screening_id, *others])
            return statuses.get(screening_id, "skipped")
        screening = processing.screening_process(screening_id=screening_id)
        return str(screening.status)
    except SoftTimeLimitExceeded:
        _release_others(others, owner)
        processing.screening_mark_failed(screening_id=screening_id, reason=rules.FAILED_TOO_SLOW)
        return "failed"
    except TRANSIENT_ERRORS as exc:
        _release_others(others, owner)
        try:
            processing.screening_release(screening_id=screening_id)
        except Exception:  # noqa: BLE001 - the database may be the problem; requeue_stale recovers
            logger.warning("screening %s could not be released for retry", screening_id)
        if self.request.retries >= self.max_retries:
            logger.error("screening %s: giving up after %d retries", screening_id, self.max_retries)
            try:
                processing.screening_mark_failed(
                    screening_id=screening_id,
                    reason=rules.FAILED_SERVICE_DOWN,
                    from_statuses=("queued", "processing"),
                )
            except Exception:  # noqa: BLE001
                logger.exception("screening %s could not be marked failed", screening_id)
            return "failed"
        logger.warning(
            "screening %s: transient error %s, retry %d",
            screening_id,
            type(exc).__name__,
            self.request.retries + 1,
        )
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from None


def _release_others(others: list[str], owner: str) -> None:
    """The batch's other screenings go back to the queue (published again); this task's own
    screening follows its own path (retry, or failed)."""
    if not others:
        return
    try:
        batching.screenings_release(screening_ids=others, owner=owner)
    except Exception:  # noqa: BLE001 - the database may be the problem; requeue_stale recovers
        logger.warning("%d batched screenings could not be released", len(others))


@worker_process_init.connect
def _preload_model(**kwargs) -> None:
    """Load the model when a worker process starts, so the first screening is not slow."""
    if not settings.INFERENCE_PRELOAD:
        return
    try:
        get_predictor()
    except ModelUnavailable:
        logger.error("model preload failed; tasks will retry loading it")
    if settings.INFERENCE_LUNG_CHECK:
        try:
            get_lung_finder()
        except Exception as exc:  # noqa: BLE001 - screenings are flagged "lung check not run"
            logger.error("lung model preload failed (%s)", type(exc).__name__)
