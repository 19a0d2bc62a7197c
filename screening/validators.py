"""Field validators and normalisers (the model, the submission form and the services use them).

The rules and their messages are ``screening.rules``; this module only applies them.
"""

import datetime
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.deconstruct import deconstructible

from . import rules


def normalize_phone(value: str) -> str:
    """E.164 where possible: ``+44 20 7946-0018`` -> ``+442079460018``; a local number in the
    national format of ``PHONE_DEFAULT_REGION`` (``0712 345678`` in Kenya) -> ``+254712345678``.
    Anything else is returned without separators, for ``validate_phone_e164`` to refuse."""
    value = (value or "").strip()
    if value.startswith("00"):
        value = "+" + value[2:]
    compact = rules.PHONE_SEPARATORS_RE.sub("", value)
    if compact and not compact.startswith("+"):
        import phonenumbers

        try:
            number = phonenumbers.parse(compact, rules.phone_default_region())
        except phonenumbers.NumberParseException:
            return compact
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return compact


def validate_phone_e164(value: str) -> None:
    if not rules.PHONE_E164_RE.match(value or ""):
        raise ValidationError(rules.phone_invalid_message(), code="invalid_phone")


def normalize_national_id(value: str) -> str:
    """Without the separators printed on cards: ``AB-123 456`` -> ``AB123456``."""
    return rules.NATIONAL_ID_SEPARATORS_RE.sub("", value or "")


def parse_date_of_birth(value: str) -> datetime.date:
    """A typed date of birth, or a ``ValidationError`` that says what is wrong with it
    (incomplete, two-digit year, a day that does not exist) instead of "missing"."""
    text = "".join((value or "").split())
    match = rules.DATE_YMD_RE.match(text)
    if match:
        year, month, day = match.groups()
    else:
        match = rules.DATE_DMY_RE.match(text)
        if not match:
            parts = [p for p in re.split(r"[-/.]", text) if p]
            numeric = all(p.isdigit() for p in parts)
            if numeric and (0 < len(parts) < 3 or text.endswith(("-", "/", "."))):
                raise ValidationError(rules.DATE_OF_BIRTH_INCOMPLETE, code="incomplete")
            raise ValidationError(rules.DATE_OF_BIRTH_FORMAT, code="invalid")
        day, month, year = match.groups()
    if len(year) < 4:
        raise ValidationError(rules.DATE_OF_BIRTH_TWO_DIGIT_YEAR, code="two_digit_year")
    try:
        return datetime.date(int(year), int(month), int(day))
    except ValueError:
        raise ValidationError(rules.DATE_OF_BIRTH_IMPOSSIBLE, code="impossible") from None


def normalize_full_name(value: str) -> str:
    return " ".join((value or "").split())


@deconstructible
class NationalIdValidator:
    """National ID rule from ``settings.NATIONAL_ID_REGEX`` (read at call time)."""

    def __call__(self, value: str) -> None:
        if not re.fullmatch(settings.NATIONAL_ID_REGEX, value or ""):
            raise ValidationError(rules.national_id_message(), code="invalid_national_id")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NationalIdValidator)

    def __hash__(self) -> int:
        return hash(type(self))


validate_national_id = NationalIdValidator()


def validate_date_of_birth(value: datetime.date) -> None:
    today = timezone.localdate()
    if value > today:
        raise ValidationError(rules.DATE_OF_BIRTH_FUTURE, code="future_dob")
    if value.year < today.year - rules.MAX_AGE_YEARS:
        raise ValidationError(rules.DATE_OF_BIRTH_IMPLAUSIBLE, code="implausible_dob")


def validate_no_control_characters(value: str) -> None:
    if rules.CONTROL_CHARACTERS_RE.search(value or ""):
        raise ValidationError(rules.CONTROL_CHARACTERS, code="control")


def validate_upload_size(size: int | None) -> None:
    """Size check done before any byte of the file is read."""
    if size is None or size <= 0:
        raise ValidationError(rules.IMAGE_EMPTY, code="empty")
    if size > rules.max_upload_bytes():
        raise ValidationError(rules.too_large_message(size), code="too_large")


def validate_note(value: str) -> None:
    if len(value or "") > rules.NOTE_MAX_LENGTH:
        raise ValidationError(
            rules.NOTE_TOO_LONG.format(limit=rules.NOTE_MAX_LENGTH), code="too_long"
        )


def age_in_years(date_of_birth: datetime.date, on: datetime.date | None = None) -> int:
    on = on or timezone.localdate()
    return (
        on.year
        - date_of_birth.year
        - ((on.month, on.day) < (date_of_birth.month, date_of_birth.day))
    )
