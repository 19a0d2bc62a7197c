"""Nothing a patient submitted is lost when a worker, Redis or PostgreSQL fails.

Real processes (gunicorn, celery worker and beat, redis-server, a PostgreSQL cluster of our own);
see ``conftest.py``. Every upload goes through the HTTP API, every check reads the database.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import time

import pytest
import requests

from .stack import free_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


def _upload_all(d, image: bytes, count: int) -> list[str]:
    return d.upload_many(image, count)


def _samples(text: str, name: str, **labels: str) -> list[float]:
    from prometheus_client.parser import text_string_to_metric_families

    return [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    ]


def _sample(text: str, name: str, **labels: str) -> float | None:
    values = _samples(text, name, **labels)
    return values[0] if values else None


def _each_has_one_prediction(d, ids: list[str]) -> None:
    per = d.predictions_per_screening()
    assert sorted(per) == sorted(ids)
    assert {sid: per[sid] for sid in ids} == dict.fromkeys(ids, 1)


def test_a_worker_killed_mid_run_loses_nothing_and_a_new_worker_finishes_all_50(
    deployment, xray_png
):
    d = deployment()
    d.start_web()
    ids = _upload_all(d, xray_png, 50)
    assert d.statuses() == {"queued": 50}

    worker = d.start_worker()
    d.start_beat()  # the sweeper puts back the screening the kill left in "processing"
    wait_until(
        lambda: d.statuses().get("completed", 0) >= 5,
        timeout=120,
        what="the first completions",
        on_fail=d.logs_tail,
    )
    worker.kill()  # SIGKILL, whole process group: no chance to ack, release or clean up
    done_at_kill = d.statuses().get("completed", 0)
    assert done_at_kill < 50, "the worker finished everything before it could be killed"

    d.start_worker(name="worker2")
    d.wait_all_completed(50, timeout=240)
    _each_has_one_prediction(d, ids)
    d.no_500_in_web_log()


@pytest.mark.parametrize("appendonly", [True, False], ids=["with-aof", "without-aof"])
def test_a_redis_restart_while_screenings_are_queued_loses_none(deployment, xray_png, appendonly):
    d = deployment(appendonly=appendonly, SWEEP_PENDING_AFTER_SECONDS=3)
    d.start_web()
    ids = _upload_all(d, xray_png, 8)
    assert d.redis.client().llen("inference") == 8

    d.redis.kill()  # SIGKILL: whatever was not on disk is gone
    d.redis.start()
    # With the append-only file the messages survive; without it they are really lost, and only
    # the sweeper (beat, reading the database) can bring the screenings back.
    assert d.redis.client().llen("inference") == (8 if appendonly else 0)

    metrics_port = free_port()
    d.start_worker(WORKER_METRICS_PORT=str(metrics_port))
    if not appendonly:
        d.start_beat()
    d.wait_all_completed(8, timeout=180)
    _each_has_one_prediction(d, ids)
    d.no_500_in_web_log()

    # the worker's own metrics (prefork child counted through the multiprocess directory) and
    # its heartbeat, as the web's /readyz sees it
    text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    if appendonly:  # without AOF the sweeper's duplicates add "skipped" runs
        assert _sample(text, "portal_tasks_total", outcome="completed") == 8
    assert _sample(text, "portal_inference_seconds_count") == 8
    assert sum(_samples(text, "portal_predictions_total")) == 8
    ready = requests.get(f"{d.base_url}/readyz", timeout=30).json()
    assert ready["status"] == "ok", ready
    assert ready["checks"]["workers"]["model_loaded"] >= 1

    # the containers' health checks (docker-compose.yml) against these same processes
    def probe(kind: str, **env: str) -> int:
        command = [sys.executable, "-m", "portal.probes", kind]
        return subprocess.run(command, env=d.env(**env), timeout=120, check=False).returncode

    assert probe("worker") == 0
    assert probe("web", GUNICORN_BIND=f"127.0.0.1:{d.web_port}") == 0
    if not appendonly:  # beat ran the sweeper, a worker executed it
        assert probe("beat") == 0
    else:
        assert probe("beat") == 1  # no beat in this deployment: unhealthy


def test_a_postgres_restart_under_a_running_worker_reconnects_and_finishes(deployment, xray_png):
    d = deployment()
    d.start_web()
    ids = _upload_all(d, xray_png, 30)
    d.start_worker()
    d.start_beat()
    wait_until(
        lambda: d.statuses().get("completed", 0) >= 2,
        timeout=120,
        what="the first completions",
        on_fail=d.logs_tail,
    )
    d.pg.stop("fast")  # disconnects every client, like a failover or a minor-version upgrade
    # meanwhile the portal answers a clear 503, never a 500 page
    during = d.upload(xray_png)
    assert during.status_code == 503, during.text
    page = requests.get(f"{d.base_url}/", timeout=30)
    assert page.status_code == 503 and "Temporarily unavailable" in page.text
    assert requests.get(f"{d.base_url}/readyz", timeout=30).status_code == 503
    time.sleep(2)
    d.pg.start()
    assert d.statuses().get("completed", 0) < 30, "the restart came after the work was done"
    d.wait_all_completed(30, timeout=240)
    _each_has_one_prediction(d, ids)
    worker_log = "\n".join(p.log.read_text() for p in d.procs if p.name == "worker")
    assert re.search(r"OperationalError|InterfaceError", worker_log), "the outage was not seen"
    d.no_500_in_web_log()


def test_an_upload_during_a_redis_outage_is_accepted_and_processed_once_redis_is_back(
    deployment, xray_png
):
    d = deployment(appendonly=False, SWEEP_PENDING_AFTER_SECONDS=3)
    d.start_web()
    d.redis.kill()

    response = d.upload(xray_png)
    assert response.status_code == 201, response.text
    sid = response.json()["id"]
    assert d.statuses() == {"queued": 1}

    d.redis.start()
    d.start_worker()
    d.start_beat()
    d.wait_all_completed(1, timeout=120)
    _each_has_one_prediction(d, [sid])
    d.no_500_in_web_log()


@pytest.fixture
def full_disk(tmp_path):
    """A 2 MiB tmpfs as the uploads disk (root can mount; CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mount = tmp_path / "uploads-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(mount) -> None:
    with open(mount / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_a_full_uploads_disk_gives_a_clear_503_and_no_row_without_its_file(
    deployment, xray_png, full_disk
):
    d = deployment(media_root=full_disk, STORAGE_MIN_FREE_MB=1)
    d.start_web()
    _fill(full_disk)
    before = set(p.name for p in full_disk.rglob("*") if p.is_file())

    api = d.upload(xray_png)
    assert api.status_code == 503
    assert "cannot store new images" in api.json()["detail"]
    assert api.headers["Retry-After"]

    session = requests.Session()
    page = session.get(f"{d.base_url}/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    form = session.post(
        f"{d.base_url}/",
        data={
            "csrfmiddlewaretoken": token,
            "region": "NORTH-01",
            "national_id": "FULL123456",
            "full_name": "Disk Full",
            "date_of_birth": "1980-01-01",
            "sex": "F",
            "phone": "+441234567890",
            "consent": "on",
        },
        files={"image": ("xray.png", xray_png, "image/png")},
        headers={"Referer": f"{d.base_url}/"},
        timeout=30,
    )
    assert form.status_code == 503, form.text[:500]
    assert "cannot store new images" in form.text
    assert "Nothing was saved" in form.text

    assert d.sql("SELECT count(*) FROM screening_screening") == [(0,)]
    after = set(p.name for p in full_disk.rglob("*") if p.is_file())
    assert after == before  # no half-written image left behind

    ready = requests.get(f"{d.base_url}/readyz", timeout=30)
    assert ready.status_code == 503
    assert ready.json()["checks"]["storage"]["ok"] is False

    (full_disk / "filler").unlink()  # space again: the next upload is accepted
    again = d.upload(xray_png)
    assert again.status_code == 201, again.text
    rows = d.sql("SELECT image FROM screening_screening")
    assert len(rows) == 1 and (full_disk / rows[0][0]).is_file()
    d.no_500_in_web_log()
