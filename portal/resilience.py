"""Infrastructure faults become a clear 503, never a 500 page.

- The disk (or bucket) holding uploads is full: the submission service has already removed any
  file it wrote and created no row; the patient is told to try again later.
- The database is restarting or unreachable: nothing was written; the page says so.

Everything else propagates as before. The HTML page is standalone (no session, user or query)
because the database may be the thing that is down.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

STORAGE_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
STORAGE_FULL_MESSAGE = (
    "The service cannot store new images at the moment. Your X-ray was not saved."
)
DATABASE_DOWN_MESSAGE = "The service is briefly unavailable (maintenance or a restart)."
RETRY_AFTER_SECONDS = 120


def unavailable_reason(exc: BaseException) -> str | None:
    """The patient-facing message for an infrastructure fault, or None for any other error."""
    if isinstance(exc, OSError) and exc.errno in STORAGE_FULL_ERRNOS:
        return STORAGE_FULL_MESSAGE
    if isinstance(exc, OperationalError | InterfaceError):
        return DATABASE_DOWN_MESSAGE
    return None


def unavailable_response(request: HttpRequest, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"detail": message, "code": "service_unavailable"}, status=503
        )
    else:
        response = HttpResponse(
            render_to_string("ops/unavailable.html", {"message": message}), status=503
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class ServiceUnavailableMiddleware:
    """Turns storage-full and database-down exceptions of a view into a 503 (also with DEBUG on).

    Faults raised outside the view (e.g. the session middleware saving while the database is
    down) reach Django's 500 handler instead: ``server_error`` below gives them the same 503.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        message = unavailable_reason(exception)
        if message is None:
            return None
        logger.error(
            "503 on %s %s: %s (%s)",
            request.method,
            request.path,
            type(exception).__name__,
            getattr(exception, "errno", ""),
        )
        return unavailable_response(request, message)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: an infrastructure fault is a 503 with its message; anything else a plain 500.

    Called by Django inside its ``except`` block, so ``sys.exc_info()`` is the error.
    """
    import sys

    exc = sys.exc_info()[1]
    message = unavailable_reason(exc) if exc is not None else None
    if message is not None:
        return unavailable_response(request, message)
    from django.views.defaults import server_error as default_server_error

    return default_server_error(request)
