"""System checks of the operational settings (``manage.py check``; they also run at start-up)."""

from django.conf import settings
from django.core.checks import Error, register


def visibility_timeout_margin() -> int:
    """Seconds by which the broker's visibility timeout exceeds the hard time limit plus the
    expected queue wait; negative means Redis would redeliver tasks that are only waiting."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    return int(visibility - settings.CELERY_TASK_TIME_LIMIT - settings.EXPECTED_QUEUE_WAIT_SECONDS)


@register()
def visibility_timeout_exceeds_task_lifetime(app_configs, **kwargs):
    if settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")) and (
        visibility_timeout_margin() <= 0
    ):
        return [
            Error(
                "CELERY_VISIBILITY_TIMEOUT must exceed CELERY_TASK_TIME_LIMIT + "
                "EXPECTED_QUEUE_WAIT_SECONDS: Redis would hand waiting or running tasks to a "
                "second worker.",
                hint="Raise CELERY_VISIBILITY_TIMEOUT (DEPLOYMENT.md, 'Queue timing').",
                id="ops.E001",
            )
        ]
    return []


@register()
def sweeper_deadlines_are_sane(app_configs, **kwargs):
    errors = []
    if settings.SWEEP_PROCESSING_AFTER_SECONDS <= settings.CELERY_TASK_TIME_LIMIT:
        errors.append(
            Error(
                "SWEEP_PROCESSING_AFTER_SECONDS must exceed CELERY_TASK_TIME_LIMIT: the sweeper "
                "would re-enqueue screenings that are still being analysed.",
                id="ops.E002",
            )
        )
    return errors
