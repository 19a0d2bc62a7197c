from django.apps import AppConfig


class AuditConfig(AppConfig):
    """Append-only audit trail of every read of patient data, review, admin change and login."""

    name = "portal.audit"
    label = "audit"
    verbose_name = "Audit trail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import signals  # noqa: F401 (connects the login, lockout and admin receivers)
