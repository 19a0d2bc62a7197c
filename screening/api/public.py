"""Public JSON API v1: regions, submissions, the patient's status. Thin: parse, call a selector
or service, serialize."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from rest_framework import status
from rest_framework.exceptions import Throttled
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.audit.services import audit_annotate
from portal.security.patient_access import (
    PatientRateLimited,
    patient_screening_for_request,
    patient_token_from_request,
)
from portal.security.ratelimit import StatusRateThrottle, SubmissionRateThrottle
from portal.security.reporting import IDENTITY_FIELDS

from .. import selectors, services
from ..forms import ScreeningSubmissionForm, TriageFilterForm
from ..serializers import (
    RegionSerializer,
    ReviewInputSerializer,
    ReviewOutputSerializer,
    ScreeningStatusSerializer,
    TriageItemSerializer,
)
from ..uploads import upload_too_large
from . import docs
from .errors import validation_error_response

__all__ = ["StatusRateThrottle", "SubmissionRateThrottle"]


def form_errors(form_or_error) -> dict[str, list[str]]:
    if isinstance(form_or_error, ValidationError):
        data = (
            form_or_error.message_dict
            if hasattr(form_or_error, "error_dict")
            else {"__all__": form_or_error.messages}
        )
    else:
        data = {
            field: [str(m) for m in messages] for field, messages in form_or_error.errors.items()
        }
    if "__all__" in data:
        data["non_field_errors"] = data.pop("__all__")
    return data


@docs.region_list
class RegionListApi(ListAPIView):
    """``GET /api/v1/regions/``: active regions ``[{"code", "name", "parent",
    "accepts_screenings"}]`` (public); only those with ``accepts_screenings`` take a screening."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    serializer_class = RegionSerializer
    pagination_class = None

    def get_queryset(self):
        return selectors.region_list_active()


@docs.screening_create
@method_decorator(sensitive_post_parameters(*IDENTITY_FIELDS), name="dispatch")
class ScreeningCreateApi(APIView):
    """``POST /api/v1/screenings/`` (multipart) -> 201 with the patient's access token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [SubmissionRateThrottle]
    parser_classes = [MultiPartParser, FormParser]

    def post(self, request: Request) -> Response:
        files = request.FILES  # parses the body; the upload handler may stop an oversized file
        form = ScreeningSubmissionForm(
            data=request.data, files=files, upload_too_large=upload_too_large(request), for_api=True
        )
        if not form.is_valid():
            return validation_error_response(form_errors(form))
        try:
            screening = services.screening_submit(**form.submission_kwargs())
        except ValidationError as exc:
            return validation_error_response(form_errors(exc))
        status_path = reverse("screening:status", args=[screening.pk, screening.access_token])
        return Response(
            {
                "id": str(screening.pk),
                "reference": screening.reference,
                "status": screening.status,
                "access_token": screening.access_token,
                "status_url": request.build_absolute_uri(status_path),
            },
            status=status.HTTP_201_CREATED,
            headers={"Cache-Control": "no-store"},
        )


@docs.screening_status
class ScreeningStatusApi(APIView):
    """``GET /api/v1/screenings/<id>/status/``: the token in ``X-Access-Token`` (or the status
    page's cookie, or ``?token=``); 404 on a wrong, expired or revoked token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []  # the status limit counts wrong tokens only (see below)

    def get(self, request: Request, screening_id) -> Response:
        try:
            screening = patient_screening_for_request(
                request=request._request,
                screening_id=screening_id,
                token=patient_token_from_request(request._request, screening_id=screening_id),
            )
        except PatientRateLimited as limited:
            raise Throttled(wait=limited.decision.retry_after) from None
        return Response(
            ScreeningStatusSerializer(screening).data, headers={"Cache-Control": "no-store"}
        )


PAGE_PARAMS = ("after", "before", "page")  # ``page``: links from before keyset pagination


class TriagePagination:
    """Keyset pagination of the triage list: ``?after=`` / ``?before=`` opaque cursors (the
    ``next`` / ``previous`` links), a count capped at ``selectors.TRIAGE_COUNT_CAP``, no
    ``COUNT(*)`` over the whole list (BENCHMARKS.md). DRF's ``CursorPagination`` orders by
    model fields only; the triage order is an expression (``selectors.TRIAGE_KEY``)."""

    @property
    def page_size(self) -> int:  # read per request: settings may change after import (tests)
        return settings.TRIAGE_PAGE_SIZE

    def paginate(self, *, request: Request, filters) -> selectors.TriagePage:
        return selectors.triage_page_from_tokens(
            user=request.user,
            filters=filters,
            after=request.query_params.get("after"),
            before=request.query_params.get("before"),
            size=self.page_size,
        )

    def link(self, request: Request, name: str, token: str | None) -> str | None:
        if token is None:
            return None
        query = request.query_params.copy()
        for param in PAGE_PARAMS:
            query.pop(param, None)
        query[name] = token
        return request.build_absolute_uri(request.path) + "?" + query.urlencode()


@docs.triage_list
class TriageListApi(APIView):
    """``GET /api/v1/triage/?region=&status=&reviewed=&date_from=&date_to=&after=`` (clinician):
    ``{"count", "count_capped", "next", "previous", "results"}``."""

    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        form = TriageFilterForm(request.query_params, user=request.user)
        if not form.is_valid():
            return validation_error_response(form_errors(form))
        paginator = TriagePagination()
        try:
            page = paginator.paginate(request=request, filters=form.to_filters())
        except selectors.TriageCursorInvalid:
            name = "after" if request.query_params.get("after") else "before"
            return validation_error_response({name: [str(selectors.TRIAGE_CURSOR_INVALID)]})
        results = TriageItemSerializer(page.rows, many=True).data
        audit_annotate(
            request._request,
            references=[r["reference"] for r in results],
            filters={k: v for k, v in request.query_params.items() if k not in PAGE_PARAMS},
            page="1" if page.is_first else "cursor",
        )
        return Response(
            {
                "count": page.count,
                "count_capped": page.count_capped,
                "next": paginator.link(request, "after", page.next_cursor),
                "previous": paginator.link(request, "before", page.previous_cursor),
                "results": results,
            },
            headers={"Cache-Control": "private, no-store"},
        )


@docs.review_create
class ReviewCreateApi(APIView):
    """``POST /api/v1/screenings/<id>/review/`` ``{"decision", "note"}`` (clinician of the region)."""

    permission_classes = [IsAuthenticated]

    def post(self, request: Request, screening_id) -> Response:
        selectors.screening_get_for_user(user=request.user, screening_id=screening_id)  # 404 first
        serializer = ReviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            review = services.review_create(
                user=request.user, screening_id=screening_id, **serializer.validated_data
            )
        except ValidationError as exc:
            return validation_error_response(form_errors(exc))
        return Response(ReviewOutputSerializer(review).data, status=status.HTTP_201_CREATED)
