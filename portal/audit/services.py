"""``audit_record``: the one way an audit event is written.

Callers pass what they know; the request (given, or the one being served, see
``portal.audit.context``) supplies who, role and client address. Never pass a patient's name or
identity fields: objects are named by their reference.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from contextvars import ContextVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest

from portal.security.client import client_ip

from .models import AuditEvent, Outcome

logger = logging.getLogger(__name__)

# The request being served (set by AuditMiddleware), for receivers of signals that carry none.
current_request: ContextVar[HttpRequest | None] = ContextVar("audit_current_request", default=None)


def actor_role(*, user: AbstractBaseUser | AnonymousUser | None) -> str:
    """A short role name for the record: superuser, staff, clinician, user, inactive, anonymous."""
    if user is None or not getattr(user, "is_authenticated", False):
        return "anonymous"
    if not user.is_active:
        return "inactive"
    if user.is_superuser:
        return "superuser"
    if user.is_staff:
        return "staff"
    if hasattr(user, "clinician_profile"):
        return "clinician"
    return "user"


def _redacted_path(request: HttpRequest) -> str:
    from screening.logging import redact

    path = request.get_full_path()
    return redact(path)[:255]


# NUL, and surrogates: in a Python string every one is unpaired (an astral character is one code
# point), and neither UTF-8 nor jsonb can hold them.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value):
    """``value`` with every string made storable in PostgreSQL's ``jsonb`` and ``text``: a NUL
    from a query string (``%00``) made the insert fail, so the request answered 500 and left no
    record; an unpaired surrogate (a caller's text decoded with ``surrogateescape``) fails the
    same way. Each becomes U+FFFD."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value


def audit_record(
    *,
    action: str,
    outcome: str = Outcome.ALLOWED,
    request: HttpRequest | None = None,
    user: AbstractBaseUser | AnonymousUser | None = None,
    role: str | None = None,
    object_type: str = "",
    object_ref: str = "",
    status_code: int | None = None,
    detail: dict | str | None = None,
    object_ids: Iterable = (),
) -> AuditEvent:
    """Append one event. ``user`` defaults to the request's user, ``role`` to its role.

    ``object_ids``: screening ids the action touched; their references are recorded.
    """
    request = request if request is not None else current_request.get()
    if isinstance(detail, str):
        detail = {"note": detail} if detail else {}
    ids = [str(i) for i in object_ids]
    if ids:
        from screening.models import Screening

        refs = list(Screening.objects.filter(pk__in=ids).values_list("reference", flat=True))
        detail = {**(detail or {}), "references": sorted(refs)}
        object_type = object_type or "screening"
        object_ref = object_ref or (refs[0] if len(refs) == 1 else "")
    if user is None and request is not None:
        user = getattr(request, "user", None)
    authenticated = bool(user is not None and getattr(user, "is_authenticated", False))
    detail = dict(detail or {})
    auth = getattr(request, "api_token", None) if request is not None else None
    token_name = getattr(auth, "name", None)
    if token_name:
        detail.setdefault("api_token", token_name)
    return AuditEvent.objects.create(
        actor_id=user.pk if authenticated else None,
        actor_username=user.get_username() if authenticated else "",
        role=role or actor_role(user=user),
        client_ip=client_ip(request) if request is not None else None,
        action=action,
        outcome=outcome,
        object_type=object_type,
        object_ref=_storable(object_ref)[:64],
        method=(request.method or "") if request is not None else "",
        path=_redacted_path(request) if request is not None else "",
        status_code=status_code,
        detail=_storable(detail),
    )


def audit_annotate(request: HttpRequest, **detail) -> None:
    """Let a view add to the record the middleware writes for it (e.g. ``references`` listed)."""
    notes = getattr(request, "_audit_detail", None)
    if notes is None:
        notes = {}
        request._audit_detail = notes  # type: ignore[attr-defined]
    notes.update(detail)
