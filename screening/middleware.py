"""Small security middleware."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# The admin and the browsable API ship inline styles/scripts of their own.
EXEMPT_PREFIXES = ("/admin/", "/api/")


class ContentSecurityPolicyMiddleware:
    """Strict CSP on the portal's own HTML pages (no inline script or style in templates)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            "Content-Security-Policy" not in response
            and response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith(EXEMPT_PREFIXES)
        ):
            response["Content-Security-Policy"] = CSP
        return response


# Room for the multipart envelope and the other form fields on top of the image itself.
BODY_OVERHEAD_BYTES = 1024 * 1024


class RequestSizeLimitMiddleware:
    """Reject a request whose declared body is larger than an upload may be, before reading it.

    Runs before the CSRF and session middleware, which would otherwise parse (and spool to disk)
    the whole multipart body first.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.conf import settings

        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_UPLOAD_BYTES + BODY_OVERHEAD_BYTES:
            return self.too_large(request)
        return self.get_response(request)

    @staticmethod
    def too_large(request: HttpRequest) -> HttpResponse:
        from django.conf import settings
        from django.http import JsonResponse
        from django.shortcuts import render

        message = f"The file is too large. The maximum is {settings.MAX_UPLOAD_MB} MB."
        if request.path.startswith("/api/"):
            response = JsonResponse({"image": [message]}, status=413)
        else:
            from .forms import ScreeningSubmissionForm

            form = ScreeningSubmissionForm()
            response = render(
                request, "screening/submit.html", {"form": form, "too_large": message}, status=413
            )
        response["Connection"] = "close"
        return response
