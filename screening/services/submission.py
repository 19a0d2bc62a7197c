"""A patient's submission: validate, take the image in (decode, gate, re-encode), store, insert,
enqueue after commit. The single write path of the HTML form and the API."""

from __future__ import annotations

import datetime
import logging
import secrets

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from inference.pipeline import DecodedUpload, ImageDecodeError, intake

from .. import rules, storage
from ..models import Region, Screening, ScreeningStatus
from ..validators import (
    normalize_full_name,
    normalize_national_id,
    normalize_phone,
    validate_upload_size,
)

logger = logging.getLogger(__name__)

# Unambiguous alphabet for references: no 0/O, 1/I/L, U.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
_FIELD_NAMES = ("national_id", "full_name", "date_of_birth", "sex", "phone", "symptoms")
# Set by the service itself, or checked apart (the region, in ``_check``).
_NEVER_CHECKED = ("region", "image", "reference", "access_token_hash", "status", "consent_at")


class _Errors(dict[str, list[str]]):
    def add(self, field: str, error: ValidationError | str) -> None:
        messages = error.messages if isinstance(error, ValidationError) else [error]
        self.setdefault(field, []).extend(messages)


def reference_generate() -> str:
    chars = [secrets.choice(REFERENCE_ALPHABET) for _ in range(8)]
    return f"CXR-{''.join(chars[:4])}-{''.join(chars[4:])}"


def screening_submit(
    *,
    region: Region | str | None,
    national_id: str,
    full_name: str,
    date_of_birth: datetime.date | None,
    sex: str,
    phone: str,
    image_file: UploadedFile | None,
    consent: bool,
    symptoms: str = "",
) -> Screening:
    """Validate a patient's submission, store the image, create the row, enqueue processing.

    Raises ``ValidationError`` with a message per field; nothing is written then. The image is
    decoded and gated before any row exists; the files are written first and removed again if
    the row cannot be created.

    Returns the screening with ``access_token`` set: the plain token, shown to the patient once.
    """
    errors = _Errors()
    if consent is not True:
        errors.add("consent", rules.CONSENT_REQUIRED)
    fields = dict(
        region=region,
        national_id=national_id,
        full_name=full_name,
        date_of_birth=date_of_birth,
        sex=sex,
        phone=phone,
        symptoms=symptoms,
    )
    screening = _unsaved_screening(fields)
    _check(screening, fields, errors, codes_in_region_error=False)
    upload = _take_in_image(image_file, errors)
    if errors:
        raise ValidationError(dict(errors))
    assert upload is not None
    token = secrets.token_urlsafe(32)
    screening.set_access_token(token)
    _store_and_insert(screening, upload)
    logger.info("screening %s submitted (%s)", screening.pk, screening.reference)
    screening.access_token = token
    return screening


def screening_check_fields(*, codes_in_region_error: bool = False, **fields: object) -> dict:
    """Field errors ``{field: [messages]}`` of the given submission fields (any subset of
    ``screening_submit``'s, except the image and consent), as ``screening_submit`` would find them.

    The submission form calls this for the fields it could parse, so that a patient sees every
    problem at once; ``codes_in_region_error`` names the valid region codes (API clients).
    """
    errors = _Errors()
    _check(_unsaved_screening(fields), fields, errors, codes_in_region_error=codes_in_region_error)
    return dict(errors)


def _unsaved_screening(fields: dict) -> Screening:
    """The normalised, unsaved screening for ``fields`` (missing ones left at their defaults)."""
    now = timezone.now()
    region = fields.get("region")
    return Screening(
        region=_selectable_region(region) if "region" in fields else None,
        national_id=normalize_national_id(fields.get("national_id", "")),
        full_name=normalize_full_name(fields.get("full_name", "")),
        date_of_birth=fields.get("date_of_birth"),
        sex=fields.get("sex") or "",
        phone=normalize_phone(fields.get("phone", "")),
        symptoms=(fields.get("symptoms") or "").strip(),
        consent_at=now,
        submitted_at=now,
    )


def _check(
    screening: Screening, fields: dict, errors: _Errors, *, codes_in_region_error: bool
) -> None:
    """The region rule and the model's field rules, for the fields given."""
    if "region" in fields and screening.region_id is None:
        codes = _selectable_codes() if codes_in_region_error else []
        errors.add("region", rules.region_invalid_message(codes))
    not_given = [f for f in _FIELD_NAMES if f not in fields]
    try:
        screening.full_clean(
            exclude=[*_NEVER_CHECKED, *not_given], validate_unique=False, validate_constraints=False
        )
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            for message in messages:
                errors.add(field, message)


def _selectable_region(region: Region | str | None) -> Region | None:
    if region is None or region == "":
        return None
    code = region.code if isinstance(region, Region) else str(region)
    return Region.objects.selectable().filter(code=code).first()


def _selectable_codes() -> list[str]:
    return list(Region.objects.selectable().order_by("code").values_list("code", flat=True))


def _take_in_image(image_file: UploadedFile | None, errors: _Errors) -> DecodedUpload | None:
    """Size check before reading, then the library's intake (decode, chest X-ray gate)."""
    if image_file is None:
        errors.add("image", rules.IMAGE_REQUIRED)
        return None
    try:
        validate_upload_size(image_file.size)  # before reading a single byte
        image_file.seek(0)
        limit = rules.max_upload_bytes()
        return intake(image_file.read(limit + 1), max_bytes=limit)
    except ValidationError as exc:
        errors.add("image", exc)
    except ImageDecodeError as exc:  # NotAChestXray included: the library's plain message
        errors.add("image", str(exc) or rules.IMAGE_NOT_A_CHEST_XRAY)
    return None


def _store_and_insert(screening: Screening, upload: DecodedUpload) -> None:
    """Write the files, then the row; the files go again if the row cannot be written."""
    screening.image_width, screening.image_height = upload.width, upload.height
    screening.source_format = upload.kind
    screening.quality_flags = list(upload.quality_flags)
    screening.intake_notes = list(upload.notes)
    stored: list[str] = []
    try:
        stored.append(storage.store_png(upload.png_bytes))
        screening.image.name = stored[-1]
        if upload.dicom_bytes is not None:  # the de-identified copy, never the upload itself
            stored.append(storage.store_dicom(upload.dicom_bytes))
            screening.dicom_file.name = stored[-1]
        with transaction.atomic():
            _insert_with_unique_reference(screening)
            transaction.on_commit(lambda: screening_enqueue(screening=screening), robust=True)
    except BaseException:
        for name in stored:
            storage.delete_stored(name)
        raise
    if not transaction.get_connection().in_atomic_block:
        # The commit hook ran already: report the status it left (queued, or later in eager mode).
        screening.refresh_from_db(fields=["status", "queued_at"])


def _insert_with_unique_reference(screening: Screening, attempts: int = 5) -> None:
    for attempt in range(attempts):
        screening.reference = reference_generate()
        try:
            with transaction.atomic():
                screening.save(force_insert=True)
            return
        except IntegrityError:
            if (
                attempt == attempts - 1
                or not Screening.objects.filter(reference=screening.reference).exists()
            ):
                raise


def screening_enqueue(*, screening: Screening) -> bool:
    """Mark a received screening queued and publish the task (called after commit).

    If the broker cannot be reached the screening stays ``queued`` and ``requeue_stale``
    publishes it again later; the patient's submission is not lost.
    """
    # Imported here: the task module imports the processing service, which is this package.
    from ..tasks import process_screening

    now = timezone.now()
    if Screening.objects.filter(pk=screening.pk, status=ScreeningStatus.RECEIVED).update(
        status=ScreeningStatus.QUEUED, queued_at=now
    ):
        screening.status, screening.queued_at = ScreeningStatus.QUEUED, now
    try:
        process_screening.delay(str(screening.pk))
    except Exception:
        logger.exception("could not publish screening %s; requeue_stale will retry", screening.pk)
        return False
    return True
