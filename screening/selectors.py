"""Read operations. Every clinician read goes through ``screenings_visible_to``: a screening
outside the user's regions does not exist for them (404), superusers see every region."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core import signing
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    F,
    Func,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    UUIDField,
    Value,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThan, LessThan
from django.http import Http404
from django.utils.translation import gettext_lazy

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
def screenings_visible_to(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Screening]:
    if not user.is_authenticated or not user.is_active:
        return Screening.objects.none()
    if user.is_superuser:
        return Screening.objects.all()
    # Region ids resolved now (one small query): a literal ``region_id IN (...)`` makes one
    # region's triage list an index range at national scale (BENCHMARKS.md); a subquery does not.
    region_ids = list(regions_for_user(user=user).values_list("id", flat=True))
    return Screening.objects.filter(region_id__in=region_ids)


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
    if filters.date_to:
        qs = qs.filter(submitted_at__lt=_day_start(filters.date_to + datetime.timedelta(days=1)))
    return qs


def _day_start(day: datetime.date) -> datetime.datetime:
    """Midnight of ``day`` in the current time zone (what ``__date`` filters compare with)."""
    from django.utils import timezone

    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


# The triage order as one ascending key on the screening row (Screening.triage_score and
# is_reviewed): rank = -probability, not yet scored (NULL) last. The triage indexes (migration
# 0004) hold exactly this key, so a page is an index range and a keyset cursor one row comparison.
TRIAGE_RANK = Coalesce(F("triage_score"), Value(-1.0)) * Value(-1.0)
TRIAGE_KEY = (F("is_reviewed"), TRIAGE_RANK, F("submitted_at"), F("id"))
TRIAGE_ORDER = tuple(part.asc() for part in TRIAGE_KEY)


class _Row(Func):
    """``(a, b, ...)``: a row value, for comparing whole sort keys."""

    function = ""
    template = "(%(expressions)s)"
    output_field = BooleanField()  # only ever compared; the type is not read


# Matching rows are counted up to this many: an exact COUNT(*) reads every matching row (514 ms
# for the national list at 10 M rows, BENCHMARKS.md), a capped one at most this many entries.
TRIAGE_COUNT_CAP = 1000
_CURSOR_SALT = "screening.triage-cursor"


TRIAGE_CURSOR_INVALID = gettext_lazy(
    "This page link is not valid (it was changed or cut short). The list starts again from the "
    "first page."
)


class TriageCursorInvalid(ValueError):
    """A page link's cursor that this portal did not make (edited, truncated or too old)."""


@dataclass(frozen=True)
class TriagePage:
    """One keyset page: its rows, opaque cursors of the pages around it, a capped count."""

    rows: list[Screening]
    next_cursor: str | None  # the page after (None at the end)
    previous_cursor: str | None  # the page before (None on the first page)
    count: int  # matching rows, at most TRIAGE_COUNT_CAP
    count_capped: bool  # more than TRIAGE_COUNT_CAP match

    @property
    def is_first(self) -> bool:
        return self.previous_cursor is None


def triage_cursor(screening: Screening) -> tuple:
    """The row's place in the triage order: (is_reviewed, rank, submitted_at, id)."""
    score = screening.triage_score
    rank = -(score if score is not None else -1.0)
    return (screening.is_reviewed, rank, screening.submitted_at, str(screening.pk))


def triage_cursor_encode(*, screening: Screening) -> str:
    """An opaque, signed token of the row's place (``?after=`` / ``?before=``). Signed so that
    an edited token is refused with a clear message rather than read as some other place; it
    only ever moves the start of a list that is still limited to the user's regions."""
    reviewed, rank, submitted_at, pk = triage_cursor(screening)
    payload = [1, int(reviewed), repr(float(rank)), submitted_at.isoformat(), pk]
    return signing.dumps(payload, salt=_CURSOR_SALT, compress=True)


def triage_cursor_decode(*, token: str) -> tuple:
    """The place a token of ``triage_cursor_encode`` holds, else ``TriageCursorInvalid``."""
    try:
        version, reviewed, rank, submitted_at, pk = signing.loads(token, salt=_CURSOR_SALT)
        if version != 1:
            raise ValueError(version)
        when = datetime.datetime.fromisoformat(submitted_at)
        if when.tzinfo is None:
            raise ValueError(submitted_at)
        return (bool(reviewed), float(rank), when, uuid.UUID(pk))
    except (signing.BadSignature, TypeError, ValueError, AttributeError) as exc:
        raise TriageCursorInvalid(str(token)[:16]) from exc


def _keyset(filters: TriageFilters, cursor: tuple) -> tuple[_Row, _Row]:
    """The key and the cursor's values to compare. Where the filter fixes the review state, its
    part is an equality already: compared again inside the row, PostgreSQL starts a backward
    scan ("Previous") at the far end of that state and reads it all (1 s nationally,
    BENCHMARKS.md); without it, the row comparison positions the scan."""
    reviewed, rank, submitted_at, pk = cursor
    values = [
        Value(bool(reviewed)),
        Value(float(rank)),
        Value(submitted_at),
        Value(_parse_uuid(pk), output_field=UUIDField()),
    ]
    if filters.reviewed is not None and bool(reviewed) == filters.reviewed:
        return _Row(*TRIAGE_KEY[1:]), _Row(*values[1:])
    return _Row(*TRIAGE_KEY), _Row(*values)


def triage_page_for_user(
    *,
    user: AbstractBaseUser | AnonymousUser,
    filters: TriageFilters | None = None,
    after: tuple | None = None,
    before: tuple | None = None,
    size: int = 25,
) -> TriagePage:
    """The page of the triage list after the place ``after`` (or before ``before``; neither:
    the first page), by keyset: one row comparison on the key, an index condition, so a page
    costs the same at any depth where ``OFFSET`` reads every row before it (BENCHMARKS.md).
    Places are ``triage_cursor`` tuples (``triage_cursor_decode`` of a page link).

    Queries: the user's regions, the page, a count capped at ``TRIAGE_COUNT_CAP``; the same
    on every page. A previous page that turns out to be the first (rows before it were
    reviewed meanwhile) is read again from the start, so it is full.
    """
    filters = filters or TriageFilters()
    filtered = _apply_filters(screenings_visible_to(user=user), filters)
    listed = _triage_rows(filtered)
    if before is not None:
        qs = listed.filter(LessThan(*_keyset(filters, before)))
        rows = list(qs.order_by(*(part.desc() for part in TRIAGE_KEY))[: size + 1])[::-1]
        if len(rows) > size:
            rows = rows[1:]
            previous = triage_cursor_encode(screening=rows[0])
            return _page(filtered, rows, previous=previous, more=True)
        after = None  # it is the first page
    qs = listed.order_by(*TRIAGE_ORDER)
    if after is not None:
        qs = qs.filter(GreaterThan(*_keyset(filters, after)))
    rows = list(qs[: size + 1])
    more, rows = len(rows) > size, rows[:size]
    previous = triage_cursor_encode(screening=rows[0]) if after is not None and rows else None
    return _page(filtered, rows, previous=previous, more=more)


def triage_page_from_tokens(
    *,
    user: AbstractBaseUser | AnonymousUser,
    filters: TriageFilters | None,
    after: str | None,
    before: str | None,
    size: int,
) -> TriagePage:
    """``triage_page_for_user`` for a page link's ``after`` / ``before`` tokens (empty: none);
    ``TriageCursorInvalid`` for a token this portal did not make."""
    return triage_page_for_user(
        user=user,
        filters=filters,
        after=triage_cursor_decode(token=after) if after else None,
        before=triage_cursor_decode(token=before) if before else None,
        size=size,
    )


def _page(filtered: QuerySet[Screening], rows: list, *, previous, more: bool) -> TriagePage:
    capped = filtered.order_by().values("pk")[: TRIAGE_COUNT_CAP + 1].count()
    return TriagePage(
        rows=rows,
        next_cursor=triage_cursor_encode(screening=rows[-1]) if more and rows else None,
        previous_cursor=previous,
        count=min(capped, TRIAGE_COUNT_CAP),
        count_capped=capped > TRIAGE_COUNT_CAP,
    )


def triage_list_for_user(
    *, user: AbstractBaseUser | AnonymousUser, filters: TriageFilters | None = None
) -> QuerySet[Screening]:
    """Screenings of the user's regions in triage order.

    Unreviewed first, then COVID-19 probability (highest first; no prediction yet last), ties
    longest-waiting first.
    """
    filtered = _apply_filters(screenings_visible_to(user=user), filters or TriageFilters())
    return _triage_rows(filtered).order_by(*TRIAGE_ORDER)


def _triage_rows(filtered: QuerySet[Screening]) -> QuerySet[Screening]:
    """What a triage row shows: the review state and the prediction, region names joined."""
    return _with_review_annotations(filtered).select_related(
        "region", "region__parent", "prediction"
    )


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
    pk = _parse_uuid(screening_id)
    screening = _with_review_annotations(Screening.objects.filter(pk=pk)).first()
    if screening is None or not screening.access_token_matches(token):
        raise Http404("No such screening.")
    return screening
