"""Forms. ``ScreeningSubmissionForm`` parses the patient's submission for both the HTML page and
the API; the rules themselves are decided by ``services.submission`` (``screening_check_fields``
and ``screening_submit``), with the wording of ``screening.rules``. The form only turns text
into values (a date, a choice, a file) and asks the service about the rest, so that every field
error of a submission is reported at once."""

from __future__ import annotations

import datetime

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import rules
from .models import ReviewDecision, ScreeningStatus, Sex
from .selectors import TriageFilters, region_choices_for_upload, regions_for_user
from .services.submission import screening_check_fields
from .validators import parse_date_of_birth

CONSENT_TEXT = _(
    "I agree that this X-ray and the details above are stored securely and looked at by the "
    "health service's clinicians to check for COVID-19 and other lung problems. A computer "
    "program sorts the images so that urgent ones are seen first; a clinician makes the decision."
)


UPLOAD_ACCEPT = "image/png,image/jpeg,application/dicom,.png,.jpg,.jpeg,.dcm,.dicom"
_RULE_CHECKED = ("region", "national_id", "full_name", "date_of_birth", "sex", "phone", "symptoms")


def _text_input(max_length: int, **attrs) -> forms.TextInput:
    # maxlength is a typing aid only; the service decides (and says) what is too long.
    return forms.TextInput(attrs={"maxlength": str(max_length), **attrs})


class DateOfBirthField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        if isinstance(value, datetime.date) or value in self.empty_values:
            return value or None
        return parse_date_of_birth(value)

    def prepare_value(self, value):
        return value.isoformat() if isinstance(value, datetime.date) else value


class ServiceErrorsMixin:
    """Forms whose values go to a service: show the service's ``ValidationError`` on the form."""

    def apply_service_errors(self, error: ValidationError) -> None:
        if hasattr(error, "error_dict"):
            for field, errors in error.error_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            self.add_error(None, error)


class ScreeningSubmissionForm(ServiceErrorsMixin, forms.Form):
    # A code, not a ChoiceField: which regions accept screenings is the service's decision.
    region = forms.CharField(
        label=_("Your region"),
        widget=forms.Select,
        error_messages={"required": rules.REGION_INVALID},
    )
    national_id = forms.CharField(
        label=_("National ID number"),
        error_messages={"required": rules.NATIONAL_ID_REQUIRED},
        widget=_text_input(rules.NATIONAL_ID_MAX_LENGTH, autocomplete="off", spellcheck="false"),
    )
    full_name = forms.CharField(
        label=_("Full name"),
        error_messages={"required": rules.FULL_NAME_REQUIRED},
        widget=_text_input(rules.FULL_NAME_MAX_LENGTH, autocomplete="name"),
    )
    # Typed, not a browser date picker: a half-typed or impossible date reaches the server as
    # typed, so the patient is told what is wrong and keeps what they wrote.
    date_of_birth = DateOfBirthField(
        label=_("Date of birth"),
        help_text=_("Year-month-day, for example 1980-04-23."),
        error_messages={"required": rules.DATE_OF_BIRTH_REQUIRED},
        widget=forms.TextInput(
            attrs={"autocomplete": "bday", "inputmode": "numeric", "placeholder": "YYYY-MM-DD"}
        ),
    )
    sex = forms.ChoiceField(
        label=_("Sex"),
        choices=Sex.choices,
        widget=forms.RadioSelect,
        error_messages={"required": rules.SEX_REQUIRED, "invalid_choice": rules.SEX_INVALID},
    )
    phone = forms.CharField(
        label=_("Mobile phone number"),
        help_text=_(
            "As you would dial it here (for example 0712 345678), or with + and the country code."
        ),
        error_messages={"required": rules.PHONE_REQUIRED},
        widget=forms.TextInput(
            attrs={
                "type": "tel",
                "autocomplete": "tel",
                "maxlength": str(rules.PHONE_INPUT_MAX_LENGTH),
            }
        ),
    )
    symptoms = forms.CharField(
        label=_("Symptoms (optional)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": str(rules.SYMPTOMS_MAX_LENGTH)}),
        help_text=_("For example: cough for 5 days, fever, short of breath."),
    )
    image = forms.FileField(
        label=_("Chest X-ray image"),
        help_text=_(
            "A PNG, JPEG or DICOM file of a frontal (PA or AP) chest X-ray, at most {mb} MB."
        ),
        error_messages={
            "required": rules.IMAGE_REQUIRED,
            "empty": rules.IMAGE_EMPTY,
            "invalid": rules.IMAGE_NOT_RECEIVED,
        },
        # A hint for the file picker only: the server decides the type by the file's content,
        # and DICOM exports often have no extension at all.
        widget=forms.FileInput(attrs={"accept": UPLOAD_ACCEPT}),
    )
    consent = forms.BooleanField(
        label=CONSENT_TEXT, error_messages={"required": rules.CONSENT_REQUIRED}
    )

    def __init__(
        self, *args, upload_too_large: bool = False, for_api: bool = False, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        # The upload handler stopped reading an oversized file: report that, not "missing".
        self.upload_too_large = upload_too_large
        self.for_api = for_api  # API clients have no list to pick from: name the valid codes
        if upload_too_large:
            self.fields["image"].required = False
        self.fields["region"].widget.choices = [
            ("", _("Choose your region…")),
            *region_choices_for_upload(),
        ]
        self.fields["image"].help_text = self.fields["image"].help_text.format(
            mb=settings.MAX_UPLOAD_MB
        )
        self.fields["image"].widget.attrs["data-max-bytes"] = str(rules.max_upload_bytes())

    def clean_image(self):
        if self.upload_too_large:
            raise ValidationError(rules.too_large_message(), code="too_large")
        return self.cleaned_data["image"]

    def clean(self) -> dict:
        """Ask the service about every field that parsed (all errors are reported together)."""
        data = super().clean()
        parsed = {f: data.get(f) for f in _RULE_CHECKED if f not in self.errors}
        if parsed:
            for field, messages in screening_check_fields(
                **parsed, codes_in_region_error=self.for_api
            ).items():
                self.add_error(field, messages)
        return data

    def submission_kwargs(self) -> dict:
        """``cleaned_data`` as keyword arguments of ``services.screening_submit``."""
        data = dict(self.cleaned_data)
        data["image_file"] = data.pop("image")
        return data


class ReviewForm(ServiceErrorsMixin, forms.Form):
    decision = forms.ChoiceField(
        choices=ReviewDecision.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": rules.DECISION_REQUIRED,
            "invalid_choice": rules.DECISION_INVALID,
        },
    )
    # Parsed only; the length rule and its message are the review service's.
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": str(rules.NOTE_MAX_LENGTH)}),
        help_text=_("Visible to clinicians only."),
    )


class TriageFilterForm(forms.Form):
    """Filters of the triage list (GET parameters); invalid values are ignored."""

    REVIEWED_CHOICES = [("", _("All")), ("false", _("Not reviewed")), ("true", _("Reviewed"))]

    # Free text (not a choice): a code outside the user's regions simply matches nothing.
    region = forms.CharField(required=False, max_length=32, widget=forms.Select)
    status = forms.ChoiceField(
        required=False,
        # The default ("") is "Completed"; the list must not offer "Completed" a second time.
        choices=[("", _("Completed"))]
        + [c for c in ScreeningStatus.choices if c[0] != ScreeningStatus.COMPLETED],
    )
    reviewed = forms.ChoiceField(required=False, choices=REVIEWED_CHOICES)
    date_from = forms.DateField(
        required=False, label=_("From"), widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label=_("To"), widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        regions = regions_for_user(user=user).select_related("parent").order_by("code")
        self.fields["region"].widget.choices = [("", _("All my regions"))] + [
            (r.code, f"{r.code} – {r.name}") for r in regions
        ]

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            # Said on the page (and the end date ignored) rather than an empty list.
            self.add_error("date_to", rules.DATE_RANGE_REVERSED)
        return data

    def to_filters(self, *, default_status: str | None = None) -> TriageFilters:
        self.is_valid()  # invalid filter values are dropped, valid ones kept
        data = self.cleaned_data
        reviewed = {"true": True, "false": False}.get(data.get("reviewed") or "")
        return TriageFilters(
            region=data.get("region") or None,
            status=data.get("status") or default_status,
            reviewed=reviewed,
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )
