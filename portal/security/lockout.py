"""Login lockout (django-axes, database-backed) for ``/accounts/login/`` and ``/admin/login/``."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class LockoutBackend(AxesStandaloneBackend):
    """Axes' backend for every web login; calls without a request are left to the next backend.

    Every login form and the admin pass the request to ``authenticate``; only code running
    outside a request (management commands, the test client's ``login()``) does not, and there
    is no remote party to lock out there.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
