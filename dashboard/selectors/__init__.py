"""Reads of the national dashboard: a fixed, small number of queries whatever the number of
screenings, regions or months, on the rollup (``RegionMonthRollup``, kept by
``dashboard.rollups``), each scoped to the regions the user serves (``regions_for_user``:
administrators every region; clinicians their own).

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
    Groups,
    Scope,
    groups_build,
    scope_build,
    user_can_see_dashboard,
)
from .overview import PeriodRow, RegionSummary, dashboard_overview, rollup_as_of
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
    "Groups",
    "PeriodRow",
    "RegionSummary",
    "RegionWatch",
    "Scope",
    "WatchRow",
    "band_thresholds_for_region",
    "dashboard_overview",
    "groups_build",
    "model_card_reference",
    "model_watch",
    "priority_for_region",
    "reviewed_pairs",
    "rollup_as_of",
    "scope_build",
    "unreviewed_band_moves",
    "user_can_see_dashboard",
]
