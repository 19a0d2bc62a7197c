"""HTML views: patient upload and status pages, clinician triage list and detail."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.audit.services import audit_annotate
from portal.security.ratelimit import rate_limit_check, rate_limit_record

from . import kept_uploads, people, presenters, rules, selectors, services
from .forms import ReviewForm, ScreeningSubmissionForm, TriageFilterForm
from .models import PENDING_STATUSES, ScreeningStatus
from .uploads import upload_too_large


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    return response


# --- patient ----------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def submit(request: HttpRequest) -> HttpResponse:
    status = 200
    extra: dict = {}
    if request.method == "POST":
        # Only accepted submissions count against the limit; over it, what was typed is kept.
        decision = rate_limit_check(request=request, scope="submission")
        if not decision.allowed:
            form = ScreeningSubmissionForm(initial=request.POST.dict())
            response = render(
                request,
                "screening/submit.html",
                {"form": form, "too_many": rules.SUBMISSION_TOO_MANY},
                status=429,
            )
            response["Retry-After"] = str(decision.retry_after)
            return response
        files, kept_key = kept_uploads.submit_files(request)
        form = ScreeningSubmissionForm(
            request.POST, files, upload_too_large=upload_too_large(request)
        )
        if form.is_valid():
            try:
                screening = services.screening_submit(**form.submission_kwargs())
            except ValidationError as exc:
                form.apply_service_errors(exc)
            else:
                rate_limit_record(request=request, scope="submission")
                kept_uploads.upload_discard(key=kept_key)
                return redirect("screening:status", screening.pk, screening.access_token)
        extra = kept_uploads.submit_context(form=form, files=files, key=kept_key)
        status = 400
    else:
        form = ScreeningSubmissionForm()
    return render(request, "screening/submit.html", {"form": form, **extra}, status=status)


def request_too_large(request: HttpRequest) -> HttpResponse:
    """413 for a body declared far over the upload limit (``RequestSizeLimitMiddleware``; the
    body is never read): the plain "too large" message, as JSON for the API."""
    # Runs before LocaleMiddleware: take the patient's language here.
    with translation.override(translation.get_language_from_request(request)):
        message = rules.too_large_message()
        if request.path.startswith("/api/"):
            return JsonResponse({"image": [message]}, status=413)
        context = {"form": ScreeningSubmissionForm(), "too_large": message}
        return render(request, "screening/submit.html", context, status=413)


@require_GET
def submission_status(request: HttpRequest, screening_id, token: str) -> HttpResponse:
    screening = selectors.screening_get_for_patient(screening_id=screening_id, token=token)
    config = {
        # The status page's cookie authenticates the poll (portal.security.patient_access).
        "url": reverse("api:screening-status", args=[screening.pk]),
        "interval": settings.STATUS_POLL_SECONDS * 1000,
        "statuses": presenters.PATIENT_STATUS_TEXT,
        "decisions": presenters.PATIENT_DECISION_TEXT,
    }
    response = render(
        request,
        "screening/status.html",
        {
            "screening": screening,
            "view": presenters.patient_view(screening),
            "config": config,
            "final": bool(getattr(screening, "current_decision", None))
            or screening.status in (ScreeningStatus.FAILED, ScreeningStatus.REJECTED),
            "poll_seconds": settings.STATUS_POLL_SECONDS * 3,
            # Shown with a copy button: the patient's way back (issue 12).
            "status_link": request.build_absolute_uri(
                reverse("screening:status", args=[screening.pk, token])
            ),
        },
    )
    response["Referrer-Policy"] = "no-referrer"
    return _no_store(response)


# --- clinician --------------------------------------------------------------------------------
CURSOR_PARAMS = ("after", "before", "page")  # ``page``: links from before keyset pagination


def _triage_links(request: HttpRequest, page: selectors.TriagePage) -> dict:
    """First / previous / next links with the page's filters kept."""
    query = request.GET.copy()
    for name in CURSOR_PARAMS:
        query.pop(name, None)
    first = query.urlencode()

    def link(name: str, token: str | None) -> str | None:
        if token is None:
            return None
        here = query.copy()
        here[name] = token
        return "?" + here.urlencode()

    paged = any(name in request.GET for name in ("after", "before"))
    return {
        "first_url": reverse("screening:triage") + (f"?{first}" if first else ""),
        "previous_url": link("before", page.previous_cursor) if paged else None,
        "next_url": link("after", page.next_cursor),
        "paged": paged,
        "count_text": _count_text(page),
    }


def _count_text(page: selectors.TriagePage) -> str:
    if page.count_capped:
        # The exact total is not counted (BENCHMARKS.md: 0.5 s nationally); only its lower bound.
        return _("more than %(count)s") % {"count": number_format(page.count, force_grouping=True)}
    return number_format(page.count, force_grouping=True)


def _triage_page(request: HttpRequest, filters) -> tuple[selectors.TriagePage, str | None]:
    """The page the link asks for; a cursor this portal did not make: the first page and a
    message (the caller answers 400)."""
    try:
        page = selectors.triage_page_from_tokens(
            user=request.user,
            filters=filters,
            after=request.GET.get("after"),
            before=request.GET.get("before"),
            size=settings.TRIAGE_PAGE_SIZE,
        )
        return page, None
    except selectors.TriageCursorInvalid:
        page = selectors.triage_page_for_user(
            user=request.user, filters=filters, size=settings.TRIAGE_PAGE_SIZE
        )
        return page, str(selectors.TRIAGE_CURSOR_INVALID)


@login_required
@require_GET
def triage(request: HttpRequest) -> HttpResponse:
    filter_form = TriageFilterForm(request.GET, user=request.user)
    filters = filter_form.to_filters(default_status=ScreeningStatus.COMPLETED)
    page, cursor_error = _triage_page(request, filters)
    audit_annotate(  # portal.audit: what the list showed, its filters without the cursors
        request,
        references=[s.reference for s in page.rows],
        filters={k: v for k, v in request.GET.items() if k not in CURSOR_PARAMS},
        page="1" if page.is_first else "cursor",
    )
    pending = presenters.pending_rows(
        selectors.pending_list_for_user(user=request.user, filters=filters)
    )
    context = {
        "filter_form": filter_form,
        "page": page,
        "rows": presenters.triage_rows(page.rows),
        "pending": pending,
        "pending_statuses": PENDING_STATUSES,
        "cursor_error": cursor_error,
        **_triage_links(request, page),
        # No triage_state_for_user fingerprint here any more: it counts every visible screening
        # (a full COUNT per view at national scale) and nothing on the page read it.
        "config": {
            "url": reverse("screening:triage-state"),
            "interval": settings.TRIAGE_POLL_SECONDS * 1000,
        },
    }
    status = 400 if cursor_error else 200
    return _no_store(render(request, "screening/triage.html", context, status=status))


@login_required
@require_GET
def triage_state(request: HttpRequest) -> JsonResponse:
    """Lightweight fingerprint polled by the triage page to know when to refresh."""
    return _no_store(JsonResponse({"state": selectors.triage_state_for_user(user=request.user)}))


def _detail_context(request: HttpRequest, screening, review_form: ReviewForm) -> dict:
    return {
        **presenters.detail_panel(screening, heatmaps=selectors.heatmap_list(screening=screening)),
        "review_form": review_form,
        "reviews": selectors.review_history(screening=screening),
        "can_review": screening.status in services.REVIEWABLE_STATUSES,
    }


@login_required
@require_GET
def screening_detail(request: HttpRequest, screening_id) -> HttpResponse:
    screening = selectors.screening_get_for_user(user=request.user, screening_id=screening_id)
    context = _detail_context(request, screening, ReviewForm())
    return _no_store(render(request, "screening/detail.html", context))


@login_required
@require_POST
def screening_review(request: HttpRequest, screening_id) -> HttpResponse:
    screening = selectors.screening_get_for_user(user=request.user, screening_id=screening_id)
    form = ReviewForm(request.POST)
    if form.is_valid():
        try:
            services.review_create(
                user=request.user,
                screening_id=screening.pk,
                decision=form.cleaned_data["decision"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            form.apply_service_errors(exc)
        else:
            messages.success(
                request,
                _("Decision recorded for %(reference)s.") % {"reference": screening.reference},
            )
            # On to the next unreviewed screening, with a way back (issue 12).
            return redirect(people.review_next_url(user=request.user, screening=screening))
    context = _detail_context(request, screening, form)
    return _no_store(render(request, "screening/detail.html", context, status=400))


@login_required
@require_GET
def screening_image(request: HttpRequest, screening_id) -> FileResponse:
    """The stored radiograph, only for clinicians of the screening's region."""
    screening = selectors.screening_get_for_user(user=request.user, screening_id=screening_id)
    return _stored_png_response(screening.image, filename=f"{screening.reference}.png")


@login_required
@require_GET
def screening_heatmap(request: HttpRequest, screening_id, class_label: str) -> FileResponse:
    """A Grad-CAM heatmap (RGBA PNG), only for clinicians of the screening's region."""
    heatmap = selectors.heatmap_get_for_user(
        user=request.user, screening_id=screening_id, class_label=class_label
    )
    return _stored_png_response(heatmap.image, filename=f"heatmap-{class_label}.png")


def _stored_png_response(field_file, *, filename: str) -> FileResponse:
    """Stream a stored PNG (access already checked by the caller), never cached."""
    try:
        handle = field_file.open("rb")
    except FileNotFoundError:
        raise Http404("The file is missing.") from None
    response = FileResponse(handle, content_type="image/png")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return _no_store(response)
