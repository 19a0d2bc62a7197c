"""S3-compatible storage (django-storages) against a real S3 server (moto in server mode).

The web process and the worker have different ``MEDIA_ROOT`` folders, as on two hosts: the
worker can only reach the image through the bucket, and the clinician's access-checked views
stream the image and the heatmap from it.
"""

from __future__ import annotations

import re
import sys
import uuid

import pytest
import requests

from .stack import free_port, spawn, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


@pytest.fixture
def s3_server(tmp_path):
    import boto3

    port = free_port()
    proc = spawn(
        "moto",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={"PATH": "/usr/bin:/bin"},
        log_dir=tmp_path,
    )
    endpoint = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(endpoint, timeout=2).status_code < 500
        except requests.RequestException:
            return False

    wait_until(up, timeout=60, what="moto server", on_fail=proc.tail)
    bucket = f"portal-{uuid.uuid4().hex[:8]}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=bucket)
    yield {"endpoint": endpoint, "bucket": bucket, "client": client}
    proc.stop()


def clinician_session(d, username: str = "ops.clinician", region: str = "NORTH-01") -> str:
    """A signed-in clinician of ``region``: returns the session cookie's value."""
    code = (
        "from django.contrib.auth import get_user_model, SESSION_KEY, BACKEND_SESSION_KEY, "
        "HASH_SESSION_KEY\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "from screening.models import ClinicianProfile, Region\n"
        f"u = get_user_model().objects.create_user(username={username!r})\n"
        "p = ClinicianProfile.objects.create(user=u)\n"
        f"p.regions.set(Region.objects.filter(code={region!r}))\n"
        "s = SessionStore()\n"
        "s[SESSION_KEY] = str(u.pk)\n"
        "s[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'\n"
        "s[HASH_SESSION_KEY] = u.get_session_auth_hash()\n"
        "s.create()\n"
        "print('SESSION=' + s.session_key)\n"
    )
    out = d.manage("shell", "-c", code)
    return re.search(r"SESSION=(\w+)", out).group(1)


def _keys(s3) -> list[str]:
    listing = s3["client"].list_objects_v2(Bucket=s3["bucket"])
    return sorted(obj["Key"] for obj in listing.get("Contents", []))


def test_upload_on_one_host_inference_on_another_and_views_serve_from_the_bucket(
    deployment, xray_png, s3_server, tmp_path
):
    d = deployment(
        STORAGE_BACKEND="s3",
        S3_BUCKET=s3_server["bucket"],
        S3_ENDPOINT_URL=s3_server["endpoint"],
        S3_REGION="us-east-1",
        S3_ACCESS_KEY_ID="testing",
        S3_SECRET_ACCESS_KEY="testing",
        INFERENCE_HEATMAPS="true",
    )
    web_media, worker_media = tmp_path / "web-host", tmp_path / "worker-host"
    web_media.mkdir()
    worker_media.mkdir()
    d.start_web(MEDIA_ROOT=str(web_media))
    response = d.upload(xray_png)
    assert response.status_code == 201, response.text
    sid = response.json()["id"]

    d.start_worker(MEDIA_ROOT=str(worker_media))
    d.wait_all_completed(1, timeout=180)

    keys = _keys(s3_server)
    assert [k for k in keys if k.startswith("radiographs/")], keys
    heatmap_keys = [k for k in keys if k.startswith("heatmaps/")]
    assert heatmap_keys, keys
    # nothing on either host's disk: the bucket is the only copy
    assert [p for p in (*web_media.rglob("*"), *worker_media.rglob("*")) if p.is_file()] == []

    (image_name,) = d.sql("SELECT image FROM screening_screening WHERE id = %s", (sid,))[0]
    stored = s3_server["client"].get_object(Bucket=s3_server["bucket"], Key=image_name)
    image_bytes = stored["Body"].read()
    (label,) = d.sql("SELECT class_label FROM screening_heatmap LIMIT 1")[0]

    anonymous = requests.get(
        f"{d.base_url}/clinic/screenings/{sid}/image/", allow_redirects=False, timeout=30
    )
    assert anonymous.status_code in (302, 403, 404)
    assert anonymous.content != image_bytes

    cookies = {
        "sessionid": clinician_session(
            d,
        )
    }
    image = requests.get(
        f"{d.base_url}/clinic/screenings/{sid}/image/", cookies=cookies, timeout=30
    )
    assert image.status_code == 200
    assert image.content == image_bytes
    assert "no-store" in image.headers["Cache-Control"]
    heatmap = requests.get(
        f"{d.base_url}/clinic/screenings/{sid}/heatmap/{label}/", cookies=cookies, timeout=30
    )
    assert heatmap.status_code == 200
    assert heatmap.content[:8] == b"\x89PNG\r\n\x1a\n"

    stranger = requests.get(
        f"{d.base_url}/clinic/screenings/{sid}/image/",
        cookies={"sessionid": clinician_session(d, username="ops.nowhere", region="NONE")},
        timeout=30,
    )
    assert stranger.status_code == 404
    ready = requests.get(f"{d.base_url}/readyz", timeout=30).json()
    assert ready["checks"]["storage"]["ok"] is True
