from django.apps import AppConfig


class SecurityConfig(AppConfig):
    """Client address, rate limits, patient links, API tokens, CSP, deploy checks, erasure."""

    name = "portal.security"
    label = "security"
    verbose_name = "Security"

    def ready(self) -> None:
        from . import checks  # noqa: F401 (registers the deploy checks)
