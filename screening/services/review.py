"""A clinician's decision on a screening."""

from __future__ import annotations

import logging

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from .. import rules
from ..models import Review, ReviewDecision, Screening, ScreeningStatus
from ..selectors import screening_get_for_user
from ..validators import validate_note

logger = logging.getLogger(__name__)

REVIEWABLE_STATUSES = (ScreeningStatus.COMPLETED, ScreeningStatus.FAILED)


def review_create(
    *,
    user: AbstractBaseUser,
    screening_id: str,
    decision: str,
    note: str = "",
) -> Review:
    """Record a clinician's decision; it becomes current and earlier ones stay as history.

    Raises ``Http404`` outside the clinician's regions (same rule as every read).
    """
    screening = screening_get_for_user(user=user, screening_id=screening_id)
    errors: dict[str, list[str]] = {}
    if decision not in ReviewDecision.values:
        errors["decision"] = [rules.DECISION_INVALID]
    note = (note or "").strip()
    try:
        validate_note(note)
    except ValidationError as exc:
        errors["note"] = exc.messages
    if screening.status not in REVIEWABLE_STATUSES:
        errors.setdefault("decision", []).append(rules.REVIEW_TOO_EARLY)
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        Screening.objects.select_for_update().filter(pk=screening.pk).first()
        Review.objects.filter(screening=screening, is_current=True).update(is_current=False)
        review = Review.objects.create(
            screening=screening, clinician=user, decision=decision, note=note, is_current=True
        )
    logger.info("screening %s reviewed by user %s: %s", screening.pk, user.pk, decision)
    return review
