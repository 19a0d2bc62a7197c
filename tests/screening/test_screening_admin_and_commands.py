"""Admin smoke tests and the management commands (seed_demo, requeue_stale)."""

import datetime
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from screening.models import ClinicianProfile, Region, Screening


# --- admin ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "model", ["region", "clinicianprofile", "screening", "prediction", "review"]
)
def test_every_admin_list_page_opens(superuser_client, make_scored, model):
    make_scored(decision="no_finding")
    response = superuser_client.get(reverse(f"admin:screening_{model}_changelist"))
    assert response.status_code == 200


def test_the_user_admin_shows_the_clinicians_regions(superuser_client, clinician_north):
    response = superuser_client.get(reverse("admin:auth_user_change", args=[clinician_north.pk]))
    assert response.status_code == 200
    assert "regions served" in response.content.decode().lower()
    changelist = superuser_client.get(reverse("admin:auth_user_changelist")).content.decode()
    assert "NORTH-01" in changelist


def test_screenings_are_read_only_in_the_admin(superuser_client, make_scored):
    screening = make_scored()
    change_url = reverse("admin:screening_screening_change", args=[screening.pk])

    assert superuser_client.get(change_url).status_code == 200  # viewing is allowed
    assert superuser_client.get(reverse("admin:screening_screening_add")).status_code == 403
    response = superuser_client.post(change_url, {"full_name": "Changed"})
    assert response.status_code == 403
    delete_url = reverse("admin:screening_screening_delete", args=[screening.pk])
    assert superuser_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert Screening.objects.get(pk=screening.pk).full_name == screening.full_name


def test_regions_are_deactivated_and_activated_with_admin_actions(superuser_client, regions):
    url = reverse("admin:screening_region_changelist")
    pk = regions["NORTH-02"].pk
    superuser_client.post(url, {"action": "deactivate", "_selected_action": [pk]})
    assert not Region.objects.get(pk=pk).is_active
    superuser_client.post(url, {"action": "activate", "_selected_action": [pk]})
    assert Region.objects.get(pk=pk).is_active


def test_a_region_cannot_be_nested_three_levels_deep(regions):
    from django.core.exceptions import ValidationError

    region = Region(code="NORTH-01-A", name="Too deep", parent=regions["NORTH-01"])
    with pytest.raises(ValidationError):
        region.full_clean()


# --- seed_demo --------------------------------------------------------------------------------
def run(*args, **kwargs) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue()


def test_seed_demo_is_idempotent_and_prints_passwords_only_when_it_creates_accounts(
    db, monkeypatch
):
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    first = run("seed_demo")
    counts = (Region.objects.count(), get_user_model().objects.count())
    second = run("seed_demo")

    assert counts == (Region.objects.count(), get_user_model().objects.count()) == (6, 5)
    assert "clinician.north01" in first and "admin" in first
    assert "passwords unchanged" in second
    for line in first.splitlines():
        if line.strip().startswith("clinician.") or line.strip().startswith("admin "):
            assert line.split()[-1] not in second
    north01 = ClinicianProfile.objects.get(user__username="clinician.north01")
    assert [r.code for r in north01.regions.all()] == ["NORTH-01"]
    assert Region.objects.get(code="SOUTH-02").parent.code == "SOUTH"
    assert get_user_model().objects.get(username="admin").is_superuser


def test_seed_demo_takes_passwords_from_the_environment(db, monkeypatch, client):
    monkeypatch.setenv("DEMO_PASSWORD", "demo-password-from-env")
    out = run("seed_demo")
    assert "demo-password-from-env" not in out
    assert client.login(username="clinician.south02", password="demo-password-from-env")


def test_seed_demo_keeps_a_region_an_administrator_deactivated(db):
    run("seed_demo")
    Region.objects.filter(code="NORTH-02").update(is_active=False)
    run("seed_demo")
    assert not Region.objects.get(code="NORTH-02").is_active


# --- requeue_stale ----------------------------------------------------------------------------
def test_requeue_stale_republishes_lost_screenings_and_gives_up_after_max_attempts(
    screening_factory, monkeypatch, settings
):
    settings.SCREENING_MAX_ATTEMPTS = 3
    published = []
    monkeypatch.setattr(
        "screening.tasks.process_screening.delay",
        lambda screening_id: published.append(screening_id),
    )
    old = timezone.now() - datetime.timedelta(hours=2)
    waiting = screening_factory(status="queued", submitted_at=old, queued_at=old)
    received = screening_factory(status="received", submitted_at=old)
    stuck = screening_factory(
        status="processing", submitted_at=old, processing_started_at=old, attempts=1
    )
    hopeless = screening_factory(
        status="processing", submitted_at=old, processing_started_at=old, attempts=3
    )
    fresh = screening_factory(status="queued", queued_at=timezone.now())
    done = screening_factory(status="completed", submitted_at=old)

    out = run("requeue_stale", "--minutes", "15")

    assert "requeued 3, failed 1" in out
    assert sorted(published) == sorted(str(s.pk) for s in (waiting, received, stuck))
    statuses = {
        s.pk: Screening.objects.get(pk=s.pk).status
        for s in (waiting, received, stuck, hopeless, fresh, done)
    }
    assert statuses[waiting.pk] == statuses[received.pk] == statuses[stuck.pk] == "queued"
    assert statuses[hopeless.pk] == "failed"
    assert statuses[fresh.pk] == "queued" and statuses[done.pk] == "completed"


def test_requeue_stale_dry_run_changes_nothing(screening_factory, monkeypatch):
    published = []
    monkeypatch.setattr(
        "screening.tasks.process_screening.delay",
        lambda screening_id: published.append(screening_id),
    )
    old = timezone.now() - datetime.timedelta(hours=2)
    screening_factory(status="queued", submitted_at=old, queued_at=old)
    assert "would requeue 1" in run("requeue_stale", "--dry-run")
    assert published == []


# --- load_model -------------------------------------------------------------------------------
def test_load_model_loads_the_shipped_model_once_and_prints_its_version(
    monkeypatch, settings, real_predictor
):
    from screening import ml

    settings.INFERENCE_ENGINE = "eager"  # the ONNX export itself is tested in tests/inference
    monkeypatch.setattr(ml, "_predictor", None)
    monkeypatch.setattr(ml, "_lung_finder", None)
    out = run("load_model")
    assert out.startswith(f"model ready: {real_predictor.model_version}")
    assert "lungs@" in out
    assert ml._predictor is not None and ml._lung_finder is not None


def test_load_model_without_weights_is_a_clear_error(monkeypatch, settings, tmp_path):
    from django.core.management.base import CommandError

    from screening import ml

    settings.INFERENCE_WEIGHTS = str(tmp_path / "missing.safetensors")
    monkeypatch.setattr(ml, "_predictor", None)
    with pytest.raises(CommandError, match="the model could not be loaded"):
        run("load_model")
    assert ml._predictor is None
