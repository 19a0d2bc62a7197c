"""Settings: debug off by default, the production mode, deploy checks, error reports."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import RequestFactory

REPO = Path(__file__).resolve().parents[2]
SETTINGS_ENV = ("DJANGO_", "DATABASE_URL", "CELERY_", "CACHE_URL")


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_ENV)}
    return {**env, "DJANGO_SETTINGS_MODULE": "portal.settings", **extra}


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=clean_env(**env), capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip


def manage(*args: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=clean_env(**env),
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip


PRINT_DEBUG = "from django.conf import settings; print(settings.DEBUG, settings.ALLOWED_HOSTS)"


def production_env(**extra) -> dict:
    return {
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "screening.example.org",
        "DJANGO_TRUSTED_PROXY_COUNT": "1",
        "CACHE_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15"),
        **extra,
    }


def test_the_embedded_default_has_debug_off_and_allows_only_the_local_host():
    result = run_python(PRINT_DEBUG)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False ['127.0.0.1', 'localhost', '[::1]']"


def test_only_an_explicit_django_debug_true_turns_debug_on():
    assert run_python(PRINT_DEBUG, DJANGO_DEBUG="true").stdout.startswith("True")


@pytest.mark.parametrize(
    "override, message",
    [
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "dev-only-insecure-secret-key-change-me"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS"),
        ({"DJANGO_DEBUG": "true"}, "DJANGO_DEBUG"),
    ],
)
def test_production_mode_refuses_to_start_with_defaults(override, message):
    env = production_env(**override)
    env = {k: v for k, v in env.items() if v != ""}
    result = run_python(PRINT_DEBUG, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


def test_production_mode_passes_check_deploy_at_warning_level():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_development_mode_fails_check_deploy():
    result = manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "security.W001" in result.stderr + result.stdout


def test_production_mode_sets_hsts_ssl_redirect_secure_cookies_and_a_csp():
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.PATIENT_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER, "
        "s.CONTENT_SECURITY_POLICY['DIRECTIVES']['script-src'])"
    )
    result = run_python(code, **production_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "True 31536000 True True True ('HTTP_X_FORWARDED_PROTO', 'https') [\"'self'\"]"
    )


def test_pages_carry_the_csp_header(client, db):
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


IDENTITY = {
    "national_id": "ZX998877",
    "full_name": "Secret Person",
    "phone": "+254700111222",
    "date_of_birth": "1970-01-02",
    "symptoms": "private words",
}


def _report_html(request) -> str:
    from django.views.debug import ExceptionReporter

    try:
        national_id = IDENTITY["national_id"]  # noqa: F841 - a frame variable of that name
        raise RuntimeError("boom")
    except RuntimeError:
        return ExceptionReporter(request, *sys.exc_info()).get_traceback_html()


@pytest.mark.parametrize("debug", [True, False])
def test_error_reports_never_show_identity_fields_even_with_debug_on(settings, debug):
    settings.DEBUG = debug
    request = RequestFactory().post("/", data={**IDENTITY, "region": "NORTH-01"})
    html = _report_html(request)
    for value in IDENTITY.values():
        assert value not in html
    assert "NORTH-01" in html  # the rest of the request is still there to debug with


def test_the_debug_off_404_page_lists_no_url_patterns(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"URLconf" not in response.content and b"admin/" not in response.content


def test_static_files_are_served_by_whitenoise_with_debug_off(client, settings):
    assert settings.DEBUG is False
    response = client.get("/static/css/portal.css")
    assert response.status_code == 200
