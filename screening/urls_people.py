from django.urls import path

from . import views_people

app_name = "screening-people"

urlpatterns = [
    path("find-my-result/", views_people.link_recover, name="recover"),
    path("notify/<uuid:screening_id>/", views_people.status_notify, name="notify"),
    path("clinic/search/", views_people.screening_search_page, name="search"),
    path("clinic/new-results/", views_people.triage_new, name="triage-new"),
]
