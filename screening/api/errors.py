"""One error format for everything under ``/api/``: a JSON object with ``detail`` and ``code``.

Validation errors (400) also carry ``errors``, one list of messages per field, and (as
before, for existing clients) the same lists at the top level where a field's name does not
clash with ``detail``/``code``/``errors``:
``{"detail": ..., "code": "invalid", "errors": {"image": ["..."]}, "image": ["..."]}``. Django's own 404 and 500 under
``/api/`` are JSON too (``api_not_found``/``api_server_error`` via ``portal.urls``), and a
database that is down is a 503 (``portal.resilience``).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

VALIDATION_DETAIL = "Some fields are invalid; see the messages per field."


ENVELOPE_KEYS = frozenset({"detail", "code", "errors"})


def error_body(detail: str, code: str, fields: dict[str, list[str]] | None = None) -> dict:
    body: dict = {"detail": str(detail), "code": code}
    if fields is not None:
        errors = {str(f): [str(m) for m in messages] for f, messages in fields.items()}
        body["errors"] = errors
        body.update({f: m for f, m in errors.items() if f not in ENVELOPE_KEYS})
    return body


def validation_error_response(fields: dict[str, list[str]]) -> Response:
    return Response(
        error_body(VALIDATION_DETAIL, "invalid", fields), status=status.HTTP_400_BAD_REQUEST
    )


def _flatten(data) -> dict[str, list[str]]:
    if isinstance(data, dict):
        out: dict[str, list[str]] = {}
        for key, value in data.items():
            if isinstance(value, list | tuple):
                out[str(key)] = [str(v) for v in value]
            elif isinstance(value, dict):
                out[str(key)] = [f"{k}: {v}" for k, v in value.items()]
            else:
                out[str(key)] = [str(value)]
        return out
    if isinstance(data, list | tuple):
        return {"non_field_errors": [str(v) for v in data]}
    return {"non_field_errors": [str(data)]}


def api_exception_handler(exc, context) -> Response | None:
    """DRF's handler, then our shape. Unknown exceptions propagate (500/503, see module doc)."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(VALIDATION_DETAIL, "invalid", _flatten(exc.detail))
        return response
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    if isinstance(detail, dict | list):
        response.data = error_body(VALIDATION_DETAIL, "invalid", _flatten(detail))
        return response
    code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
    response.data = error_body(str(detail), str(code))
    return response


def api_not_found(request: HttpRequest, exception=None) -> HttpResponse:
    """``handler404``: JSON under ``/api/``, the portal's 404 page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("Not found.", "not_found"), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def api_server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: a database/storage fault is a 503 (portal.resilience); other errors under
    ``/api/`` are a JSON 500 that says nothing about the code."""
    import sys

    from portal.resilience import server_error, unavailable_reason

    exc = sys.exc_info()[1]
    if request.path.startswith("/api/") and (exc is None or unavailable_reason(exc) is None):
        return JsonResponse(
            error_body("Internal server error; it has been logged.", "server_error"), status=500
        )
    return server_error(request)
