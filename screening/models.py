"""Data model: regions, clinicians' regions, screenings, predictions and reviews."""

import hashlib
import hmac
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Abs
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from inference.constants import CLASSES, DISPLAY_NAMES

from . import rules
from .validators import (
    validate_date_of_birth,
    validate_national_id,
    validate_no_control_characters,
    validate_phone_e164,
)

# Probabilities are stored as floats; their sum must be 1 within this tolerance.
PROBABILITY_SUM_TOLERANCE = 1e-3


class RegionQuerySet(models.QuerySet):
    def active(self) -> "RegionQuerySet":
        """Active regions whose parent (if any) is active too."""
        return self.filter(is_active=True).filter(
            Q(parent__isnull=True) | Q(parent__is_active=True)
        )

    def selectable(self) -> "RegionQuerySet":
        """Regions a patient can submit to: active leaves (districts, or a province without any)."""
        return self.active().filter(children__isnull=True)


class Region(models.Model):
    """A two-level hierarchy: provinces (no parent) and their districts."""

    code = models.CharField(
        max_length=32,
        unique=True,
        validators=[RegexValidator(rules.REGION_CODE_RE, rules.REGION_CODE_FORMAT)],
    )
    name = models.CharField(max_length=120)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        help_text="Province of a district; empty for a province.",
    )
    is_active = models.BooleanField(
        default=True, help_text="Inactive regions disappear from the upload form; data stays."
    )

    objects = RegionQuerySet.as_manager()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def clean(self) -> None:
        if self.parent_id is not None:
            if self.parent_id == self.pk:
                raise ValidationError({"parent": rules.REGION_OWN_PARENT})
            if self.parent.parent_id is not None:
                raise ValidationError({"parent": rules.REGION_TWO_LEVELS})
            if self.pk and self.children.exists():
                raise ValidationError({"parent": rules.REGION_HAS_DISTRICTS})

    @property
    def hierarchy(self) -> str:
        return f"{self.parent.name} › {self.name}" if self.parent_id else self.name


class ClinicianProfile(models.Model):
    """Regions a clinician serves (assigned by administrators).

    A clinician assigned to a province serves all of its districts.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clinician_profile"
    )
    regions = models.ManyToManyField(Region, blank=True, related_name="clinicians")

    def __str__(self) -> str:
        return f"Clinician {self.user.get_username()}"


class Sex(models.TextChoices):
    FEMALE = "F", _("Female")
    MALE = "M", _("Male")
    OTHER = "X", _("Other / prefer not to say")


class ScreeningStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    QUEUED = "queued", _("Queued")
    PROCESSING = "processing", _("Processing")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    REJECTED = "rejected", _("Rejected")


PENDING_STATUSES = (ScreeningStatus.RECEIVED, ScreeningStatus.QUEUED, ScreeningStatus.PROCESSING)
CLAIMABLE_STATUSES = (ScreeningStatus.RECEIVED, ScreeningStatus.QUEUED)


def access_token_hash(token: str) -> str:
    """What is stored of a patient's access token (the token itself is shown once, never kept)."""
    return hashlib.sha256(token.encode()).hexdigest()


class SourceFormat(models.TextChoices):
    PNG = "png", "PNG"
    JPEG = "jpeg", "JPEG"
    DICOM = "dicom", "DICOM"


class ScreeningQuerySet(models.QuerySet):
    def update(self, **kwargs):
        """Bulk updates (status transitions) also move ``updated_at`` (auto_now does not)."""
        kwargs.setdefault("updated_at", timezone.now())
        return super().update(**kwargs)


class Screening(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(max_length=16, unique=True, editable=False)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="screenings")

    national_id = models.CharField(
        "national ID number",
        max_length=rules.NATIONAL_ID_MAX_LENGTH,
        validators=[validate_national_id],
    )
    full_name = models.CharField(
        max_length=rules.FULL_NAME_MAX_LENGTH, validators=[validate_no_control_characters]
    )
    date_of_birth = models.DateField(validators=[validate_date_of_birth])
    sex = models.CharField(max_length=1, choices=Sex.choices)
    phone = models.CharField(max_length=16, validators=[validate_phone_e164])
    symptoms = models.TextField(
        blank=True,
        validators=[
            MaxLengthValidator(rules.SYMPTOMS_MAX_LENGTH),
            validate_no_control_characters,
        ],
    )
    consent_at = models.DateTimeField()

    # Re-encoded PNG copy of the decoded upload, random name, under MEDIA_ROOT (never served).
    image = models.FileField(max_length=255, editable=False)
    image_width = models.PositiveIntegerField(null=True, editable=False)
    image_height = models.PositiveIntegerField(null=True, editable=False)
    source_format = models.CharField(
        max_length=8, choices=SourceFormat.choices, blank=True, editable=False
    )
    # DICOM uploads only: the de-identified copy (PS3.15 basic profile), never the raw upload.
    dicom_file = models.FileField(max_length=255, blank=True, editable=False)
    # The chest X-ray gate's low-quality flags ("too dark", ...), shown to clinicians.
    quality_flags = models.JSONField(default=list, blank=True, editable=False)
    # Plain-language notes from decoding (e.g. a DICOM header stating burned-in annotations).
    intake_notes = models.JSONField(default=list, blank=True, editable=False)

    status = models.CharField(
        max_length=16, choices=ScreeningStatus.choices, default=ScreeningStatus.RECEIVED
    )
    status_reason = models.CharField(max_length=rules.STATUS_REASON_MAX_LENGTH, blank=True)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="How many times a worker claimed this screening."
    )
    # The task (Celery task id) holding the current claim: a redelivery of that same task after
    # its worker died may take the claim over at once (services.processing.screening_claim).
    claimed_by = models.CharField(max_length=64, blank=True, default="", editable=False)
    access_token_hash = models.CharField(max_length=64, editable=False)
    # Triage sort keys copied onto the row (kept by Prediction.save / Review.save), so that one
    # index holds the whole triage order: at national scale (BENCHMARKS.md) ordering by a joined
    # table's column and an EXISTS over reviews cannot use an index and sorts millions of rows.
    triage_score = models.FloatField(null=True, blank=True, editable=False)  # = prob_covid
    is_reviewed = models.BooleanField(default=False, editable=False)  # any Review exists

    submitted_at = models.DateTimeField(db_index=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    processing_started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(
        null=True, blank=True, help_text="When processing ended (completed, failed or rejected)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScreeningQuerySet.as_manager()

    class Meta:
        ordering = ["-submitted_at"]
        indexes = [
            models.Index(fields=["status", "submitted_at"], name="screening_status_submitted"),
            models.Index(fields=["region", "status"], name="screening_region_status"),
        ]

    def __str__(self) -> str:
        return self.reference

    def set_access_token(self, token: str) -> None:
        self.access_token_hash = access_token_hash(token)

    def access_token_matches(self, token: str | None) -> bool:
        """Constant-time comparison with the stored hash."""
        return bool(token) and hmac.compare_digest(self.access_token_hash, access_token_hash(token))


class PriorityBand(models.TextChoices):
    HIGH = "high", _("High")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")


class Prediction(models.Model):
    """The model's output for one screening, stored once by the worker."""

    screening = models.OneToOneField(
        Screening, on_delete=models.CASCADE, primary_key=True, related_name="prediction"
    )
    prob_covid = models.FloatField()
    prob_normal = models.FloatField()
    prob_pneumonia = models.FloatField()
    label = models.CharField(max_length=16, choices=[(c, DISPLAY_NAMES[c]) for c in CLASSES])
    model_version = models.CharField(max_length=80)
    weights_sha256 = models.CharField(max_length=64)
    priority = models.CharField(max_length=8, choices=PriorityBand.choices)
    inference_ms = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(prob_covid__gte=0, prob_covid__lte=1)
                & Q(prob_normal__gte=0, prob_normal__lte=1)
                & Q(prob_pneumonia__gte=0, prob_pneumonia__lte=1),
                name="prediction_probabilities_in_unit_interval",
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(
                    Abs(
                        models.F("prob_covid")
                        + models.F("prob_normal")
                        + models.F("prob_pneumonia")
                        - models.Value(1.0)
                    ),
                    models.Value(PROBABILITY_SUM_TOLERANCE),
                ),
                name="prediction_probabilities_sum_to_one",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.screening_id}: {self.label}"

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        # The triage sort key lives on the screening (see Screening.triage_score).
        Screening.objects.filter(pk=self.screening_id).update(triage_score=self.prob_covid)

    @property
    def probabilities(self) -> dict[str, float]:
        return {c: getattr(self, f"prob_{c}") for c in CLASSES}


class Heatmap(models.Model):
    """A Grad-CAM heatmap of one class for a prediction: an RGBA PNG at the stored radiograph's
    geometry (transparent where the model input did not reach), for a CSS overlay."""

    prediction = models.ForeignKey(Prediction, on_delete=models.CASCADE, related_name="heatmaps")
    class_label = models.CharField(max_length=16, choices=[(c, DISPLAY_NAMES[c]) for c in CLASSES])
    image = models.FileField(max_length=255, editable=False)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["prediction", "class_label"], name="heatmap_one_per_class"
            )
        ]

    def __str__(self) -> str:
        return f"{self.prediction_id}: {self.class_label}"


class ReviewDecision(models.TextChoices):
    COVID_SUSPECTED = "covid_suspected", _("COVID-19 suspected - refer for PCR")
    NO_FINDING = "no_finding", _("No finding")
    PNEUMONIA_OTHER = "pneumonia_other", _("Pneumonia - other cause")
    UNUSABLE = "unusable", _("Image unusable - ask for a new upload")


class Review(models.Model):
    """A clinician's decision. The newest is current; earlier ones are kept as history."""

    screening = models.ForeignKey(Screening, on_delete=models.PROTECT, related_name="reviews")
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews"
    )
    decision = models.CharField(max_length=32, choices=ReviewDecision.choices)
    note = models.TextField(blank=True, validators=[MaxLengthValidator(rules.NOTE_MAX_LENGTH)])
    is_current = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["screening"],
                condition=Q(is_current=True),
                name="review_one_current_per_screening",
            )
        ]

    def __str__(self) -> str:
        return f"{self.screening_id}: {self.decision}"

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        # The triage sort key lives on the screening (see Screening.is_reviewed).
        Screening.objects.filter(pk=self.screening_id, is_reviewed=False).update(is_reviewed=True)
