"""Data lifecycle: a screening is erased completely, the audit trail keeps that it happened."""

from __future__ import annotations

import datetime

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone


def _everything_of(screening) -> dict:
    from screening.models import Heatmap, Prediction, Review, Screening

    return {
        "screening": Screening.objects.filter(pk=screening.pk).count(),
        "prediction": Prediction.objects.filter(screening_id=screening.pk).count(),
        "heatmaps": Heatmap.objects.filter(prediction__screening_id=screening.pk).count(),
        "reviews": Review.objects.filter(screening_id=screening.pk).count(),
    }


def _with_dicom(screening):
    screening.dicom_file.name = default_storage.save("dicom/x.dcm", ContentFile(b"DICM" * 40))
    type(screening).objects.filter(pk=screening.pk).update(dicom_file=screening.dicom_file.name)
    return screening


def test_erasing_a_screening_leaves_no_row_and_no_file_but_an_audit_record(
    scored_north, django_capture_on_commit_callbacks, audit_events
):
    from portal.security.erasure import screening_erase

    screening = _with_dicom(scored_north)
    files = [screening.image.name, screening.dicom_file.name] + [
        h.image.name for h in screening.prediction.heatmaps.all()
    ]
    assert all(default_storage.exists(name) for name in files) and len(files) == 3
    with django_capture_on_commit_callbacks(execute=True):
        assert screening_erase(screening_id=screening.pk, reason="test") == screening.reference
    assert _everything_of(screening) == {
        "screening": 0,
        "prediction": 0,
        "heatmaps": 0,
        "reviews": 0,
    }
    assert not any(default_storage.exists(name) for name in files)
    event = audit_events("screening.erase")[0]
    assert event.object_ref == screening.reference and event.detail["files"] == 3
    assert screening.full_name not in str(event.detail)


def test_the_command_erases_screenings_past_the_retention_period(
    make_scored, settings, django_capture_on_commit_callbacks
):
    settings.SCREENING_RETENTION_DAYS = 30
    old = make_scored(submitted_at=timezone.now() - datetime.timedelta(days=31))
    new = make_scored()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("erase_screenings", "--expired")
    assert _everything_of(old)["screening"] == 0
    assert _everything_of(new)["screening"] == 1


def test_the_admin_action_erases_for_a_superuser_only(
    superuser_client, client, django_user_model, scored_north
):
    staff = django_user_model.objects.create_user(username="viewer", is_staff=True)
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(Permission.objects.get(codename="view_screening"))
    client.force_login(staff)
    data = {"action": "erase_selected_screenings", "_selected_action": [str(scored_north.pk)]}
    client.post("/admin/screening/screening/", data)
    assert _everything_of(scored_north)["screening"] == 1
    superuser_client.post("/admin/screening/screening/", data)
    assert _everything_of(scored_north)["screening"] == 0
