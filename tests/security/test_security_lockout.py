"""Login lockout (django-axes): both login pages, audited, unlocked by an administrator."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD

LOGIN_PAGES = ["/accounts/login/", "/admin/login/"]


@pytest.fixture
def limit(settings):
    settings.AXES_FAILURE_LIMIT = 3
    return 3


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_after_too_many_wrong_passwords_even_the_right_one_is_refused(
    client, superuser, limit, url, audit_events
):
    for _ in range(limit):
        client.post(url, {"username": "root", "password": "wrong"})
    response = client.post(url, {"username": "root", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    lockout = audit_events("auth.lockout")
    assert lockout and lockout[0].object_ref == "root"


def test_a_fresh_address_does_not_unlock_the_username(client, clinician_north, limit):
    for i in range(limit):
        client.post(
            "/accounts/login/",
            {"username": "clinician.north01", "password": "wrong"},
            REMOTE_ADDR=f"192.0.2.{i}",
        )
    response = client.post(
        "/accounts/login/",
        {"username": "clinician.north01", "password": PASSWORD},
        REMOTE_ADDR="192.0.2.200",
    )
    assert response.status_code == 429


def test_an_administrator_unlocks_and_the_unlock_is_recorded(
    client, superuser_client, clinician_north, limit, audit_events
):
    from axes.models import AccessAttempt

    for _ in range(limit):
        client.post("/accounts/login/", {"username": "clinician.north01", "password": "wrong"})
    attempt = AccessAttempt.objects.get(username="clinician.north01")
    response = superuser_client.post(
        f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    unlock = audit_events("auth.unlock")
    assert unlock and unlock[0].object_ref == "clinician.north01"
    assert unlock[0].actor_username == "root"
    response = client.post(
        "/accounts/login/", {"username": "clinician.north01", "password": PASSWORD}
    )
    assert response.status_code == 302 and "_auth_user_id" in client.session
