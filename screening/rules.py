"""Every field rule of the portal and every message a person reads about it, in one place.

Forms, serializers, services, validators, the upload handler and the middleware all take their
limits and wording from here; nothing else spells a rule or its message. Messages are
module-level constants (``str.format`` placeholders where a value is filled in) or small tables,
so that they can be wrapped for translation without touching the code that uses them.

The image's own refusals (unreadable, not a chest X-ray, lateral DICOM, ...) are the model
library's (``inference.pipeline``): they are passed on as they are.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.utils.translation import gettext_lazy as _

# --- limits -----------------------------------------------------------------------------------
NATIONAL_ID_MAX_LENGTH = 64  # before normalisation; the rule itself is NATIONAL_ID_REGEX
DEFAULT_NATIONAL_ID_REGEX = r"^[A-Za-z0-9]{6,20}$"
FULL_NAME_MAX_LENGTH = 200
PHONE_INPUT_MAX_LENGTH = 32  # what may be typed (spaces, dashes); stored E.164 is at most 16
PHONE_E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
PHONE_SEPARATORS_RE = re.compile(r"[\s().\-/]")
# National IDs are compared without the separators cards print (spaces, dashes, dots, slashes).
NATIONAL_ID_SEPARATORS_RE = re.compile(r"[\s\-./]")
# Dates of birth: year-month-day (what the form shows) or day/month/year (what people write).
DATE_YMD_RE = re.compile(r"^(\d{1,4})-(\d{1,2})-(\d{1,2})$")
DATE_DMY_RE = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{1,4})$")
CONTROL_CHARACTERS_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
SYMPTOMS_MAX_LENGTH = 2000
NOTE_MAX_LENGTH = 2000  # a clinician's review note
MAX_AGE_YEARS = 130
REGION_CODE_RE = r"^[A-Z0-9][A-Z0-9-]*$"
STATUS_REASON_MAX_LENGTH = 300  # Screening.status_reason

# --- messages: the submission form and API --------------------------------------------------
REGION_INVALID = _("Choose your region from the list.")
# Said by the API (which has no list to choose from): which codes would have been accepted.
REGION_INVALID_WITH_CODES = _(
    "Choose a region that accepts screenings: {codes}. "
    'GET /api/v1/regions/ lists them with "accepts_screenings": true.'
)
NATIONAL_ID_REQUIRED = _("Enter your national ID number.")
NATIONAL_ID_INVALID = _("Enter the national ID number as printed on the card ({rule}).")
NATIONAL_ID_DEFAULT_RULE = _("6 to 20 letters and digits; spaces and dashes are left out")
NATIONAL_ID_OTHER_RULE = _("the format was not recognised")
FULL_NAME_REQUIRED = _("Enter your full name.")
DATE_OF_BIRTH_REQUIRED = _("Enter your date of birth.")
DATE_OF_BIRTH_FORMAT = _("Enter the date of birth as YYYY-MM-DD, for example 1980-04-23.")
DATE_OF_BIRTH_INCOMPLETE = _(
    "The date of birth is incomplete: enter the day, the month and the year, for example "
    "1980-04-23."
)
DATE_OF_BIRTH_TWO_DIGIT_YEAR = _("Enter the year with all 4 digits, for example 1975 (not 75).")
DATE_OF_BIRTH_IMPOSSIBLE = _(
    "This date does not exist: check the day and the month (year-month-day, for example "
    "1980-04-23)."
)
DATE_OF_BIRTH_FUTURE = _("The date of birth cannot be in the future.")
DATE_OF_BIRTH_IMPLAUSIBLE = _("Please check the year of birth.")
SEX_REQUIRED = _("Choose an option for sex.")
SEX_INVALID = _("Choose F, M or X for sex.")
PHONE_REQUIRED = _("Enter a phone number so the clinic can reach you.")
PHONE_INVALID = _(
    "Enter a mobile phone number: the local number (for example {example}) or the "
    "international one, starting with + and the country code."
)
CONTROL_CHARACTERS = _("Remove the unusual characters from this field.")
TOO_LONG = _("Keep this under {limit} characters.")
CONSENT_REQUIRED = _("Please tick the box to agree before you submit.")
IMAGE_REQUIRED = _("Choose a chest X-ray image (PNG, JPEG or DICOM).")
IMAGE_EMPTY = _("The file is empty. Choose a chest X-ray image.")
IMAGE_NOT_RECEIVED = _("No file was received. Choose the image again.")
IMAGE_NOT_A_CHEST_XRAY = _("This does not look like a chest X-ray.")
# The one "too large" message: form, API, upload handler and middleware (413).
TOO_LARGE = _("The file is too large. The maximum is {max_mb} MB.")
# ... and with the size, when it is known before reading (the file's declared size).
TOO_LARGE_WITH_SIZE = _("The file is too large ({size_mb:.1f} MB). The maximum is {max_mb} MB.")

# A NUL character in the address or a form: PostgreSQL can neither store nor compare one, so the
# request is refused before any view reads it (``middleware.NulCharacterMiddleware``).
NUL_IN_REQUEST = _(
    "The address or the form contains a character that is not allowed (a NUL character). Remove "
    "it and try again."
)

SUBMISSION_TOO_MANY = _(
    "Too many images were sent from this connection in the last hour, so this one was not "
    "sent. What you typed is kept below: please try again later."
)

# --- messages: clinicians ---------------------------------------------------------------------
DECISION_REQUIRED = _("Choose a decision.")
DECISION_INVALID = _("Choose one of the decisions.")
NOTE_TOO_LONG = _("Keep the note under {limit} characters.")
DATE_RANGE_REVERSED = _(
    "The end date is before the start date, so it was ignored: check the dates."
)
REVIEW_TOO_EARLY = _("A decision can be recorded once the analysis has finished.")

# --- messages: administrators (regions) -------------------------------------------------------
REGION_CODE_FORMAT = _("Use capital letters, digits and hyphens, e.g. NORTH-01.")
REGION_OWN_PARENT = _("A region cannot be its own parent.")
REGION_TWO_LEVELS = _("Regions have two levels: the parent must be a province.")
REGION_HAS_DISTRICTS = _("This region has districts of its own, so it must be a province.")

# --- quality flags the worker adds (the lung check), as clinicians read them -------------------
QUALITY_NO_LUNG_FIELDS = _("no lung fields found: the model's reading of this image is unreliable")
QUALITY_LUNG_CHECK_NOT_RUN = _("lung fields not checked (the lung check did not run)")

# --- why a screening failed (stored on the screening, shown on the patient's page) -------------
FAILED_IMAGE_MISSING = _("The stored image file is missing.")
FAILED_IMAGE_UNREADABLE = _("The image could not be read: {error}")
FAILED_NO_VALID_RESULT = _("The model returned no valid result.")
FAILED_TOO_SLOW = _("The analysis took too long. Please try again.")
FAILED_SERVICE_DOWN = _("The analysis service is unavailable. Please try again later.")
FAILED_TOO_MANY_ATTEMPTS = _("The analysis did not finish after several attempts.")


# --- the rules that depend on settings (read at call time: tests and deployments change them) ---
def max_upload_bytes() -> int:
    return settings.MAX_UPLOAD_MB * 1024 * 1024


def too_large_message(size: int | None = None) -> str:
    if size is None:
        return TOO_LARGE.format(max_mb=settings.MAX_UPLOAD_MB)
    return TOO_LARGE_WITH_SIZE.format(size_mb=size / 1024 / 1024, max_mb=settings.MAX_UPLOAD_MB)


def phone_default_region() -> str:
    """Country whose national format local numbers are read in (``PHONE_DEFAULT_REGION``)."""
    return getattr(settings, "PHONE_DEFAULT_REGION", "") or "KE"


def phone_invalid_message() -> str:
    import phonenumbers

    example = phonenumbers.example_number_for_type(
        phone_default_region(), phonenumbers.PhoneNumberType.MOBILE
    )
    text = (
        phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
        if example
        else "0712 345678"
    )
    return PHONE_INVALID.format(example=text)


def national_id_message() -> str:
    default = settings.NATIONAL_ID_REGEX == DEFAULT_NATIONAL_ID_REGEX
    rule = NATIONAL_ID_DEFAULT_RULE if default else NATIONAL_ID_OTHER_RULE
    return NATIONAL_ID_INVALID.format(rule=rule)


def region_invalid_message(codes: list[str]) -> str:
    return REGION_INVALID_WITH_CODES.format(codes=", ".join(codes)) if codes else REGION_INVALID
