"""Per-region band thresholds: propose from the region's reviewed screenings, apply on an
administrator's confirmation (audited). Never from fewer than the minimum counts.

The proposal keeps the model card's sensitivity of each band (the share of clinicians' "COVID-19
suspected" cases it catches) on the region's own reviewed cases, with the highest thresholds that
do so; the preview shows the sensitivity and specificity it would have had, next to the current
ones, and how the region's unreviewed backlog would move between bands.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from screening.models import Region

from . import selectors, stats
from .models import RegionBandThreshold

NOT_ENOUGH = (
    "Not enough reviewed screenings in {region} to propose thresholds: {reviewed} reviewed "
    "({positive} 'COVID-19 suspected'); at least {min_reviewed} reviewed and {min_positive} "
    "suspected are needed."
)


@dataclass(frozen=True)
class ThresholdProposal:
    region: Region
    reviewed: int
    positive: int
    current_high: float
    current_medium: float
    high: float
    medium: float
    current_agreement: stats.Agreement
    proposed_agreement: stats.Agreement
    target_sensitivity_high: float
    target_sensitivity_medium: float
    backlog_moves: dict


def _current_thresholds(region: Region) -> tuple[float, float]:
    applied = selectors.band_thresholds_for_region(region_id=region.pk)
    if applied is not None:
        return applied.high, applied.medium
    reference = selectors.model_card_reference()
    return reference["high"], reference["medium"]


def region_thresholds_propose(*, region: Region) -> ThresholdProposal:
    """Raises ``ValidationError`` below the minimum counts (nothing is proposed then)."""
    pairs = selectors.reviewed_pairs(region=region)
    positives = [p for p, pos in pairs if pos]
    min_reviewed = settings.DASHBOARD_THRESHOLD_MIN_REVIEWED
    min_positive = settings.DASHBOARD_THRESHOLD_MIN_POSITIVE
    if len(pairs) < min_reviewed or len(positives) < min_positive:
        raise ValidationError(
            NOT_ENOUGH.format(
                region=region.name,
                reviewed=len(pairs),
                positive=len(positives),
                min_reviewed=min_reviewed,
                min_positive=min_positive,
            )
        )
    reference = selectors.model_card_reference()
    target_high = reference["sensitivity"] or 0.95
    target_medium = settings.DASHBOARD_THRESHOLD_MEDIUM_SENSITIVITY
    high = stats.threshold_for_sensitivity(positives, target_high)
    medium = min(high, stats.threshold_for_sensitivity(positives, target_medium))
    current_high, current_medium = _current_thresholds(region)
    return ThresholdProposal(
        region=region,
        reviewed=len(pairs),
        positive=len(positives),
        current_high=current_high,
        current_medium=current_medium,
        high=high,
        medium=medium,
        current_agreement=stats.agreement_from_pairs(pairs, high=current_high),
        proposed_agreement=stats.agreement_from_pairs(pairs, high=high),
        target_sensitivity_high=target_high,
        target_sensitivity_medium=target_medium,
        backlog_moves=selectors.unreviewed_band_moves(region=region, high=high, medium=medium),
    )


def region_thresholds_apply(*, user, region: Region, request=None) -> RegionBandThreshold:
    """Recompute the proposal (so what is applied is what the data says now) and make it the
    region's current thresholds; the previous ones stay as history. Administrators only."""
    if not (user.is_authenticated and user.is_superuser):
        raise PermissionDenied
    proposal = region_thresholds_propose(region=region)
    reference = selectors.model_card_reference()
    with transaction.atomic():
        RegionBandThreshold.objects.filter(region=region, is_current=True).update(is_current=False)
        applied = RegionBandThreshold.objects.create(
            region=region,
            high=proposal.high,
            medium=proposal.medium,
            model_version=reference["model_version"],
            based_on_reviewed=proposal.reviewed,
            based_on_positive=proposal.positive,
            expected_sensitivity=proposal.proposed_agreement.sensitivity.value or 0.0,
            expected_specificity=proposal.proposed_agreement.specificity.value or 0.0,
            created_by=user,
        )
        _audit(
            request=request,
            user=user,
            action="band_thresholds.apply",
            region=region,
            detail={
                "high": proposal.high,
                "medium": proposal.medium,
                "previous_high": proposal.current_high,
                "previous_medium": proposal.current_medium,
                "based_on_reviewed": proposal.reviewed,
                "based_on_positive": proposal.positive,
            },
        )
    return applied


def _audit(*, request, user, action: str, region: Region | None, detail: dict) -> None:
    from portal.audit.services import audit_record

    audit_record(
        action=action,
        request=request,
        user=user,
        object_type="region" if region else "dashboard",
        object_ref=region.code if region else "",
        detail=detail,
    )


def dashboard_export_audit(*, request, user, region: Region | None, rows: int) -> None:
    """The CSV export leaves the portal: recorded like every other read of screening data."""
    _audit(
        request=request,
        user=user,
        action="dashboard.export_csv",
        region=region,
        detail={"rows": rows, "scope": region.code if region else "national"},
    )
