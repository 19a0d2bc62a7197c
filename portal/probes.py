"""Container health checks: ``python -m portal.probes web|worker|beat`` (exit 0 = healthy).

- ``web``: ``/healthz`` answers on this container.
- ``worker``: a process of this host wrote a model heartbeat with the model loaded (not
  ``celery inspect ping``: that round-trips through the broker and takes seconds).
- ``beat``: the sweeper ran within three intervals (beat scheduled it, a worker ran it).
"""

from __future__ import annotations

import os
import socket
import sys
import time
import urllib.request


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()


def probe_web() -> bool:
    port = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").rsplit(":", 1)[-1]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4) as response:  # noqa: S310
        return response.status == 200


def probe_worker() -> bool:
    _django()
    from portal.health import heartbeats_read

    host = socket.gethostname()
    return any(b.get("model_loaded") and b.get("hostname") == host for b in heartbeats_read())


def probe_beat() -> bool:
    _django()
    from django.conf import settings

    from portal.health import sweeper_last_run

    last = sweeper_last_run()
    return last is not None and time.time() - last < 3 * settings.SWEEP_INTERVAL_SECONDS + 60


PROBES = {"web": probe_web, "worker": probe_worker, "beat": probe_beat}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in PROBES:
        print(f"usage: python -m portal.probes {'|'.join(PROBES)}", file=sys.stderr)
        return 2
    try:
        healthy = PROBES[argv[0]]()
    except Exception as exc:  # noqa: BLE001 - unhealthy, say why
        print(f"{argv[0]}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"{argv[0]}: {'ok' if healthy else 'unhealthy'}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
