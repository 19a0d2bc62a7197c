"""Rate limits: keyed on the real client address, shared through Redis, 429 with Retry-After."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.cache import cache

REPO = Path(__file__).resolve().parents[2]
API_URL = "/api/v1/screenings/"


@pytest.fixture
def tight(settings):
    settings.RATE_LIMITS = {"submission": "2/hour", "status": "3/hour", "recovery": "2/hour"}
    return settings


def valid(submission_data, upload) -> dict:
    """A submission that is accepted (counted whether the limit counts all or accepted ones)."""
    return {**submission_data(), "image": upload()}


def test_a_made_up_x_forwarded_for_does_not_reset_the_submission_limit(
    api_client, regions, submission_data, upload, tight
):
    codes = [
        api_client.post(
            API_URL,
            valid(submission_data, upload),
            format="multipart",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{i}",
        ).status_code
        for i in range(5)
    ]
    assert codes == [201, 201, 429, 429, 429]


def test_a_429_says_when_to_retry(api_client, regions, submission_data, upload, tight):
    for _ in range(2):
        api_client.post(API_URL, valid(submission_data, upload), format="multipart")
    response = api_client.post(API_URL, valid(submission_data, upload), format="multipart")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 3600
    assert response.json()["code"] == "throttled"


def test_behind_one_trusted_proxy_the_proxys_hop_is_the_client(
    api_client, regions, submission_data, upload, tight
):
    tight.TRUSTED_PROXY_COUNT = 1

    def post(xff):
        return api_client.post(
            API_URL, valid(submission_data, upload), format="multipart", HTTP_X_FORWARDED_FOR=xff
        ).status_code

    # The client may prepend anything; the last hop (written by our proxy) is what counts.
    assert [post(f"1.2.3.{i}, 203.0.113.7") for i in range(3)] == [201, 201, 429]
    assert post("203.0.113.8") == 201  # another real client has its own budget


def test_wrong_status_tokens_on_the_html_status_page_are_limited(client, screening_factory, tight):
    screening = screening_factory()
    codes = [
        client.get(f"/s/{screening.pk}/wrong-{i}/", HTTP_X_FORWARDED_FOR=f"10.1.1.{i}").status_code
        for i in range(5)
    ]
    assert codes == [404, 404, 404, 429, 429]


def test_wrong_status_tokens_on_the_status_api_are_limited(api_client, screening_factory, tight):
    screening = screening_factory()
    url = f"/api/v1/screenings/{screening.pk}/status/"
    codes = [api_client.get(url, {"token": f"w{i}"}).status_code for i in range(5)]
    assert codes == [404, 404, 404, 429, 429]


def test_the_link_recovery_form_is_limited(client, regions, tight):
    data = {
        "reference": "CXR-AAAA-BBBB",
        "date_of_birth": "1980-01-01",
        "national_id": "AB123456",
    }
    codes = [client.post("/find-my-result/", data).status_code for _ in range(3)]
    assert codes[-1] == 429 and codes[0] != 429


def test_the_cache_is_redis_so_limits_hold_across_web_processes(settings, tight):
    """Another process (as another gunicorn worker would) spends the budget; this one sees it."""
    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        pytest.skip("needs CELERY_BROKER_URL/CACHE_URL on Redis (make test sets it)")
    address = f"198.51.100.{uuid.uuid4().int % 200}"
    code = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "settings.RATE_LIMITS = {'status': '3/hour'}\n"
        "from django.test import RequestFactory\n"
        "from portal.security.ratelimit import rate_limit_hit\n"
        f"r = RequestFactory().get('/', REMOTE_ADDR='{address}')\n"
        "print([rate_limit_hit(request=r, scope='status').allowed for _ in range(3)])\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.stdout.strip() == "[True, True, True]", result.stderr
    from django.test import RequestFactory

    from portal.security.ratelimit import rate_limit_hit

    request = RequestFactory().get("/", REMOTE_ADDR=address)
    assert rate_limit_hit(request=request, scope="status").allowed is False


def test_clearing_the_cache_leaves_other_keys_of_the_redis_database_alone(settings):
    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        pytest.skip("needs the Redis cache")
    client = cache._cache.get_client(write=True)
    foreign = f"not-ours-{uuid.uuid4().hex}"
    client.set(foreign, "queued task", ex=60)
    cache.set("ours", 1)
    cache.clear()
    assert cache.get("ours") is None
    assert client.get(foreign) == b"queued task"
    client.delete(foreign)


def test_the_html_submit_page_429_says_when_to_retry(
    client, regions, submission_data, upload, tight
):
    def post(**headers):
        return client.post("/", {**valid(submission_data, upload), "consent": "on"}, **headers)

    codes = [post().status_code for _ in range(2)]
    response = post(HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert codes == [302, 302] and response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 3600


def test_a_patient_polling_with_the_right_token_is_never_throttled(
    client, api_client, scored_north, tight
):
    from .conftest import PATIENT_TOKEN

    url = f"/api/v1/screenings/{scored_north.pk}/status/"
    codes = {api_client.get(url, HTTP_X_ACCESS_TOKEN=PATIENT_TOKEN).status_code for _ in range(8)}
    client.get(f"/s/{scored_north.pk}/{PATIENT_TOKEN}/")
    codes |= {client.get(f"/s/{scored_north.pk}/").status_code for _ in range(5)}
    assert codes == {200}


@pytest.mark.parametrize(
    "rate, parsed",
    [("60/hour", (60, 3600)), ("600/h", (600, 3600)), ("5/10m", (5, 600)), ("5/3600", (5, 3600))],
)
def test_rates_are_read_in_every_spelling_the_settings_use(rate, parsed):
    from portal.security.ratelimit import rate_parse

    assert rate_parse(rate) == parsed


def test_an_unknown_rate_period_is_refused():
    from portal.security.ratelimit import rate_parse

    with pytest.raises(ValueError):
        rate_parse("5/fortnight")
