"""Celery application. Configuration lives in Django settings under the ``CELERY_`` prefix.

Also wires the worker's operational side: the beat schedule (the sweeper), the model heartbeat
read by ``/readyz``, request ids carried in task headers, and the worker's own ``/metrics``.
"""

import os
import sys
import tempfile

from celery import Celery, signals
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

# A worker's prefork children each count their own metrics: prometheus-client's multiprocess mode
# adds them up, and it must be chosen before prometheus_client is first imported.
_IS_WORKER = "worker" in sys.argv[1:]
if _IS_WORKER and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="portal-metrics-")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(related_name="sweeper")

from . import checks, logs  # noqa: E402,F401  (system checks; request id in task headers)


@app.on_after_configure.connect
def _beat_schedule(sender, **kwargs) -> None:
    from django.conf import settings

    # The sweeper runs on its own small queue so a long inference backlog cannot delay it;
    # `expires` drops sweeps that waited longer than one interval (the next one is coming).
    sender.conf.beat_schedule = {
        "sweep-stale-screenings": {
            "task": "screening.sweep_stale",
            "schedule": float(settings.SWEEP_INTERVAL_SECONDS),
            "options": {
                "queue": settings.MAINTENANCE_QUEUE,
                "expires": float(settings.SWEEP_INTERVAL_SECONDS),
            },
        },
        # The national dashboard's rollup (dashboard/rollups.py): same queue, same reasoning.
        "refresh-dashboard-rollup": {
            "task": "dashboard.rollup_refresh",
            "schedule": float(settings.DASHBOARD_ROLLUP_INTERVAL_SECONDS),
            "options": {
                "queue": settings.MAINTENANCE_QUEUE,
                "expires": float(settings.DASHBOARD_ROLLUP_INTERVAL_SECONDS),
            },
        },
        # Erased screenings leave no trace for the watermark: a full rebuild once a night
        # (about 16 minutes at 10 M screenings, BENCHMARKS.md) takes them out of the figures.
        "backfill-dashboard-rollup": {
            "task": "dashboard.rollup_backfill",
            "schedule": crontab(hour=settings.DASHBOARD_ROLLUP_BACKFILL_HOUR, minute=17),
            "options": {"queue": settings.MAINTENANCE_QUEUE, "expires": 3600.0},
        },
    }


@signals.worker_init.connect
def _worker_metrics_dir(**kwargs) -> None:
    """Start from an empty multiprocess directory (files of an earlier run would be summed)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory and os.path.isdir(directory):
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.unlink(os.path.join(directory, name))


@signals.worker_ready.connect
def _worker_metrics_server(sender=None, **kwargs) -> None:
    from django.conf import settings

    from .metrics import process_registry

    if settings.WORKER_METRICS_PORT:
        from prometheus_client import start_http_server

        start_http_server(settings.WORKER_METRICS_PORT, registry=process_registry())


@signals.worker_process_init.connect
def _worker_process_ready(**kwargs) -> None:
    """Load the model (idempotent: the task module's preload shares the same cache), then beat."""
    from django.conf import settings

    from screening import ml

    from . import health, metrics

    metrics.connect_task_signals()
    if settings.INFERENCE_PRELOAD:
        try:
            ml.get_predictor()
        except ml.ModelUnavailable:
            pass  # logged by ml; the heartbeat says model_loaded=false
    hostname = getattr(kwargs.get("sender"), "hostname", None) or os.uname().nodename
    health.heartbeat_start(hostname=str(hostname))


@signals.worker_process_shutdown.connect
def _worker_process_gone(pid=None, **kwargs) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
