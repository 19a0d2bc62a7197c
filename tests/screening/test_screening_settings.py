"""Settings: importing them touches no file system; the embedded mode's folder is made at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_settings_creates_no_folder(tmp_path):
    static_root = tmp_path / "not-yet" / "static"
    env = {**os.environ, "STATIC_ROOT": str(static_root), "DATABASE_URL": ""}
    code = "import portal.settings"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    assert not static_root.parent.exists()


def test_the_sqlite_folder_is_made_when_the_app_starts(tmp_path):
    from screening.apps import _make_sqlite_directory

    database = tmp_path / "var" / "portal.sqlite3"
    _make_sqlite_directory({"ENGINE": "django.db.backends.sqlite3", "NAME": database})
    assert database.parent.is_dir()
    postgres = tmp_path / "pg" / "portal"
    _make_sqlite_directory({"ENGINE": "django.db.backends.postgresql", "NAME": str(postgres)})
    assert not postgres.parent.exists()
