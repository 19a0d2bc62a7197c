"""Field rules shared by the model, the submission form (HTML and API) and the services."""

import datetime
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.deconstruct import deconstructible

E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
_PHONE_SEPARATORS_RE = re.compile(r"[\s().\-/]")
MAX_AGE_YEARS = 130


def normalize_phone(value: str) -> str:
    """Drop spaces and common separators: ``+44 20 7946-0018`` -> ``+442079460018``."""
    value = (value or "").strip()
    if value.startswith("00"):
        value = "+" + value[2:]
    return _PHONE_SEPARATORS_RE.sub("", value)


def validate_phone_e164(value: str) -> None:
    if not E164_RE.match(value or ""):
        raise ValidationError(
            "Enter the phone number in international format, starting with + and the country "
            "code, for example +441234567890.",
            code="invalid_phone",
        )


def normalize_national_id(value: str) -> str:
    return "".join((value or "").split())


@deconstructible
class NationalIdValidator:
    """National ID rule from ``settings.NATIONAL_ID_REGEX`` (read at call time)."""

    message = "Enter the national ID number as printed on the card ({rule})."

    def __call__(self, value: str) -> None:
        pattern = settings.NATIONAL_ID_REGEX
        if not re.fullmatch(pattern, value or ""):
            rule = (
                "6 to 20 letters and digits, no spaces or symbols"
                if pattern == r"^[A-Za-z0-9]{6,20}$"
                else "the format was not recognised"
            )
            raise ValidationError(self.message.format(rule=rule), code="invalid_national_id")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NationalIdValidator)

    def __hash__(self) -> int:
        return hash(type(self))


validate_national_id = NationalIdValidator()


def validate_date_of_birth(value: datetime.date) -> None:
    today = timezone.localdate()
    if value > today:
        raise ValidationError("The date of birth cannot be in the future.", code="future_dob")
    if value.year < today.year - MAX_AGE_YEARS:
        raise ValidationError("Please check the year of birth.", code="implausible_dob")


_CONTROL_CHARS_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def validate_no_control_characters(value: str) -> None:
    if _CONTROL_CHARS_RE.search(value or ""):
        raise ValidationError("Remove the unusual characters from this field.", code="control")


def validate_upload_size(size: int | None) -> None:
    """Size check done before any byte of the file is read."""
    if size is None or size <= 0:
        raise ValidationError("The file is empty. Choose a chest X-ray image.", code="empty")
    if size > settings.MAX_UPLOAD_BYTES:
        raise ValidationError(
            f"The file is too large ({size / 1024 / 1024:.1f} MB). "
            f"The maximum is {settings.MAX_UPLOAD_MB} MB.",
            code="too_large",
        )


def age_in_years(date_of_birth: datetime.date, on: datetime.date | None = None) -> int:
    on = on or timezone.localdate()
    return (
        on.year
        - date_of_birth.year
        - ((on.month, on.day) < (date_of_birth.month, date_of_birth.day))
    )
