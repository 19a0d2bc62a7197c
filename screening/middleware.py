"""The request-size limit, before any other middleware reads the body; the refusal of a NUL
character in a query string or form.

(The Content-Security-Policy is ``portal.security.csp``.)
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from . import rules

# Room for the multipart envelope and the other form fields on top of the image itself.
BODY_OVERHEAD_BYTES = 1024 * 1024


class RequestSizeLimitMiddleware:
    """Refuse a request whose declared body is larger than an upload may be, before reading it.

    Runs before the CSRF and session middleware, which would otherwise parse (and spool to disk)
    the whole multipart body first. The 413 response itself is the view's
    (``views.request_too_large``). No ``Connection`` header is set: WSGI forbids hop-by-hop
    headers (Django's development server fails with a 500 on one); the servers close or drain
    the connection themselves.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > rules.max_upload_bytes() + BODY_OVERHEAD_BYTES:
            from .views import request_too_large

            return request_too_large(request)
        return self.get_response(request)


class NulCharacterMiddleware:
    """Answer 400 to a request whose query string or form holds a NUL character (``%00``).

    PostgreSQL stores no NUL in text and psycopg refuses one in a query parameter, so a search,
    a filter or a dashboard parameter carrying one failed with a 500 inside the view (found by
    the API's schema fuzzer). Forms and serializers refuse a NUL in their own fields already;
    this covers the parameters every view reads directly. Placed after the audit middleware,
    which records the refused request (its strings made storable by ``audit_record``).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        # Here, not in __call__: the URL is resolved by now, so the audit knows which view
        # was asked for and records the refusal as a read of it.
        if _has_nul(request.GET) or (
            request.method == "POST"
            and request.content_type == "application/x-www-form-urlencoded"
            and _has_nul(request.POST)
        ):
            return _nul_refused(request)
        return None


def _has_nul(params) -> bool:
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in params.lists())


def _nul_refused(request: HttpRequest) -> HttpResponse:
    from django.http import JsonResponse
    from django.shortcuts import render

    message = rules.NUL_IN_REQUEST
    if request.path.startswith("/api/"):
        from .api.errors import error_body

        return JsonResponse(error_body(str(message), "invalid"), status=400)
    return render(request, "400.html", {"message": message}, status=400)
