"""/healthz, /readyz (database, broker, storage, model heartbeat) and /metrics."""

from __future__ import annotations

import socket

import pytest
from django.test import override_settings

from portal import health


@pytest.fixture
def heartbeats(tmp_path):
    """Heartbeats in a redis-server of the test's own (a session's real worker, if one runs,
    writes its own into the suite's Redis), as worker processes write them."""
    from .stack import RedisServer, free_port

    server = RedisServer(root=tmp_path / "heartbeats", port=free_port(), appendonly=False)
    server.start()

    def write(hostname: str = "worker-a", pid: int = 4242, model_loaded: bool = True) -> None:
        health.heartbeat_write(
            hostname=hostname, pid=pid, model_loaded=model_loaded, model_version="darkcovidnet@t"
        )

    try:
        with override_settings(HEALTH_REDIS_URL=server.url):
            yield write
    finally:
        server.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_healthz_answers_without_touching_the_database(client, django_assert_num_queries, db):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readyz_is_ok_when_database_broker_storage_and_a_loaded_worker_are_there(
    client, db, heartbeats
):
    heartbeats(model_loaded=True)
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "broker": True,
        "storage": True,
        "workers": True,
    }
    assert body["checks"]["workers"]["model_versions"] == ["darkcovidnet@t"]


def test_readyz_without_a_worker_that_has_the_model_is_degraded_and_strict_mode_refuses(
    client, db, heartbeats
):
    heartbeats(model_loaded=False)  # a worker that started but could not load the weights
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["workers"] == {
        "ok": False,
        "processes": 1,
        "model_loaded": 0,
        "model_versions": [],
        "hosts": ["worker-a"],
    }
    assert client.get("/readyz?strict=1").status_code == 503


def test_readyz_is_503_when_the_broker_is_unreachable(client, db, heartbeats):
    from portal.celery import app

    heartbeats(model_loaded=True)
    previous = app.conf.broker_url, app.conf.broker_write_url
    nowhere = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there
    app.conf.broker_url = app.conf.broker_write_url = nowhere
    try:
        response = client.get("/readyz")
    finally:
        app.conf.broker_url, app.conf.broker_write_url = previous
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["broker"]["ok"] is False
    assert response.json()["checks"]["database"]["ok"] is True


def test_readyz_is_503_when_the_uploads_disk_is_nearly_full(client, db, heartbeats):
    heartbeats(model_loaded=True)
    with override_settings(STORAGE_MIN_FREE_MB=10**9):  # more than any disk has
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"]["ok"] is False


@pytest.fixture
def eager_tasks():
    from portal.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def _metric(text: str, name: str, **labels: str) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


def test_metrics_count_accepted_and_refused_uploads_and_report_pending_work(
    client,
    api_client,
    upload,
    submission_data,
    fake_predictor,
    eager_tasks,
    screening_factory,
    django_capture_on_commit_callbacks,
):
    before = client.get("/metrics").content.decode()
    accepted0 = _metric(before, "portal_uploads_total", channel="api", outcome="accepted") or 0
    rejected0 = _metric(before, "portal_uploads_total", channel="api", outcome="rejected") or 0

    with django_capture_on_commit_callbacks(execute=True):  # enqueue (eager) on commit
        ok = api_client.post("/api/v1/screenings/", {**submission_data(), "image": upload()})
    bad = api_client.post("/api/v1/screenings/", submission_data(national_id="!"))
    assert (ok.status_code, bad.status_code) == (201, 400)
    screening_factory(status="queued")

    text = client.get("/metrics").content.decode()
    assert _metric(text, "portal_uploads_total", channel="api", outcome="accepted") == accepted0 + 1
    assert _metric(text, "portal_uploads_total", channel="api", outcome="rejected") == rejected0 + 1
    assert _metric(text, "portal_screenings_pending", status="queued") >= 1
    assert _metric(text, "portal_queue_depth", queue="inference") is not None
    # the eager task of the accepted upload stored a prediction and timed the model
    assert _metric(text, "portal_predictions_total", label="covid", priority="medium") >= 1
    assert _metric(text, "portal_inference_seconds_count") >= 1


def test_review_turnaround_is_observed_for_a_first_decision(client, make_scored, clinician_north):
    from screening.services import review_create

    def count() -> float:
        text = client.get("/metrics").content.decode()
        return _metric(text, "portal_review_turnaround_seconds_count") or 0

    screening = make_scored(prob_covid=0.9)
    start = count()
    review_create(user=clinician_north, screening_id=screening.pk, decision="covid_suspected")
    assert count() == start + 1
    review_create(user=clinician_north, screening_id=screening.pk, decision="no_finding")
    assert count() == start + 1  # a changed decision is not a second turnaround


def test_metrics_need_the_token_when_one_is_configured(client, db):
    with override_settings(METRICS_TOKEN="s3cret-token"):
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
