"""DRF serializers (output shapes and the small review input)."""

from __future__ import annotations

from rest_framework import serializers

from . import rules
from .models import Region, ReviewDecision, Screening


class RegionSerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    # True for the regions a screening may be posted to (active districts, or a province without
    # districts); provinces with districts are listed for their names, not to be chosen.
    accepts_screenings = serializers.BooleanField(read_only=True)

    class Meta:
        model = Region
        fields = ["code", "name", "parent", "accepts_screenings"]


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
        return p.probabilities if p else None

    def get_label(self, obj: Screening) -> str | None:
        p = self._prediction(obj)
        return p.label if p else None

    def get_priority(self, obj: Screening) -> str | None:
        p = self._prediction(obj)
        return p.priority if p else None


class ReviewInputSerializer(serializers.Serializer):
    """Parses the review; its rules (which decisions, how long a note) are the service's."""

    decision = serializers.ChoiceField(
        choices=ReviewDecision.choices,
        error_messages={
            "required": rules.DECISION_REQUIRED,
            "invalid_choice": rules.DECISION_INVALID,
        },
    )
    note = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False
    )


class ReviewOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    screening = serializers.UUIDField(source="screening_id")
    decision = serializers.CharField()
    note = serializers.CharField()
    clinician = serializers.CharField(source="clinician.get_username")
    created_at = serializers.DateTimeField()
    is_current = serializers.BooleanField()
