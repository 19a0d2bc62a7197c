"""End to end with real services: API/form -> Redis -> a real Celery worker -> PostgreSQL.

The ``celery_worker`` fixture (tests/conftest.py) runs ``celery -A portal worker -Q inference``
as a subprocess on the pytest-django test database. Rows must be committed for the worker to see
them, hence ``transactional_db``.
"""

import datetime
import os
import signal
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from screening.models import Prediction, Screening

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def submit_api(submission_data, upload, image: bytes, **overrides) -> dict:
    payload = {**submission_data(**overrides), "image": upload(image, "xray.jpg", "image/jpeg")}
    response = APIClient().post("/api/v1/screenings/", payload, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()


def test_an_api_submission_is_scored_by_the_worker_and_ranked_among_others(
    celery_worker, regions, clinician_north, submission_data, upload, sample_bytes,
    real_predictor, make_scored,
):  # fmt: skip
    from portal.celery import app

    assert app.conf.task_always_eager is False
    created = submit_api(submission_data, upload, sample_bytes["covid"])
    assert created["status"] == "queued"

    screening = celery_worker.wait_for_status(created["id"])

    assert screening.status == "completed", screening.status_reason
    expected = real_predictor.predict(sample_bytes["covid"])
    prediction = screening.prediction
    assert prediction.probabilities == pytest.approx(expected["probabilities"], abs=1e-5)
    assert prediction.label == expected["label"]
    # The worker's default engine (INFERENCE_ENGINE=auto) is recorded beside the model.
    import onnxruntime

    assert prediction.model_version == (
        f"{real_predictor.model_version}+onnxruntime-{onnxruntime.__version__}"
    )
    assert prediction.priority == real_predictor.priority(prediction.prob_covid)
    assert prediction.inference_ms >= 0
    assert f"screening {created['id']} completed" in celery_worker.log_tail(400)  # not eager

    # Place it among others: higher probability first, equal probability older first,
    # reviewed ones last whatever their probability.
    p = prediction.prob_covid
    t = screening.submitted_at
    hour = datetime.timedelta(hours=1)
    higher = make_scored(prob_covid=p + (1 - p) / 2, submitted_at=t - 3 * hour)
    tie_older = make_scored(prob_covid=p, submitted_at=t - 2 * hour)
    lower = make_scored(prob_covid=p / 2, submitted_at=t + datetime.timedelta(minutes=1))
    reviewed = make_scored(prob_covid=1.0, submitted_at=t - 9 * hour, decision="no_finding")
    make_scored(region="SOUTH-01", prob_covid=1.0)

    api = APIClient()
    api.force_authenticate(clinician_north)
    results = api.get("/api/v1/triage/").json()["results"]

    assert [r["reference"] for r in results] == [
        higher.reference,
        tie_older.reference,
        screening.reference,
        lower.reference,
        reviewed.reference,
    ]
    mine = results[2]
    assert mine["covid_probability"] == pytest.approx(expected["probabilities"]["covid"], abs=1e-5)
    assert mine["label"] == expected["label"] and mine["reviewed"] is False


def test_a_form_submission_is_scored_by_the_worker(
    celery_worker, regions, submission_data, upload, sample_bytes, real_predictor
):
    client = Client()
    payload = {
        **submission_data(region="SOUTH-02", consent="on"),
        "image": upload(sample_bytes["pneumonia"], "scan.jpg", "image/jpeg"),
    }
    response = client.post(reverse("screening:submit"), payload)
    assert response.status_code == 302
    screening = Screening.objects.get()

    screening = celery_worker.wait_for_status(screening.pk)

    assert screening.status == "completed", screening.status_reason
    expected = real_predictor.predict(sample_bytes["pneumonia"])
    assert screening.prediction.probabilities == pytest.approx(expected["probabilities"], abs=1e-5)
    page = client.get(response["Location"], follow=True).content.decode()
    assert "Awaiting clinician review" in page


def test_region_b_screenings_are_invisible_to_a_region_a_clinician_everywhere(
    celery_worker, regions, clinician_north, clinician_south, submission_data, upload,
    sample_bytes,
):  # fmt: skip
    created = submit_api(submission_data, upload, sample_bytes["normal"], region="SOUTH-01")
    screening = celery_worker.wait_for_status(created["id"])
    assert screening.status == "completed"

    north = Client()
    north.force_login(clinician_north)
    north_api = APIClient()
    north_api.force_authenticate(clinician_north)

    assert screening.reference not in north.get(reverse("screening:triage")).content.decode()
    assert north.get(reverse("screening:detail", args=[screening.pk])).status_code == 404
    assert north.get(reverse("screening:image", args=[screening.pk])).status_code == 404
    for heatmap in screening.prediction.heatmaps.all():
        url = reverse("screening:heatmap", args=[screening.pk, heatmap.class_label])
        assert north.get(url).status_code == 404
    assert (
        north.post(
            reverse("screening:review", args=[screening.pk]), {"decision": "no_finding"}
        ).status_code
        == 404
    )
    assert north_api.get("/api/v1/triage/").json()["count"] == 0
    assert (
        north_api.post(
            f"/api/v1/screenings/{screening.pk}/review/", {"decision": "no_finding"}, format="json"
        ).status_code
        == 404
    )
    assert not screening.reviews.exists()

    south = Client()
    south.force_login(clinician_south)
    assert south.get(reverse("screening:image", args=[screening.pk])).status_code == 200


def test_the_patient_sees_the_review_after_the_clinician_decides_and_a_wrong_token_is_404(
    celery_worker, regions, clinician_north, submission_data, upload, sample_bytes
):
    created = submit_api(submission_data, upload, sample_bytes["covid"])
    status_url = f"/api/v1/screenings/{created['id']}/status/"
    patient = APIClient()

    assert patient.get(status_url, {"token": "not-the-token"}).status_code == 404
    celery_worker.wait_for_status(created["id"])
    before = patient.get(status_url, {"token": created["access_token"]}).json()
    assert before["status"] == "completed" and before["review"] is None
    assert before["completed_at"]

    clinician = APIClient()
    clinician.force_authenticate(clinician_north)
    decided = clinician.post(
        f"/api/v1/screenings/{created['id']}/review/",
        {"decision": "covid_suspected", "note": "bilateral ground glass"},
        format="json",
    )
    assert decided.status_code == 201

    after = patient.get(status_url, {"token": created["access_token"]}).json()
    assert after["review"]["decision"] == "covid_suspected"
    assert "note" not in after["review"]


def test_a_dicom_submitted_through_the_api_is_scored_by_the_worker_with_heatmaps(
    celery_worker, regions, clinician_north, submission_data, upload, dicom_samples,
    real_predictor, media_root,
):  # fmt: skip
    from inference.decode import decode_image

    data = dicom_samples["covid_mono2_16bit"]  # MONOCHROME2, 16-bit, rescale + VOI window
    payload = {**submission_data(), "image": upload(data, "study.dcm", "application/dicom")}
    response = APIClient().post("/api/v1/screenings/", payload, format="multipart")
    assert response.status_code == 201, response.content

    screening = celery_worker.wait_for_status(response.json()["id"])

    assert screening.status == "completed", screening.status_reason
    assert screening.source_format == "dicom" and screening.dicom_file.name
    expected = real_predictor.predict(decode_image(data))
    assert screening.prediction.probabilities == pytest.approx(expected["probabilities"], abs=1e-5)
    assert screening.prediction.label == expected["label"]
    labels = sorted(h.class_label for h in screening.prediction.heatmaps.all())
    assert labels == sorted({expected["label"], "covid"})
    clinic = Client()
    clinic.force_login(clinician_north)
    for label in labels:
        served = clinic.get(reverse("screening:heatmap", args=[screening.pk, label]))
        assert served.status_code == 200 and served["Cache-Control"] == "private, no-store"
    page = clinic.get(reverse("screening:detail", args=[screening.pk])).content.decode()
    assert 'id="heat-toggle"' in page and "uploaded as DICOM" in page


def _children(pid: int) -> list[int]:
    """Child process ids of ``pid`` (Linux /proc): the worker's pool processes."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _wait_until(condition, what: str, worker, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; worker log:\n{worker.log_tail()}")
        time.sleep(0.02)
    return value


def test_a_worker_process_killed_mid_task_is_taken_over_by_the_redelivered_task(
    celery_worker, regions, submission_data, upload, sample_bytes
):
    """SIGKILL the pool process while it holds the claim (``processing``): the message comes back
    (acks_late, reject_on_worker_lost) and the redelivered task takes the claim over at once,
    instead of skipping a ``processing`` row forever. Exactly one Prediction results."""
    import psycopg2

    db = connection.settings_dict
    blocker = psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"] or None, port=db["PORT"] or None
    )
    try:
        with blocker.cursor() as cursor:
            # Block the worker's completing step (it writes the Prediction) but neither the claim
            # nor reads: EXCLUSIVE conflicts with SELECT ... FOR UPDATE and INSERT only. The
            # worker is then stopped between its claim and its result, however fast it is.
            cursor.execute(f"LOCK TABLE {Prediction._meta.db_table} IN EXCLUSIVE MODE")
            created = submit_api(submission_data, upload, sample_bytes["covid"])
            sid = created["id"]

            def worker_waits() -> bool:
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # fresh view inside a transaction
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                return cursor.fetchone()[0] > 0

            _wait_until(worker_waits, "the worker to reach its result", celery_worker)
            status = Screening.objects.filter(pk=sid).values_list("status", flat=True).first()
            assert status == "processing", status
            pool = _children(celery_worker.process.pid)
            assert pool, "no pool process to kill"
            for pid in pool:
                os.kill(pid, signal.SIGKILL)
        blocker.rollback()  # the redelivered task may now write its result
    finally:
        blocker.close()
    screening = celery_worker.wait_for_status(sid, timeout=120)

    assert screening.status == "completed", screening.status_reason
    assert screening.attempts == 2  # the killed attempt, then the redelivered one
    assert Prediction.objects.filter(screening_id=sid).count() == 1
    log = celery_worker.log_tail(800)
    assert "signal 9" in log or "WorkerLostError" in log, log
