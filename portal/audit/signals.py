"""Receivers that record logins, failed logins, lockouts, unlocks and admin changes."""

from __future__ import annotations

from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Outcome
from .services import audit_record, current_request

ADMIN_FLAGS = {ADDITION: "add", CHANGE: "change", DELETION: "delete"}


def _login_site(request) -> str:
    return "admin" if request is not None and request.path.startswith("/admin/") else "portal"


@receiver(user_logged_in, dispatch_uid="audit_login")
def _logged_in(sender, request, user, **kwargs) -> None:
    audit_record(
        action="auth.login", request=request, user=user, detail={"site": _login_site(request)}
    )


@receiver(user_logged_out, dispatch_uid="audit_logout")
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        audit_record(action="auth.logout", request=request, user=user)


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    username = str((credentials or {}).get("username", ""))[:150]
    audit_record(
        action="auth.login_failed",
        outcome=Outcome.DENIED,
        request=request,
        role="anonymous",
        object_type="username",
        object_ref=username,
        detail={"site": _login_site(request)},
    )


@receiver(user_locked_out, dispatch_uid="audit_locked_out")
def _locked_out(sender, request, username, ip_address, **kwargs) -> None:
    audit_record(
        action="auth.lockout",
        outcome=Outcome.DENIED,
        request=request,
        role="anonymous",
        object_type="username",
        object_ref=str(username or "")[:64],
        detail={"site": _login_site(request), "ip_address": ip_address},
    )


@receiver(post_delete, sender=AccessAttempt, dispatch_uid="audit_unlock")
def _unlocked(sender, instance: AccessAttempt, **kwargs) -> None:
    """An administrator deleting an access attempt (axes admin) unlocks that login."""
    audit_record(
        action="auth.unlock",
        object_type="username",
        object_ref=str(instance.username or "")[:64],
        detail={"ip_address": instance.ip_address, "failures": instance.failures_since_start},
    )


@receiver(post_save, sender=LogEntry, dispatch_uid="audit_admin_change")
def _admin_change(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    if not created:
        return
    model = instance.content_type.model_class() if instance.content_type_id else None
    label = model._meta.label_lower if model is not None else ""
    request = current_request.get()
    audit_record(
        action=f"admin.{ADMIN_FLAGS.get(instance.action_flag, 'change')}",
        request=request,
        user=instance.user if request is None else None,
        object_type=label,
        object_ref=str(instance.object_repr or "")[:64],
        detail={"object_id": instance.object_id, "message": instance.get_change_message()},
    )
