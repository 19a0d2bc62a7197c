from django.urls import path

from . import api

app_name = "api"

urlpatterns = [
    path("regions/", api.RegionListApi.as_view(), name="regions"),
    path("screenings/", api.ScreeningCreateApi.as_view(), name="screening-create"),
    path(
        "screenings/<uuid:screening_id>/status/",
        api.ScreeningStatusApi.as_view(),
        name="screening-status",
    ),
    path(
        "screenings/<uuid:screening_id>/review/",
        api.ReviewCreateApi.as_view(),
        name="screening-review",
    ),
    path("triage/", api.TriageListApi.as_view(), name="triage"),
]
