"""The sweeper: nothing a patient submitted stays stuck (Celery beat runs it periodically).

A screening whose task message was lost (Redis restarted without its append-only file, a publish
during a broker outage, a worker killed mid-task) is found by its age and published again; one
claimed ``SCREENING_MAX_ATTEMPTS`` times ends ``failed`` with a reason the clinicians see, so a
poison image cannot loop forever. The rule itself is ``services.screening_requeue_stale``; this
module only decides the deadlines and is the beat's entry point.

Deadlines (settings, from the environment):

- ``SWEEP_PENDING_AFTER_SECONDS`` (default: ``EXPECTED_QUEUE_WAIT_SECONDS``): a received/queued
  screening older than this is published again. Shorter than the expected wait would only add
  duplicates (harmless: the conditional claim drops them, but they lengthen the queue).
- ``SWEEP_PROCESSING_AFTER_SECONDS`` (default: the task's hard time limit plus a minute): a
  ``processing`` screening older than this cannot still be running.
"""

from __future__ import annotations

import datetime
import logging

from celery import shared_task
from django.conf import settings

logger = logging.getLogger(__name__)


def sweep_deadlines() -> tuple[datetime.timedelta, datetime.timedelta]:
    return (
        datetime.timedelta(seconds=settings.SWEEP_PENDING_AFTER_SECONDS),
        datetime.timedelta(seconds=settings.SWEEP_PROCESSING_AFTER_SECONDS),
    )


def stale_screenings_sweep(*, dry_run: bool = False):
    """Re-enqueue stale screenings, fail those out of attempts; returns the service's report."""
    from screening import services

    pending_after, processing_after = sweep_deadlines()
    report = services.screening_requeue_stale(
        pending_older_than=pending_after,
        processing_older_than=processing_after,
        dry_run=dry_run,
    )
    if report.requeued or report.failed:
        logger.warning(
            "sweeper: requeued %d, failed %d (out of attempts)",
            len(report.requeued),
            len(report.failed),
        )
    return report


@shared_task(name="screening.sweep_stale", ignore_result=True)
def sweep_stale() -> dict[str, int]:
    from portal.health import sweeper_mark_ran

    report = stale_screenings_sweep()
    try:
        sweeper_mark_ran()  # the beat container's health check reads it
    except Exception:  # noqa: BLE001 - Redis down: the next sweep marks it
        logger.warning("sweeper run not recorded")
    return {"requeued": len(report.requeued), "failed": len(report.failed)}
