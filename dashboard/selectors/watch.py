"""Model watch: the "high" band against clinicians' decisions per region group and month, the
model card's reference figures, and the reads behind per-region band thresholds."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.db.models import (
    Count,
    Q,
    QuerySet,
)

from inference.metadata import metadata_path, priority_band
from screening.models import Region, ReviewDecision, Screening

from .. import stats
from ..models import RegionBandThreshold, RegionMonthRollup
from .common import JUDGED_DECISIONS, Scope, _with_current_review, groups_build

# --- model watch ------------------------------------------------------------------------------
SHIPPED_WEIGHTS = (
    Path(__file__).resolve().parents[2] / "inference" / "weights" / "darkcovidnet.safetensors"
)


@lru_cache(maxsize=4)
def _metadata(path: str) -> dict:
    return json.loads(Path(path).read_text())


def model_card_reference() -> dict:
    """The shipped model's cross-validated operating point of the "high" band (model card)."""
    # inference.predictor.DEFAULT_WEIGHTS, without importing torch into the web process
    weights = settings.INFERENCE_WEIGHTS or str(SHIPPED_WEIGHTS)
    meta = _metadata(str(metadata_path(Path(weights))))
    high = meta.get("cv_operating_points", {}).get("high", {})
    return {
        "model_version": meta.get("model_version", ""),
        "sensitivity": high.get("sensitivity"),
        "specificity": high.get("specificity"),
        "high": meta.get("thresholds", {}).get("covid_high"),
        "medium": meta.get("thresholds", {}).get("covid_medium"),
    }


@dataclass
class WatchRow:
    region_id: int
    month: datetime.date
    agreement: stats.Agreement
    sensitivity_below: bool
    specificity_below: bool


@dataclass
class RegionWatch:
    region: Region
    rows: list[WatchRow]
    overall: stats.Agreement
    warning: bool


def _judged(qs: QuerySet[Screening]) -> QuerySet[Screening]:
    return _with_current_review(qs).filter(
        prediction__isnull=False, current_review__decision__in=JUDGED_DECISIONS
    )


def model_watch(*, user, scope: Scope) -> list[RegionWatch]:
    """Per region group and month, from the rollup's confusion counts (two small queries)."""
    reference = model_card_reference()
    groups = groups_build(user=user, scope=scope)
    summed: dict[tuple[int, datetime.date], list[int]] = {}
    for region_id, subtree, month, *confusion in (
        RegionMonthRollup.objects.filter(groups.rows_filter(), month__gte=scope.since.date())
        .filter(Q(watch_tp__gt=0) | Q(watch_fn__gt=0) | Q(watch_fp__gt=0) | Q(watch_tn__gt=0))
        .values_list(
            "region_id", "subtree", "month", "watch_tp", "watch_fn", "watch_fp", "watch_tn"
        )
    ):
        key = (groups.group_of(region_id=region_id, subtree=subtree), month)
        total = summed.setdefault(key, [0, 0, 0, 0])
        for i, n in enumerate(confusion):
            total[i] += n
    counts = [
        {"group": g, "month": m, "tp": tp, "fn": fn, "fp": fp, "tn": tn}
        for (g, m), (tp, fn, fp, tn) in summed.items()
    ]
    by_region: dict[int, list[WatchRow]] = {}
    for r in counts:
        agreement = stats.Agreement(
            true_positive=r["tp"],
            false_negative=r["fn"],
            true_negative=r["tn"],
            false_positive=r["fp"],
        )
        by_region.setdefault(r["group"], []).append(
            WatchRow(
                region_id=r["group"],
                month=r["month"],
                agreement=agreement,
                sensitivity_below=stats.below_reference(
                    agreement.sensitivity, reference["sensitivity"]
                ),
                specificity_below=stats.below_reference(
                    agreement.specificity, reference["specificity"]
                ),
            )
        )
    regions = groups.regions
    watches = []
    for rid in sorted(by_region, key=lambda i: regions[i].code):
        rows = sorted(by_region[rid], key=lambda w: w.month)
        overall = stats.agreement_sum(w.agreement for w in rows)
        warning = stats.below_reference(
            overall.sensitivity, reference["sensitivity"]
        ) or stats.below_reference(overall.specificity, reference["specificity"])
        watches.append(
            RegionWatch(region=regions[rid], rows=rows, overall=overall, warning=warning)
        )
    return watches


# --- thresholds -------------------------------------------------------------------------------
def band_thresholds_for_region(*, region_id: int) -> RegionBandThreshold | None:
    """The administrator-applied thresholds of a district, else of its province, else None (the
    model's own). For the worker's banding of new predictions."""
    rows = RegionBandThreshold.objects.filter(
        Q(region_id=region_id) | Q(region__children__id=region_id), is_current=True
    ).select_related("region")
    chosen = None
    for row in rows:
        if row.region_id == region_id:
            return row
        chosen = row
    return chosen


def priority_for_region(*, region_id: int, covid_probability: float, default: str) -> str:
    """The band of a new prediction under the region's applied thresholds (one small query);
    ``default``, the model's own band, where none are applied. For the worker to call when it
    stores a prediction."""
    applied = band_thresholds_for_region(region_id=region_id)
    if applied is None:
        return default
    return priority_band(covid_probability, high=applied.high, medium=applied.medium)


def reviewed_pairs(*, region: Region) -> list[tuple[float, bool]]:
    """(COVID-19 probability, clinician suspected COVID-19) of a region's judged screenings."""
    qs = _judged(Screening.objects.filter(Q(region_id=region.pk) | Q(region__parent_id=region.pk)))
    return [
        (p, decision == ReviewDecision.COVID_SUSPECTED)
        for p, decision in qs.values_list("prediction__prob_covid", "current_review__decision")
    ]


def unreviewed_band_moves(*, region: Region, high: float, medium: float) -> dict[str, dict]:
    """How the region's completed, unreviewed screenings would move between bands."""

    def band(prefix: str = "") -> dict:
        return {
            "high": Q(**{f"{prefix}prob_covid__gte": high}),
            "medium": Q(**{f"{prefix}prob_covid__gte": medium, f"{prefix}prob_covid__lt": high}),
            "low": Q(**{f"{prefix}prob_covid__lt": medium}),
        }

    qs = _with_current_review(
        Screening.objects.filter(Q(region_id=region.pk) | Q(region__parent_id=region.pk))
    ).filter(status="completed", prediction__isnull=False, current_review__isnull=True)
    new = band("prediction__")
    aggregates = {
        f"{old}__{to}": Count("pk", filter=Q(prediction__priority=old) & new[to])
        for old in ("high", "medium", "low")
        for to in ("high", "medium", "low")
    }
    counts = qs.aggregate(**aggregates)
    moves: dict[str, dict] = {}
    for key, n in counts.items():
        old, to = key.split("__")
        moves.setdefault(old, {})[to] = n
    return moves
