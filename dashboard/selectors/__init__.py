"""Reads of the national dashboard: a fixed, small number of grouped queries whatever the
number of screenings, regions or months (one per table below), each scoped by
``screenings_visible_to`` (administrators: every region; clinicians: their own).

- ``dashboard_overview``: per region group and month: submitted, completed, pending, failed,
  rejected; predicted labels; median upload-to-result and upload-to-review; and, per region,
  the current backlog of high-priority unreviewed cases.
- ``model_watch``: per region group and month, the "high" band against clinicians'
  "COVID-19 suspected" decisions (sensitivity, specificity, Wilson intervals, counts).

Grouping: the national view groups districts into their province; ``region=<province>``
drills down to its districts; ``region=<district>`` is that district alone.
"""

from .common import (
    JUDGED_DECISIONS,
    LABELS,
    Median,
    Scope,
    scope_build,
    user_can_see_dashboard,
)
from .overview import PeriodRow, RegionSummary, dashboard_overview
from .watch import (
    RegionWatch,
    WatchRow,
    band_thresholds_for_region,
    model_card_reference,
    model_watch,
    priority_for_region,
    reviewed_pairs,
    unreviewed_band_moves,
)

__all__ = [
    "JUDGED_DECISIONS",
    "LABELS",
    "Median",
    "PeriodRow",
    "RegionSummary",
    "RegionWatch",
    "Scope",
    "WatchRow",
    "band_thresholds_for_region",
    "dashboard_overview",
    "model_card_reference",
    "model_watch",
    "priority_for_region",
    "reviewed_pairs",
    "scope_build",
    "unreviewed_band_moves",
    "user_can_see_dashboard",
]
