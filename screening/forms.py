"""Forms. ``ScreeningSubmissionForm`` parses the patient's submission for both the HTML page and
the API (one set of messages); ``services.screening_submit`` then applies the full rules."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from .models import ReviewDecision, ScreeningStatus, Sex
from .selectors import TriageFilters, region_choices_for_upload, regions_for_user
from .uploads import too_large_message
from .validators import (
    normalize_national_id,
    normalize_phone,
    validate_date_of_birth,
    validate_national_id,
    validate_no_control_characters,
    validate_phone_e164,
    validate_upload_size,
)

CONSENT_TEXT = (
    "I agree that this X-ray and the details above are stored securely and looked at by the "
    "health service's clinicians to check for COVID-19 and other lung problems. A computer "
    "program sorts the images so that urgent ones are seen first; a clinician makes the decision."
)


UPLOAD_ACCEPT = "image/png,image/jpeg,application/dicom,.png,.jpg,.jpeg,.dcm,.dicom"


class ScreeningSubmissionForm(forms.Form):
    region = forms.ChoiceField(
        label="Your region",
        error_messages={
            "required": "Choose your region from the list.",
            "invalid_choice": "Choose your region from the list.",
        },
    )
    national_id = forms.CharField(
        label="National ID number",
        max_length=64,
        error_messages={"required": "Enter your national ID number."},
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    full_name = forms.CharField(
        label="Full name",
        max_length=200,
        validators=[validate_no_control_characters],
        error_messages={"required": "Enter your full name."},
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    date_of_birth = forms.DateField(
        label="Date of birth",
        input_formats=["%Y-%m-%d"],
        validators=[validate_date_of_birth],
        error_messages={
            "required": "Enter your date of birth.",
            "invalid": "Enter the date of birth as YYYY-MM-DD, for example 1980-04-23.",
        },
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    sex = forms.ChoiceField(
        label="Sex",
        choices=Sex.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose an option for sex.",
            "invalid_choice": "Choose F, M or X for sex.",
        },
    )
    phone = forms.CharField(
        label="Mobile phone number",
        max_length=32,
        help_text="International format, starting with + and the country code.",
        error_messages={"required": "Enter a phone number so the clinic can reach you."},
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    symptoms = forms.CharField(
        label="Symptoms (optional)",
        required=False,
        max_length=2000,
        validators=[validate_no_control_characters],
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For example: cough for 5 days, fever, short of breath.",
    )
    image = forms.FileField(
        label="Chest X-ray image",
        help_text="A PNG, JPEG or DICOM file of a frontal (PA or AP) chest X-ray, at most {mb} MB.",
        error_messages={
            "required": "Choose a chest X-ray image (PNG, JPEG or DICOM).",
            "empty": "The file is empty. Choose a chest X-ray image.",
            "invalid": "No file was received. Choose the image again.",
        },
        # A hint for the file picker only: the server decides the type by the file's content,
        # and DICOM exports often have no extension at all.
        widget=forms.FileInput(attrs={"accept": UPLOAD_ACCEPT}),
    )
    consent = forms.BooleanField(
        label=CONSENT_TEXT,
        error_messages={"required": "Please tick the box to agree before you submit."},
    )

    def __init__(self, *args, upload_too_large: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The upload handler stopped reading an oversized file: report that, not "missing".
        self.upload_too_large = upload_too_large
        if upload_too_large:
            self.fields["image"].required = False
        self.fields["region"].choices = [("", "Choose your region…"), *region_choices_for_upload()]
        self.fields["image"].help_text = self.fields["image"].help_text.format(
            mb=settings.MAX_UPLOAD_MB
        )
        self.fields["image"].widget.attrs["data-max-bytes"] = str(settings.MAX_UPLOAD_BYTES)

    def clean_national_id(self) -> str:
        value = normalize_national_id(self.cleaned_data["national_id"])
        validate_national_id(value)
        return value

    def clean_phone(self) -> str:
        value = normalize_phone(self.cleaned_data["phone"])
        validate_phone_e164(value)
        return value

    def clean_image(self):
        if self.upload_too_large:
            raise ValidationError(too_large_message(), code="too_large")
        image = self.cleaned_data["image"]
        validate_upload_size(image.size)
        return image

    def submission_kwargs(self) -> dict:
        """``cleaned_data`` as keyword arguments of ``services.screening_submit``."""
        data = dict(self.cleaned_data)
        data["image_file"] = data.pop("image")
        return data

    def apply_service_errors(self, error: ValidationError) -> None:
        """Show the service's field errors on this form."""
        if hasattr(error, "error_dict"):
            for field, errors in error.error_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            self.add_error(None, error)


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(
        choices=ReviewDecision.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose a decision."},
    )
    note = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Visible to clinicians only.",
    )


class TriageFilterForm(forms.Form):
    """Filters of the triage list (GET parameters); invalid values are ignored."""

    REVIEWED_CHOICES = [("", "All"), ("false", "Not reviewed"), ("true", "Reviewed")]

    # Free text (not a choice): a code outside the user's regions simply matches nothing.
    region = forms.CharField(required=False, max_length=32, widget=forms.Select)
    status = forms.ChoiceField(
        required=False, choices=[("", "Completed")] + list(ScreeningStatus.choices)
    )
    reviewed = forms.ChoiceField(required=False, choices=REVIEWED_CHOICES)
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        regions = regions_for_user(user=user).select_related("parent").order_by("code")
        self.fields["region"].widget.choices = [("", "All my regions")] + [
            (r.code, f"{r.code} – {r.name}") for r in regions
        ]

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
