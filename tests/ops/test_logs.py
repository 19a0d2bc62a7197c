"""Structured logs: JSON lines, a request id carried into the task, and no patient data."""

from __future__ import annotations

import io
import json
import logging
import uuid

import pytest

from portal.logs import REQUEST_ID_HEADER, request_id_new

pytestmark = pytest.mark.integration

PATIENT = {
    "full_name": "Zebedee Quillfeather",
    "national_id": "QX9876543Z",
    "phone": "+447700900123",
}


@pytest.fixture
def web_log() -> io.StringIO:
    """Everything the test process logs, formatted by the deployment's JSON formatter."""
    from django.conf import settings
    from pythonjsonlogger.json import JsonFormatter

    from portal.logs import RequestIdFilter
    from screening.logging import RedactAccessTokensFilter

    fmt = settings.LOGGING["formatters"]["json"]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(fmt["format"], rename_fields=fmt["rename_fields"]))
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactAccessTokensFilter())
    loggers = [logging.getLogger(n) for n in ("", "django.request", "django.server", "celery")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield stream
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


def test_a_proxy_request_id_is_kept_and_anything_else_is_replaced():
    assert request_id_new("edge-7f3a9c2e") == "edge-7f3a9c2e"
    for bad in ("", "x", 'a" injected', "a" * 65, "Amina Okafor"):
        assert request_id_new(bad) != bad


def test_a_full_run_logs_json_with_the_request_id_in_the_worker_and_no_patient_data(
    task_runner, api_client, upload, submission_data, regions, clinician_north, web_log
):
    request_id = f"ops-{uuid.uuid4().hex}"
    response = api_client.post(
        "/api/v1/screenings/",
        {**submission_data(**PATIENT, symptoms="Cough since Tuesday"), "image": upload()},
        HTTP_X_REQUEST_ID=request_id,
    )
    assert response.status_code == 201, response.content
    assert response[REQUEST_ID_HEADER] == request_id
    created = response.json()
    screening = task_runner.wait_for_status(created["id"])
    assert screening.status == "completed"

    # the clinician decides, the patient reads the result
    api_client.force_authenticate(clinician_north)
    review = api_client.post(
        f"/api/v1/screenings/{created['id']}/review/", {"decision": "no_finding"}, format="json"
    )
    assert review.status_code == 201
    api_client.force_authenticate(None)
    status = api_client.get(
        f"/api/v1/screenings/{created['id']}/status/", {"token": created["access_token"]}
    )
    assert status.status_code == 200

    worker_log = task_runner.log_path.read_text(errors="replace")
    web = web_log.getvalue()
    web_lines = [json.loads(line) for line in web.splitlines() if line.startswith("{")]
    assert any(line.get("request_id") == request_id for line in web_lines)
    worker_lines = []
    for line in worker_log.splitlines():
        if line.startswith("{"):
            worker_lines.append(json.loads(line))
    mine = [line for line in worker_lines if line.get("request_id") == request_id]
    assert any(created["id"] in line["message"] for line in mine), worker_log[-3000:]

    everything = web + worker_log
    for value in (*PATIENT.values(), "Quillfeather", "9876543", "Cough since Tuesday"):
        assert value.lower() not in everything.lower(), f"{value!r} appears in the logs"
    assert created["access_token"] not in everything
