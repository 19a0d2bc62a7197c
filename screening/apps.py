from pathlib import Path

from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "screening"
    verbose_name = "Screening"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from . import checks  # noqa: F401  (registers the system checks)

        _make_sqlite_directory(settings.DATABASES["default"])


def _make_sqlite_directory(database: dict) -> None:
    """The embedded mode's SQLite file lives under ``var/``: create the folder at start-up (not
    when settings are imported), so that ``manage.py migrate`` works on a fresh checkout."""
    name = str(database.get("NAME") or "")
    if database["ENGINE"].endswith("sqlite3") and name and not name.startswith(("file:", ":")):
        Path(name).parent.mkdir(parents=True, exist_ok=True)
