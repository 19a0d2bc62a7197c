"""The Celery task and the processing service, run in-process (no broker)."""

import pytest
from django.db import OperationalError

from screening import services
from screening.models import Prediction, Screening
from screening.tasks import process_screening


def run_task(screening_id) -> str:
    return process_screening.apply(args=[str(screening_id)]).get()


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


def test_only_one_of_two_concurrent_claims_wins(screening_factory):
    screening = screening_factory(status="queued")
    assert services.screening_claim(screening_id=screening.pk) is True
    assert services.screening_claim(screening_id=screening.pk) is False
    assert Screening.objects.get(pk=screening.pk).status == "processing"


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


def test_a_transient_error_is_retried_and_then_succeeds(
    screening_factory, fake_predictor, monkeypatch
):
    screening = screening_factory(status="queued")
    real_process = services.screening_process
    calls = []

    def flaky(*, screening_id):
        calls.append(screening_id)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_process(screening_id=screening_id)

    monkeypatch.setattr("screening.services.screening_process", flaky)
    monkeypatch.setattr("screening.tasks.retry_countdown", lambda retries: 0)

    process_screening.apply(args=[str(screening.pk)])

    screening.refresh_from_db()
    assert len(calls) == 2
    assert screening.status == "completed"
    assert screening.attempts == 2


def test_a_persistent_transient_error_gives_up_as_failed(
    screening_factory, fake_predictor, monkeypatch
):
    screening = screening_factory(status="queued")

    def down(*, screening_id):
        raise OperationalError("database is down")

    monkeypatch.setattr("screening.services.screening_process", down)
    monkeypatch.setattr("screening.tasks.retry_countdown", lambda retries: 0)

    process_screening.apply(args=[str(screening.pk)])

    screening.refresh_from_db()
    assert screening.status == "failed"
    assert "unavailable" in screening.status_reason


def test_the_real_model_result_is_stored_as_is(
    screening_factory, use_real_predictor, sample_bytes, media_root
):
    from screening import imaging

    decoded = imaging.decode_upload(sample_bytes["covid"])
    name = imaging.store_png(decoded.png_bytes)
    screening = screening_factory(status="queued", image=name)

    assert run_task(screening.pk) == "completed"

    expected = use_real_predictor.predict(sample_bytes["covid"])
    prediction = Prediction.objects.get(screening=screening)
    assert prediction.probabilities == pytest.approx(expected["probabilities"], abs=1e-5)
    assert prediction.label == expected["label"]
    assert prediction.model_version == use_real_predictor.model_version
    assert prediction.weights_sha256 == use_real_predictor.weights_sha256
    assert prediction.priority == use_real_predictor.priority(expected["probabilities"]["covid"])
