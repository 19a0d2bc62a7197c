"""gunicorn settings of the Docker image (``gunicorn -c python:portal.gunicorn``), from the
environment. With ``PROMETHEUS_MULTIPROC_DIR`` set, every gunicorn worker writes its metrics
there and ``/metrics`` adds them up; the directory is emptied at start."""

import os
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
max_requests = 1000
max_requests_jitter = 100
accesslog = None  # Django logs requests as JSON lines (portal.logs); no second access log
# If an access log is switched on (`--access-logfile -`), patient tokens are redacted from it.
logger_class = "portal.security.gunicorn_logging.RedactingLogger"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        for stale in Path(directory).glob("*.db"):
            stale.unlink()


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
