"""What the pages show: wording for patients and clinicians (server templates and page
scripts), and the rows and panels the triage and detail pages are built from.

Views fetch (selectors) and hand the screenings to these functions; templates only lay out what
comes back.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from inference.constants import DISPLAY_NAMES
from inference.pipeline import LUNG_CHECK_NOT_RUN, NO_LUNG_FIELDS

from . import rules
from .models import Heatmap, ReviewDecision, Screening, ScreeningStatus
from .validators import age_in_years

# The model's classes as people read them (inference/ has no Django, so no translations there).
CLASS_NAMES: dict[str, str] = {
    "covid": _("COVID-19"),
    "normal": _("No finding"),
    "pneumonia": _("Pneumonia"),
}
assert set(CLASS_NAMES) == set(DISPLAY_NAMES)  # noqa: S101 (a new class needs its wording)

# What the patient reads for each state. Never includes model probabilities.
PATIENT_STATUS_TEXT: dict[str, dict[str, str]] = {
    ScreeningStatus.RECEIVED: {
        "title": _("Received"),
        "detail": _("Your X-ray has arrived and is waiting to be analysed."),
        "step": "1",
    },
    ScreeningStatus.QUEUED: {
        "title": _("Received"),
        "detail": _("Your X-ray has arrived and is waiting to be analysed."),
        "step": "1",
    },
    ScreeningStatus.PROCESSING: {
        "title": _("Being analysed"),
        "detail": _("Your X-ray is being prepared for a clinician. This usually takes a minute."),
        "step": "2",
    },
    ScreeningStatus.COMPLETED: {
        "title": _("Awaiting clinician review"),
        "detail": _(
            "Your X-ray is ready and waiting for a clinician to look at it. "
            "You can keep this page open or come back later."
        ),
        "step": "3",
    },
    ScreeningStatus.FAILED: {
        "title": _("We could not process your image"),
        "detail": _("Please submit a new, clear image of the chest X-ray."),
        "step": "x",
    },
    ScreeningStatus.REJECTED: {
        "title": _("Image not accepted"),
        "detail": _("Please submit a new, clear image of a frontal chest X-ray."),
        "step": "x",
    },
}

PATIENT_DECISION_TEXT: dict[str, dict[str, str]] = {
    ReviewDecision.COVID_SUSPECTED: {
        "title": _("COVID-19 suspected – please have a PCR test"),
        "detail": _(
            "A clinician looked at your X-ray and recommends a PCR test for COVID-19. "
            "Please contact your clinic or testing centre, and limit contact with others until "
            "you have the result."
        ),
    },
    ReviewDecision.NO_FINDING: {
        "title": _("No finding"),
        "detail": _(
            "A clinician looked at your X-ray and found no sign that needs follow-up. "
            "If you feel worse, contact your doctor."
        ),
    },
    ReviewDecision.PNEUMONIA_OTHER: {
        "title": _("Pneumonia – other cause"),
        "detail": _(
            "A clinician looked at your X-ray and sees signs of a pneumonia that does not "
            "look like COVID-19. Please contact your clinic or doctor for follow-up."
        ),
    },
    ReviewDecision.UNUSABLE: {
        "title": _("Image unusable – please upload a new one"),
        "detail": _(
            "A clinician could not assess this image. Please submit a new, clear image "
            "of your chest X-ray."
        ),
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
        # Stored in English; shown in the patient's language when it is one of rules' reasons.
        text["detail"] = f"{gettext(screening.status_reason)} {text['detail']}"
    return text


DECISION_LABELS = dict(ReviewDecision.choices)


def percent(probability: float | None) -> float | None:
    return None if probability is None else probability * 100


def label_display(label: str | None) -> str:
    return CLASS_NAMES.get(label or "", "—")


def waiting_display(screening: Screening) -> str:
    if getattr(screening, "reviewed", False):
        return "—"
    delta = timezone.now() - screening.submitted_at
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return str(_("<1 min"))
    if minutes < 60:
        return str(_("%(minutes)d min")) % {"minutes": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return str(_("%(hours)d h %(minutes)02d min")) % {"hours": hours, "minutes": minutes}
    days = hours // 24
    return ngettext("%(days)d day", "%(days)d days", days) % {"days": days}


def age_display(screening: Screening) -> int:
    return age_in_years(screening.date_of_birth)


# Low-quality flags of the chest X-ray gate and of the worker's lung check, as clinicians read
# them (the lung check's wording lives in rules, with the other messages).
QUALITY_FLAG_TEXT: dict[str, str] = {
    NO_LUNG_FIELDS: rules.QUALITY_NO_LUNG_FIELDS,
    LUNG_CHECK_NOT_RUN: rules.QUALITY_LUNG_CHECK_NOT_RUN,
    "too dark": _("too dark"),
    "too bright": _("too bright"),
    "low contrast": _("low contrast"),
    "low resolution": _("low resolution (small image)"),
    "heavily cropped": _("heavily cropped or unusual shape"),
    "unusual framing": _("unusual framing for a chest X-ray"),
}


def quality_flags_display(screening: Screening) -> list[str]:
    return [QUALITY_FLAG_TEXT.get(flag, flag) for flag in (screening.quality_flags or [])]


# --- rows and panels of the clinician pages -----------------------------------------------------
def triage_rows(screenings: Iterable[Screening]) -> list[dict]:
    """One row of the triage table per scored screening."""
    rows = []
    for s in screenings:
        prediction = getattr(s, "prediction", None)
        rows.append(
            {
                "screening": s,
                "age": age_display(s),
                "waiting": waiting_display(s),
                "prediction": prediction,
                "label": label_display(getattr(prediction, "label", None)),
                "covid_pct": percent(getattr(prediction, "prob_covid", None)),
                "decision": DECISION_LABELS.get(s.current_decision or "", ""),
                "quality": quality_flags_display(s),
            }
        )
    return rows


def pending_rows(screenings: Iterable[Screening]) -> list[dict]:
    """Screenings not (yet) scored, under the triage table."""
    return [
        {"screening": s, "age": age_display(s), "waiting": waiting_display(s)} for s in screenings
    ]


def probability_rows(screening: Screening) -> list[dict]:
    """The model's probability per class, in the fixed class order (none before a prediction)."""
    prediction = getattr(screening, "prediction", None)
    if prediction is None:
        return []
    return [
        {"code": c, "name": CLASS_NAMES[c], "value": p, "pct": percent(p)}
        for c, p in prediction.probabilities.items()
    ]


def heatmap_choices(screening: Screening, heatmaps: Iterable[Heatmap]) -> list[dict]:
    """The heatmap classes offered on the detail page (the predicted one marked)."""
    prediction = getattr(screening, "prediction", None)
    return [
        {
            "class_label": h.class_label,
            "name": CLASS_NAMES[h.class_label],
            "predicted": prediction is not None and h.class_label == prediction.label,
        }
        for h in heatmaps
    ]


def detail_panel(screening: Screening, *, heatmaps: Iterable[Heatmap]) -> dict:
    """Everything the detail page shows about one screening (besides the review form/history)."""
    prediction = getattr(screening, "prediction", None)
    return {
        "screening": screening,
        "prediction": prediction,
        "heatmaps": heatmap_choices(screening, heatmaps),
        "quality_flags": quality_flags_display(screening),
        "probabilities": probability_rows(screening),
        "label": label_display(getattr(prediction, "label", None)),
        "age": age_display(screening),
        "waiting": waiting_display(screening),
    }
