"""Clinician API: screening detail, image and heatmap files, search, review history, statistics.

Every read goes through ``screening.selectors`` (404 outside the user's regions) and is audited
by ``portal.audit.middleware`` from the URL name.
"""

from __future__ import annotations

import csv
import io

from django.http import FileResponse, Http404, HttpResponse
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.audit.services import audit_annotate

from .. import people, selectors
from ..forms import TriageFilterForm
from ..serializers import ReviewOutputSerializer
from . import docs
from . import selectors as api_selectors
from .errors import validation_error_response
from .public import form_errors
from .serializers import (
    RegionStatisticsSerializer,
    ScreeningDetailSerializer,
    SearchResultSerializer,
)


def _png(field_file, *, filename: str) -> FileResponse:
    try:
        handle = field_file.open("rb")
    except (FileNotFoundError, ValueError):
        raise Http404("The file is missing.") from None
    response = FileResponse(handle, content_type="image/png")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@docs.screening_detail
class ScreeningDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request, screening_id) -> Response:
        screening = selectors.screening_get_for_user(user=request.user, screening_id=screening_id)
        context = {
            "heatmaps": selectors.heatmap_list(screening=screening),
            "reviews": selectors.review_history(screening=screening),
        }
        data = ScreeningDetailSerializer(screening, context=context).data
        return Response(data, headers={"Cache-Control": "private, no-store"})


@docs.screening_image
class ScreeningImageApi(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request, screening_id) -> FileResponse:
        screening = selectors.screening_get_for_user(user=request.user, screening_id=screening_id)
        return _png(screening.image, filename=f"{screening.reference}.png")


@docs.screening_heatmap
class ScreeningHeatmapApi(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request, screening_id, class_label: str) -> FileResponse:
        heatmap = selectors.heatmap_get_for_user(
            user=request.user, screening_id=screening_id, class_label=class_label
        )
        return _png(heatmap.image, filename=f"heatmap-{class_label}.png")


@docs.review_history
class ReviewHistoryApi(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request, screening_id) -> Response:
        screening = selectors.screening_get_for_user(user=request.user, screening_id=screening_id)
        reviews = selectors.review_history(screening=screening)
        return Response(ReviewOutputSerializer(reviews, many=True).data)


@docs.screening_search
class ScreeningSearchApi(APIView):
    """``GET /api/v1/search/?q=``: reference, national ID or name, within the user's regions."""

    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        query = (request.query_params.get("q") or "").strip()
        if len(query) > 100 or not people.search_query_usable(query=query):
            return validation_error_response({"q": [str(people.SEARCH_QUERY_HELP)]})
        results = people.screening_search(user=request.user, query=query)
        audit_annotate(request._request, references=[s.reference for s in results])
        return Response(SearchResultSerializer(results, many=True).data)


@docs.region_statistics
class RegionStatisticsApi(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        rows = api_selectors.region_statistics(user=request.user)
        return Response(RegionStatisticsSerializer(rows, many=True).data)


EXPORT_LIMIT = 5000
EXPORT_COLUMNS = [
    "reference", "region", "status", "submitted_at", "covid_probability", "priority",
    "label", "reviewed", "decision",
]  # fmt: skip


class CsvRenderer(BaseRenderer):
    """Lets a client ask for ``Accept: text/csv``; the export view writes the CSV itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data)  # errors stay JSON


@docs.triage_export
class TriageExportApi(APIView):
    """``GET /api/v1/triage/export/``: the triage list as CSV (same filters, your regions).

    References, codes and numbers only: no name, national ID, phone or free text, so the file
    identifies no one without the portal and cannot carry spreadsheet formulas.
    """

    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer, CsvRenderer]

    def get(self, request: Request) -> HttpResponse:
        form = TriageFilterForm(request.query_params, user=request.user)
        if not form.is_valid():
            return validation_error_response(form_errors(form))
        rows = selectors.triage_list_for_user(user=request.user, filters=form.to_filters())
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_COLUMNS)
        references = []
        for s in rows[:EXPORT_LIMIT]:
            p = getattr(s, "prediction", None)
            references.append(s.reference)
            writer.writerow(
                [
                    s.reference,
                    s.region.code,
                    s.status,
                    s.submitted_at.isoformat(),
                    f"{p.prob_covid:.4f}" if p else "",
                    p.priority if p else "",
                    p.label if p else "",
                    "yes" if s.reviewed else "no",
                    s.current_decision or "",
                ]
            )
        audit_annotate(request._request, references=references)
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="triage.csv"'
        response["Cache-Control"] = "private, no-store"
        return response
