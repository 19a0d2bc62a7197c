"""Patient links: token exchanged for a cookie, token-less URL, expiry, revocation, redaction."""

from __future__ import annotations

import datetime
import logging

import pytest
from django.utils import timezone

from .conftest import PATIENT_TOKEN


@pytest.fixture
def link(scored_north):
    return f"/s/{scored_north.pk}/{PATIENT_TOKEN}/"


def test_the_first_visit_sets_a_private_cookie_and_redirects_to_a_url_without_the_token(
    client, scored_north, link
):
    response = client.get(link)
    assert response.status_code == 302
    assert response["Location"] == f"/s/{scored_north.pk}/"
    cookie = response.cookies[f"cxr_pt_{scored_north.pk.hex}"]
    assert cookie.value == PATIENT_TOKEN
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) > 80 * 86400
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert scored_north.reference in page.content.decode()
    assert PATIENT_TOKEN not in page.content.decode().split("<main")[0]  # not in the head


def test_the_cookie_is_secure_when_deployed(client, link, settings):
    settings.PATIENT_COOKIE_SECURE = True
    response = client.get(link)
    assert response.cookies[next(iter(response.cookies))]["secure"]


def test_the_token_less_page_without_the_cookie_is_a_404(client, scored_north):
    assert client.get(f"/s/{scored_north.pk}/").status_code == 404


def test_an_expired_link_is_a_404(client, scored_north, link, settings):
    settings.PATIENT_LINK_MAX_AGE_DAYS = 30
    type(scored_north).objects.filter(pk=scored_north.pk).update(
        submitted_at=timezone.now() - datetime.timedelta(days=31)
    )
    assert client.get(link).status_code == 404


def test_a_revoked_link_stops_working_everywhere(client, api_client, scored_north, link):
    from portal.security.patient_access import patient_token_revoke

    client.get(link)  # the browser holds the cookie
    assert patient_token_revoke(screening_id=scored_north.pk) is True
    assert client.get(f"/s/{scored_north.pk}/").status_code == 404
    assert client.get(link).status_code == 404
    url = f"/api/v1/screenings/{scored_north.pk}/status/"
    assert api_client.get(url, HTTP_X_ACCESS_TOKEN=PATIENT_TOKEN).status_code == 404


def test_an_administrator_revokes_a_link_from_the_admin_and_it_is_audited(
    client, superuser_client, scored_north, link, audit_events
):
    response = superuser_client.post(
        "/admin/screening/screening/",
        {"action": "revoke_patient_links", "_selected_action": [str(scored_north.pk)]},
    )
    assert response.status_code == 302
    assert client.get(link).status_code == 404
    event = audit_events("patient.link_revoke")[0]
    assert (event.object_ref, event.actor_username) == (scored_north.reference, "root")


def test_a_rotated_link_replaces_the_old_one(client, scored_north, link):
    from portal.security.patient_access import patient_token_rotate

    new = patient_token_rotate(screening_id=scored_north.pk)
    assert client.get(link).status_code == 404
    assert client.get(f"/s/{scored_north.pk}/{new}/").status_code == 302


def test_the_status_api_takes_the_token_from_the_header_the_cookie_or_the_query(
    api_client, client, scored_north, link
):
    url = f"/api/v1/screenings/{scored_north.pk}/status/"
    assert api_client.get(url).status_code == 404
    assert api_client.get(url, HTTP_X_ACCESS_TOKEN="wrong").status_code == 404
    assert api_client.get(url, HTTP_X_ACCESS_TOKEN=PATIENT_TOKEN).status_code == 200
    assert api_client.get(url, {"token": PATIENT_TOKEN}).status_code == 200
    client.get(link)
    body = client.get(url).json()  # the status page's poll: the cookie only
    assert body["reference"] == scored_north.reference


def test_the_status_page_polls_the_api_without_the_token_in_the_url(client, scored_north, link):
    html = client.get(link, follow=True).content.decode()
    assert f"/api/v1/screenings/{scored_north.pk}/status/" in html
    assert "token=" not in html


def test_gunicorns_access_log_redacts_tokens_whatever_the_format(scored_north):
    from types import SimpleNamespace

    from gunicorn.config import Config

    from portal.security.gunicorn_logging import RedactingLogger

    cfg = Config()
    cfg.set("accesslog", "-")
    logger = RedactingLogger(cfg)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/s/{scored_north.pk}/{PATIENT_TOKEN}/?token={PATIENT_TOKEN}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "PATH_INFO": f"/s/{scored_north.pk}/{PATIENT_TOKEN}/",
        "QUERY_STRING": f"token={PATIENT_TOKEN}&x=1",
        "HTTP_REFERER": f"https://portal/s/{scored_north.pk}/{PATIENT_TOKEN}/",
        "REMOTE_ADDR": "203.0.113.9",
    }
    request = SimpleNamespace(headers=[("X-ACCESS-TOKEN", PATIENT_TOKEN)])
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    atoms = logger.atoms(response, request, environ, datetime.timedelta(seconds=1))
    line = " ".join(str(v) for v in atoms.values())
    assert PATIENT_TOKEN not in line
    assert f"/s/{scored_north.pk}/[redacted]/" in atoms["r"]
    assert atoms["q"] == "token=[redacted]&x=1"


def test_djangos_request_log_redacts_the_token(client, scored_north, caplog):
    from screening.logging import RedactAccessTokensFilter

    record = logging.LogRecord(
        "django.server", logging.INFO, __file__, 1, '"GET %s HTTP/1.1" 200',
        (f"/api/v1/screenings/{scored_north.pk}/status/?token={PATIENT_TOKEN}",), None,
    )  # fmt: skip
    RedactAccessTokensFilter().filter(record)
    assert PATIENT_TOKEN not in record.getMessage()
