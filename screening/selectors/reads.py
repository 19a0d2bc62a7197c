"""One screening, its heatmaps and review history, for a clinician or for the patient."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import Http404

from ..models import Heatmap, Review, Screening
from .scope import _parse_uuid, _with_review_annotations, screenings_visible_to


def screening_get_for_user(
    *, user: AbstractBaseUser | AnonymousUser, screening_id: uuid.UUID | str
) -> Screening:
    """One screening if it is in the user's regions, else ``Http404`` (never 403: no leak)."""
    pk = _parse_uuid(screening_id)
    screening = (
        _with_review_annotations(screenings_visible_to(user=user))
        .select_related("region", "region__parent", "prediction")
        .filter(pk=pk)
        .first()
    )
    if screening is None:
        raise Http404("No such screening.")
    return screening


def heatmap_list(*, screening: Screening) -> list[Heatmap]:
    """The screening's Grad-CAM heatmaps, the predicted class first (then COVID-19)."""
    prediction = getattr(screening, "prediction", None)
    if prediction is None:
        return []
    heatmaps = list(Heatmap.objects.filter(prediction=prediction))
    return sorted(heatmaps, key=lambda h: (h.class_label != prediction.label, h.id))


def heatmap_get_for_user(
    *, user: AbstractBaseUser | AnonymousUser, screening_id: uuid.UUID | str, class_label: str
) -> Heatmap:
    """A heatmap of a screening in the user's regions, else ``Http404`` (same rule as the image)."""
    screening = screening_get_for_user(user=user, screening_id=screening_id)
    heatmap = Heatmap.objects.filter(
        prediction__screening=screening, class_label=class_label
    ).first()
    if heatmap is None:
        raise Http404("No such heatmap.")
    return heatmap


def review_history(*, screening: Screening) -> QuerySet[Review]:
    return screening.reviews.select_related("clinician").order_by("-created_at", "-id")


# --- patient reads ----------------------------------------------------------------------------
def screening_get_for_patient(*, screening_id: uuid.UUID | str, token: str | None) -> Screening:
    """The screening whose access token matches (constant-time), else ``Http404``."""
    pk = _parse_uuid(screening_id)
    screening = _with_review_annotations(Screening.objects.filter(pk=pk)).first()
    if screening is None or not screening.access_token_matches(token):
        raise Http404("No such screening.")
    return screening
