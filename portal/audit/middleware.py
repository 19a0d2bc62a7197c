"""Audits every request to a view that reads or changes patient data, from its URL name.

Views need no code of their own: the table below names the action of each route, the response's
status gives the outcome (a 404 for another region's screening is a denied read). A view can add
detail with ``audit_annotate`` (e.g. the references a list showed).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from .models import Outcome
from .services import audit_annotate, audit_record, current_request

__all__ = ["AuditMiddleware", "audit_annotate", "AUDITED_VIEWS"]

# URL name -> action. Reads of patient data, reviews and patient status checks.
AUDITED_VIEWS: dict[str, str] = {
    "screening:triage": "triage.list",
    "screening:detail": "screening.view",
    "screening:image": "screening.image",
    "screening:heatmap": "screening.heatmap",
    "screening:review": "review.create",
    "screening:search": "screening.search",
    "screening:export": "screening.export",
    "patient-status-link": "patient.status",
    "patient-status": "patient.status",
    "api:triage": "triage.list",
    "api:screening-detail": "screening.view",
    "api:screening-image": "screening.image",
    "api:screening-heatmap": "screening.heatmap",
    "api:screening-search": "screening.search",
    "api:screening-export": "screening.export",
    "api:screening-reviews": "review.history",
    "api:screening-review": "review.create",
    "api:screening-status": "patient.status",
    "api:admin-regions": "admin.region",
    "api:admin-region": "admin.region",
    "api:admin-clinicians": "admin.assignment",
    "api:admin-clinician": "admin.assignment",
}
# Admin pages that show patient data (or the audit trail itself): every view is recorded.
ADMIN_PATIENT_MODELS = (
    "screening_screening",
    "screening_prediction",
    "screening_review",
    "screening_heatmap",
    "audit_auditevent",
)
PATIENT_ROUTES = ("patient-status-link", "patient-status", "api:screening-status")


def outcome_for(request: HttpRequest, response: HttpResponse) -> str:
    code = response.status_code
    if code in (401, 403, 404, 429):
        return Outcome.DENIED
    if code >= 400:
        return Outcome.FAILED
    if code in (301, 302, 303, 307, 308):
        location = response.get("Location", "")
        if location.startswith((reverse(settings.LOGIN_URL), reverse("admin:login"))):
            return Outcome.DENIED  # sent to the login page
    return Outcome.ALLOWED


def screening_reference(screening_id) -> str:
    """The reference of a screening id from the URL (for the record only; no access implied)."""
    from screening.models import Screening

    try:
        return (
            Screening.objects.filter(pk=screening_id).values_list("reference", flat=True).first()
            or ""
        )
    except (ValueError, TypeError):
        return ""


def _admin_action(request: HttpRequest, view_name: str) -> tuple[str, str] | None:
    """``(action, model)`` for an admin request worth recording, else None."""
    if not view_name.startswith("admin:"):
        return None
    name = view_name.removeprefix("admin:")
    model = next((m for m in ADMIN_PATIENT_MODELS if name.startswith(m + "_")), None)
    if request.method == "POST" and request.POST.get("action"):
        return "admin.action", name.rsplit("_", 1)[0]  # bulk actions leave no LogEntry
    if model is not None and request.method in ("GET", "HEAD"):
        return "admin.view", model
    return None


class AuditMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = current_request.set(request)
        try:
            response = self.get_response(request)
        finally:
            current_request.reset(token)
        # Fails closed: a read that cannot be recorded is not served (the error becomes a 500/503).
        self.record(request, response)
        return response

    def record(self, request: HttpRequest, response: HttpResponse) -> None:
        match = getattr(request, "resolver_match", None)
        if match is None or not match.view_name:
            return
        view_name = match.view_name
        detail = dict(getattr(request, "_audit_detail", None) or {})
        object_type, object_ref = "", ""
        action = AUDITED_VIEWS.get(view_name)
        if action is None:
            admin = _admin_action(request, view_name)
            if admin is None:
                return
            action, object_type = admin
            object_id = match.kwargs.get("object_id")
            if object_id:
                detail.setdefault("object_id", str(object_id))
                if object_type == "screening_screening":
                    object_ref = screening_reference(object_id)
            if action == "admin.action":
                detail["action"] = request.POST.get("action", "")[:64]
                detail["selected"] = request.POST.getlist("_selected_action")[:500]
        screening_id = match.kwargs.get("screening_id")
        if screening_id is not None:
            object_type, object_ref = "screening", screening_reference(screening_id)
            if "class_label" in match.kwargs:
                detail.setdefault("class", match.kwargs["class_label"])
        elif view_name in ("screening:triage", "api:triage"):
            query = {k: v for k, v in request.GET.items() if k != "page"}
            detail.setdefault("filters", query)
            detail.setdefault("page", request.GET.get("page", "1"))
        for key in ("code", "username"):
            if key in match.kwargs:
                object_type = object_type or key
                object_ref = object_ref or str(match.kwargs[key])
        audit_record(
            request=request,
            action=action,
            outcome=outcome_for(request, response),
            role="patient" if view_name in PATIENT_ROUTES else None,
            object_type=object_type,
            object_ref=object_ref,
            status_code=response.status_code,
            detail=detail,
        )
