"""Wording shown to patients and clinicians, in one place (server templates and page scripts)."""

from __future__ import annotations

from django.utils import timezone

from inference.constants import DISPLAY_NAMES

from .models import PriorityBand, ReviewDecision, Screening, ScreeningStatus
from .validators import age_in_years

# What the patient reads for each state. Never includes model probabilities.
PATIENT_STATUS_TEXT: dict[str, dict[str, str]] = {
    ScreeningStatus.RECEIVED: {
        "title": "Received",
        "detail": "Your X-ray has arrived and is waiting to be analysed.",
        "step": "1",
    },
    ScreeningStatus.QUEUED: {
        "title": "Received",
        "detail": "Your X-ray has arrived and is waiting to be analysed.",
        "step": "1",
    },
    ScreeningStatus.PROCESSING: {
        "title": "Being analysed",
        "detail": "Your X-ray is being prepared for a clinician. This usually takes a minute.",
        "step": "2",
    },
    ScreeningStatus.COMPLETED: {
        "title": "Awaiting clinician review",
        "detail": "Your X-ray is ready and waiting for a clinician to look at it. "
        "You can keep this page open or come back later.",
        "step": "3",
    },
    ScreeningStatus.FAILED: {
        "title": "We could not process your image",
        "detail": "Please submit a new, clear image of the chest X-ray.",
        "step": "x",
    },
    ScreeningStatus.REJECTED: {
        "title": "Image not accepted",
        "detail": "Please submit a new, clear image of a frontal chest X-ray.",
        "step": "x",
    },
}

PATIENT_DECISION_TEXT: dict[str, dict[str, str]] = {
    ReviewDecision.COVID_SUSPECTED: {
        "title": "COVID-19 suspected – please have a PCR test",
        "detail": "A clinician looked at your X-ray and recommends a PCR test for COVID-19. "
        "Please contact your clinic or testing centre, and limit contact with others until "
        "you have the result.",
    },
    ReviewDecision.NO_FINDING: {
        "title": "No finding",
        "detail": "A clinician looked at your X-ray and found no sign that needs follow-up. "
        "If you feel worse, contact your doctor.",
    },
    ReviewDecision.PNEUMONIA_OTHER: {
        "title": "Pneumonia – other cause",
        "detail": "A clinician looked at your X-ray and sees signs of a pneumonia that does not "
        "look like COVID-19. Please contact your clinic or doctor for follow-up.",
    },
    ReviewDecision.UNUSABLE: {
        "title": "Image unusable – please upload a new one",
        "detail": "A clinician could not assess this image. Please submit a new, clear image "
        "of your chest X-ray.",
    },
}


def patient_view(screening: Screening) -> dict[str, str]:
    """Title and explanation for the patient's status page."""
    decision = getattr(screening, "current_decision", None)
    if decision:
        text = PATIENT_DECISION_TEXT[decision]
        return {"title": text["title"], "detail": text["detail"], "step": "4", "reviewed": "1"}
    text = dict(PATIENT_STATUS_TEXT[screening.status])
    if screening.status in (ScreeningStatus.FAILED, ScreeningStatus.REJECTED) and (
        screening.status_reason
    ):
        text["detail"] = f"{screening.status_reason} {text['detail']}"
    return text


PRIORITY_LABELS = dict(PriorityBand.choices)
DECISION_LABELS = dict(ReviewDecision.choices)


def percent(probability: float | None) -> float | None:
    return None if probability is None else probability * 100


def label_display(label: str | None) -> str:
    return DISPLAY_NAMES.get(label or "", "—")


def waiting_display(screening: Screening) -> str:
    if getattr(screening, "reviewed", False):
        return "—"
    delta = timezone.now() - screening.submitted_at
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "<1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} days"


def age_display(screening: Screening) -> int:
    return age_in_years(screening.date_of_birth)


# Low-quality flags of the chest X-ray gate, as clinicians read them.
QUALITY_FLAG_TEXT: dict[str, str] = {
    "too dark": "too dark",
    "too bright": "too bright",
    "low contrast": "low contrast",
    "low resolution": "low resolution (small image)",
    "heavily cropped": "heavily cropped or unusual shape",
    "unusual framing": "unusual framing for a chest X-ray",
}


def quality_flags_display(screening: Screening) -> list[str]:
    return [QUALITY_FLAG_TEXT.get(flag, flag) for flag in (screening.quality_flags or [])]
