"""Reads behind the clinician/administrator API that ``screening.selectors`` does not have."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from .. import selectors
from ..models import PENDING_STATUSES, Review, ScreeningStatus


def region_statistics(*, user: AbstractBaseUser | AnonymousUser) -> list[dict]:
    """Counts per region the user serves (every region for a superuser); no patient data."""
    visible = selectors.screenings_visible_to(user=user).annotate(
        has_review=Exists(Review.objects.filter(screening=OuterRef("pk")))
    )
    rows = (
        visible.values("region__code", "region__name")
        .annotate(
            total=Count("id"),
            pending=Count("id", filter=Q(status__in=PENDING_STATUSES)),
            completed=Count("id", filter=Q(status=ScreeningStatus.COMPLETED)),
            failed=Count("id", filter=Q(status=ScreeningStatus.FAILED)),
            rejected=Count("id", filter=Q(status=ScreeningStatus.REJECTED)),
            reviewed=Count("id", filter=Q(has_review=True)),
            awaiting_review=Count(
                "id", filter=Q(status=ScreeningStatus.COMPLETED, has_review=False)
            ),
            high_priority=Count("id", filter=Q(prediction__priority="high")),
        )
        .order_by("region__code")
    )
    return [{"region": r.pop("region__code"), "name": r.pop("region__name"), **r} for r in rows]


def clinician_list() -> QuerySet:
    return (
        get_user_model()
        .objects.filter(clinician_profile__isnull=False)
        .prefetch_related("clinician_profile__regions")
        .order_by("username")
    )


def clinician_assignment(user) -> dict:
    profile = getattr(user, "clinician_profile", None)
    codes = sorted(r.code for r in profile.regions.all()) if profile else []
    return {"username": user.get_username(), "is_active": user.is_active, "regions": codes}
