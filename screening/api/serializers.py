"""Serializers of the clinician and administrator API (output shapes and small inputs).

The public endpoints' serializers stay in ``screening.serializers``.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inference.constants import CLASSES

from ..models import Region, Screening
from ..serializers import ReviewOutputSerializer


class ErrorSerializer(serializers.Serializer):
    """Every error under /api/: ``detail`` and ``code``; a 400 adds a message list per field."""

    detail = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="400 only: the messages per field (also at the top level for older clients).",
    )


class PatientSerializer(serializers.Serializer):
    full_name = serializers.CharField()
    national_id = serializers.CharField()
    date_of_birth = serializers.DateField()
    sex = serializers.CharField()
    phone = serializers.CharField()
    symptoms = serializers.CharField()


class PredictionSerializer(serializers.Serializer):
    probabilities = serializers.DictField(child=serializers.FloatField())
    label = serializers.ChoiceField(choices=list(CLASSES))
    priority = serializers.CharField()
    model_version = serializers.CharField()


class ScreeningLinksSerializer(serializers.Serializer):
    image = serializers.CharField()
    heatmaps = serializers.DictField(child=serializers.CharField())


class ScreeningDetailSerializer(serializers.ModelSerializer):
    """A screening as a clinician of its region sees it (the HTML detail page's content)."""

    region = serializers.CharField(source="region.code")
    patient = serializers.SerializerMethodField()
    prediction = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()
    reviews = serializers.SerializerMethodField()

    class Meta:
        model = Screening
        fields = [
            "id",
            "reference",
            "region",
            "status",
            "status_reason",
            "submitted_at",
            "completed_at",
            "source_format",
            "quality_flags",
            "intake_notes",
            "patient",
            "prediction",
            "links",
            "reviews",
        ]

    @extend_schema_field(PatientSerializer)
    def get_patient(self, obj: Screening) -> dict:
        return PatientSerializer(obj).data

    @extend_schema_field(PredictionSerializer(allow_null=True))
    def get_prediction(self, obj: Screening) -> dict | None:
        prediction = getattr(obj, "prediction", None)
        return None if prediction is None else PredictionSerializer(prediction).data

    @extend_schema_field(ScreeningLinksSerializer)
    def get_links(self, obj: Screening) -> dict:
        heatmaps = self.context.get("heatmaps", [])
        return {
            "image": reverse("api:screening-image", args=[obj.pk]),
            "heatmaps": {
                h.class_label: reverse("api:screening-heatmap", args=[obj.pk, h.class_label])
                for h in heatmaps
            },
        }

    @extend_schema_field(ReviewOutputSerializer(many=True))
    def get_reviews(self, obj: Screening) -> list[dict]:
        return ReviewOutputSerializer(self.context.get("reviews", []), many=True).data


class SearchResultSerializer(serializers.ModelSerializer):
    region = serializers.CharField(source="region.code")

    class Meta:
        model = Screening
        fields = ["id", "reference", "region", "status", "submitted_at"]


class AdminRegionSerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(
        slug_field="code", queryset=Region.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = Region
        fields = ["code", "name", "parent", "is_active"]


class ClinicianAssignmentSerializer(serializers.Serializer):
    username = serializers.CharField(read_only=True)
    is_active = serializers.BooleanField(read_only=True)
    regions = serializers.ListField(child=serializers.CharField(max_length=32), max_length=200)


class RegionStatisticsSerializer(serializers.Serializer):
    region = serializers.CharField()
    name = serializers.CharField()
    total = serializers.IntegerField()
    pending = serializers.IntegerField()
    completed = serializers.IntegerField()
    failed = serializers.IntegerField()
    rejected = serializers.IntegerField()
    reviewed = serializers.IntegerField()
    awaiting_review = serializers.IntegerField()
    high_priority = serializers.IntegerField()
