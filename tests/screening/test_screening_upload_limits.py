"""The upload size limit on real servers: Django's development server (``make run``) and
gunicorn, each started on a free port against the test database."""

from __future__ import annotations

import http.client
import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from screening.models import Screening

REPO_ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024
TOO_LARGE = "The file is too large. The maximum is 1 MB."


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_command(kind: str, port: int) -> list[str]:
    if kind == "runserver":
        return [
            sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload",
            "--skip-checks",
        ]  # fmt: skip
    return [
        sys.executable, "-m", "gunicorn", "portal.wsgi:application", "--bind",
        f"127.0.0.1:{port}", "--workers", "1",
    ]  # fmt: skip


@pytest.fixture(params=["runserver", "gunicorn"])
def server(request, test_database_url, regions, tmp_path):
    """A real server process (MAX_UPLOAD_MB=1), stopped at the end; yields its port."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url,
        "MAX_UPLOAD_MB": "1",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DB_CONN_MAX_AGE": "0",
    }
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            _server_command(request.param, port),
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{request.param} did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def post_raw(port: int, path: str, size: int) -> tuple[int, str]:
    """POST a ``size``-byte multipart body as a browser would (it sends the body whatever the
    server says); the server may close the connection before all of it is sent."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.putrequest("POST", path)
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    chunk = bytes(64 * 1024)
    try:
        for sent in range(0, size, len(chunk)):
            conn.send(chunk[: min(len(chunk), size - sent)])
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed without reading the rest: the answer is what counts
    response = conn.getresponse()
    body = response.read().decode(errors="replace")
    conn.close()
    return response.status, body


@pytest.mark.parametrize("path", ["/api/v1/screenings/", "/"])
def test_a_body_far_over_the_limit_gets_413_with_the_plain_message(server, path):
    status, body = post_raw(server, path, 3 * MB)
    assert status == 413, body[:500]
    assert TOO_LARGE in body
    assert Screening.objects.count() == 0


def radiograph_png_over(size: int) -> bytes:
    """A real radiograph, upscaled and stored uncompressed, of at least ``size`` bytes."""
    samples = REPO_ROOT / "tests" / "samples"
    with Image.open(samples / "normal.jpg") as image:
        gray = image.convert("L")
    side = int((size * 1.02) ** 0.5) + 1
    buffer = io.BytesIO()
    gray.resize((side, side), Image.Resampling.BILINEAR).save(buffer, "PNG", compress_level=0)
    data = buffer.getvalue()
    assert len(data) > size
    return data


def test_a_max_upload_mb_above_20_is_honoured(api_client, regions, submission_data, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MAX_UPLOAD_MB = 24
    settings.MAX_UPLOAD_BYTES = 24 * MB
    data = radiograph_png_over(21 * MB)
    image = SimpleUploadedFile("big.png", data, "image/png")

    response = api_client.post(
        "/api/v1/screenings/", {**submission_data(), "image": image}, format="multipart"
    )

    assert response.status_code == 201, response.content
    assert Screening.objects.get().image_width > 4000
