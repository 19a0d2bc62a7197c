"""The sweeper (screening/sweeper.py), its beat schedule and the queue timing it relies on."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from portal import checks
from screening.sweeper import stale_screenings_sweep, sweep_deadlines


def test_the_configured_visibility_timeout_exceeds_the_hard_limit_plus_the_expected_wait():
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert visibility == 3600
    assert settings.CELERY_TASK_TIME_LIMIT == 180
    assert settings.EXPECTED_QUEUE_WAIT_SECONDS == 1800
    assert checks.visibility_timeout_margin() == 3600 - 180 - 1800
    assert checks.visibility_timeout_exceeds_task_lifetime(None) == []


def test_a_visibility_timeout_shorter_than_a_task_can_wait_and_run_is_a_system_check_error():
    with override_settings(
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        CELERY_BROKER_TRANSPORT_OPTIONS={"visibility_timeout": 1900},
        CELERY_TASK_TIME_LIMIT=180,
        EXPECTED_QUEUE_WAIT_SECONDS=1800,
    ):
        errors = checks.visibility_timeout_exceeds_task_lifetime(None)
    assert [e.id for e in errors] == ["ops.E001"]


def test_a_processing_deadline_within_the_hard_limit_is_a_system_check_error():
    with override_settings(SWEEP_PROCESSING_AFTER_SECONDS=180, CELERY_TASK_TIME_LIMIT=180):
        assert [e.id for e in checks.sweeper_deadlines_are_sane(None)] == ["ops.E002"]
    assert checks.sweeper_deadlines_are_sane(None) == []


def test_the_beat_schedule_runs_the_sweeper_on_the_maintenance_queue():
    from portal.celery import app

    entry = app.conf.beat_schedule["sweep-stale-screenings"]
    assert entry["task"] == "screening.sweep_stale"
    assert entry["schedule"] == settings.SWEEP_INTERVAL_SECONDS == 300
    assert entry["options"]["queue"] == "maintenance"
    assert entry["options"]["expires"] == 300
    assert "screening.sweep_stale" in app.tasks
    assert app.amqp.router.route({}, "screening.sweep_stale")["queue"].name == "maintenance"


def test_the_default_deadlines_follow_the_queue_wait_and_the_hard_limit():
    pending, processing = sweep_deadlines()
    assert pending == datetime.timedelta(seconds=1800)
    assert processing == datetime.timedelta(seconds=180 + 60)


@pytest.fixture
def published(monkeypatch) -> list[str]:
    """Screening ids the sweeper publishes (the broker itself is exercised in test_faults)."""
    sent: list[str] = []
    from screening import tasks

    monkeypatch.setattr(tasks.process_screening, "delay", lambda sid: sent.append(sid))
    return sent


def test_a_screening_stuck_in_queued_past_the_deadline_is_published_again(
    screening_factory, published
):
    old = timezone.now() - datetime.timedelta(hours=1)
    stuck = screening_factory(status="queued", submitted_at=old, queued_at=old, attempts=0)
    fresh = screening_factory(status="queued", queued_at=timezone.now())
    done = screening_factory(status="completed", submitted_at=old)

    report = stale_screenings_sweep()
    assert report.requeued == [str(stuck.pk)]
    assert published == [str(stuck.pk)]
    stuck.refresh_from_db()
    assert stuck.status == "queued" and stuck.queued_at > old
    fresh.refresh_from_db()
    done.refresh_from_db()
    assert (fresh.status, done.status) == ("queued", "completed")


def test_a_screening_left_in_processing_by_a_killed_worker_goes_back_to_the_queue(
    screening_factory, published
):
    started = timezone.now() - datetime.timedelta(
        seconds=settings.SWEEP_PROCESSING_AFTER_SECONDS + 5
    )
    stuck = screening_factory(status="processing", processing_started_at=started, attempts=1)
    running = screening_factory(
        status="processing", processing_started_at=timezone.now(), attempts=1
    )

    report = stale_screenings_sweep()
    assert report.requeued == [str(stuck.pk)]
    stuck.refresh_from_db()
    running.refresh_from_db()
    assert (stuck.status, running.status) == ("queued", "processing")


def test_a_screening_out_of_attempts_fails_with_a_reason_the_clinician_sees(
    screening_factory, published, north_client
):
    old = timezone.now() - datetime.timedelta(hours=2)
    poison = screening_factory(
        status="processing",
        submitted_at=old,
        processing_started_at=old,
        attempts=settings.SCREENING_MAX_ATTEMPTS,
    )
    report = stale_screenings_sweep()
    assert report.failed == [str(poison.pk)] and published == []
    poison.refresh_from_db()
    assert poison.status == "failed"
    assert "did not finish after several attempts" in poison.status_reason

    page = north_client.get(f"/clinic/screenings/{poison.pk}/")
    assert page.status_code == 200
    assert "did not finish after several attempts" in page.content.decode()
