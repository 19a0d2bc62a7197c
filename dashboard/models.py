"""Per-region priority-band thresholds, proposed from a region's reviewed screenings and applied
by an administrator (dashboard/services.py). History is kept: the newest row is current."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class RegionBandThreshold(models.Model):
    region = models.ForeignKey(
        "screening.Region", on_delete=models.PROTECT, related_name="band_thresholds"
    )
    high = models.FloatField(help_text="COVID-19 probability at or above which a case is 'high'.")
    medium = models.FloatField(help_text="... and 'medium' (below: 'low').")
    model_version = models.CharField(max_length=80)
    based_on_reviewed = models.PositiveIntegerField()
    based_on_positive = models.PositiveIntegerField()
    expected_sensitivity = models.FloatField()
    expected_specificity = models.FloatField()
    is_current = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["region"], condition=Q(is_current=True), name="band_threshold_one_current"
            ),
            models.CheckConstraint(
                condition=Q(medium__gte=0) & Q(high__lte=1) & Q(medium__lte=F("high")),
                name="band_threshold_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region_id}: high >= {self.high:.4f}, medium >= {self.medium:.4f}"


class RegionMonthRollup(models.Model):
    """The dashboard's figures of one region and month (of ``submitted_at``, in ``TIME_ZONE``),
    kept by ``dashboard.rollups`` from the screenings so that the page never aggregates the
    screening table (seconds at national scale; BENCHMARKS.md).

    ``subtree=False``: the region's own screenings; ``subtree=True`` (top-level regions only):
    the province with all its districts, so the national view reads one row per province and
    month. Medians are exact (``percentile_cont``) for the row's screenings; the histograms
    (log buckets, ``stats.duration_bucket``) let a page combine rows (a clinician who serves
    some districts of a province) at the buckets' resolution."""

    region = models.ForeignKey(
        "screening.Region", on_delete=models.CASCADE, related_name="month_rollups"
    )
    month = models.DateField()
    subtree = models.BooleanField(default=False)
    submitted = models.PositiveIntegerField(default=0)
    completed = models.PositiveIntegerField(default=0)
    pending = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    predicted_covid = models.PositiveIntegerField(default=0)
    predicted_normal = models.PositiveIntegerField(default=0)
    predicted_pneumonia = models.PositiveIntegerField(default=0)
    band_high = models.PositiveIntegerField(default=0)
    band_medium = models.PositiveIntegerField(default=0)
    band_low = models.PositiveIntegerField(default=0)
    reviewed = models.PositiveIntegerField(default=0)
    # completed, "high" band, no current review: the backlog (summed over every month)
    high_unreviewed = models.PositiveIntegerField(default=0)
    # model watch: "high" band against judged current decisions ("COVID-19 suspected" = positive)
    watch_tp = models.PositiveIntegerField(default=0)
    watch_fn = models.PositiveIntegerField(default=0)
    watch_fp = models.PositiveIntegerField(default=0)
    watch_tn = models.PositiveIntegerField(default=0)
    median_result_seconds = models.FloatField(null=True)
    median_review_seconds = models.FloatField(null=True)
    result_histogram = models.JSONField(default=dict)  # {"bucket": count}
    review_histogram = models.JSONField(default=dict)
    refreshed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["region", "month", "subtree"], name="rollup_one_per_region_month"
            )
        ]
        indexes = [models.Index(fields=["month"], name="rollup_month")]

    def __str__(self) -> str:
        return f"{self.region_id} {self.month:%Y-%m}{' (with districts)' if self.subtree else ''}"


class RollupState(models.Model):
    """The refresh's watermark (one row): rows changed at or after ``watermark`` (less the lag
    for transactions still open then) are re-read next time; ``refreshed_at`` is what the page
    shows as "figures as of"."""

    name = models.CharField(max_length=32, primary_key=True)
    watermark = models.DateTimeField()
    refreshed_at = models.DateTimeField()
    last_seconds = models.FloatField(default=0.0)
    last_keys = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.refreshed_at:%Y-%m-%d %H:%M}"
