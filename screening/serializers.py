"""DRF serializers (output shapes and the small review input)."""

from __future__ import annotations

from rest_framework import serializers

from inference.constants import CLASSES

from .models import Region, ReviewDecision, Screening


class RegionSerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Region
        fields = ["code", "name", "parent"]


class ScreeningStatusSerializer(serializers.ModelSerializer):
    """What the patient may see: no probabilities, no clinician note."""

    review = serializers.SerializerMethodField()

    class Meta:
        model = Screening
        fields = ["reference", "status", "submitted_at", "completed_at", "review"]

    def get_review(self, obj: Screening) -> dict | None:
        decision = getattr(obj, "current_decision", None)
        if not decision:
            return None
        reviewed_at = obj.current_reviewed_at
        return {
            "decision": decision,
            "reviewed_at": serializers.DateTimeField().to_representation(reviewed_at),
        }


class TriageItemSerializer(serializers.ModelSerializer):
    region = serializers.CharField(source="region.code")
    covid_probability = serializers.SerializerMethodField()
    probabilities = serializers.SerializerMethodField()
    label = serializers.SerializerMethodField()
    priority = serializers.SerializerMethodField()
    reviewed = serializers.BooleanField()

    class Meta:
        model = Screening
        fields = [
            "id",
            "reference",
            "region",
            "status",
            "covid_probability",
            "probabilities",
            "label",
            "priority",
            "submitted_at",
            "reviewed",
            "quality_flags",
        ]

    @staticmethod
    def _prediction(obj: Screening):
        return getattr(obj, "prediction", None)

    def get_covid_probability(self, obj: Screening) -> float | None:
        p = self._prediction(obj)
        return p.prob_covid if p else None

    def get_probabilities(self, obj: Screening) -> dict[str, float] | None:
        p = self._prediction(obj)
        return {c: getattr(p, f"prob_{c}") for c in CLASSES} if p else None

    def get_label(self, obj: Screening) -> str | None:
        p = self._prediction(obj)
        return p.label if p else None

    def get_priority(self, obj: Screening) -> str | None:
        p = self._prediction(obj)
        return p.priority if p else None


class ReviewInputSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=ReviewDecision.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class ReviewOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    screening = serializers.UUIDField(source="screening_id")
    decision = serializers.CharField()
    note = serializers.CharField()
    clinician = serializers.CharField(source="clinician.get_username")
    created_at = serializers.DateTimeField()
    is_current = serializers.BooleanField()
