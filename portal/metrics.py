"""Prometheus metrics (prometheus-client).

Counted where they happen (web and worker processes alike):

- ``portal_uploads_total{channel,outcome}``: submissions to the form and the API, by outcome.
- ``portal_inference_seconds``: histogram of the model's time per screening (the worker).
- ``portal_predictions_total{label,priority}``: stored predictions.
- ``portal_tasks_total{outcome}`` and ``portal_task_seconds``: inference task runs (completed,
  failed, skipped, retry, error).
- ``portal_review_turnaround_seconds``: result to the clinician's first decision.

Read at scrape time by the web's ``/metrics`` (cheap, index-backed queries):
``portal_screenings_pending{status}``, ``portal_queue_depth{queue}`` and
``portal_workers_model_loaded`` (from the heartbeats).

Several processes (gunicorn workers, Celery prefork children) share one view through
prometheus-client's multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set (docker-compose
sets it; ``portal.celery`` sets it for a worker). The worker serves its own metrics on
``WORKER_METRICS_PORT``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from django.conf import settings
from django.db.models.signals import post_save
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.views.decorators.cache import never_cache
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

UPLOADS = Counter(
    "portal_uploads", "Screening submissions by channel and outcome", ["channel", "outcome"]
)
INFERENCE_SECONDS = Histogram(
    "portal_inference_seconds",
    "Model inference time per screening",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
PREDICTIONS = Counter(
    "portal_predictions", "Stored predictions by label and priority band", ["label", "priority"]
)
TASKS = Counter("portal_tasks", "Inference task runs by outcome", ["outcome"])
TASK_SECONDS = Histogram(
    "portal_task_seconds",
    "Inference task wall time (claim, model, heatmaps, store)",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
REVIEW_TURNAROUND = Histogram(
    "portal_review_turnaround_seconds",
    "Time from the model's result to the clinician's first decision",
    buckets=(60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400),
)

SUBMISSION_VIEWS = {"screening:submit": "form", "api:screening-create": "api"}


def upload_outcome(*, channel: str, status_code: int) -> str:
    """The outcome of a submission from its response (the form answers a success with a redirect
    and a refusal with its page again)."""
    if status_code in (201, 302, 303):
        return "accepted"
    if status_code == 200 and channel == "form":
        return "shown"  # a GET of the empty form, or no submission at all
    return {400: "rejected", 413: "too_large", 429: "throttled", 503: "unavailable"}.get(
        status_code, "error"
    )


class UploadMetricsMiddleware:
    """Counts POSTs to the two submission views by outcome."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.method == "POST":
            match = getattr(request, "resolver_match", None)
            if match is None:  # answered before URL resolution (e.g. the size limit's 413)
                try:
                    match = resolve(request.path_info)
                except Resolver404:
                    match = None
            channel = SUBMISSION_VIEWS.get(match.view_name) if match else None
            if channel:
                UPLOADS.labels(
                    channel=channel,
                    outcome=upload_outcome(channel=channel, status_code=response.status_code),
                ).inc()
        return response


# --- model signals (any process that saves) ------------------------------------------------------
def _on_prediction_saved(sender, instance, created: bool, **kwargs) -> None:
    if created:
        PREDICTIONS.labels(label=instance.label, priority=instance.priority).inc()
        INFERENCE_SECONDS.observe(instance.inference_ms / 1000.0)


def _on_review_saved(sender, instance, created: bool, **kwargs) -> None:
    if not created:
        return
    try:
        from screening.models import Review

        completed_at = instance.screening.completed_at
        first = not Review.objects.filter(screening_id=instance.screening_id).exclude(
            pk=instance.pk
        )[:1]
        if completed_at and first:
            REVIEW_TURNAROUND.observe(
                max(0.0, (instance.created_at - completed_at).total_seconds())
            )
    except Exception:  # noqa: BLE001 - metrics never break a clinician's decision
        logger.warning("review turnaround not recorded", exc_info=True)


post_save.connect(_on_prediction_saved, sender="screening.Prediction", weak=False)
post_save.connect(_on_review_saved, sender="screening.Review", weak=False)


# --- Celery signals (the worker) -------------------------------------------------------------------
_started: dict[str, float] = {}


def connect_task_signals() -> None:
    from celery.signals import task_postrun, task_prerun

    @task_prerun.connect(weak=False)
    def _task_started(task_id=None, task=None, **kwargs):
        if getattr(task, "name", "") == "screening.process_screening" and task_id:
            _started[task_id] = time.perf_counter()

    @task_postrun.connect(weak=False)
    def _task_finished(task_id=None, task=None, retval=None, state=None, **kwargs):
        started = _started.pop(task_id or "", None)
        if started is None:
            return
        TASK_SECONDS.observe(time.perf_counter() - started)
        if state == "RETRY":
            outcome = "retry"
        elif state == "SUCCESS" and isinstance(retval, str):
            outcome = (
                retval if retval in ("completed", "failed", "skipped", "rejected") else "other"
            )
        else:
            outcome = "error"
        TASKS.labels(outcome=outcome).inc()


# --- state read at scrape time ---------------------------------------------------------------------
def queue_depth(queue: str = "inference") -> int | None:
    """Messages waiting in a queue (Redis and RabbitMQ), None when the broker does not say."""
    from portal.celery import app

    if app.conf.task_always_eager:
        return 0
    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
            _, count, _ = conn.default_channel.queue_declare(queue=queue, passive=True)
            return int(count)
    except Exception:  # noqa: BLE001 - queue not declared yet, or the broker is down
        return None


class PortalStateCollector(Collector):
    def collect(self):
        from django.db.models import Count

        from screening.models import PENDING_STATUSES, Screening

        pending = GaugeMetricFamily(
            "portal_screenings_pending", "Screenings not finished, by status", labels=["status"]
        )
        try:
            counts = dict(
                Screening.objects.filter(status__in=PENDING_STATUSES)
                .values_list("status")
                .annotate(n=Count("pk"))
                .values_list("status", "n")
                .order_by()
            )
            for status in PENDING_STATUSES:
                pending.add_metric([str(status)], counts.get(status, 0))
        except Exception:  # noqa: BLE001 - a scrape during a database outage
            logger.warning("pending counts unavailable for /metrics")
        yield pending

        depth = GaugeMetricFamily(
            "portal_queue_depth", "Messages waiting in the broker queue", labels=["queue"]
        )
        value = queue_depth("inference")
        if value is not None:
            depth.add_metric(["inference"], value)
        yield depth

        from portal.health import heartbeats_read

        loaded = GaugeMetricFamily(
            "portal_workers_model_loaded", "Worker processes with the model loaded (heartbeat)"
        )
        try:
            loaded.add_metric([], sum(1 for b in heartbeats_read() if b.get("model_loaded")))
        except Exception:  # noqa: BLE001
            pass
        yield loaded


def process_registry() -> CollectorRegistry:
    """This process's metrics, or every process's in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if token and request.headers.get("Authorization", "") != f"Bearer {token}":
        return HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
    state = CollectorRegistry()
    state.register(PortalStateCollector())
    body = generate_latest(process_registry()) + generate_latest(state)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
