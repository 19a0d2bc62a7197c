from django.urls import path

from .api import admin, clinic, public

app_name = "api"

urlpatterns = [
    # public
    path("regions/", public.RegionListApi.as_view(), name="regions"),
    path("screenings/", public.ScreeningCreateApi.as_view(), name="screening-create"),
    path(
        "screenings/<uuid:screening_id>/status/",
        public.ScreeningStatusApi.as_view(),
        name="screening-status",
    ),
    # clinicians
    path("triage/", public.TriageListApi.as_view(), name="triage"),
    path("triage/export/", clinic.TriageExportApi.as_view(), name="screening-export"),
    path("search/", clinic.ScreeningSearchApi.as_view(), name="screening-search"),
    path("stats/regions/", clinic.RegionStatisticsApi.as_view(), name="region-statistics"),
    path(
        "screenings/<uuid:screening_id>/",
        clinic.ScreeningDetailApi.as_view(),
        name="screening-detail",
    ),
    path(
        "screenings/<uuid:screening_id>/image/",
        clinic.ScreeningImageApi.as_view(),
        name="screening-image",
    ),
    path(
        "screenings/<uuid:screening_id>/heatmaps/<slug:class_label>/",
        clinic.ScreeningHeatmapApi.as_view(),
        name="screening-heatmap",
    ),
    path(
        "screenings/<uuid:screening_id>/reviews/",
        clinic.ReviewHistoryApi.as_view(),
        name="screening-reviews",
    ),
    path(
        "screenings/<uuid:screening_id>/review/",
        public.ReviewCreateApi.as_view(),
        name="screening-review",
    ),
    # administrators
    path("admin/regions/", admin.AdminRegionListApi.as_view(), name="admin-regions"),
    path("admin/regions/<str:code>/", admin.AdminRegionApi.as_view(), name="admin-region"),
    path("admin/clinicians/", admin.AdminClinicianListApi.as_view(), name="admin-clinicians"),
    path(
        "admin/clinicians/<str:username>/",
        admin.AdminClinicianApi.as_view(),
        name="admin-clinician",
    ),
]
