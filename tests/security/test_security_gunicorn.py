"""A real gunicorn (the image's config, 2 workers) on the test database: the patient link is
traded for a cookie, rate limits hold across its worker processes, and its access log never
shows a patient token."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import _database_url

from .conftest import PATIENT_TOKEN

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture
def gunicorn(transactional_db, settings, tmp_path):
    if (
        connection.vendor != "postgresql"
        or "redis" not in settings.CACHES["default"]["BACKEND"].lower()
    ):
        pytest.skip("needs PostgreSQL and the Redis cache (make test)")
    port = _free_port()
    access_log = tmp_path / "access.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": _database_url(connection.settings_dict),
        "DB_CONN_MAX_AGE": "0",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "API_STATUS_RATE": "4/hour",
        "CACHE_KEY_PREFIX": f"gunicorn-test-{port}",
    }
    command = [
        sys.executable, "-m", "gunicorn", "portal.wsgi:application", "-c", "python:portal.gunicorn",
        "--access-logfile", str(access_log),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("gunicorn did not start")
            time.sleep(0.3)
    try:
        yield base, access_log
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_real_gunicorn_trades_the_token_for_a_cookie_limits_guessing_and_logs_no_token(
    gunicorn, scored_north
):
    base, access_log = gunicorn
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(f"{base}/s/{scored_north.pk}/{PATIENT_TOKEN}/")
    assert redirect.value.code == 302
    assert redirect.value.headers["Location"] == f"/s/{scored_north.pk}/"
    cookie = redirect.value.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    status = urllib.request.urlopen(
        f"{base}/api/v1/screenings/{scored_north.pk}/status/?token={PATIENT_TOKEN}"
    )
    assert status.status == 200
    codes = []
    for i in range(8):  # spread over both worker processes; a made-up header changes nothing
        request = urllib.request.Request(
            f"{base}/api/v1/screenings/{scored_north.pk}/status/?token=wrong{i}",
            headers={"X-Forwarded-For": f"10.0.0.{i}", "Connection": "close"},
        )
        try:
            codes.append(urllib.request.urlopen(request).status)
        except urllib.error.HTTPError as exc:
            codes.append(exc.code)
    assert codes == [404] * 4 + [429] * 4
    time.sleep(0.5)
    log = access_log.read_text()
    assert f"/s/{scored_north.pk}/[redacted]/" in log and "token=[redacted]" in log
    assert PATIENT_TOKEN not in log
