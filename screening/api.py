"""JSON API v1 (Django REST framework). Thin: parse, call a selector or service, serialize."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from . import selectors, services
from .forms import ScreeningSubmissionForm, TriageFilterForm
from .serializers import (
    RegionSerializer,
    ReviewInputSerializer,
    ReviewOutputSerializer,
    ScreeningStatusSerializer,
    TriageItemSerializer,
)
from .uploads import upload_too_large


class SubmissionRateThrottle(AnonRateThrottle):
    """Public submissions per client IP (``API_SUBMISSION_RATE``); also used by the HTML form."""

    scope = "submission"


class StatusRateThrottle(AnonRateThrottle):
    scope = "status"


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


class RegionListApi(ListAPIView):
    """``GET /api/v1/regions/``: active regions ``[{"code", "name", "parent"}]`` (public)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    serializer_class = RegionSerializer
    pagination_class = None

    def get_queryset(self):
        return selectors.region_list_active()


class ScreeningCreateApi(APIView):
    """``POST /api/v1/screenings/`` (multipart) -> 201 with the patient's access token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [SubmissionRateThrottle]
    parser_classes = [MultiPartParser, FormParser]

    def post(self, request: Request) -> Response:
        files = request.FILES  # parses the body; the upload handler may stop an oversized file
        form = ScreeningSubmissionForm(
            data=request.data, files=files, upload_too_large=upload_too_large(request)
        )
        if not form.is_valid():
            return Response(form_errors(form), status=status.HTTP_400_BAD_REQUEST)
        try:
            screening = services.screening_submit(**form.submission_kwargs())
        except ValidationError as exc:
            return Response(form_errors(exc), status=status.HTTP_400_BAD_REQUEST)
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


class ScreeningStatusApi(APIView):
    """``GET /api/v1/screenings/<id>/status/?token=...``: 404 on a wrong token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [StatusRateThrottle]

    def get(self, request: Request, screening_id) -> Response:
        screening = selectors.screening_get_for_patient(
            screening_id=screening_id, token=request.query_params.get("token")
        )
        return Response(
            ScreeningStatusSerializer(screening).data, headers={"Cache-Control": "no-store"}
        )


class TriagePagination(PageNumberPagination):
    page_size = settings.TRIAGE_PAGE_SIZE


class TriageListApi(ListAPIView):
    """``GET /api/v1/triage/?region=&status=&reviewed=&date_from=&date_to=&page=`` (clinician)."""

    permission_classes = [IsAuthenticated]
    serializer_class = TriageItemSerializer
    pagination_class = TriagePagination

    def list(self, request: Request, *args, **kwargs) -> Response:
        form = TriageFilterForm(request.query_params, user=request.user)
        if not form.is_valid():
            return Response(form_errors(form), status=status.HTTP_400_BAD_REQUEST)
        self.filters = form.to_filters()
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.triage_list_for_user(user=self.request.user, filters=self.filters)


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
            return Response(form_errors(exc), status=status.HTTP_400_BAD_REQUEST)
        return Response(ReviewOutputSerializer(review).data, status=status.HTTP_201_CREATED)
