"""Patient and clinician helpers of issue 12 that sit beside the core screening code: lost-link
recovery, clinician search, "next unreviewed", duplicate uploads, the expected wait and new
results of the triage list. Writes are ``*_recover``; reads are selectors (keyword-only)."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import logging
import secrets
import statistics
import uuid

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction
from django.db.models import Min, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy

from . import selectors
from .models import Review, Screening, ScreeningStatus, access_token_hash

logger = logging.getLogger(__name__)

SEARCH_LIMIT = 50


# --- audit ------------------------------------------------------------------------------------
def people_audit(
    *, action: str, user=None, request=None, screening_ids=(), detail: str = ""
) -> None:
    """Audit trail entry (``portal.audit``) of a search, link recovery or consent: ids only."""
    from portal.audit.services import audit_record

    audit_record(
        action=action, user=user, request=request, object_ids=list(screening_ids), detail=detail
    )


# --- lost-link recovery -------------------------------------------------------------------------
def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def screening_link_recover(
    *, reference: str, date_of_birth: datetime.date, national_id: str
) -> tuple[Screening, str] | None:
    """A new private link for the screening whose three details all match, else ``None``.

    The old link stops working (only one token hash is kept). The caller sends the new link to
    the patient's own contacts and answers the same whether or not anything matched.
    """
    reference = "".join((reference or "").split()).upper()
    screening = Screening.objects.filter(reference=reference).first()
    if screening is None:
        # Spend about the same time as a match would, so timing says nothing either.
        _same(access_token_hash(secrets.token_urlsafe(8)), "0" * 64)
        return None
    if not (
        _same(screening.national_id.upper(), (national_id or "").upper())
        and screening.date_of_birth == date_of_birth
    ):
        return None
    from portal.security.patient_access import patient_token_rotate

    return screening, patient_token_rotate(screening_id=screening.pk)


# --- clinician search ----------------------------------------------------------------------------
# What a clinician has in hand, each served by an index at 10 M rows (BENCHMARKS.md, migration
# 0005): a reference or its beginning (btree prefix), a whole national ID (btree on its upper
# case), or part of a name (trigram, only from 3 letters: shorter has no trigram to look up).
# Part of a national ID or the middle of a reference no longer matches: a trigram search over
# identifiers made of few symbols read ~9,000 index pages (38-100 ms) at that scale.
REFERENCE_PREFIX_MIN = 4  # characters after "CXR"
NATIONAL_ID_MIN = 4
NAME_WORD_MIN = 3
SEARCH_QUERY_HELP = gettext_lazy(
    "Type a reference or its beginning (at least 4 characters after CXR), a whole national ID, "
    "or at least 3 letters of a name (at most 100 characters)."
)


def _search_conditions(query: str) -> list[Q]:
    text = " ".join((query or "").split())
    compact = "".join(ch for ch in text if ch.isalnum()).upper()
    conditions: list[Q] = []
    if len(compact) >= NATIONAL_ID_MIN:
        conditions.append(Q(national_id__iexact=compact))  # stored without separators
    body = compact.removeprefix("CXR")
    if REFERENCE_PREFIX_MIN <= len(body) <= 8:
        # References are stored as CXR-XXXX-XXXX; "7K3Q9D2M" or "cxr-7k3q" find them too.
        dashed = "-".join(body[i : i + 4] for i in range(0, len(body), 4))
        conditions.append(Q(reference__startswith=f"CXR-{dashed}"))
    words = text.split(" ") if text else []
    if _is_name_query(text):
        name = Q()
        for word in words:
            name &= Q(full_name__icontains=word)
        conditions.append(name)
    return conditions


def _is_name_query(query: str) -> bool:
    """A name search: no digit, and one word of at least 3 letters."""
    words = (query or "").split()
    return not any(ch.isdigit() for ch in query or "") and any(
        len(w) >= NAME_WORD_MIN for w in words
    )


def search_query_usable(*, query: str) -> bool:
    """Whether ``query`` can find anything (see ``screening_search``); else say what to type."""
    return bool(_search_conditions(query))


def screening_search(
    *, user: AbstractBaseUser | AnonymousUser, query: str, limit: int = SEARCH_LIMIT
) -> list[Screening]:
    """Screenings of the user's regions, newest first, whose reference starts with ``query``
    (at least 4 characters after "CXR"), whose national ID is ``query`` (whole), or, for a
    query without digits, whose name contains each word (one of at least 3 letters).

    Spaces, dashes and case are ignored in references and national IDs.
    """
    conditions = _search_conditions(query)
    if not conditions:
        return []
    condition = conditions[0]
    for more in conditions[1:]:
        condition |= more
    visible, regions = selectors.screenings_visible_for_search(user=user)
    rows = visible.filter(condition).select_related("region").order_by("-submitted_at")
    several = regions is None or regions > 1
    if several and _is_name_query(query) and connection.vendor == "postgresql":
        return _name_search_windowed(rows=rows, limit=limit)
    return list(rows[:limit])


# A name over several regions or all of them: one walk newest first of the national time index
# finds a common name at once, but PostgreSQL expects two common words to meet as often as their
# shares say, so a name nobody has made of common trigrams (two first names) walked all 10 M rows
# for a superuser or a clinician of 3 provinces (more than 5-10 s; BENCHMARKS.md, section 5e).
# So the walk stops at the newest rows of this window, and what it did not find there is read
# from the trigram indexes (bitmap scans only, for that query). One district keeps its walk of
# its own (region, time) index, bounded by the district.
SEARCH_EVERYWHERE_WINDOW = 20_000


def _name_search_windowed(*, rows: QuerySet[Screening], limit: int) -> list[Screening]:
    """The newest ``limit`` of ``rows`` (ordered newest first): those of the newest window of
    every screening by a walk, the older ones by the trigram indexes."""
    newest = Screening.objects.order_by("-submitted_at").values_list("submitted_at", flat=True)
    edge = list(newest[SEARCH_EVERYWHERE_WINDOW - 1 : SEARCH_EVERYWHERE_WINDOW])
    if not edge:  # fewer rows than the window: the walk reads at most that many
        return list(rows[:limit])
    found = list(rows.filter(submitted_at__gte=edge[0])[:limit])
    if len(found) == limit:
        return found
    older = rows.filter(submitted_at__lt=edge[0])[: limit - len(found)]
    with transaction.atomic(), connection.cursor() as cur:
        # Only bitmap scans for this query: the trigram index's, not a walk (SET LOCAL ends
        # with the transaction; set back here for a caller's longer one, e.g. a test's).
        cur.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off")
        found += list(older)
        cur.execute("SET LOCAL enable_seqscan TO DEFAULT; SET LOCAL enable_indexscan TO DEFAULT")
    return found


# --- work through the list ----------------------------------------------------------------------
def _unreviewed(user) -> QuerySet[Screening]:
    filters = selectors.TriageFilters(status=ScreeningStatus.COMPLETED, reviewed=False)
    return selectors.triage_list_for_user(user=user, filters=filters)


def screening_next_unreviewed(*, user, exclude_id=None) -> Screening | None:
    """The first unreviewed screening in triage order (other than ``exclude_id``)."""
    qs = _unreviewed(user)
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    return qs.first()


def review_next_url(*, user, screening: Screening) -> str:
    """Where "Record decision" leads: the next unreviewed screening (``?from=`` links back to
    the one just decided), or the same screening when none is left."""
    from django.urls import reverse

    following = screening_next_unreviewed(user=user, exclude_id=screening.pk)
    if following is None:
        return reverse("screening:detail", args=[screening.pk])
    return reverse("screening:detail", args=[following.pk]) + f"?from={screening.pk}"


def triage_new_count(*, user, since: datetime.datetime) -> int:
    """Results (analysis finished) of the user's regions that arrived after ``since``."""
    return (
        selectors.screenings_visible_to(user=user)
        .filter(status=ScreeningStatus.COMPLETED, completed_at__gt=since)
        .count()
    )


def user_has_no_regions(*, user) -> bool:
    return (
        user.is_authenticated
        and not user.is_superuser
        and not selectors.regions_for_user(user=user).exists()
    )


# --- duplicates -------------------------------------------------------------------------------
DUPLICATE_WINDOW = datetime.timedelta(days=1)


def _file_digest(field_file) -> str | None:
    try:
        with field_file.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except (FileNotFoundError, ValueError, OSError):
        return None


def screening_duplicates(*, screening: Screening, within: QuerySet[Screening]) -> list[Screening]:
    """Other screenings in ``within`` with the same national ID and the same stored image,
    sent less than a day apart. The stored PNG is re-encoded from the decoded pixels, so the
    same upload gives the same file."""
    if not screening.image:
        return []
    candidates = within.filter(
        national_id=screening.national_id,
        submitted_at__gte=screening.submitted_at - DUPLICATE_WINDOW,
        submitted_at__lte=screening.submitted_at + DUPLICATE_WINDOW,
        image_width=screening.image_width,
        image_height=screening.image_height,
    ).exclude(pk=screening.pk)[:10]
    candidates = list(candidates)
    if not candidates:
        return []
    digest = _file_digest(screening.image)
    if digest is None:
        return []
    return [c for c in candidates if c.image and _file_digest(c.image) == digest]


# --- expected wait ------------------------------------------------------------------------------
def review_wait_typical(*, region_id, days: int = 14) -> datetime.timedelta | None:
    """Median time from submission to the first decision over the last ``days`` in a region."""
    since = timezone.now() - datetime.timedelta(days=days)
    rows = (
        Review.objects.filter(screening__region_id=region_id, screening__submitted_at__gte=since)
        .values("screening_id", "screening__submitted_at")
        .annotate(first=Min("created_at"))[:500]
    )
    waits = [(r["first"] - r["screening__submitted_at"]).total_seconds() for r in rows]
    if len(waits) < 3:
        return None
    return datetime.timedelta(seconds=statistics.median(waits))


def parse_uuid_or_none(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None
