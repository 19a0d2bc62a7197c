"""Shared parts of the dashboard's reads: who may see it, the scope (region drilled into, since
when), which rollup rows make each group of the page, and the current-review join (for the
threshold reads, which stay on the screenings)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import FilteredRelation, Q, QuerySet
from django.utils import timezone

from screening.models import Region, ReviewDecision, Screening
from screening.selectors import regions_for_user

LABELS = ("covid", "normal", "pneumonia")
# Decisions that say something about COVID-19 (an unusable image says nothing).
JUDGED_DECISIONS = (
    ReviewDecision.COVID_SUSPECTED,
    ReviewDecision.NO_FINDING,
    ReviewDecision.PNEUMONIA_OTHER,
)


def user_can_see_dashboard(*, user: AbstractBaseUser | AnonymousUser) -> bool:
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.is_superuser or hasattr(user, "clinician_profile"))
    )


# --- scope ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    """What the page shows: the region drilled into (None: national) and since when."""

    region: Region | None
    since: datetime.datetime
    months: int


def scope_build(*, region_code: str | None, months: int, user) -> Scope:
    months = max(1, min(int(months or 12), 36))
    today = timezone.localdate()
    first = today.replace(day=1)
    for _ in range(months - 1):
        first = (first - datetime.timedelta(days=1)).replace(day=1)
    since = timezone.make_aware(datetime.datetime.combine(first, datetime.time.min))
    region = None
    if region_code:
        region = regions_for_user(user=user).filter(code=region_code).first()
    return Scope(region=region, since=since, months=months)


@dataclass(frozen=True)
class Groups:
    """The page's groups and the rollup rows they are summed from (``RegionMonthRollup``).

    ``whole``: top-level regions read as one ``subtree`` row (the user sees the province and
    every district of it); ``parts``: regions read as their own rows, each mapped to its group
    (a clinician's districts in the national view; every region of a drill-down)."""

    regions: dict[int, Region]
    whole: frozenset[int]
    parts: dict[int, int]

    def rows_filter(self) -> Q:
        return Q(subtree=True, region_id__in=sorted(self.whole)) | Q(
            subtree=False, region_id__in=sorted(self.parts)
        )

    def group_of(self, *, region_id: int, subtree: bool) -> int:
        return region_id if subtree else self.parts[region_id]


def groups_build(*, user, scope: Scope) -> Groups:
    """One query for a superuser (every region), two for a clinician (their regions first)."""
    if user.is_superuser:
        regions = {r.pk: r for r in Region.objects.all()}
        visible = set(regions)
    else:
        visible = set(regions_for_user(user=user).values_list("id", flat=True))
        regions = Region.objects.filter(Q(pk__in=visible) | Q(children__in=visible)).distinct()
        regions = {r.pk: r for r in regions}
    if scope.region is not None:
        parts = {
            rid: rid
            for rid in visible
            if rid == scope.region.pk or regions[rid].parent_id == scope.region.pk
        }
        return Groups(regions=regions, whole=frozenset(), parts=parts)
    # A visible province means an assigned one (or a superuser): all its districts are visible.
    whole = frozenset(rid for rid in visible if regions[rid].parent_id is None)
    parts = {
        rid: regions[rid].parent_id
        for rid in visible
        if regions[rid].parent_id is not None and regions[rid].parent_id not in whole
    }
    return Groups(regions=regions, whole=whole, parts=parts)


def _with_current_review(qs: QuerySet[Screening]) -> QuerySet[Screening]:
    return qs.annotate(
        current_review=FilteredRelation("reviews", condition=Q(reviews__is_current=True))
    )
