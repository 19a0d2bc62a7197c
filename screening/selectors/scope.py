"""Who sees what: regions, the screenings a user may see, the list filters; the helpers the
other selectors build on."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import (
    BigIntegerField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast
from django.db.models.lookups import Exact
from django.http import Http404

from ..models import (
    PENDING_STATUSES,
    ClinicianProfile,
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
    """Active regions, each annotated ``accepts_screenings`` (the rule of ``selectable``)."""
    selectable = Region.objects.selectable().filter(pk=OuterRef("pk"))
    return (
        Region.objects.active()
        .annotate(accepts_screenings=Exists(selectable))
        .select_related("parent")
        .order_by("code")
    )


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
def _region_ids_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> list[int] | None:
    """Ids of the regions ``user`` serves; None: every region (a superuser); none signed out."""
    if not user.is_authenticated or not user.is_active:
        return []
    if user.is_superuser:
        return None
    # Resolved now (one small query): a literal ``region_id IN (...)`` makes one region's triage
    # list an index range at national scale (BENCHMARKS.md); a subquery does not.
    return list(regions_for_user(user=user).values_list("id", flat=True))


def screenings_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Screening]:
    """Screenings of the regions ``user`` serves (every one for a superuser, none when signed
    out)."""
    region_ids = _region_ids_visible_to(user=user)
    if region_ids is None:
        return Screening.objects.all()
    return Screening.objects.filter(region_id__in=region_ids)


def screenings_visible_for_search(
    *, user: AbstractBaseUser | AnonymousUser
) -> tuple[QuerySet[Screening], int | None]:
    """``screenings_visible_to`` for the search, and how many regions it spans (None: every
    region, a superuser's). One region's id is typed as the column (bigint), so that the region
    + name index (migration 0008, btree_gin before PostgreSQL 18: no integer = bigint operator)
    can serve its name search; several regions' are not: one scan of that index per region reads
    the national posting lists of the name's trigrams each time (55 regions: 1.4 s for a name
    nobody has), where the national trigram index reads them once (BENCHMARKS.md, section 5e)."""
    region_ids = _region_ids_visible_to(user=user)
    if region_ids is None:
        return Screening.objects.all(), None
    if len(region_ids) == 1:
        typed = Cast(Value(region_ids[0]), BigIntegerField())
        return Screening.objects.filter(Exact(F("region_id"), typed)), 1
    return Screening.objects.filter(region_id__in=region_ids), len(region_ids)


def _with_review_annotations(qs: QuerySet[Screening]) -> QuerySet[Screening]:
    current = Review.objects.filter(screening=OuterRef("pk"), is_current=True)
    return qs.annotate(
        reviewed=F("is_reviewed"),  # kept by Review.save; an EXISTS here scans every review
        current_decision=Subquery(current.values("decision")[:1]),
        current_reviewed_at=Subquery(current.values("created_at")[:1]),
    )


def _apply_filters(qs: QuerySet[Screening], filters: TriageFilters) -> QuerySet[Screening]:
    # Each condition is on the screening row's own indexed columns (region ids resolved first,
    # whole days as a timestamp range), so the triage indexes serve them (BENCHMARKS.md).
    if filters.region:
        codes = Q(code=filters.region) | Q(parent__code=filters.region)
        qs = qs.filter(
            region_id__in=list(Region.objects.filter(codes).values_list("id", flat=True))
        )
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.reviewed is not None:
        qs = qs.filter(is_reviewed=filters.reviewed)
    if filters.date_from:
        qs = qs.filter(submitted_at__gte=_day_start(filters.date_from))
    if filters.date_to and filters.date_to < datetime.date.max:  # the last day has no next day
        qs = qs.filter(submitted_at__lt=_day_start(filters.date_to + datetime.timedelta(days=1)))
    return qs


def _day_start(day: datetime.date) -> datetime.datetime:
    """Midnight of ``day`` in the current time zone (what ``__date`` filters compare with)."""
    from django.utils import timezone

    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
