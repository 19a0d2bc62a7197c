"""The dashboard's hand-computed fixture (described in test_dashboard.py)."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone


def _month_start(months_back: int) -> datetime.datetime:
    day = timezone.localdate().replace(day=1)
    for _ in range(months_back):
        day = (day - datetime.timedelta(days=1)).replace(day=1)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(9, 0)))


@pytest.fixture
def fixture_data(regions, screening_factory, prediction_factory, review_factory, django_user_model):
    from dashboard.rollups import rollup_backfill
    from screening.models import Review

    reviewer = django_user_model.objects.create_user(username="fixture.reviewer")
    m1, m2 = (
        _month_start(2) + datetime.timedelta(days=3),
        _month_start(1) + datetime.timedelta(days=3),
    )
    counter = {"result": 0, "review": 0}

    def add(region, when, p=None, decision=None, *, status="completed", label=None):
        screening = screening_factory(region=regions[region], submitted_at=when, status=status)
        if status == "completed":
            counter["result"] += 1 if region == "NORTH-01" else 0
            minutes = counter["result"] if region == "NORTH-01" else 30
            screening.completed_at = when + datetime.timedelta(minutes=minutes)
            screening.save(update_fields=["completed_at"])
        if p is not None:
            extra = {"label": label} if label else {}
            prediction_factory(screening=screening, prob_covid=p, **extra)
        if decision:
            review = review_factory(screening=screening, decision=decision, clinician=reviewer)
            counter["review"] += 1 if region == "NORTH-01" else 0
            hours = counter["review"] if region == "NORTH-01" else 2
            Review.objects.filter(pk=review.pk).update(
                created_at=when + datetime.timedelta(hours=hours)
            )
        return screening

    for p in (0.90, 0.80, 0.75, 0.72, 0.20):
        add("NORTH-01", m2, p, "covid_suspected")
    add("NORTH-01", m2, 0.10, "no_finding")
    add("NORTH-01", m2, 0.20, "no_finding")
    add("NORTH-01", m2, 0.05, "no_finding", label="pneumonia")
    add("NORTH-01", m2, 0.95, "pneumonia_other")
    add("NORTH-01", m2, 0.71, "pneumonia_other")
    add("NORTH-01", m2, 0.90, "unusable")
    add("NORTH-01", m2, 0.85)  # high, unreviewed: the backlog
    add("NORTH-01", m2, status="queued")
    add("NORTH-01", m2, status="failed")
    add("NORTH-02", m1, 0.90, "covid_suspected")
    add("NORTH-02", m1, 0.10, "no_finding")
    for p in (0.10, 0.20, 0.95):
        add("SOUTH-01", m2, p, "covid_suspected")
    add("SOUTH-01", m2, 0.80, "no_finding")
    rollup_backfill()  # the dashboard reads the rollup, as beat keeps it in production
    return {"m1": m1.date().replace(day=1), "m2": m2.date().replace(day=1)}


@pytest.fixture(autouse=True)
def model_card_figures(tmp_path, settings):
    """Pin the model card's "high"-band operating point that model watch compares regions with
    (sensitivity 0.959, specificity 0.753), so that the hand-computed warnings do not move
    whenever a new model ships. Only the metadata JSON is read by the dashboard."""
    import json

    weights = tmp_path / "pinned-model.safetensors"
    weights.with_suffix(".json").write_text(
        json.dumps(
            {
                "model_version": "darkcovidnet@pinned000000",
                "cv_operating_points": {"high": {"sensitivity": 0.959, "specificity": 0.753}},
                "thresholds": {"covid_high": 0.0237, "covid_medium": 0.0014},
            }
        )
    )
    settings.INFERENCE_WEIGHTS = str(weights)
    return weights
