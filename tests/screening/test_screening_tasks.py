"""The Celery task and the processing service, run in-process (no broker), and the claim under
real concurrency (two PostgreSQL connections)."""

import datetime
import threading
import time

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.utils import timezone

from screening import storage
from screening.models import Heatmap, Prediction, Screening
from screening.services import processing
from screening.tasks import process_screening


def run_task(screening_id, task_id=None) -> str:
    return process_screening.apply(args=[str(screening_id)], task_id=task_id).get()


def test_the_task_is_declared_for_the_inference_queue_with_late_acks():
    from portal.celery import app

    assert process_screening.name == "screening.process_screening"
    assert process_screening.acks_late is True
    assert process_screening.reject_on_worker_lost is True
    assert app.conf.task_routes["screening.process_screening"] == {"queue": "inference"}
    assert app.conf.task_serializer == "json" and app.conf.accept_content == ["json"]
    assert app.conf.worker_prefetch_multiplier == 1
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit


def test_a_queued_screening_is_processed_into_a_prediction(screening_factory, fake_predictor):
    screening = screening_factory(status="queued")

    assert run_task(screening.pk) == "completed"

    screening.refresh_from_db()
    assert screening.status == "completed"
    assert screening.processing_started_at and screening.completed_at
    assert screening.attempts == 1
    prediction = screening.prediction
    assert prediction.probabilities == pytest.approx(fake_predictor.probabilities)
    assert prediction.label == "covid"
    assert prediction.priority == fake_predictor.priority(0.62)
    assert prediction.model_version == fake_predictor.model_version
    assert prediction.weights_sha256 == fake_predictor.weights_sha256


def test_a_second_delivery_of_the_same_message_is_a_no_op(screening_factory, fake_predictor):
    screening = screening_factory(status="queued")
    assert run_task(screening.pk) == "completed"
    assert run_task(screening.pk) == "skipped"
    assert fake_predictor.calls == 1
    assert Prediction.objects.filter(screening=screening).count() == 1
    assert Screening.objects.get(pk=screening.pk).attempts == 1


# --- the claim under concurrency ----------------------------------------------------------------
def _waiting_for_locks(minimum: int, timeout: float = 20.0) -> None:
    """Block until ``minimum`` other sessions wait for a lock (they are inside their UPDATE)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # fresh view inside a transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= minimum:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"fewer than {minimum} claims reached the database")
            time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_only_one_of_two_concurrent_claims_wins(screening_factory):
    """Two threads (two PostgreSQL connections) claim the same row at the same moment.

    The test holds the row lock while both claims start, so both are inside the database before
    either can finish: a read-then-save claim would see ``queued`` twice and both would win.
    """
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL), see make test")
    screening = screening_factory(status="queued")
    results: list[bool] = []
    start = threading.Barrier(3)

    def claim(owner: str) -> None:
        try:
            start.wait()
            results.append(processing.screening_claim(screening_id=screening.pk, owner=owner))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=(f"task-{n}",)) for n in range(2)]
    with transaction.atomic():
        Screening.objects.select_for_update().get(pk=screening.pk)
        for thread in threads:
            thread.start()
        start.wait()
        _waiting_for_locks(2)
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == [False, True]
    claimed = Screening.objects.get(pk=screening.pk)
    assert claimed.status == "processing" and claimed.attempts == 1
    assert claimed.claimed_by in ("task-0", "task-1")


# --- taking over a dead attempt's claim ---------------------------------------------------------
def test_a_redelivered_task_takes_over_its_own_claim_with_one_prediction(
    screening_factory, fake_predictor
):
    """The worker child died after claiming: the same message (same task id) comes back."""
    screening = screening_factory(status="queued")
    assert processing.screening_claim(screening_id=screening.pk, owner="task-1")

    assert run_task(screening.pk, task_id="task-1") == "completed"

    screening.refresh_from_db()
    assert screening.attempts == 2
    assert Prediction.objects.filter(screening=screening).count() == 1


def test_another_task_does_not_take_over_a_fresh_claim(screening_factory, fake_predictor):
    screening = screening_factory(status="queued")
    assert processing.screening_claim(screening_id=screening.pk, owner="task-1")

    assert run_task(screening.pk, task_id="task-2") == "skipped"

    assert Screening.objects.get(pk=screening.pk).status == "processing"
    assert fake_predictor.calls == 0


def test_any_task_takes_over_a_claim_older_than_the_hard_time_limit(
    screening_factory, fake_predictor, settings
):
    screening = screening_factory(status="queued")
    assert processing.screening_claim(screening_id=screening.pk, owner="task-1")
    old = timezone.now() - datetime.timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 5)
    Screening.objects.filter(pk=screening.pk).update(processing_started_at=old)

    assert run_task(screening.pk, task_id="task-2") == "completed"
    assert Prediction.objects.filter(screening=screening).count() == 1


def test_a_finished_screening_is_never_taken_over(screening_factory, fake_predictor):
    screening = screening_factory(status="queued")
    assert run_task(screening.pk, task_id="task-1") == "completed"
    assert run_task(screening.pk, task_id="task-1") == "skipped"
    assert fake_predictor.calls == 1


# --- failures -----------------------------------------------------------------------------------
def test_an_unreadable_stored_image_ends_as_failed_with_a_reason(
    screening_factory, fake_predictor, media_root
):
    screening = screening_factory(status="queued")
    (media_root / screening.image.name).write_bytes(b"garbage, not a PNG")

    assert run_task(screening.pk) == "failed"

    screening.refresh_from_db()
    assert screening.status == "failed"
    assert screening.status_reason.startswith("The image could not be read")
    assert screening.completed_at is not None
    assert fake_predictor.calls == 0
    assert not Prediction.objects.exists()


def test_a_missing_stored_image_ends_as_failed(screening_factory, fake_predictor, media_root):
    screening = screening_factory(status="queued")
    (media_root / screening.image.name).unlink()
    assert run_task(screening.pk) == "failed"
    assert (
        Screening.objects.get(pk=screening.pk).status_reason == "The stored image file is missing."
    )


def test_an_invalid_model_output_ends_as_failed(screening_factory, fake_predictor):
    fake_predictor.probabilities = {"covid": 0.9, "normal": 0.9, "pneumonia": 0.9}
    screening = screening_factory(status="queued")
    assert run_task(screening.pk) == "failed"
    assert Screening.objects.get(pk=screening.pk).status_reason == (
        "The model returned no valid result."
    )
    assert not Prediction.objects.exists() and not Heatmap.objects.exists()


def test_a_transient_error_is_retried_and_then_succeeds(
    screening_factory, fake_predictor, monkeypatch
):
    screening = screening_factory(status="queued")
    real_process = processing.screening_process
    calls = []

    def flaky(*, screening_id):
        calls.append(screening_id)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_process(screening_id=screening_id)

    monkeypatch.setattr("screening.services.processing.screening_process", flaky)
    monkeypatch.setattr("screening.tasks.retry_countdown", lambda retries: 0)

    process_screening.apply(args=[str(screening.pk)])

    screening.refresh_from_db()
    assert len(calls) == 2
    assert screening.status == "completed"
    assert screening.attempts == 2


def test_a_retry_whose_claim_could_not_be_released_takes_its_own_claim_over(
    screening_factory, fake_predictor, monkeypatch
):
    """PostgreSQL went away mid-task: the claim stays ``processing`` (the release failed too);
    the retry (same task id) must finish it instead of skipping it."""
    screening = screening_factory(status="queued")
    real_process = processing.screening_process
    calls = []

    def flaky(*, screening_id):
        calls.append(screening_id)
        if len(calls) == 1:
            raise OperationalError("terminating connection due to administrator command")
        return real_process(screening_id=screening_id)

    def release_fails(*, screening_id):
        raise OperationalError("the database system is starting up")

    monkeypatch.setattr("screening.services.processing.screening_process", flaky)
    monkeypatch.setattr("screening.services.processing.screening_release", release_fails)
    monkeypatch.setattr("screening.tasks.retry_countdown", lambda retries: 0)

    process_screening.apply(args=[str(screening.pk)])

    screening.refresh_from_db()
    assert len(calls) == 2
    assert screening.status == "completed" and screening.attempts == 2
    assert Prediction.objects.filter(screening=screening).count() == 1


def test_a_persistent_transient_error_gives_up_as_failed(
    screening_factory, fake_predictor, monkeypatch
):
    screening = screening_factory(status="queued")

    def down(*, screening_id):
        raise OperationalError("database is down")

    monkeypatch.setattr("screening.services.processing.screening_process", down)
    monkeypatch.setattr("screening.tasks.retry_countdown", lambda retries: 0)

    process_screening.apply(args=[str(screening.pk)])

    screening.refresh_from_db()
    assert screening.status == "failed"
    assert "unavailable" in screening.status_reason


def test_the_real_model_result_is_stored_as_is(
    screening_factory, use_real_predictor, sample_bytes, media_root
):
    from inference.pipeline import intake

    upload = intake(sample_bytes["covid"], max_bytes=20 * 1024 * 1024)
    screening = screening_factory(status="queued", image=storage.store_png(upload.png_bytes))

    assert run_task(screening.pk) == "completed"

    expected = use_real_predictor.predict(sample_bytes["covid"])
    prediction = Prediction.objects.get(screening=screening)
    assert prediction.probabilities == pytest.approx(expected["probabilities"], abs=1e-5)
    assert prediction.label == expected["label"]
    assert prediction.model_version == use_real_predictor.model_version
    assert prediction.weights_sha256 == use_real_predictor.weights_sha256
    assert prediction.priority == use_real_predictor.priority(expected["probabilities"]["covid"])


def test_a_new_result_is_banded_by_its_regions_confirmed_thresholds(
    screening_factory, fake_predictor, regions, superuser
):
    from dashboard.models import RegionBandThreshold

    # The model's own band for 0.62 is "medium"; NORTH-01's administrator confirmed high >= 0.5.
    RegionBandThreshold.objects.create(
        region=regions["NORTH-01"],
        high=0.5,
        medium=0.2,
        model_version=fake_predictor.model_version,
        based_on_reviewed=250,
        based_on_positive=40,
        expected_sensitivity=0.95,
        expected_specificity=0.7,
        created_by=superuser,
    )
    north = screening_factory(status="queued", region=regions["NORTH-01"])
    south = screening_factory(status="queued", region=regions["SOUTH-01"])

    assert run_task(north.pk) == "completed" and run_task(south.pk) == "completed"

    assert Prediction.objects.get(screening=north).priority == "high"
    assert Prediction.objects.get(screening=south).priority == fake_predictor.priority(0.62)
