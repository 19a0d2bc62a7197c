"""Shared fixtures: regions, users per role, factories, sample images, a real Celery worker.

Factories are exposed as fixtures (``screening_factory`` ...) so test modules need no imports
from this directory.
"""

from __future__ import annotations

import datetime
import io
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import factory
import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.utils import override_settings
from django.utils import timezone
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


# --- environment ------------------------------------------------------------------------------
@pytest.fixture(scope="session", autouse=True)
def media_root(tmp_path_factory) -> Iterator[Path]:
    """Uploads of the whole session go to a temporary MEDIA_ROOT (shared with the worker)."""
    root = tmp_path_factory.mktemp("uploads")
    with override_settings(MEDIA_ROOT=str(root)):
        yield root


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cache.clear()  # rate-limit counters
    yield


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def media_files(media_root) -> Callable[[], list[Path]]:
    """Files written under MEDIA_ROOT since the test started."""
    before = set(stored_files(media_root))
    return lambda: [p for p in stored_files(media_root) if p not in before]


# --- sample images ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sample_bytes() -> dict[str, bytes]:
    return {
        name: (SAMPLES_DIR / f"{name}.jpg").read_bytes()
        for name in ("covid", "normal", "pneumonia")
    }


def png_bytes(size: tuple[int, int] = (96, 96), value: int = 128) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("L", size, value)
    for x in range(size[0]):  # a gradient, so it is not a flat image
        image.putpixel((x, x % size[1]), 255 - value)
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def upload() -> Callable[..., SimpleUploadedFile]:
    def make(
        data: bytes | None = None, name: str = "xray.png", content_type: str = "image/png"
    ) -> SimpleUploadedFile:
        return SimpleUploadedFile(name, png_bytes() if data is None else data, content_type)

    return make


# --- regions and users ------------------------------------------------------------------------
@pytest.fixture
def regions(db) -> dict:
    """NORTH (NORTH-01, NORTH-02), SOUTH (SOUTH-01, SOUTH-02), inactive NORTH-09, inactive WEST."""
    from screening.models import Region

    north = Region.objects.create(code="NORTH", name="Northern Province")
    south = Region.objects.create(code="SOUTH", name="Southern Province")
    west = Region.objects.create(code="WEST", name="Western Province", is_active=False)
    made = {"NORTH": north, "SOUTH": south, "WEST": west}
    for code, name, parent, active in [
        ("NORTH-01", "Riverside District", north, True),
        ("NORTH-02", "Highland District", north, True),
        ("NORTH-09", "Closed District", north, False),
        ("SOUTH-01", "Coastal District", south, True),
        ("SOUTH-02", "Valley District", south, True),
        ("WEST-01", "Desert District", west, True),
    ]:
        made[code] = Region.objects.create(code=code, name=name, parent=parent, is_active=active)
    return made


PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def make_clinician(db, django_user_model) -> Callable:
    from screening.models import ClinicianProfile

    def make(username: str, *region_codes: str, **extra):
        from screening.models import Region

        user = django_user_model.objects.create_user(
            username=username, password=PASSWORD, first_name="Dr", last_name=username, **extra
        )
        profile = ClinicianProfile.objects.create(user=user)
        profile.regions.set(Region.objects.filter(code__in=region_codes))
        return user

    return make


@pytest.fixture
def clinician_north(regions, make_clinician):
    """Serves NORTH-01 only."""
    return make_clinician("clinician.north01", "NORTH-01")


@pytest.fixture
def clinician_south(regions, make_clinician):
    """Serves SOUTH-01 only."""
    return make_clinician("clinician.south01", "SOUTH-01")


@pytest.fixture
def clinician_province(regions, make_clinician):
    """Serves the NORTH province, hence all its districts."""
    return make_clinician("clinician.north", "NORTH")


@pytest.fixture
def superuser(db, django_user_model):
    return django_user_model.objects.create_superuser(
        username="root", email="root@example.org", password=PASSWORD
    )


@pytest.fixture
def plain_user(db, django_user_model):
    """Authenticated, but no clinician regions."""
    return django_user_model.objects.create_user(username="someone", password=PASSWORD)


def _client_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def north_client(clinician_north):
    return _client_for(clinician_north)


@pytest.fixture
def south_client(clinician_south):
    return _client_for(clinician_south)


@pytest.fixture
def superuser_client(superuser):
    return _client_for(superuser)


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


# --- factories --------------------------------------------------------------------------------
class ScreeningFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "screening.Screening"

    reference = factory.Sequence(lambda n: f"CXR-TEST-{n:04d}")
    region = factory.LazyFunction(lambda: _region("NORTH-01"))
    national_id = factory.Sequence(lambda n: f"ID{n:08d}")
    full_name = factory.Sequence(lambda n: f"Patient Number{n}")
    date_of_birth = datetime.date(1970, 5, 17)
    sex = "F"
    phone = "+441234567890"
    consent_at = factory.LazyFunction(timezone.now)
    submitted_at = factory.LazyFunction(timezone.now)
    status = "completed"
    access_token_hash = factory.LazyFunction(lambda: "0" * 64)
    completed_at = factory.LazyAttribute(
        lambda o: o.submitted_at if o.status == "completed" else None
    )

    @factory.lazy_attribute
    def image(self):
        from screening import imaging

        return imaging.store_png(png_bytes())


def _region(code: str):
    from screening.models import Region

    return Region.objects.get(code=code)


class PredictionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "screening.Prediction"

    screening = factory.SubFactory(ScreeningFactory)
    prob_covid = 0.5
    prob_normal = factory.LazyAttribute(lambda o: (1 - o.prob_covid) / 2)
    prob_pneumonia = factory.LazyAttribute(lambda o: 1 - o.prob_covid - o.prob_normal)
    label = factory.LazyAttribute(
        lambda o: max(
            ("covid", o.prob_covid),
            ("normal", o.prob_normal),
            ("pneumonia", o.prob_pneumonia),
            key=lambda kv: kv[1],
        )[0]
    )
    model_version = "darkcovidnet@test00000000"
    weights_sha256 = "f" * 64
    priority = factory.LazyAttribute(
        lambda o: "high" if o.prob_covid >= 0.7 else "medium" if o.prob_covid >= 0.3 else "low"
    )
    inference_ms = 42


class ReviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "screening.Review"

    screening = factory.SubFactory(ScreeningFactory)
    decision = "no_finding"
    note = ""
    is_current = True


@pytest.fixture
def screening_factory(regions):
    return ScreeningFactory


@pytest.fixture
def prediction_factory(regions):
    return PredictionFactory


@pytest.fixture
def review_factory(regions):
    return ReviewFactory


@pytest.fixture
def make_scored(regions, django_user_model) -> Callable:
    """A completed screening with a prediction (and optionally a current review)."""

    def make(
        *,
        prob_covid: float = 0.5,
        region: str = "NORTH-01",
        submitted_at: datetime.datetime | None = None,
        decision: str | None = None,
        reviewer=None,
        **fields,
    ):
        screening = ScreeningFactory(
            region=_region(region), submitted_at=submitted_at or timezone.now(), **fields
        )
        PredictionFactory(screening=screening, prob_covid=prob_covid)
        if decision:
            reviewer = reviewer or django_user_model.objects.create_user(
                username=f"reviewer-{uuid.uuid4().hex[:8]}"
            )
            ReviewFactory(screening=screening, decision=decision, clinician=reviewer)
        return screening

    return make


@pytest.fixture
def submission_data() -> Callable[..., dict]:
    """Valid form/API fields (without the image), with overrides."""

    def make(**overrides) -> dict:
        data = {
            "region": "NORTH-01",
            "national_id": "AB123456",
            "full_name": "Amina Okafor",
            "date_of_birth": "1984-02-29",
            "sex": "F",
            "phone": "+2348012345678",
            "symptoms": "Dry cough for 6 days, mild fever.",
            "consent": "true",
        }
        data.update(overrides)
        return {k: v for k, v in data.items() if v is not None}

    return make


# --- the model --------------------------------------------------------------------------------
@dataclass
class FakePredictor:
    """Stands in for the real model where a test is about the portal, not the model."""

    probabilities: dict
    model_version: str = "darkcovidnet@fake00000000"
    weights_sha256: str = "e" * 64
    calls: int = 0

    def predict(self, image) -> dict:
        self.calls += 1
        label = max(self.probabilities, key=self.probabilities.get)
        return {
            "probabilities": dict(self.probabilities),
            "label": label,
            "model_version": self.model_version,
        }

    def priority(self, covid_probability: float) -> str:
        return (
            "high" if covid_probability >= 0.7 else "medium" if covid_probability >= 0.3 else "low"
        )


@pytest.fixture
def fake_predictor(monkeypatch) -> FakePredictor:
    fake = FakePredictor(probabilities={"covid": 0.62, "normal": 0.08, "pneumonia": 0.30})
    monkeypatch.setattr("screening.ml._predictor", fake)
    return fake


@pytest.fixture(scope="session")
def real_predictor():
    """The shipped model, loaded once in the test process (CPU) to compute expected outputs."""
    from inference.predictor import Predictor

    return Predictor.load(device="cpu")


@pytest.fixture
def use_real_predictor(monkeypatch, real_predictor):
    monkeypatch.setattr("screening.ml._predictor", real_predictor)
    return real_predictor


# --- a real Celery worker ---------------------------------------------------------------------
@dataclass
class WorkerHandle:
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no worker log)"

    def wait_for_status(
        self, screening_id, statuses=("completed", "failed", "rejected"), timeout: float = 180.0
    ):
        """Poll the database until the screening reaches one of ``statuses`` (bounded)."""
        from screening.models import Screening

        deadline = time.monotonic() + timeout
        while True:
            screening = Screening.objects.get(pk=screening_id)
            if screening.status in statuses:
                return screening
            if self.process.poll() is not None:
                pytest.fail(f"worker exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"screening still {screening.status} after {timeout:.0f}s; worker log:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.25)


def _database_url(settings_dict: dict) -> str:
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, media_root, tmp_path_factory):
    """A real ``celery -A portal worker -Q inference`` process on Redis and the test database.

    Started once per session after pytest-django created the test database; its
    ``DATABASE_URL`` names that database, ``MEDIA_ROOT`` is the session's upload directory.
    Tests using it need ``transactional_db`` so that their rows are committed and visible.
    Stopped before the test database is dropped.
    """
    from django.db import connection

    from portal.celery import app

    if connection.vendor != "postgresql" or settings.CELERY_BROKER_URL.startswith("memory"):
        pytest.skip("needs DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis); see make test")

    with app.connection_for_write() as conn:  # drop leftovers of earlier runs
        conn.default_channel.queue_purge("inference")

    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": _database_url(connection.settings_dict),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "MEDIA_ROOT": str(media_root),
        "INFERENCE_DEVICE": "cpu",
        "DB_CONN_MAX_AGE": "0",
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable, "-m", "celery", "-A", "portal", "worker",
        "-Q", "inference", "--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--hostname", f"pytest-{os.getpid()}@%h",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    handle = WorkerHandle(process=process, log_path=log_path)
    deadline = time.monotonic() + 120
    while "ready." not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"celery worker did not start:\n{handle.log_tail()}")
        time.sleep(0.25)
    try:
        yield handle
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def task_runner(request, transactional_db):
    """The real worker when PostgreSQL and Redis are configured, else in-process (eager) tasks."""
    from portal.celery import app

    try:
        handle = request.getfixturevalue("celery_worker")
    except pytest.skip.Exception:
        handle = None
    if handle is not None:
        yield handle
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield WorkerHandle(process=_NeverExits(), log_path=Path(os.devnull))
    finally:
        app.conf.task_always_eager = previous


class _NeverExits:
    returncode = None

    def poll(self):
        return None
