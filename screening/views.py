"""HTML views: patient upload and status pages, clinician triage list and detail."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from inference.constants import CLASSES, DISPLAY_NAMES

from . import presenters, selectors, services
from .api import SubmissionRateThrottle
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
    if request.method == "POST":
        if not SubmissionRateThrottle().allow_request(request, None):
            return render(request, "screening/too_many.html", status=429)
        form = ScreeningSubmissionForm(
            request.POST, request.FILES, upload_too_large=upload_too_large(request)
        )
        if form.is_valid():
            try:
                screening = services.screening_submit(**form.submission_kwargs())
            except ValidationError as exc:
                form.apply_service_errors(exc)
            else:
                return redirect("screening:status", screening.pk, screening.access_token)
        status = 400
    else:
        form = ScreeningSubmissionForm()
    return render(request, "screening/submit.html", {"form": form}, status=status)


@require_GET
def submission_status(request: HttpRequest, screening_id, token: str) -> HttpResponse:
    screening = selectors.screening_get_for_patient(screening_id=screening_id, token=token)
    config = {
        "url": reverse("api:screening-status", args=[screening.pk]) + f"?token={token}",
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
        },
    )
    response["Referrer-Policy"] = "no-referrer"
    return _no_store(response)


# --- clinician --------------------------------------------------------------------------------
@login_required
@require_GET
def triage(request: HttpRequest) -> HttpResponse:
    filter_form = TriageFilterForm(request.GET, user=request.user)
    filters = filter_form.to_filters(default_status=ScreeningStatus.COMPLETED)
    paginator = Paginator(
        selectors.triage_list_for_user(user=request.user, filters=filters),
        settings.TRIAGE_PAGE_SIZE,
    )
    page = paginator.get_page(request.GET.get("page"))
    rows = [
        {
            "screening": s,
            "age": presenters.age_display(s),
            "waiting": presenters.waiting_display(s),
            "prediction": getattr(s, "prediction", None),
            "label": presenters.label_display(
                getattr(getattr(s, "prediction", None), "label", None)
            ),
            "covid_pct": presenters.percent(
                getattr(getattr(s, "prediction", None), "prob_covid", None)
            ),
            "decision": presenters.DECISION_LABELS.get(s.current_decision or "", ""),
            "quality": presenters.quality_flags_display(s),
        }
        for s in page.object_list
    ]
    pending = [
        {"screening": s, "age": presenters.age_display(s), "waiting": presenters.waiting_display(s)}
        for s in selectors.pending_list_for_user(user=request.user, filters=filters)
    ]
    query = request.GET.copy()
    query.pop("page", None)
    return _no_store(
        render(
            request,
            "screening/triage.html",
            {
                "filter_form": filter_form,
                "page": page,
                "rows": rows,
                "pending": pending,
                "pending_statuses": PENDING_STATUSES,
                "query": query.urlencode(),
                "state": selectors.triage_state_for_user(user=request.user),
                "config": {
                    "url": reverse("screening:triage-state"),
                    "interval": settings.TRIAGE_POLL_SECONDS * 1000,
                },
            },
        )
    )


@login_required
@require_GET
def triage_state(request: HttpRequest) -> JsonResponse:
    """Lightweight fingerprint polled by the triage page to know when to refresh."""
    return _no_store(JsonResponse({"state": selectors.triage_state_for_user(user=request.user)}))


def _detail_context(request: HttpRequest, screening, review_form: ReviewForm) -> dict:
    prediction = getattr(screening, "prediction", None)
    probabilities = (
        [
            {
                "code": c,
                "name": DISPLAY_NAMES[c],
                "value": getattr(prediction, f"prob_{c}"),
                "pct": presenters.percent(getattr(prediction, f"prob_{c}")),
            }
            for c in CLASSES
        ]
        if prediction
        else []
    )
    heatmaps = [
        {
            "class_label": h.class_label,
            "name": DISPLAY_NAMES[h.class_label],
            "predicted": prediction is not None and h.class_label == prediction.label,
        }
        for h in selectors.heatmap_list(screening=screening)
    ]
    return {
        "screening": screening,
        "prediction": prediction,
        "heatmaps": heatmaps,
        "quality_flags": presenters.quality_flags_display(screening),
        "probabilities": probabilities,
        "label": presenters.label_display(getattr(prediction, "label", None)),
        "age": presenters.age_display(screening),
        "waiting": presenters.waiting_display(screening),
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
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Decision recorded for {screening.reference}.")
            return redirect("screening:detail", screening.pk)
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


# --- operations -------------------------------------------------------------------------------
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
