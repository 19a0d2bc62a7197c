"""The dashboard's periodic work (Celery beat, ``maintenance`` queue; portal/celery.py)."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="dashboard.rollup_refresh", ignore_result=True)
def rollup_refresh() -> dict:
    from .rollups import rollup_refresh as refresh

    result = refresh()
    logger.info(
        "dashboard rollup: %d pairs rebuilt in %.2f s (full=%s)",
        result.pairs,
        result.seconds,
        result.full,
    )
    return {"pairs": result.pairs, "seconds": round(result.seconds, 3), "full": result.full}


@shared_task(name="dashboard.rollup_backfill", ignore_result=True)
def rollup_backfill() -> dict:
    """Nightly full rebuild: the watermark cannot see rows that are gone (an erasure, the
    retention purge), so their counts leave the rollup here at the latest."""
    from .rollups import rollup_backfill as backfill

    result = backfill()
    logger.info("dashboard rollup backfill: %d months in %.1f s", result.pairs, result.seconds)
    return {"months": result.pairs, "seconds": round(result.seconds, 3), "full": result.full}
