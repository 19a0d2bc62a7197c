"""The SQL that builds ``RegionMonthRollup`` rows from the screenings (PostgreSQL).

One statement reads the screenings of the (top-level region, month) pairs being refreshed with
their prediction and current review, groups them twice in one pass (``GROUPING SETS``: per
region, and per top-level region with its districts), and upserts the rows. The status,
label, band and decision codes are the screening app's (``screening.models``); the bucket
expression is ``stats.duration_bucket`` in SQL.
"""

from __future__ import annotations

from . import stats

ROLLUP_TABLE = "dashboard_regionmonthrollup"
TOUCHED_TABLE = "dashboard_rollup_touched"

MONTH = "date_trunc('month', s.submitted_at AT TIME ZONE %(tz)s)::date"


def _bucket(seconds: str) -> str:
    return (
        f"GREATEST(0, LEAST({stats.BUCKET_MAX}, FLOOR(LN(GREATEST({seconds}, "
        f"{stats.BUCKET_BASE}) / {stats.BUCKET_BASE}) / LN({stats.BUCKET_RATIO}) + 0.5)))::int"
    )


COUNTS = {
    "submitted": "TRUE",
    "completed": "status = 'completed'",
    "pending": "status IN ('received', 'queued', 'processing')",
    "failed": "status = 'failed'",
    "rejected": "status = 'rejected'",
    "predicted_covid": "label = 'covid'",
    "predicted_normal": "label = 'normal'",
    "predicted_pneumonia": "label = 'pneumonia'",
    "band_high": "priority = 'high'",
    "band_medium": "priority = 'medium'",
    "band_low": "priority = 'low'",
    "reviewed": "decision IS NOT NULL",
    "high_unreviewed": "status = 'completed' AND priority = 'high' AND decision IS NULL",
    # judged: a prediction and a current decision that says something about COVID-19
    "watch_tp": "priority = 'high' AND decision = 'covid_suspected'",
    "watch_fn": "priority <> 'high' AND decision = 'covid_suspected'",
    "watch_fp": "priority = 'high' AND decision IN ('no_finding', 'pneumonia_other')",
    "watch_tn": "priority <> 'high' AND decision IN ('no_finding', 'pneumonia_other')",
}
COLUMNS = [
    *COUNTS,
    "median_result_seconds",
    "median_review_seconds",
    "result_histogram",
    "review_histogram",
]

_COUNT_SQL = ",\n    ".join(
    f"count(*) FILTER (WHERE {cond}) AS {name}" for name, cond in COUNTS.items()
)
_KEYS = "COALESCE(region_id, top_id) AS key_id, GROUPING(region_id) = 1 AS subtree"

UPSERT = f"""
WITH base AS (
  SELECT s.region_id, COALESCE(r.parent_id, s.region_id) AS top_id, {MONTH} AS month,
         s.status, p.label, p.priority, cr.decision,
         -- float8: EXTRACT gives numeric (PostgreSQL 14+), whose ln() is many times slower
         CASE WHEN s.status = 'completed'
              THEN EXTRACT(EPOCH FROM s.completed_at - s.submitted_at)::float8 END AS result_s,
         EXTRACT(EPOCH FROM cr.created_at - s.submitted_at)::float8 AS review_s
  FROM screening_screening s
  JOIN screening_region r ON r.id = s.region_id
  LEFT JOIN screening_prediction p ON p.screening_id = s.id
  LEFT JOIN screening_review cr ON cr.screening_id = s.id AND cr.is_current
  WHERE {{where}}
),
counts AS (
  SELECT {_KEYS}, month,
    {_COUNT_SQL},
    percentile_cont(0.5) WITHIN GROUP (ORDER BY result_s) AS median_result_seconds,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY review_s) AS median_review_seconds
  FROM base GROUP BY GROUPING SETS ((region_id, top_id, month), (top_id, month))
),
buckets AS (
  SELECT {_KEYS}, month, kind, b, count(*) AS n
  FROM (SELECT region_id, top_id, month, 'result' AS kind, {_bucket("result_s")} AS b
          FROM base WHERE result_s IS NOT NULL
        UNION ALL
        SELECT region_id, top_id, month, 'review', {_bucket("review_s")}
          FROM base WHERE review_s IS NOT NULL) d
  GROUP BY GROUPING SETS ((region_id, top_id, month, kind, b), (top_id, month, kind, b))
),
histograms AS (
  SELECT key_id, subtree, month,
         jsonb_object_agg(b, n) FILTER (WHERE kind = 'result') AS result_histogram,
         jsonb_object_agg(b, n) FILTER (WHERE kind = 'review') AS review_histogram
  FROM buckets GROUP BY key_id, subtree, month
)
INSERT INTO {ROLLUP_TABLE} (region_id, month, subtree, {", ".join(COLUMNS)}, refreshed_at)
SELECT c.key_id, c.month, c.subtree, {", ".join(f"c.{n}" for n in COUNTS)},
       c.median_result_seconds, c.median_review_seconds,
       COALESCE(h.result_histogram, '{{{{}}}}'::jsonb), COALESCE(h.review_histogram, '{{{{}}}}'::jsonb),
       %(now)s
FROM counts c
LEFT JOIN histograms h ON h.key_id = c.key_id AND h.subtree = c.subtree AND h.month = c.month
ON CONFLICT (region_id, month, subtree) DO UPDATE SET
  {", ".join(f"{n} = EXCLUDED.{n}" for n in COLUMNS)}, refreshed_at = EXCLUDED.refreshed_at
"""

# --- one month (backfill) ---------------------------------------------------------------------
MONTH_WHERE = "s.submitted_at >= %(start)s AND s.submitted_at < %(end)s"
MONTH_DELETE = f"DELETE FROM {ROLLUP_TABLE} WHERE month = %(month)s"

# --- the (top-level region, month) pairs with a change since the watermark (incremental) ------
# Dropped first as well as on commit: inside an enclosing transaction (tests, a caller's atomic
# block) the commit that drops it has not happened yet.
TOUCHED_DROP = f"DROP TABLE IF EXISTS {TOUCHED_TABLE}"
TOUCHED_CREATE = f"""
CREATE TEMP TABLE {TOUCHED_TABLE} ON COMMIT DROP AS
SELECT DISTINCT COALESCE(r.parent_id, r.id) AS top_id, {MONTH} AS month
FROM screening_screening s JOIN screening_region r ON r.id = s.region_id
WHERE s.id IN (SELECT id FROM screening_screening WHERE updated_at >= %(since)s
               UNION SELECT screening_id FROM screening_review WHERE created_at >= %(since)s)
"""
# Statistics for the planner (a temporary table has none): a few pairs, not 2,000 guessed.
TOUCHED_ANALYZE = f"ANALYZE {TOUCHED_TABLE}"
TOUCHED_COUNT = f"SELECT count(*), min(month) FROM {TOUCHED_TABLE}"
# The region ids as one array (an InitPlan): with a subquery PostgreSQL joined every touched
# pair with every region and scanned the screenings once per combination (55,000 scans, 68 s
# for 100 pairs at 10 M rows); the array makes it one index range scan on region + time.
TOUCHED_WHERE = f"""
s.submitted_at >= %(start)s
AND s.region_id = ANY (ARRAY(SELECT id FROM screening_region
                             WHERE COALESCE(parent_id, id) IN (SELECT top_id FROM {TOUCHED_TABLE})))
AND (COALESCE(r.parent_id, s.region_id), {MONTH}) IN (SELECT top_id, month FROM {TOUCHED_TABLE})
"""
# Rows of a touched pair are replaced, not only updated: a group that lost its last screening
# (erasure) must disappear too.
TOUCHED_DELETE = f"""
DELETE FROM {ROLLUP_TABLE} d USING screening_region r
WHERE r.id = d.region_id
  AND (COALESCE(r.parent_id, r.id), d.month) IN (SELECT top_id, month FROM {TOUCHED_TABLE})
"""
LOCK = "SELECT pg_advisory_xact_lock(hashtext('dashboard.rollup'))"
