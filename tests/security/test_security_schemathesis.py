"""schemathesis against the API's own OpenAPI schema: bounded examples per operation, as a
superuser (so every operation is reachable); no 5xx, no undocumented status code, content type
or body shape."""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

_raw = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(public=True)))
schema = schemathesis.openapi.from_dict(_raw)
schema.app = get_wsgi_application()

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def wsgi_requests_keep_the_test_connection():
    """Like Django's test client: the WSGI handler must not close the test's DB connection."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def superuser_token(superuser, regions, wsgi_requests_keep_the_test_connection):
    from portal.security.tokens import api_token_create

    return f"Token {api_token_create(user=superuser, name='schemathesis')[1]}"


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_schema_and_never_answers_5xx(case, superuser_token):
    case.call_and_validate(headers={"Authorization": superuser_token}, checks=CHECKS)
