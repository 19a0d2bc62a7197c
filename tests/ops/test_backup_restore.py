"""scripts/backup.sh and scripts/restore.sh: back up, wipe, restore into a fresh database."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from .stack import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

TABLES = ("screening_screening", "screening_prediction", "screening_heatmap", "screening_region")


def _files(root) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _snapshot(d) -> dict:
    return {
        "counts": {t: d.sql(f"SELECT count(*) FROM {t}")[0][0] for t in TABLES},  # noqa: S608
        "rows": d.sql(
            "SELECT s.id::text, s.reference, s.status, s.image, s.national_id, p.prob_covid, "
            "p.label FROM screening_screening s JOIN screening_prediction p "
            "ON p.screening_id = s.id ORDER BY s.id"
        ),
        "heatmaps": d.sql("SELECT image FROM screening_heatmap ORDER BY image"),
    }


def _script(name: str, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / name), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_backup_restored_into_a_fresh_database_brings_back_every_row_and_image(
    deployment, xray_png, tmp_path
):
    d = deployment(INFERENCE_HEATMAPS="true")
    d.start_web()
    for _ in range(3):
        assert d.upload(xray_png).status_code == 201
    d.start_worker()
    d.wait_all_completed(3, timeout=180)
    d.stop()
    before, files_before = _snapshot(d), _files(d.media_root)
    assert before["counts"]["screening_heatmap"] >= 3  # images of both kinds are in the backup
    assert len(files_before) >= 6

    backups = tmp_path / "backups"
    made = _script(
        "backup.sh",
        str(backups),
        env={"DATABASE_URL": d.pg.url(d.dbname), "MEDIA_ROOT": str(d.media_root)},
    )
    assert made.returncode == 0, made.stderr
    folder = made.stdout.strip().splitlines()[-1]

    # wipe: the database and every image are gone
    d.pg.sql("postgres", f"DROP DATABASE {d.dbname} WITH (FORCE)")
    shutil.rmtree(d.media_root)

    d.dbname = f"restored_{uuid.uuid4().hex[:8]}"
    d.pg.sql("postgres", f"CREATE DATABASE {d.dbname}")
    d.media_root = tmp_path / "restored-media"
    env = {"DATABASE_URL": d.pg.url(d.dbname), "MEDIA_ROOT": str(d.media_root)}
    restored = _script("restore.sh", folder, env=env)
    assert restored.returncode == 0, restored.stderr

    assert _snapshot(d) == before
    assert _files(d.media_root) == files_before
    # the restored database is at the code's schema: nothing left to migrate
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--check", "--noinput"],
        cwd=REPO_ROOT,
        env={**d.env(), **env},
        check=True,
        timeout=120,
    )

    # a second restore into the now non-empty database is refused, not merged
    again = _script("restore.sh", folder, env=env)
    assert again.returncode == 2
    assert "already has portal tables" in again.stderr


def test_a_damaged_backup_is_refused_before_anything_is_restored(deployment, tmp_path):
    d = deployment()
    made = _script(
        "backup.sh",
        str(tmp_path / "b"),
        env={"DATABASE_URL": d.pg.url(d.dbname), "MEDIA_ROOT": str(d.media_root)},
    )
    assert made.returncode == 0, made.stderr
    folder = made.stdout.strip().splitlines()[-1]
    with open(os.path.join(folder, "database.dump"), "ab") as f:
        f.write(b"tampered")

    target = f"restored_{uuid.uuid4().hex[:8]}"
    d.pg.sql("postgres", f"CREATE DATABASE {target}")
    result = _script(
        "restore.sh",
        folder,
        env={"DATABASE_URL": d.pg.url(target), "MEDIA_ROOT": str(tmp_path / "m")},
    )
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr
    assert d.pg.sql(
        target, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
    ) == [(0,)]
