"""URL routes: patient pages, clinician pages, JSON API v1, admin, health check."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from screening import views

urlpatterns = [
    path("", include("screening.urls")),
    path("api/v1/", include("screening.api_urls")),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
]

admin.site.site_header = "CXR screening portal administration"
admin.site.site_title = "CXR screening admin"
