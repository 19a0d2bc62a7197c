"""Liveness (``/healthz``), readiness (``/readyz``) and the workers' model heartbeat.

- ``/healthz``: the process answers. No dependency is checked, so a database outage never gets
  the web containers killed and restarted (that would only add load while it recovers).
- ``/readyz``: database, broker and storage are usable (503 otherwise), and how many worker
  processes have the model loaded, from the heartbeat each of them writes. No worker is
  ``"degraded"`` with 200: uploads are still accepted and wait in the queue, so the web tier
  stays in the load balancer; ``?strict=1`` makes it a 503 too (for a deployment gate).

The heartbeat lives in Redis (``HEALTH_REDIS_URL``, by default the Redis broker), one key per
worker process with a short expiry, so a killed worker disappears by itself.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import uuid
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

HEARTBEAT_PREFIX = "portal:worker-heartbeat:"


# --- heartbeat store ----------------------------------------------------------------------------
def _redis():
    import redis

    url = settings.HEALTH_REDIS_URL
    if not url:
        return None
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def heartbeat_write(
    *, hostname: str, pid: int, model_loaded: bool, model_version: str = ""
) -> None:
    client = _redis()
    if client is None:
        return
    payload = {
        "hostname": hostname,
        "pid": pid,
        "model_loaded": model_loaded,
        "model_version": model_version,
        "device": settings.INFERENCE_DEVICE,
        "at": time.time(),
    }
    client.set(
        f"{HEARTBEAT_PREFIX}{hostname}:{pid}",
        json.dumps(payload),
        ex=max(3 * settings.WORKER_HEARTBEAT_SECONDS, 10),
    )


def heartbeats_read() -> list[dict[str, Any]]:
    client = _redis()
    if client is None:
        return []
    beats = []
    for key in client.scan_iter(match=f"{HEARTBEAT_PREFIX}*", count=500):
        raw = client.get(key)
        if raw:
            try:
                beats.append(json.loads(raw))
            except ValueError:
                continue
    return beats


SWEEPER_KEY = "portal:sweeper:last-run"


def sweeper_mark_ran() -> None:
    client = _redis()
    if client is not None:
        client.set(SWEEPER_KEY, str(time.time()), ex=7 * 86400)


def sweeper_last_run() -> float | None:
    client = _redis()
    raw = client.get(SWEEPER_KEY) if client is not None else None
    return float(raw) if raw else None


def heartbeat_start(*, hostname: str) -> threading.Thread:
    """A daemon thread in a worker process: reports whether ``screening.ml`` holds the model."""

    def beat() -> None:
        from screening import ml

        while True:
            predictor = ml._predictor
            try:
                heartbeat_write(
                    hostname=hostname,
                    pid=os.getpid(),
                    model_loaded=predictor is not None,
                    model_version=getattr(predictor, "model_version", "") or "",
                )
            except Exception as exc:  # noqa: BLE001 - Redis down: try again next beat
                logger.warning("worker heartbeat not written: %s", type(exc).__name__)
            time.sleep(settings.WORKER_HEARTBEAT_SECONDS)

    thread = threading.Thread(target=beat, name="portal-heartbeat", daemon=True)
    thread.start()
    return thread


# --- checks -------------------------------------------------------------------------------------
def _check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"ok": True}


def _check_broker() -> dict[str, Any]:
    from portal.celery import app

    if app.conf.task_always_eager:
        return {"ok": True, "mode": "in-process tasks (no broker)"}
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.5, timeout=3)
    return {"ok": True}


def _check_storage() -> dict[str, Any]:
    # A real write and delete: catches read-only mounts, lost bucket credentials, full disks.
    name = default_storage.save(f"health/readyz-{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    default_storage.delete(name)
    result: dict[str, Any] = {"ok": True}
    location = getattr(default_storage, "location", None)
    if location and os.path.isdir(location):
        free_mb = shutil.disk_usage(location).free // (1024 * 1024)
        result["free_mb"] = free_mb
        if free_mb < settings.STORAGE_MIN_FREE_MB:
            result.update(ok=False, error=f"less than {settings.STORAGE_MIN_FREE_MB} MB free")
    return result


def _check_workers() -> dict[str, Any]:
    from portal.celery import app

    if app.conf.task_always_eager:
        return {"ok": True, "mode": "in-process tasks: the web process loads the model"}
    beats = heartbeats_read()
    loaded = [b for b in beats if b.get("model_loaded")]
    return {
        "ok": bool(loaded),
        "processes": len(beats),
        "model_loaded": len(loaded),
        "model_versions": sorted({b.get("model_version", "") for b in loaded}),
        "hosts": sorted({b.get("hostname", "") for b in beats}),
    }


def _run(check) -> dict[str, Any]:
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - a failed dependency is the answer, not a 500
        return {"ok": False, "error": type(exc).__name__}


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _run(_check_database),
        "broker": _run(_check_broker),
        "storage": _run(_check_storage),
        "workers": _run(_check_workers),
    }
    essential_ok = all(checks[name]["ok"] for name in ("database", "broker", "storage"))
    status = "ok" if essential_ok and checks["workers"]["ok"] else "degraded"
    if not essential_ok:
        status = "unavailable"
    strict = request.GET.get("strict") in ("1", "true")
    code = 200 if status == "ok" or (status == "degraded" and not strict) else 503
    return JsonResponse({"status": status, "checks": checks}, status=code)
