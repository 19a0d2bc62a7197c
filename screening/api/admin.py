"""Administrator API: regions and clinicians' region assignments.

Staff only, and only with the matching model permission (``screening.view_region``,
``add_region``, ``change_region``, ``view_clinicianprofile``, ``change_clinicianprofile``);
superusers have them all. Every call is audited.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import Http404
from rest_framework import status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import Region
from . import docs
from . import selectors as api_selectors
from .errors import validation_error_response
from .serializers import AdminRegionSerializer, ClinicianAssignmentSerializer
from .services import clinician_regions_set

READ_METHODS = ("GET", "HEAD", "OPTIONS")


class HasAdminModelPermission(BasePermission):
    """Active staff holding ``<app>.<view|add|change>_<model>`` for the view's ``admin_model``."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return False
        action = (
            "view"
            if request.method in READ_METHODS
            else "add"
            if request.method == "POST"
            else "change"
        )
        return user.has_perm(f"screening.{action}_{view.admin_model}")


def _save_region(serializer: AdminRegionSerializer) -> Region | Response:
    region = serializer.instance or Region()
    for field, value in serializer.validated_data.items():
        setattr(region, field, value)
    try:
        region.full_clean()
    except ValidationError as exc:
        return validation_error_response(exc.message_dict)
    region.save()
    return region


@docs.admin_regions
class AdminRegionListApi(APIView):
    permission_classes = [HasAdminModelPermission]
    admin_model = "region"

    def get(self, request: Request) -> Response:
        regions = Region.objects.select_related("parent").order_by("code")
        return Response(AdminRegionSerializer(regions, many=True).data)

    def post(self, request: Request) -> Response:
        serializer = AdminRegionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = _save_region(serializer)
        if isinstance(result, Response):
            return result
        return Response(AdminRegionSerializer(result).data, status=status.HTTP_201_CREATED)


@docs.admin_region
class AdminRegionApi(APIView):
    permission_classes = [HasAdminModelPermission]
    admin_model = "region"

    def _get(self, code: str) -> Region:
        region = Region.objects.select_related("parent").filter(code=code).first()
        if region is None:
            raise Http404("No such region.")
        return region

    def get(self, request: Request, code: str) -> Response:
        return Response(AdminRegionSerializer(self._get(code)).data)

    def patch(self, request: Request, code: str) -> Response:
        serializer = AdminRegionSerializer(self._get(code), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        result = _save_region(serializer)
        if isinstance(result, Response):
            return result
        return Response(AdminRegionSerializer(result).data)


@docs.admin_clinicians
class AdminClinicianListApi(APIView):
    permission_classes = [HasAdminModelPermission]
    admin_model = "clinicianprofile"

    def get(self, request: Request) -> Response:
        rows = [api_selectors.clinician_assignment(u) for u in api_selectors.clinician_list()]
        return Response(ClinicianAssignmentSerializer(rows, many=True).data)


@docs.admin_clinician
class AdminClinicianApi(APIView):
    permission_classes = [HasAdminModelPermission]
    admin_model = "clinicianprofile"

    def _get(self, username: str):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise Http404("No such user.")
        return user

    def get(self, request: Request, username: str) -> Response:
        user = self._get(username)
        return Response(
            ClinicianAssignmentSerializer(api_selectors.clinician_assignment(user)).data
        )

    def put(self, request: Request, username: str) -> Response:
        user = self._get(username)
        serializer = ClinicianAssignmentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            clinician_regions_set(user=user, codes=serializer.validated_data["regions"])
        except ValueError as exc:
            return validation_error_response({"regions": [str(exc)]})
        user.refresh_from_db()
        return Response(
            ClinicianAssignmentSerializer(api_selectors.clinician_assignment(user)).data
        )
