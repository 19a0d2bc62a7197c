"""Shared parts of the dashboard's reads: who may see it, the scope (region drilled into, since
when), the grouping of screenings into regions, and the current-review join."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import (
    Aggregate,
    DurationField,
    F,
    FilteredRelation,
    Q,
    QuerySet,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from screening.models import Region, ReviewDecision, Screening
from screening.selectors import regions_for_user, screenings_visible_to

LABELS = ("covid", "normal", "pneumonia")
# Decisions that say something about COVID-19 (an unusable image says nothing).
JUDGED_DECISIONS = (
    ReviewDecision.COVID_SUSPECTED,
    ReviewDecision.NO_FINDING,
    ReviewDecision.PNEUMONIA_OTHER,
)


class Median(Aggregate):
    """PostgreSQL's ``percentile_cont(0.5)`` (works on intervals). Other databases (the
    embedded SQLite) take the Python path in ``_medians``."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()


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


def _group_key(scope: Scope):
    """The region each screening is counted under at this level."""
    if scope.region is None:
        return Coalesce("region__parent_id", "region_id")
    return F("region_id")


def _base(*, user, scope: Scope) -> QuerySet[Screening]:
    qs = screenings_visible_to(user=user)
    if scope.region is not None:
        qs = qs.filter(Q(region_id=scope.region.pk) | Q(region__parent_id=scope.region.pk))
    return qs


def _month(value) -> datetime.date:
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return value.date().replace(day=1)
    return value.replace(day=1)


def _with_current_review(qs: QuerySet[Screening]) -> QuerySet[Screening]:
    return qs.annotate(
        current_review=FilteredRelation("reviews", condition=Q(reviews__is_current=True))
    )
