"""Deployment checks (``manage.py check --deploy``) for the portal's own rules."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def production_mode_is_selected(app_configs, **kwargs):
    if not settings.PRODUCTION:
        return [
            Warning(
                "DJANGO_ENV is not 'production': development defaults are in use.",
                hint="Deploy with DJANGO_ENV=production (see SECURITY.md).",
                id="security.W001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def cache_is_shared_between_processes(app_configs, **kwargs):
    backend = settings.CACHES["default"]["BACKEND"]
    if "locmem" in backend or "dummy" in backend:
        return [
            Error(
                "Rate limits use a per-process cache: every web process counts on its own.",
                hint="Set CACHE_URL to a Redis URL (or CELERY_BROKER_URL to Redis).",
                id="security.E002",
            )
        ]
    return []
