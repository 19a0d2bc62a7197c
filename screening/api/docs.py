"""OpenAPI descriptions of the API views (drf-spectacular), kept apart so the views stay short."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers

from ..serializers import (
    RegionSerializer,
    ReviewInputSerializer,
    ReviewOutputSerializer,
    ScreeningStatusSerializer,
    TriageItemSerializer,
)
from .serializers import (
    AdminRegionSerializer,
    ClinicianAssignmentSerializer,
    ErrorSerializer,
    RegionStatisticsSerializer,
    ScreeningDetailSerializer,
    SearchResultSerializer,
)


def _error(text: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=text)


VALIDATION = _error("Invalid input: `detail`, `code` (`invalid`) and a message list per field.")
UNAUTHENTICATED = _error(
    "Not signed in: no session and no valid `Authorization: Token <key>` "
    "(`WWW-Authenticate: Token` is sent)."
)
FORBIDDEN = _error("Signed in, but without the permission this needs.")
NOT_FOUND = _error("No such object, or it is outside your regions (never 403: nothing leaks).")
THROTTLED = _error("Too many requests from this address; `Retry-After` says when to retry.")
PNG = OpenApiResponse(OpenApiTypes.BINARY, description="The PNG (`Cache-Control: no-store`).")

CLINICIAN_ERRORS = {401: UNAUTHENTICATED, 403: FORBIDDEN, 404: NOT_FOUND}
ADMIN_ERRORS = {400: VALIDATION, 401: UNAUTHENTICATED, 403: FORBIDDEN}

SubmissionCreated = inline_serializer(
    "SubmissionCreated",
    {
        "id": serializers.UUIDField(),
        "reference": serializers.CharField(),
        "status": serializers.CharField(),
        "access_token": serializers.CharField(help_text="Shown once; only its hash is stored."),
        "status_url": serializers.URLField(),
    },
)
SubmissionInput = inline_serializer(
    "SubmissionInput",
    {
        "image": serializers.FileField(help_text="PNG, JPEG or DICOM, at most MAX_UPLOAD_MB."),
        "region": serializers.CharField(help_text="A selectable region code (GET /regions/)."),
        "national_id": serializers.CharField(),
        "full_name": serializers.CharField(),
        "date_of_birth": serializers.DateField(),
        "sex": serializers.ChoiceField(choices=["F", "M", "X"]),
        "phone": serializers.CharField(),
        "consent": serializers.BooleanField(),
        "symptoms": serializers.CharField(required=False),
    },
)
ACCESS_TOKEN = OpenApiParameter(
    "X-Access-Token",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="The patient's access token (or the status page's cookie, or `?token=`).",
)
TOKEN_QUERY = OpenApiParameter(
    "token",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    required=False,
    deprecated=True,
    description="Older clients: the token in the query string (redacted from every log).",
)

region_list = extend_schema(
    summary="Active regions (public)",
    responses={200: RegionSerializer(many=True)},
    tags=["public"],
)
screening_create = extend_schema(
    summary="Submit a chest X-ray (public, rate-limited)",
    request={"multipart/form-data": SubmissionInput},
    responses={
        201: SubmissionCreated,
        400: VALIDATION,
        413: _error("The file is larger than MAX_UPLOAD_MB."),
        415: _error("Not multipart/form-data."),
        429: THROTTLED,
    },
    tags=["public"],
)
screening_status = extend_schema(
    summary="A patient's screening status",
    parameters=[ACCESS_TOKEN, TOKEN_QUERY],
    responses={
        200: ScreeningStatusSerializer,
        400: _error("The query string holds a NUL character (`code` `invalid`)."),
        404: _error("Wrong, expired or revoked token."),
        429: THROTTLED,
    },
    tags=["public"],
)
TriagePage = inline_serializer(
    "TriagePage",
    {
        "count": serializers.IntegerField(
            help_text="Matching screenings, counted up to 1000 (see `count_capped`)."
        ),
        "count_capped": serializers.BooleanField(
            help_text="More than `count` match: the exact total is not counted."
        ),
        "next": serializers.URLField(
            allow_null=True, help_text="The next page (same filters), or null at the end."
        ),
        "previous": serializers.URLField(
            allow_null=True, help_text="The page before, or null on the first page."
        ),
        "results": TriageItemSerializer(many=True),
    },
)
CURSOR_HELP = (
    "Opaque cursor from a `next` / `previous` link; do not build or edit it (an edited or cut "
    "cursor is a 400 on this parameter). Omit both for the first page."
)
triage_list = extend_schema_view(
    get=extend_schema(
        summary="Triage list of your regions (keyset pages, triage order)",
        description=(
            "Pages by cursor, not page number: follow `next` / `previous`. A page costs the same "
            "at any depth, and a screening that arrives while you page does not shift the rows "
            "you have not seen yet (it sorts into its place in the order)."
        ),
        parameters=[
            OpenApiParameter("region", OpenApiTypes.STR, description="Region code."),
            OpenApiParameter("status", OpenApiTypes.STR),
            OpenApiParameter("reviewed", OpenApiTypes.BOOL),
            OpenApiParameter("date_from", OpenApiTypes.DATE),
            OpenApiParameter("date_to", OpenApiTypes.DATE),
            OpenApiParameter("after", OpenApiTypes.STR, description=CURSOR_HELP),
            OpenApiParameter("before", OpenApiTypes.STR, description=CURSOR_HELP),
        ],
        responses={200: TriagePage, 400: VALIDATION, **CLINICIAN_ERRORS},
        tags=["clinician"],
    )
)
review_create = extend_schema(
    summary="Record a decision on a screening of your regions",
    request=ReviewInputSerializer,
    responses={201: ReviewOutputSerializer, 400: VALIDATION, **CLINICIAN_ERRORS},
    tags=["clinician"],
)
screening_detail = extend_schema(
    summary="A screening of your regions: patient, probabilities, file links, reviews",
    responses={200: ScreeningDetailSerializer, **CLINICIAN_ERRORS},
    tags=["clinician"],
)
screening_image = extend_schema(
    summary="The stored radiograph (PNG)",
    responses={(200, "image/png"): PNG, **CLINICIAN_ERRORS},
    tags=["clinician"],
)
screening_heatmap = extend_schema(
    summary="A Grad-CAM heatmap (RGBA PNG) of one class",
    responses={(200, "image/png"): PNG, **CLINICIAN_ERRORS},
    tags=["clinician"],
)
triage_export = extend_schema(
    summary="The triage list of your regions as CSV (references and codes, no identity)",
    parameters=[
        OpenApiParameter("region", OpenApiTypes.STR, description="Region code."),
        OpenApiParameter("status", OpenApiTypes.STR),
        OpenApiParameter("reviewed", OpenApiTypes.BOOL),
        OpenApiParameter("date_from", OpenApiTypes.DATE),
        OpenApiParameter("date_to", OpenApiTypes.DATE),
        OpenApiParameter("format", exclude=True),  # choose by Accept, not ?format=
    ],
    responses={
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, at most 5000 rows."),
        400: VALIDATION,
        401: UNAUTHENTICATED,
        403: FORBIDDEN,
    },
    tags=["clinician"],
)
review_history = extend_schema(
    summary="Every decision recorded on a screening, newest first",
    responses={200: ReviewOutputSerializer(many=True), **CLINICIAN_ERRORS},
    tags=["clinician"],
)
screening_search = extend_schema(
    summary="Search your regions by reference, national ID or name",
    description=(
        "Newest first, at most 50. `q` matches a reference that starts with it (at least 4 "
        "characters after `CXR`; dashes, spaces and case ignored), a whole national ID "
        "(separators and case ignored), or, when `q` has no digits, names containing each of its "
        "words (at least one word of 3 letters). Part of a national ID or the middle of a "
        "reference does not match. A `q` that can match none of these is a 400."
    ),
    parameters=[OpenApiParameter("q", OpenApiTypes.STR, required=True)],
    responses={200: SearchResultSerializer(many=True), 400: VALIDATION, **CLINICIAN_ERRORS},
    tags=["clinician"],
)
region_statistics = extend_schema(
    summary="Counts per region you serve",
    responses={200: RegionStatisticsSerializer(many=True), 401: UNAUTHENTICATED, 403: FORBIDDEN},
    tags=["clinician"],
)
admin_regions = extend_schema_view(
    get=extend_schema(
        summary="Every region",
        responses={200: AdminRegionSerializer(many=True), **ADMIN_ERRORS},
        tags=["admin"],
    ),
    post=extend_schema(
        summary="Create a region",
        request=AdminRegionSerializer,
        responses={201: AdminRegionSerializer, **ADMIN_ERRORS},
        tags=["admin"],
    ),
)
admin_region = extend_schema_view(
    get=extend_schema(
        summary="One region",
        responses={200: AdminRegionSerializer, 404: NOT_FOUND, **ADMIN_ERRORS},
        tags=["admin"],
    ),
    patch=extend_schema(
        summary="Change a region (name, parent, active)",
        request=AdminRegionSerializer,
        responses={200: AdminRegionSerializer, 404: NOT_FOUND, **ADMIN_ERRORS},
        tags=["admin"],
    ),
)
admin_clinicians = extend_schema(
    summary="Clinicians and the regions they serve",
    responses={200: ClinicianAssignmentSerializer(many=True), **ADMIN_ERRORS},
    tags=["admin"],
)
admin_clinician = extend_schema_view(
    get=extend_schema(
        summary="One clinician's regions",
        responses={200: ClinicianAssignmentSerializer, 404: NOT_FOUND, **ADMIN_ERRORS},
        tags=["admin"],
    ),
    put=extend_schema(
        summary="Replace the regions a clinician serves",
        request=ClinicianAssignmentSerializer,
        responses={200: ClinicianAssignmentSerializer, 404: NOT_FOUND, **ADMIN_ERRORS},
        tags=["admin"],
    ),
)
