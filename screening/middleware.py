"""The request-size limit, before any other middleware reads the body.

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
