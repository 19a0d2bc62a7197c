"""Fixtures of the security tests: a scored screening with a heatmap, tokens, audit queries."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

PATIENT_TOKEN = "patient-token-" + "s" * 30


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """These tests create many users; password strength is not what they test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def scored_north(make_scored, django_user_model):
    """A completed NORTH-01 screening with a prediction, a COVID-19 heatmap, one review and a
    known patient token."""
    from screening.models import Heatmap, Review
    from screening.services import access_token_hash

    screening = make_scored(prob_covid=0.8, access_token_hash=access_token_hash(PATIENT_TOKEN))
    name = default_storage.save("heatmaps/test-heat.png", ContentFile(b"\x89PNG\r\n\x1a\nheat"))
    Heatmap.objects.create(
        prediction=screening.prediction, class_label="covid", image=name, width=8, height=8
    )
    reviewer = django_user_model.objects.create_user(username="reviewer.north")
    Review.objects.create(screening=screening, clinician=reviewer, decision="no_finding")
    return screening


@pytest.fixture
def audit_events():
    """The audit events recorded so far, optionally of one action."""
    from portal.audit.models import AuditEvent

    def events(action: str | None = None):
        qs = AuditEvent.objects.order_by("id")
        return list(qs.filter(action=action) if action else qs)

    return events


@pytest.fixture
def token_for():
    """``Authorization`` header value of a new API token for a user."""
    from portal.security.tokens import api_token_create

    def make(user, name: str = "test-integration", days: int | None = None) -> str:
        _, key = api_token_create(user=user, name=name, days=days)
        return f"Token {key}"

    return make
