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


# --- the lung check -----------------------------------------------------------------------------
def _stored_film(sample_bytes, name="normal") -> str:
    from inference.pipeline import intake

    return storage.store_png(intake(sample_bytes[name], max_bytes=20 * 1024 * 1024).png_bytes)


def test_a_chest_film_is_completed_without_a_lung_flag(
    screening_factory, fake_predictor, sample_bytes
):
    screening = screening_factory(
        status="queued", image=_stored_film(sample_bytes), quality_flags=["too dark"]
    )
    assert run_task(screening.pk) == "completed"
    assert Screening.objects.get(pk=screening.pk).quality_flags == ["too dark"]


def test_a_film_without_lung_fields_still_gets_its_prediction_and_is_flagged(
    screening_factory, fake_predictor
):
    # The factory's stored image is a grey square with a line: no lungs on it.
    screening = screening_factory(status="queued", quality_flags=["low contrast"])

    assert run_task(screening.pk) == "completed"

    screening.refresh_from_db()
    assert screening.quality_flags == ["low contrast", "no lung fields found"]
    assert Prediction.objects.filter(screening=screening).count() == 1


def test_a_lung_model_that_cannot_load_never_fails_the_screening(
    screening_factory, fake_predictor, sample_bytes, monkeypatch, caplog
):
    def broken():
        raise RuntimeError("lungs.safetensors: sha256 does not match")

    monkeypatch.setattr(processing, "get_lung_finder", broken)
    screening = screening_factory(status="queued", image=_stored_film(sample_bytes))

    assert run_task(screening.pk) == "completed"

    screening.refresh_from_db()
    assert screening.quality_flags == ["lung check not run"]
    assert "lung check not run (RuntimeError)" in caplog.text
    assert screening.full_name not in caplog.text and screening.national_id not in caplog.text


def test_a_model_that_reads_the_lung_cut_gives_the_worker_its_lung_check(
    screening_factory, use_real_predictor, sample_bytes, monkeypatch
):
    # The shipped model cuts every film with the lung model: the worker reuses that pass.
    assert "lungs" in use_real_predictor.inputs
    asked = []

    def unused():
        asked.append(True)
        raise RuntimeError("the worker's own lung model was not needed")

    monkeypatch.setattr(processing, "get_lung_finder", unused)
    chest = screening_factory(status="queued", image=_stored_film(sample_bytes))
    blank = screening_factory(status="queued", quality_flags=["low contrast"])  # no lungs on it

    assert run_task(chest.pk) == "completed" and run_task(blank.pk) == "completed"

    chest.refresh_from_db()
    blank.refresh_from_db()
    assert chest.quality_flags == [] and asked == []
    assert blank.quality_flags == ["low contrast", "no lung fields found"]


def test_a_redelivered_screening_gets_this_runs_lung_flags_only_once():
    merged = processing.quality_flags_merged
    assert merged(["too dark", "lung check not run"], ("no lung fields found",)) == [
        "too dark",
        "no lung fields found",
    ]
    assert merged(["no lung fields found"], ("no lung fields found",)) == ["no lung fields found"]
    assert merged(["no lung fields found"], ()) == []
    assert merged(None, ()) == []


def test_the_lung_flag_is_shown_on_the_clinician_detail_page_and_api(
    screening_factory, fake_predictor, regions, north_client, api_client, clinician_north
):
    from django.urls import reverse

    screening = screening_factory(status="queued", region=regions["NORTH-01"])
    assert run_task(screening.pk) == "completed"

    html = north_client.get(reverse("screening:detail", args=[screening.pk])).content.decode()
    assert "no lung fields found: the model&#x27;s reading of this image is unreliable" in html
    api_client.force_authenticate(clinician_north)
    body = api_client.get(f"/api/v1/screenings/{screening.pk}/").json()
    assert body["quality_flags"] == ["no lung fields found"]
    assert body["prediction"] is not None  # the clinician decides; the model still reads it


# --- batching (INFERENCE_BATCH_SIZE > 1) ---------------------------------------------------------
class BatchingFake:
    """The fake predictor with ``analyse_batch``: records the size of every batch."""

    def __init__(self, fake, *, breaks_on_width: int | None = None) -> None:
        self.fake, self.batches, self.breaks_on_width = fake, [], breaks_on_width

    def __getattr__(self, name):
        return getattr(self.fake, name)

    def analyse(self, image, *, explain=(), heat_max_side=None):
        if image.size[0] == self.breaks_on_width:
            raise FloatingPointError("this image breaks the model")
        return self.fake.analyse(image, explain=explain)

    def analyse_batch(self, images, *, explain=(), heat_max_side=None):
        self.batches.append(len(images))
        if any(i.size[0] == self.breaks_on_width for i in images):
            raise FloatingPointError("one image in the batch breaks the model")
        return [self.fake.analyse(i, explain=explain) for i in images]


@pytest.fixture
def batching(settings, fake_predictor, monkeypatch):
    settings.INFERENCE_BATCH_SIZE = 4
    settings.INFERENCE_BATCH_WINDOW_MS = 1
    fake = BatchingFake(fake_predictor)
    monkeypatch.setattr("screening.ml._predictor", fake)
    return fake


def test_a_task_takes_the_waiting_screenings_along_as_one_batch(screening_factory, batching):
    first, *others = [screening_factory(status="queued") for _ in range(5)]

    assert run_task(first.pk, task_id="t-1") == "completed"

    assert batching.batches == [4]  # its own and the three oldest waiting, one forward pass
    statuses = dict(Screening.objects.values_list("pk", "status"))
    assert sorted(statuses.values()) == ["completed"] * 4 + ["queued"]
    assert set(
        Screening.objects.filter(status="completed").values_list("claimed_by", flat=True)
    ) == {"t-1"}
    # the messages of the screenings it took along are no-ops; the fifth is processed alone
    done = [s for s in others if statuses[s.pk] == "completed"]
    assert all(run_task(s.pk) == "skipped" for s in done)
    (left,) = [s for s in others if statuses[s.pk] == "queued"]
    assert run_task(left.pk) == "completed"
    assert Prediction.objects.count() == 5


def test_one_corrupt_stored_file_in_a_batch_fails_alone_with_its_reason(
    screening_factory, batching, media_root
):
    first, corrupt, third = [screening_factory(status="queued") for _ in range(3)]
    (media_root / corrupt.image.name).write_bytes(b"garbage, not a PNG")

    assert run_task(first.pk) == "completed"

    corrupt.refresh_from_db()
    assert corrupt.status == "failed"
    assert corrupt.status_reason.startswith("The image could not be read")
    assert Screening.objects.get(pk=third.pk).status == "completed"
    assert batching.batches == [2]
    assert not Prediction.objects.filter(screening=corrupt).exists()


def test_an_image_that_breaks_the_model_fails_alone_and_the_batch_is_analysed_one_by_one(
    screening_factory, batching, media_root
):
    from tests.conftest import png_bytes

    first, bad, third = [screening_factory(status="queued") for _ in range(3)]
    (media_root / bad.image.name).write_bytes(png_bytes(size=(77, 96)))
    batching.breaks_on_width = 77

    assert run_task(first.pk) == "completed"

    assert Screening.objects.get(pk=bad.pk).status_reason == "The model returned no valid result."
    assert Screening.objects.get(pk=third.pk).status == "completed"


def test_a_lone_screening_is_processed_at_once_with_batching_on(
    screening_factory, batching, monkeypatch
):
    waits = []
    monkeypatch.setattr("screening.services.batching.time.sleep", waits.append)
    screening = screening_factory(status="queued")
    assert run_task(screening.pk) == "completed"
    assert batching.batches == []  # nothing else was waiting: the single-screening path
    assert waits == []  # and it did not wait for the collection window


def test_a_forming_batch_waits_one_window_for_more(screening_factory, batching, monkeypatch):
    waits = []
    monkeypatch.setattr("screening.services.batching.time.sleep", waits.append)
    first, second = [screening_factory(status="queued") for _ in range(2)]
    assert run_task(first.pk) == "completed"
    assert waits == [0.001]  # INFERENCE_BATCH_WINDOW_MS = 1: one more look, then the batch runs
    assert batching.batches == [2]


def test_a_redelivered_batch_task_takes_all_its_claims_over(screening_factory, batching):
    first, second = [screening_factory(status="queued") for _ in range(2)]
    # the worker claimed both for task "t-9" and was killed before storing anything
    assert processing.screening_claim(screening_id=str(first.pk), owner="t-9")
    assert processing.screening_claim(screening_id=str(second.pk), owner="t-9")
    assert run_task(second.pk, task_id="t-other") == "skipped"

    assert run_task(first.pk, task_id="t-9") == "completed"

    assert Screening.objects.get(pk=second.pk).status == "completed"
    assert batching.batches == [2]


def test_a_transient_error_gives_the_batch_back_and_publishes_the_others_again(
    screening_factory, batching, monkeypatch
):
    first, second, third = [screening_factory(status="queued") for _ in range(3)]
    published = []
    monkeypatch.setattr(
        "screening.services.submission.screening_enqueue",
        lambda *, screening: published.append(str(screening.pk)),
    )

    def database_gone(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("screening.services.batching.screenings_process", database_gone)
    monkeypatch.setattr("screening.tasks.retry_countdown", lambda retries: 0)

    assert process_screening.apply(args=[str(first.pk)]).get() == "failed"  # after its retries

    assert set(published) == {str(second.pk), str(third.pk)}
    assert Screening.objects.get(pk=first.pk).status == "failed"
    assert {Screening.objects.get(pk=s.pk).status for s in (second, third)} == {"queued"}
    assert not Screening.objects.exclude(pk=first.pk).exclude(claimed_by="").exists()


# --- storing a result ---------------------------------------------------------------------------
def test_a_stored_result_sets_the_triage_key_and_is_counted_once_even_when_stored_again(
    screening_factory, fake_predictor
):
    """The prediction is written by an UPDATE or an INSERT (not update_or_create): the triage
    key follows the newest result, and the metrics count a screening's first result only."""
    from PIL import Image
    from prometheus_client import REGISTRY

    import portal.metrics  # noqa: F401  (connects its signals, as a worker does at start)

    def counted() -> float:
        return REGISTRY.get_sample_value("portal_inference_seconds_count") or 0.0

    screening = screening_factory(status="queued")
    before = counted()
    assert run_task(screening.pk) == "completed"
    assert counted() == before + 1
    first = Screening.objects.get(pk=screening.pk)
    assert first.triage_score == pytest.approx(fake_predictor.probabilities["covid"])

    Screening.objects.filter(pk=screening.pk).update(status="processing")  # processed again
    fake_predictor.probabilities = {"covid": 0.2, "normal": 0.7, "pneumonia": 0.1}
    analysis = fake_predictor.analyse(Image.new("L", (64, 64)), explain=("covid",))
    assert processing.screening_store_result(screening_id=str(screening.pk), analysis=analysis)

    again = Screening.objects.get(pk=screening.pk)
    assert again.triage_score == pytest.approx(0.2)
    assert again.prediction.label == "normal" and again.prediction.prob_covid == pytest.approx(0.2)
    assert Prediction.objects.filter(screening=screening).count() == 1
    assert counted() == before + 1
    assert Heatmap.objects.filter(prediction__screening=screening).count() == 1
