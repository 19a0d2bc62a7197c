"""Pages of issue 12 beside the core views: lost-link recovery and notifications (patients),
search and new-results count (clinicians). Thin: a form, one service or selector, a template."""

from __future__ import annotations

import datetime

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from notifications.services import (
    contact_consent_set,
    notification_link_send,
    notification_recovery_send,
)
from portal.security.patient_access import patient_screening_get, patient_token_from_request
from portal.security.ratelimit import rate_limit_hit

from . import people
from .forms_people import LinkRecoveryForm, NotifyForm


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    return response


# --- patients ---------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def link_recover(request: HttpRequest) -> HttpResponse:
    """Reference + date of birth + national ID: a new link goes to the patient's own contacts.

    The answer is the same whether or not the details matched; every attempt is audited and
    rate-limited per client address.
    """
    if request.method == "GET":
        return _no_store(render(request, "screening/recover.html", {"form": LinkRecoveryForm()}))
    decision = rate_limit_hit(request=request, scope="recovery")
    form = LinkRecoveryForm(request.POST)
    if not decision.allowed:
        response = render(
            request,
            "screening/recover.html",
            {"form": form, "too_many": True, "retry_after": decision.retry_after},
            status=429,
        )
        response["Retry-After"] = str(decision.retry_after)
        return _no_store(response)
    if not form.is_valid():
        return _no_store(render(request, "screening/recover.html", {"form": form}, status=400))
    found = people.screening_link_recover(**form.cleaned_data)
    if found is not None:
        screening, token = found
        url = request.build_absolute_uri(reverse("screening:status", args=[screening.pk, token]))
        notification_recovery_send(
            screening=screening, status_url=url, language=translation.get_language()
        )
    people.people_audit(
        action="screening.link_recover",
        request=request,
        screening_ids=[found[0].pk] if found else [],
        detail="matched" if found else "no match",
    )
    return _no_store(render(request, "screening/recover_done.html"))


@require_POST
def status_notify(request: HttpRequest, screening_id) -> HttpResponse:
    """The patient asks (with consent) for the link now and the decision later. Authenticated
    like the status page: the screening's cookie (portal.security.patient_access)."""
    token = patient_token_from_request(request, screening_id=screening_id)
    screening = patient_screening_get(screening_id=screening_id, token=token)
    form = NotifyForm(request.POST)
    status_url = request.build_absolute_uri(reverse("screening:status", args=[screening.pk, token]))
    if not form.is_valid():
        return _no_store(
            render(
                request,
                "screening/notify_error.html",
                {"form": form, "screening": screening, "status_url": status_url},
                status=400,
            )
        )
    data = form.cleaned_data
    consent = contact_consent_set(
        screening=screening,
        sms=data["sms"],
        phone=data["phone"] or screening.phone,
        email=data["email"],
        language=translation.get_language(),
    )
    sent = notification_link_send(screening=screening, status_url=status_url, consent=consent)
    people.people_audit(action="screening.notify_consent", screening_ids=[screening.pk])
    response = redirect(reverse("patient-status", args=[screening.pk]) + f"?notified={sent}#notify")
    response["Referrer-Policy"] = "no-referrer"
    return response


# --- clinicians -------------------------------------------------------------------------------
@login_required
@require_GET
def screening_search_page(request: HttpRequest) -> HttpResponse:
    query = (request.GET.get("q") or "").strip()[:100]
    usable = people.search_query_usable(query=query)
    results = people.screening_search(user=request.user, query=query) if usable else []
    if query:
        people.people_audit(
            action="screening.search",
            user=request.user,
            request=request,
            screening_ids=[s.pk for s in results],
            detail=f"{len(results)} results",
        )
    return _no_store(
        render(
            request,
            "screening/search.html",
            {
                "query": query,
                "results": results,
                "too_short": bool(query) and not usable,
                "search_help": people.SEARCH_QUERY_HELP,
                "limit": people.SEARCH_LIMIT,
            },
        )
    )


def _since(text: str) -> datetime.datetime | None:
    """The page's ISO time in UTC; None for one that is not a time (a 13th month: parse_datetime
    raises) or leaves the calendar in UTC: ``0001-01-01T00:00+01:00`` answered 500, as did an
    offset PostgreSQL does not take (``+23:00``), so the offset is applied here."""
    try:
        since = parse_datetime(text)
        if since is None:
            return None
        if timezone.is_naive(since):
            return timezone.make_aware(since, datetime.UTC)
        return since.astimezone(datetime.UTC)
    except (ValueError, OverflowError):
        return None


@login_required
@require_GET
def triage_new(request: HttpRequest) -> JsonResponse:
    """How many results arrived since the page was shown (the list itself never moves)."""
    since = _since(request.GET.get("since") or "")
    if since is None:
        return _no_store(JsonResponse({"new": 0}))
    count = people.triage_new_count(user=request.user, since=since)
    text = translation.ngettext("%(count)s new result", "%(count)s new results", count) % {
        "count": count
    }
    return _no_store(JsonResponse({"new": count, "text": text}))
