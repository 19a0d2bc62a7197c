"""Read operations. Every clinician read goes through ``screenings_visible_to``: a screening
outside the user's regions does not exist for them (404), superusers see every region."""

from __future__ import annotations

import datetime
import hmac
import uuid
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Subquery
from django.http import Http404

from .models import (
    PENDING_STATUSES,
    ClinicianProfile,
    Heatmap,
    Region,
    Review,
    Screening,
    ScreeningStatus,
)

NON_TRIAGE_STATUSES = (*PENDING_STATUSES, ScreeningStatus.FAILED, ScreeningStatus.REJECTED)


@dataclass(frozen=True)
class TriageFilters:
    region: str | None = None  # region code; a province code includes its districts
    status: str | None = None
    reviewed: bool | None = None
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None


def _parse_uuid(value: object) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise Http404("No such screening.") from None


# --- regions ----------------------------------------------------------------------------------
def region_list_active() -> QuerySet[Region]:
    return Region.objects.active().select_related("parent").order_by("code")


def region_choices_for_upload() -> list[tuple[str, list[tuple[str, str]]] | tuple[str, str]]:
    """Selectable regions for the upload form, grouped by province (``<optgroup>`` choices)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    standalone: list[tuple[str, str]] = []
    for region in (
        Region.objects.selectable().select_related("parent").order_by("parent__name", "name")
    ):
        if region.parent_id:
            groups.setdefault(region.parent.name, []).append((region.code, region.name))
        else:
            standalone.append((region.code, region.name))
    return [*sorted(groups.items()), *standalone]


def regions_for_user(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Region]:
    """Regions a user serves: assigned ones and, for an assigned province, its districts."""
    if not user.is_authenticated or not user.is_active:
        return Region.objects.none()
    if user.is_superuser:
        return Region.objects.all()
    assigned = ClinicianProfile.regions.through.objects.filter(clinicianprofile__user=user).values(
        "region_id"
    )
    return Region.objects.filter(Q(pk__in=assigned) | Q(parent__in=assigned))


# --- clinician reads --------------------------------------------------------------------------
def screenings_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Screening]:
    if not user.is_authenticated or not user.is_active:
        return Screening.objects.none()
    if user.is_superuser:
        return Screening.objects.all()
    return Screening.objects.filter(region__in=regions_for_user(user=user))


def _with_review_annotations(qs: QuerySet[Screening]) -> QuerySet[Screening]:
    current = Review.objects.filter(screening=OuterRef("pk"), is_current=True)
    return qs.annotate(
        reviewed=Exists(Review.objects.filter(screening=OuterRef("pk"))),
        current_decision=Subquery(current.values("decision")[:1]),
        current_reviewed_at=Subquery(current.values("created_at")[:1]),
    )


def _apply_filters(qs: QuerySet[Screening], filters: TriageFilters) -> QuerySet[Screening]:
    if filters.region:
        qs = qs.filter(Q(region__code=filters.region) | Q(region__parent__code=filters.region))
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.reviewed is not None:
        qs = qs.filter(reviewed=filters.reviewed)
    if filters.date_from:
        qs = qs.filter(submitted_at__date__gte=filters.date_from)
    if filters.date_to:
        qs = qs.filter(submitted_at__date__lte=filters.date_to)
    return qs


TRIAGE_ORDER = (
    F("reviewed").asc(),
    F("prediction__prob_covid").desc(nulls_last=True),
    F("submitted_at").asc(),
    F("id").asc(),
)


def triage_list_for_user(
    *, user: AbstractBaseUser | AnonymousUser, filters: TriageFilters | None = None
) -> QuerySet[Screening]:
    """Screenings of the user's regions in triage order.

    Unreviewed first, then COVID-19 probability (highest first; no prediction yet last), ties
    longest-waiting first.
    """
    qs = _with_review_annotations(screenings_visible_to(user=user))
    qs = _apply_filters(qs, filters or TriageFilters())
    return qs.select_related("region", "region__parent", "prediction").order_by(*TRIAGE_ORDER)


def pending_list_for_user(
    *, user: AbstractBaseUser | AnonymousUser, filters: TriageFilters | None = None, limit: int = 50
) -> QuerySet[Screening]:
    """Screenings not (yet) scored: waiting, being processed, failed or rejected; newest first."""
    filters = filters or TriageFilters()
    qs = _with_review_annotations(screenings_visible_to(user=user)).filter(
        status__in=NON_TRIAGE_STATUSES
    )
    qs = _apply_filters(
        qs,
        TriageFilters(region=filters.region, date_from=filters.date_from, date_to=filters.date_to),
    )
    return qs.select_related("region").order_by("-submitted_at")[:limit]


def triage_state_for_user(*, user: AbstractBaseUser | AnonymousUser) -> str:
    """A cheap fingerprint of what the triage page shows; it changes when anything new arrives."""
    visible = screenings_visible_to(user=user)
    agg = visible.aggregate(n=Count("id"), changed=Max("updated_at"))
    reviews = Review.objects.filter(screening__in=visible.values("id")).aggregate(
        n=Count("id"), last=Max("id")
    )
    changed = agg["changed"].isoformat() if agg["changed"] else "-"
    return f"{agg['n']}.{changed}.{reviews['n']}.{reviews['last'] or 0}"


def screening_get_for_user(
    *, user: AbstractBaseUser | AnonymousUser, screening_id: uuid.UUID | str
) -> Screening:
    """One screening if it is in the user's regions, else ``Http404`` (never 403: no leak)."""
    pk = _parse_uuid(screening_id)
    screening = (
        _with_review_annotations(screenings_visible_to(user=user))
        .select_related("region", "region__parent", "prediction")
        .filter(pk=pk)
        .first()
    )
    if screening is None:
        raise Http404("No such screening.")
    return screening


def heatmap_list(*, screening: Screening) -> list[Heatmap]:
    """The screening's Grad-CAM heatmaps, the predicted class first (then COVID-19)."""
    prediction = getattr(screening, "prediction", None)
    if prediction is None:
        return []
    heatmaps = list(Heatmap.objects.filter(prediction=prediction))
    return sorted(heatmaps, key=lambda h: (h.class_label != prediction.label, h.id))


def heatmap_get_for_user(
    *, user: AbstractBaseUser | AnonymousUser, screening_id: uuid.UUID | str, class_label: str
) -> Heatmap:
    """A heatmap of a screening in the user's regions, else ``Http404`` (same rule as the image)."""
    screening = screening_get_for_user(user=user, screening_id=screening_id)
    heatmap = Heatmap.objects.filter(
        prediction__screening=screening, class_label=class_label
    ).first()
    if heatmap is None:
        raise Http404("No such heatmap.")
    return heatmap


def review_history(*, screening: Screening) -> QuerySet[Review]:
    return screening.reviews.select_related("clinician").order_by("-created_at", "-id")


# --- patient reads ----------------------------------------------------------------------------
def screening_get_for_patient(*, screening_id: uuid.UUID | str, token: str | None) -> Screening:
    """The screening whose access token matches (constant-time), else ``Http404``."""
    from .services import access_token_hash

    pk = _parse_uuid(screening_id)
    screening = _with_review_annotations(Screening.objects.filter(pk=pk)).first()
    if (
        screening is None
        or not token
        or not hmac.compare_digest(screening.access_token_hash, access_token_hash(token))
    ):
        raise Http404("No such screening.")
    return screening
