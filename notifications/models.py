from django.db import models
from django.utils.translation import gettext_lazy as _


class ContactConsent(models.Model):
    """How a patient asked to be told about one screening, with their consent.

    The phone number given at submission is the screening's; this holds what the patient chose
    on the status page: SMS to that (or another) number, e-mail, and the language to write in.
    """

    screening = models.OneToOneField(
        "screening.Screening", on_delete=models.CASCADE, related_name="contact_consent"
    )
    sms = models.BooleanField(_("by SMS"), default=False)
    phone = models.CharField(_("mobile phone number"), max_length=16, blank=True)
    email = models.EmailField(_("e-mail address"), blank=True)
    language = models.CharField(max_length=16, default="en")
    consented_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("notification consent")

    def __str__(self) -> str:
        return f"consent for {self.screening_id}"


class Notification(models.Model):
    """One message sent (or tried): what and how, never its text or the address."""

    class Kind(models.TextChoices):
        LINK = "link", _("status link")
        DECISION = "decision", _("decision")

    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        EMAIL = "email", _("e-mail")

    screening = models.ForeignKey(
        "screening.Screening", on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    sent = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} by {self.channel} for {self.screening_id}"
