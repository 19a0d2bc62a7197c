"""API v1: one JSON error format, 401 with a challenge, hashed expiring tokens, new endpoints,
the OpenAPI schema and its docs page."""

from __future__ import annotations

import datetime
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

REPO = Path(__file__).resolve().parents[2]


def test_an_unknown_api_url_is_a_json_404(api_client, db):
    response = api_client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_an_unauthenticated_call_is_a_401_with_a_challenge(api_client, db):
    response = api_client.get("/api/v1/triage/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    assert response.json()["code"] == "not_authenticated"


def test_validation_errors_keep_messages_per_field_inside_the_common_format(
    api_client, regions, submission_data
):
    body = api_client.post("/api/v1/screenings/", submission_data(), format="multipart").json()
    assert body["code"] == "invalid" and body["detail"]
    assert body["image"]


def test_another_regions_screening_is_a_json_404(south_client, scored_north):
    response = south_client.get(f"/api/v1/screenings/{scored_north.pk}/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_an_unhandled_error_under_the_api_is_a_json_500(client, db, settings):
    from screening.api.errors import api_server_error

    request = (
        __import__("django.test", fromlist=["RequestFactory"])
        .RequestFactory()
        .get("/api/v1/triage/")
    )
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        response = api_server_error(request)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert b"boom" not in response.content


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_with_postgresql_down_the_api_answers_a_json_503():
    """A real connection failure: the database URL points at a port nothing listens on."""
    code = (
        "import django, json; django.setup()\n"
        "from django.test import Client\n"
        "r = Client(raise_request_exception=False).get('/api/v1/regions/')\n"
        "print(r.status_code, r['Content-Type'], r.get('Retry-After'), json.loads(r.content)['code'])\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{_free_port()}/nothing",
        "DJANGO_ALLOWED_HOSTS": "testserver",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.stdout.split() == ["503", "application/json", "120", "service_unavailable"], (
        result.stdout + result.stderr[-2000:]
    )


# --- API tokens -----------------------------------------------------------------------------
def test_api_tokens_are_stored_hashed_and_named(clinician_north, token_for):
    from portal.security.models import ApiToken

    header = token_for(clinician_north, name="ris-north")
    key = header.split()[1]
    token = ApiToken.objects.get()
    assert token.name == "ris-north"
    assert key not in (token.digest, token.token_key) and token.digest != key
    assert token.expiry > timezone.now() + datetime.timedelta(days=80)


def test_a_token_works_until_it_expires_or_is_revoked(api_client, clinician_north, token_for):
    from portal.security.models import ApiToken
    from portal.security.tokens import api_token_revoke

    header = token_for(clinician_north)
    assert api_client.get("/api/v1/triage/", HTTP_AUTHORIZATION=header).status_code == 200
    ApiToken.objects.update(expiry=timezone.now() - datetime.timedelta(seconds=1))
    assert api_client.get("/api/v1/triage/", HTTP_AUTHORIZATION=header).status_code == 401
    header = token_for(clinician_north)
    assert api_token_revoke(token_key=header.split()[1]) == 1
    assert api_client.get("/api/v1/triage/", HTTP_AUTHORIZATION=header).status_code == 401


def test_the_token_command_prints_a_key_once(clinician_north, capsys):
    call_command("api_token", "create", clinician_north.username, "--name", "lab", "--days", "7")
    key = capsys.readouterr().out.split()[0]
    from portal.security.models import ApiToken

    assert ApiToken.objects.get().name == "lab" and len(key) >= 40


# --- new endpoints --------------------------------------------------------------------------
def test_the_detail_endpoint_gives_probabilities_file_links_and_reviews(north_client, scored_north):
    body = north_client.get(f"/api/v1/screenings/{scored_north.pk}/").json()
    assert body["reference"] == scored_north.reference
    assert body["prediction"]["probabilities"]["covid"] == pytest.approx(0.8)
    assert body["links"]["image"] == f"/api/v1/screenings/{scored_north.pk}/image/"
    assert set(body["links"]["heatmaps"]) == {"covid"}
    assert [r["decision"] for r in body["reviews"]] == ["no_finding"]
    image = north_client.get(body["links"]["image"])
    assert image["Content-Type"] == "image/png" and "no-store" in image["Cache-Control"]
    heat = north_client.get(body["links"]["heatmaps"]["covid"])
    assert heat.status_code == 200 and b"".join(heat.streaming_content).startswith(b"\x89PNG")


def test_the_export_is_csv_of_references_and_codes_without_identity(north_client, scored_north):
    response = north_client.get("/api/v1/triage/export/", HTTP_ACCEPT="text/csv")
    text = response.content.decode()
    header, row = text.strip().splitlines()
    assert header.startswith("reference,region,status")
    assert row.startswith(f"{scored_north.reference},NORTH-01,completed,")
    for value in (scored_north.full_name, scored_north.national_id, scored_north.phone):
        assert value not in text
    assert "attachment" in response["Content-Disposition"]


def test_search_finds_only_within_the_clinicians_regions(north_client, south_client, scored_north):
    assert len(north_client.get("/api/v1/search/", {"q": scored_north.reference}).json()) == 1
    assert south_client.get("/api/v1/search/", {"q": scored_north.reference}).json() == []
    assert north_client.get("/api/v1/search/", {"q": "x"}).status_code == 400


def test_region_statistics_count_only_the_users_regions(north_client, scored_north, make_scored):
    make_scored(region="SOUTH-01")
    rows = north_client.get("/api/v1/stats/regions/").json()
    assert rows == [
        {
            "region": "NORTH-01",
            "name": "Riverside District",
            "total": 1,
            "pending": 0,
            "completed": 1,
            "failed": 0,
            "rejected": 0,
            "reviewed": 1,
            "awaiting_review": 0,
            "high_priority": 1,
        }
    ]


def test_admin_endpoints_manage_regions_and_assignments(
    superuser_client, north_client, clinician_north, regions
):
    created = superuser_client.post(
        "/api/v1/admin/regions/",
        {"code": "NORTH-03", "name": "Lake District", "parent": "NORTH"},
        content_type="application/json",
    )
    assert created.status_code == 201 and created.json()["parent"] == "NORTH"
    bad = superuser_client.post(
        "/api/v1/admin/regions/",
        {"code": "X-1", "name": "Too deep", "parent": "NORTH-01"},
        content_type="application/json",
    )
    assert bad.status_code == 400 and bad.json()["parent"]
    patched = superuser_client.patch(
        "/api/v1/admin/regions/NORTH-03/", {"is_active": False}, content_type="application/json"
    )
    assert patched.json()["is_active"] is False
    put = superuser_client.put(
        "/api/v1/admin/clinicians/clinician.north01/",
        {"regions": ["SOUTH-02", "NORTH-01"]},
        content_type="application/json",
    )
    assert put.json()["regions"] == ["NORTH-01", "SOUTH-02"]
    unknown = superuser_client.put(
        "/api/v1/admin/clinicians/clinician.north01/",
        {"regions": ["NOPE"]},
        content_type="application/json",
    )
    assert unknown.status_code == 400
    assert north_client.get("/api/v1/admin/regions/").status_code == 403


def test_staff_with_the_view_permission_may_list_regions_but_not_change_them(
    client, django_user_model, regions
):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user(username="staffer", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_region"))
    client.force_login(staff)
    assert client.get("/api/v1/admin/regions/").status_code == 200
    response = client.post(
        "/api/v1/admin/regions/", {"code": "Z", "name": "Z"}, content_type="application/json"
    )
    assert response.status_code == 403


# --- schema and docs ------------------------------------------------------------------------
def test_the_schema_is_valid_openapi_without_warnings(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in (
        "/api/v1/screenings/{screening_id}/heatmaps/{class_label}/",
        "/api/v1/search/",
        "/api/v1/admin/clinicians/{username}/",
        "/api/v1/stats/regions/",
    ):
        assert path in text
    assert "tokenAuth" in text and "X-Access-Token" in text


def test_the_schema_and_docs_are_served_without_a_cdn(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"openapi: 3" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html and "cdn" not in html.lower() and "https://" not in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
