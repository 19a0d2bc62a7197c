"""Content-Security-Policy (django-csp) with a few path-specific relaxations.

The portal's own pages have no inline script or style. Django's admin and the Swagger UI page
set inline ``style`` attributes, so those paths may use inline styles (never inline script).
"""

from __future__ import annotations

from csp.constants import SELF, UNSAFE_INLINE
from csp.middleware import CSPMiddleware

INLINE_STYLE_PREFIXES = ("/admin/", "/api/docs/")


class PortalCSPMiddleware(CSPMiddleware):
    def get_policy_parts(self, request, response, report_only: bool = False):
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if not report_only and request.path_info.startswith(INLINE_STYLE_PREFIXES):
            replace = dict(parts.replace or {})
            replace["style-src"] = [SELF, UNSAFE_INLINE]
            parts.replace = replace
        return parts
