"""Patient status links: the token leaves the URL on the first visit.

The link a patient receives is ``/s/<id>/<token>/``. Its first visit checks the token, stores it
in a ``Secure`` (when deployed), ``HttpOnly``, ``SameSite=Lax`` cookie scoped to that screening
and redirects to ``/s/<id>/``, so the token is not in the address bar, the history or any later
access-log line. The status API takes the token from ``X-Access-Token``, from that cookie, or
(older clients) from ``?token=``, which every log the project writes redacts.

A link expires ``PATIENT_LINK_MAX_AGE_DAYS`` after submission and can be revoked
(``patient_token_revoke``) or replaced (``patient_token_rotate``, for link recovery). Wrong,
expired and revoked tokens all get the same 404.
"""

from __future__ import annotations

import datetime
import secrets
import uuid

from django.conf import settings
from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from screening.models import Screening

from .ratelimit import RateLimitDecision, rate_limit_check, rate_limit_record, too_many_requests

EXPIRED_OR_WRONG = "No such screening."
REVOKED_HASH = "revoked"  # never equal to a SHA-256 hex digest


def patient_cookie_name(screening_id: uuid.UUID | str) -> str:
    return f"{settings.PATIENT_COOKIE_PREFIX}{uuid.UUID(str(screening_id)).hex}"


def patient_token_from_request(request: HttpRequest, *, screening_id) -> str | None:
    """The access token a request carries: header, then cookie, then ``?token=``."""
    try:
        cookie = request.COOKIES.get(patient_cookie_name(screening_id))
    except ValueError:
        cookie = None
    return request.headers.get("X-Access-Token") or cookie or request.GET.get("token") or None


def patient_link_expires_at(*, screening: Screening) -> datetime.datetime:
    return screening.submitted_at + datetime.timedelta(days=settings.PATIENT_LINK_MAX_AGE_DAYS)


def patient_screening_get(*, screening_id, token: str | None) -> Screening:
    """The screening if the token matches and the link has not expired, else ``Http404``."""
    from screening.selectors import screening_get_for_patient

    screening = screening_get_for_patient(screening_id=screening_id, token=token)
    if timezone.now() >= patient_link_expires_at(screening=screening):
        raise Http404(EXPIRED_OR_WRONG)
    return screening


class PatientRateLimited(Exception):
    def __init__(self, decision: RateLimitDecision) -> None:
        super().__init__("Too many wrong status links from this address.")
        self.decision = decision


def patient_screening_for_request(*, request: HttpRequest, screening_id, token: str | None):
    """``patient_screening_get`` behind the ``status`` rate limit, which counts failures only.

    Guessing tokens is what the limit stops; a patient whose page polls every few seconds with
    the right token is never throttled. Raises ``PatientRateLimited`` or ``Http404``.
    """
    decision = rate_limit_check(request=request, scope="status")
    if not decision.allowed:
        raise PatientRateLimited(decision)
    try:
        return patient_screening_get(screening_id=screening_id, token=token)
    except Http404:
        rate_limit_record(request=request, scope="status")
        raise


def patient_token_revoke(*, screening_id) -> bool:
    """Invalidate the patient's link (e.g. sent to the wrong number). True if one was active."""
    return bool(
        Screening.objects.filter(pk=screening_id)
        .exclude(access_token_hash=REVOKED_HASH)
        .update(access_token_hash=REVOKED_HASH)
    )


def patient_token_rotate(*, screening_id) -> str:
    """A new token for the screening (the old link stops working); returns the plain token."""
    from screening.services import access_token_hash

    token = secrets.token_urlsafe(32)
    Screening.objects.filter(pk=screening_id).update(access_token_hash=access_token_hash(token))
    return token


def _set_patient_cookie(response: HttpResponse, *, screening: Screening, token: str) -> None:
    max_age = int((patient_link_expires_at(screening=screening) - timezone.now()).total_seconds())
    response.set_cookie(
        patient_cookie_name(screening.pk),
        token,
        max_age=max(max_age, 0),
        secure=settings.PATIENT_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def _private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_GET
def status_link(request: HttpRequest, screening_id, token: str) -> HttpResponse:
    """``/s/<id>/<token>/``: check the token, keep it in a cookie, redirect to ``/s/<id>/``."""
    try:
        screening = patient_screening_for_request(
            request=request, screening_id=screening_id, token=token
        )
    except PatientRateLimited as limited:
        return too_many_requests(request, decision=limited.decision)
    response = HttpResponseRedirect(reverse("patient-status", args=[screening.pk]))
    _set_patient_cookie(response, screening=screening, token=token)
    return _private(response)


@require_GET
def status_page(request: HttpRequest, screening_id) -> HttpResponse:
    """``/s/<id>/``: the status page, for the browser holding that screening's cookie."""
    from screening import views

    token = request.COOKIES.get(patient_cookie_name(screening_id))
    try:  # 404 if wrong, expired or revoked
        patient_screening_for_request(request=request, screening_id=screening_id, token=token)
    except PatientRateLimited as limited:
        return too_many_requests(request, decision=limited.decision)
    return _private(views.submission_status(request, screening_id=screening_id, token=token))


@admin.action(description="Revoke the patient's status link (it stops working at once)")
def revoke_patient_links(modeladmin, request, queryset) -> None:
    """Admin action; needs ``screening.change_screening`` (or a superuser). Audited."""
    from portal.audit.services import audit_record

    if not request.user.has_perm("screening.change_screening"):
        modeladmin.message_user(request, "You may not revoke patient links.", messages.ERROR)
        return
    revoked = 0
    for pk, reference in queryset.values_list("pk", "reference"):
        revoked += patient_token_revoke(screening_id=pk)
        audit_record(
            action="patient.link_revoke",
            request=request,
            object_type="screening",
            object_ref=reference,
        )
    modeladmin.message_user(request, f"{revoked} patient link(s) revoked.")
