"""Structured logs: one JSON object per line, with a request id that follows a screening from the
web request into its Celery task.

The request id is an opaque random token (or the proxy's ``X-Request-ID`` when it looks like
one); it is carried in the task message's *headers*, never in its arguments, and it is the only
thing added to the message: no patient data travels with it (see ``tests/ops/test_logs.py``).
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable

from celery.signals import before_task_publish, task_postrun, task_prerun
from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
TASK_HEADER = "portal_request_id"
# What we accept from a proxy: short, no spaces or quotes (it is written into every log line).
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def request_id_get() -> str:
    return _request_id.get()


def request_id_set(value: str) -> contextvars.Token:
    return _request_id.set(value)


def request_id_new(incoming: str | None = None) -> str:
    if incoming and _VALID_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Give every request an id (logs, response header, and the tasks it publishes)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        value = request_id_new(request.headers.get(REQUEST_ID_HEADER))
        # Not reset afterwards: Django logs 4xx/5xx responses ("django.request") after the
        # middleware chain has returned, and those lines need the id too. The next request in
        # this thread or task sets its own.
        request_id_set(value)
        request.request_id = value
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = value
        return response


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (empty outside a request or task) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = _request_id.get()
        return True


# --- Celery: the id travels in the message headers ---------------------------------------------
@before_task_publish.connect
def _add_request_id_header(headers: dict | None = None, **kwargs) -> None:
    value = _request_id.get()
    if value and headers is not None:
        headers[TASK_HEADER] = value


_task_tokens: dict[str, contextvars.Token] = {}


@task_prerun.connect
def _bind_request_id(task_id: str | None = None, task=None, **kwargs) -> None:
    value = getattr(getattr(task, "request", None), TASK_HEADER, None)
    # Eager tasks (embedded mode) run inside the request and keep its id.
    if task_id and isinstance(value, str) and value:
        _task_tokens[task_id] = _request_id.set(value)


@task_postrun.connect
def _unbind_request_id(task_id: str | None = None, **kwargs) -> None:
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        try:
            _request_id.reset(token)
        except ValueError:  # set in another context (eager tasks inside a request)
            _request_id.set("")
