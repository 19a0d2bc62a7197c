"""URL routes: patient pages, clinician pages, JSON API v1 (+ schema and docs), admin, health."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog, set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal import health, metrics
from portal.security import patient_access

urlpatterns = [
    # Patient links: before screening.urls, whose /s/<id>/<token>/ route they take over. The
    # token is exchanged for a cookie and leaves the URL (portal.security.patient_access).
    path(
        "s/<uuid:screening_id>/<str:token>/",
        patient_access.status_link,
        name="patient-status-link",
    ),
    path("s/<uuid:screening_id>/", patient_access.status_page, name="patient-status"),
    path("", include("screening.urls")),
    path("", include("screening.urls_people")),
    # Language switcher (POST, remembered in the language cookie) and the page scripts' strings.
    path("i18n/setlang/", set_language, name="set_language"),
    path("jsi18n/", JavaScriptCatalog.as_view(domain="djangojs"), name="javascript-catalog"),
    path("api/v1/", include("screening.api_urls")),
    # OpenAPI 3 schema and its docs page (Swagger UI from drf-spectacular-sidecar: no CDN; the
    # split view serves its script as a file, so the CSP needs no inline script).
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Invitation links of new clinicians (screening.admin): Django's set-a-password pages.
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("admin/", admin.site.urls),
    # Operations (portal/health.py, portal/metrics.py): liveness, readiness, Prometheus.
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("dashboard/", include("dashboard.urls")),
]

# Under /api/ every error is JSON (screening.api.errors); storage full or database down is a
# 503 with a plain message (portal.resilience), never a 500 page.
handler404 = "screening.api.errors.api_not_found"
handler500 = "screening.api.errors.api_server_error"

admin.site.site_header = "CXR screening portal administration"
admin.site.site_title = "CXR screening admin"
