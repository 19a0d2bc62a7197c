"""Writes of the notifications app: consent, the status link and the decision messages."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from screening.models import Screening

from .models import ContactConsent, Notification
from .sms import sms_send

logger = logging.getLogger(__name__)


def contact_consent_set(
    *, screening: Screening, sms: bool, phone: str, email: str, language: str
) -> ContactConsent:
    """Record (or replace) how the patient wants to be told; no channel at all withdraws."""
    consent, _created = ContactConsent.objects.update_or_create(
        screening=screening,
        defaults={
            "sms": sms,
            "phone": phone if sms else "",
            "email": email,
            "language": language,
            "consented_at": timezone.now(),
        },
    )
    return consent


def _channels(*, screening: Screening, consent: ContactConsent | None) -> list[tuple[str, str]]:
    if consent is None:
        return []
    channels = []
    if consent.sms and (consent.phone or screening.phone):
        channels.append((Notification.Channel.SMS, consent.phone or screening.phone))
    if consent.email:
        channels.append((Notification.Channel.EMAIL, consent.email))
    return channels


def _send(*, screening: Screening, kind: str, channel: str, to: str, subject: str, body: str):
    try:
        if channel == Notification.Channel.SMS:
            sent = sms_send(to=to, body=body)
        else:
            sent = send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to]) == 1
    except Exception:  # a gateway failure must never fail the clinician's or patient's request
        logger.exception("notification %s by %s failed for %s", kind, channel, screening.pk)
        sent = False
    Notification.objects.create(screening=screening, kind=kind, channel=channel, sent=sent)
    return sent


def notification_link_send(
    *, screening: Screening, status_url: str, consent: ContactConsent | None = None
) -> int:
    """Send the private status link by every channel the patient chose; return how many."""
    consent = consent or ContactConsent.objects.filter(screening=screening).first()
    sent = 0
    for channel, to in _channels(screening=screening, consent=consent):
        with translation.override(consent.language):
            subject = _("Your chest X-ray screening %(reference)s") % {
                "reference": screening.reference
            }
            body = _(
                "Your chest X-ray screening %(reference)s was received. Follow the result "
                "with this private link (do not share it): %(url)s"
            ) % {"reference": screening.reference, "url": status_url}
        sent += _send(
            screening=screening,
            kind=Notification.Kind.LINK,
            channel=channel,
            to=to,
            subject=subject,
            body=body,
        )
    return sent


def notification_recovery_send(*, screening: Screening, status_url: str, language: str) -> int:
    """A new status link after a recovery request: to the chosen channels, else to the phone
    number given with the screening (the patient asked for it, with their own details)."""
    consent = ContactConsent.objects.filter(screening=screening).first()
    if consent is None or not _channels(screening=screening, consent=consent):
        consent = ContactConsent(screening=screening, sms=True, phone=screening.phone)
    consent.language = language
    return notification_link_send(screening=screening, status_url=status_url, consent=consent)


def notification_decision_send(*, screening_id) -> int:
    """Tell the patient that a clinician decided, by the channels they chose."""
    from screening.presenters import PATIENT_DECISION_TEXT

    screening = Screening.objects.filter(pk=screening_id).first()
    consent = ContactConsent.objects.filter(screening_id=screening_id).first()
    if screening is None or consent is None:
        return 0
    review = screening.reviews.filter(is_current=True).first()
    if review is None:
        return 0
    recover_url = settings.PORTAL_BASE_URL.rstrip("/") + reverse("screening-people:recover")
    sent = 0
    for channel, to in _channels(screening=screening, consent=consent):
        with translation.override(consent.language):
            text = PATIENT_DECISION_TEXT[review.decision]
            subject = _("Result of your chest X-ray screening %(reference)s") % {
                "reference": screening.reference
            }
            body = _(
                "Screening %(reference)s: %(title)s. %(detail)s Open the link you received to "
                "see it; lost it? %(url)s"
            ) % {
                "reference": screening.reference,
                "title": str(text["title"]),
                "detail": str(text["detail"]),
                "url": recover_url,
            }
        sent += _send(
            screening=screening,
            kind=Notification.Kind.DECISION,
            channel=channel,
            to=to,
            subject=subject,
            body=body,
        )
    return sent


def notification_decision_schedule(*, screening_id) -> None:
    """After the review's transaction commits (never for a rolled-back decision)."""
    transaction.on_commit(lambda: notification_decision_send(screening_id=screening_id))
