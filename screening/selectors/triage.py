"""The triage list: its order, keyset pages and their cursors, the pending list."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core import signing
from django.db.models import (
    BooleanField,
    Count,
    F,
    Func,
    Max,
    QuerySet,
    UUIDField,
    Value,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThan, LessThan
from django.utils.translation import gettext_lazy

from ..models import Review, Screening
from .scope import (
    NON_TRIAGE_STATUSES,
    TriageFilters,
    _apply_filters,
    _parse_uuid,
    _with_review_annotations,
    screenings_visible_to,
)

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
    qs = screenings_visible_to(user=user).filter(status__in=NON_TRIAGE_STATUSES)
    qs = _apply_filters(
        qs,
        TriageFilters(region=filters.region, date_from=filters.date_from, date_to=filters.date_to),
    )
    # The newest ids first, then their rows: the ids come from the partial index alone
    # (screening_pending_region: region, time, id; migration 0007), where ordering whole rows
    # fetched every not-scored row of a district or province from the table (BENCHMARKS.md).
    newest = qs.order_by("-submitted_at").values("pk")[:limit]
    listed = _with_review_annotations(Screening.objects.filter(pk__in=newest))
    return listed.select_related("region").order_by("-submitted_at")


def triage_state_for_user(*, user: AbstractBaseUser | AnonymousUser) -> str:
    """A cheap fingerprint of what the triage page shows; it changes when anything new arrives."""
    visible = screenings_visible_to(user=user)
    agg = visible.aggregate(n=Count("id"), changed=Max("updated_at"))
    reviews = Review.objects.filter(screening__in=visible.values("id")).aggregate(
        n=Count("id"), last=Max("id")
    )
    changed = agg["changed"].isoformat() if agg["changed"] else "-"
    return f"{agg['n']}.{changed}.{reviews['n']}.{reviews['last'] or 0}"
