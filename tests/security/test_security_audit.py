"""The audit trail: one record per read of patient data, review, admin change and login."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from tests.conftest import PASSWORD

from .conftest import PATIENT_TOKEN


def only(events, action):
    found = events(action)
    assert len(found) == 1, [(e.action, e.outcome) for e in events()]
    return found[0]


@pytest.mark.parametrize(
    "path, action",
    [
        ("/clinic/screenings/{id}/", "screening.view"),
        ("/clinic/screenings/{id}/image/", "screening.image"),
        ("/clinic/screenings/{id}/heatmap/covid/", "screening.heatmap"),
        ("/api/v1/screenings/{id}/", "screening.view"),
        ("/api/v1/screenings/{id}/image/", "screening.image"),
        ("/api/v1/screenings/{id}/heatmaps/covid/", "screening.heatmap"),
        ("/api/v1/screenings/{id}/reviews/", "review.history"),
    ],
)
def test_a_clinicians_read_is_recorded_with_who_role_address_object_and_outcome(
    north_client, south_client, scored_north, audit_events, path, action
):
    url = path.format(id=scored_north.pk)
    assert north_client.get(url, REMOTE_ADDR="192.0.2.10").status_code == 200
    event = only(audit_events, action)
    assert (event.actor_username, event.role, event.client_ip) == (
        "clinician.north01",
        "clinician",
        "192.0.2.10",
    )
    assert (event.object_type, event.object_ref, event.outcome) == (
        "screening",
        scored_north.reference,
        "allowed",
    )
    assert scored_north.full_name not in str(event.detail) + event.path
    assert south_client.get(url).status_code == 404  # another region: denied, and recorded
    denied = audit_events(action)[-1]
    assert (denied.actor_username, denied.outcome) == ("clinician.south01", "denied")


@pytest.mark.parametrize("path", ["/clinic/", "/api/v1/triage/"])
def test_the_triage_list_is_recorded_with_its_filters(
    north_client, scored_north, audit_events, path
):
    north_client.get(path, {"region": "NORTH-01", "page": "1"})
    event = only(audit_events, "triage.list")
    assert event.detail["filters"] == {"region": "NORTH-01"} and event.outcome == "allowed"
    assert event.detail["references"] == [scored_north.reference]  # what the list showed


@pytest.mark.parametrize("path", ["/clinic/", "/api/v1/triage/"])
def test_a_list_request_with_a_nul_in_its_filters_is_refused_and_recorded(
    north_client, scored_north, audit_events, path
):
    # Found by the schema fuzzer: PostgreSQL's jsonb refuses a NUL, so the audit insert failed
    # and the request answered 500 with no record of it. Now it is refused, and recorded.
    response = north_client.get(f"{path}?region=N%00RTH&status=%00")
    assert response.status_code == 400
    assert "not allowed (a NUL character)" in response.content.decode()
    event = only(audit_events, "triage.list")
    assert event.detail["filters"] == {"region": "N\ufffdRTH", "status": "\ufffd"}
    assert event.status_code == response.status_code


def test_an_event_whose_detail_holds_a_lone_surrogate_is_still_written(db, audit_events):
    from portal.audit.services import audit_record

    audit_record(action="search", object_ref="A\ud800", detail={"query": ["x\udc5by", "\x00"]})
    event = only(audit_events, "search")
    assert (event.object_ref, event.detail) == ("A\ufffd", {"query": ["x\ufffdy", "\ufffd"]})


def test_an_export_is_recorded_with_the_references_it_contained(
    north_client, scored_north, audit_events
):
    response = north_client.get("/api/v1/triage/export/")
    assert response["Content-Type"].startswith("text/csv")
    event = only(audit_events, "screening.export")
    assert event.detail["references"] == [scored_north.reference] and event.outcome == "allowed"


def test_a_search_is_recorded_with_the_references_found(north_client, scored_north, audit_events):
    response = north_client.get("/api/v1/search/", {"q": scored_north.reference})
    assert [r["reference"] for r in response.json()] == [scored_north.reference]
    assert only(audit_events, "screening.search").detail["references"] == [scored_north.reference]


def test_an_anonymous_read_is_recorded_as_denied(client, scored_north, audit_events):
    assert client.get(f"/clinic/screenings/{scored_north.pk}/").status_code == 302
    event = only(audit_events, "screening.view")
    assert (event.role, event.outcome, event.actor_username) == ("anonymous", "denied", "")


def test_a_review_through_the_form_and_the_api_is_recorded(
    north_client, scored_north, audit_events
):
    north_client.post(
        f"/clinic/screenings/{scored_north.pk}/review/", {"decision": "covid_suspected"}
    )
    north_client.post(
        f"/api/v1/screenings/{scored_north.pk}/review/",
        {"decision": "no_finding"},
        content_type="application/json",
    )
    events = audit_events("review.create")
    assert [e.outcome for e in events] == ["allowed", "allowed"]
    assert {e.object_ref for e in events} == {scored_north.reference}


def test_the_patients_status_checks_are_recorded_as_patient(client, scored_north, audit_events):
    client.get(f"/s/{scored_north.pk}/wrong/")
    client.get(f"/s/{scored_north.pk}/{PATIENT_TOKEN}/", follow=True)
    events = audit_events("patient.status")
    assert [(e.role, e.outcome) for e in events] == [
        ("patient", "denied"),
        ("patient", "allowed"),
        ("patient", "allowed"),
    ]
    assert all(PATIENT_TOKEN not in e.path for e in events)


def test_admin_views_of_patient_data_are_recorded(superuser_client, scored_north, audit_events):
    superuser_client.get("/admin/screening/screening/")
    superuser_client.get(f"/admin/screening/screening/{scored_north.pk}/change/")
    events = audit_events("admin.view")
    assert [e.object_ref for e in events] == ["", scored_north.reference]
    assert all(e.role == "superuser" for e in events)


def test_admin_changes_to_regions_users_and_assignments_are_recorded(
    superuser_client, regions, clinician_north, audit_events
):
    region = regions["NORTH-02"]
    superuser_client.post(
        "/admin/screening/region/",
        {"action": "deactivate", "_selected_action": [region.pk]},
    )
    action = only(audit_events, "admin.action")
    assert action.detail["action"] == "deactivate" and action.detail["selected"] == [str(region.pk)]
    response = superuser_client.put(
        f"/api/v1/admin/clinicians/{clinician_north.username}/",
        {"regions": ["NORTH-02"]},
        content_type="application/json",
    )
    assert response.status_code == 200
    change = only(audit_events, "admin.assignment")
    assert change.object_ref == clinician_north.username and change.method == "PUT"
    north = regions["NORTH"]
    response = superuser_client.post(
        f"/admin/screening/region/{north.pk}/change/",
        {
            "code": "NORTH",
            "name": "Northern Province (renamed)",
            "is_active": "on",
            "children-TOTAL_FORMS": "0",
            "children-INITIAL_FORMS": "0",
            "children-MIN_NUM_FORMS": "0",
            "children-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    logged = only(audit_events, "admin.change")
    assert logged.object_type == "screening.region" and logged.detail["message"] == "Changed Name."
    assert (logged.actor_username, logged.role) == ("root", "superuser")


def test_logins_and_failed_logins_are_recorded(client, clinician_north, audit_events):
    client.post("/accounts/login/", {"username": "clinician.north01", "password": "nope"})
    client.post("/accounts/login/", {"username": "clinician.north01", "password": PASSWORD})
    failed = only(audit_events, "auth.login_failed")
    assert (failed.object_ref, failed.outcome) == ("clinician.north01", "denied")
    login = only(audit_events, "auth.login")
    assert (login.actor_username, login.outcome) == ("clinician.north01", "allowed")


@pytest.mark.django_db(transaction=True)
def test_audit_events_cannot_be_updated_or_deleted_even_in_sql(audit_events, regions):
    from portal.audit.models import AuditEvent
    from portal.audit.services import audit_record

    event = audit_record(action="test.event")
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    for sql in (
        "UPDATE audit_auditevent SET action = 'forged'",
        "DELETE FROM audit_auditevent",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


def test_the_admin_shows_the_trail_but_cannot_change_it(superuser_client, audit_events, db):
    from portal.audit.services import audit_record

    event = audit_record(action="test.event")
    assert superuser_client.get("/admin/audit/auditevent/").status_code == 200
    page = superuser_client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert superuser_client.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    assert superuser_client.get("/admin/audit/auditevent/add/").status_code == 403
