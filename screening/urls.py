from django.urls import path

from . import views

app_name = "screening"

urlpatterns = [
    path("", views.submit, name="submit"),
    path("s/<uuid:screening_id>/<str:token>/", views.submission_status, name="status"),
    path("clinic/", views.triage, name="triage"),
    path("clinic/state/", views.triage_state, name="triage-state"),
    path("clinic/screenings/<uuid:screening_id>/", views.screening_detail, name="detail"),
    path("clinic/screenings/<uuid:screening_id>/review/", views.screening_review, name="review"),
    path("clinic/screenings/<uuid:screening_id>/image/", views.screening_image, name="image"),
    path(
        "clinic/screenings/<uuid:screening_id>/heatmap/<slug:class_label>/",
        views.screening_heatmap,
        name="heatmap",
    ),
]
