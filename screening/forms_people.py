"""Forms of the lost-link recovery and notification pages (issue 12)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import rules
from .forms import DateOfBirthField
from .validators import normalize_national_id, normalize_phone, validate_phone_e164


class LinkRecoveryForm(forms.Form):
    reference = forms.CharField(
        label=_("Your reference"),
        max_length=32,
        help_text=_("As shown after you submitted, for example CXR-7K3Q-9D2M."),
        error_messages={"required": _("Enter your reference.")},
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    date_of_birth = DateOfBirthField(
        label=_("Date of birth"),
        help_text=_("Year-month-day, for example 1980-04-23."),
        error_messages={"required": rules.DATE_OF_BIRTH_REQUIRED},
        widget=forms.TextInput(
            attrs={"autocomplete": "bday", "inputmode": "numeric", "placeholder": "YYYY-MM-DD"}
        ),
    )
    national_id = forms.CharField(
        label=_("National ID number"),
        max_length=64,
        error_messages={"required": _("Enter your national ID number.")},
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def clean_national_id(self) -> str:
        return normalize_national_id(self.cleaned_data["national_id"])


class NotifyForm(forms.Form):
    sms = forms.BooleanField(label=_("Send me text messages (SMS)"), required=False)
    phone = forms.CharField(
        label=_("Mobile phone number for SMS"),
        max_length=32,
        required=False,
        help_text=_("Leave empty to use the number you gave with your X-ray."),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    email = forms.EmailField(
        label=_("E-mail address"),
        required=False,
        error_messages={"invalid": _("Enter an e-mail address such as name@example.com.")},
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    consent = forms.BooleanField(
        label=_(
            "I agree that the screening service sends me this link and, later, the clinician's "
            "decision by the means chosen above. Messages can be read by anyone with access to "
            "this phone or mailbox."
        ),
        error_messages={"required": _("Please tick the box to agree before we send anything.")},
    )

    def clean_phone(self) -> str:
        value = self.cleaned_data["phone"].strip()
        if not value:
            return ""
        value = normalize_phone(value)
        validate_phone_e164(value)
        return value

    def clean(self):
        data = super().clean()
        if not data.get("sms") and not data.get("email") and not self.errors:
            raise ValidationError(
                _("Choose SMS, enter an e-mail address, or both."), code="no_channel"
            )
        return data
