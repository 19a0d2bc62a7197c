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
