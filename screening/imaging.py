"""Turning uploaded bytes into what is stored, and the worker's heatmaps into files.

Decoding is the model library's (``inference.decode.decode_upload``): the type is decided by the
content (PNG/JPEG signature, DICOM ``DICM`` preamble), never by the file name or Content-Type;
only the PNG, JPEG and DICOM decoders are tried; every refusal carries a plain message. The
portal stores a lossless PNG re-encoding of the decoded 8-bit grayscale image (never the raw
upload) and, for DICOM, the library's de-identified dataset (PS3.15 basic profile).

The chest X-ray gate (``inference.gate``, torch-free, ~20 ms) runs in the web request, so a
patient who uploads a photo or a document is told at once. It is imported on first use, never at
Django start-up.
"""

from __future__ import annotations

import io
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

if TYPE_CHECKING:  # pragma: no cover
    from inference.decode import DecodedImage

logger = logging.getLogger(__name__)

# Flag stored when the gate itself failed on a decodable image: accepted, clinician warned.
GATE_NOT_CHECKED = "not checked by the image gate"


@dataclass(frozen=True)
class DecodedUpload:
    png_bytes: bytes
    width: int
    height: int
    kind: str = "png"  # "png" | "jpeg" | "dicom" (SourceFormat values)
    dicom_bytes: bytes | None = None  # de-identified DICOM Part 10 bytes (DICOM uploads only)
    notes: tuple[str, ...] = ()  # the library's plain-language warnings
    decoded: DecodedImage | None = field(default=None, repr=False, compare=False)


def decode_upload(data: bytes) -> DecodedUpload:
    """Decode an upload; raises ``ValidationError`` (on ``image``) with the library's message.

    Lateral DICOM views, non-radiograph modalities, broken and hostile files all end here.
    """
    from inference.decode import ImageDecodeError
    from inference.decode import decode_upload as library_decode

    try:
        decoded = library_decode(data)
        dicom_bytes = None
        if decoded.kind == "dicom":
            from inference.dicom import to_bytes

            if decoded.dicom_dataset is None:  # the library always de-identifies; never store raw
                raise ImageDecodeError("The DICOM file could not be de-identified.")
            dicom_bytes = to_bytes(decoded.dicom_dataset)
    except ImageDecodeError as exc:
        raise ValidationError({"image": str(exc)}, code="unreadable_image") from exc
    image = decoded.image
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return DecodedUpload(
        png_bytes=buffer.getvalue(),
        width=image.width,
        height=image.height,
        kind=decoded.kind,
        dicom_bytes=dicom_bytes,
        notes=tuple(decoded.warnings or ()),
        decoded=decoded,
    )


def check_chest_xray(upload: DecodedUpload) -> list[str]:
    """The chest X-ray gate: raise ``ValidationError`` (on ``image``, the gate's friendly reason)
    for what is clearly not a frontal chest radiograph; return the low-quality flags otherwise
    (too dark, too bright, low resolution, heavily cropped ...: kept for the clinician)."""
    try:
        from inference.gate import assess_decoded, assess_image

        if upload.decoded is not None:
            result = assess_decoded(upload.decoded)
        else:  # built by hand (tests): gate the stored PNG itself
            from inference.decode import decode_image

            result = assess_image(decode_image(upload.png_bytes))
    except Exception:  # noqa: BLE001 - a gate bug must not lose a decodable radiograph
        logger.exception("chest X-ray gate failed; image accepted unchecked")
        return [GATE_NOT_CHECKED]
    if not result.accepted:
        raise ValidationError(
            {"image": result.reason or "This does not look like a chest X-ray."},
            code=f"not_a_chest_xray_{result.code or 'other'}",
        )
    return list(result.quality_flags)


# --- storage ----------------------------------------------------------------------------------
def _save(prefix: str, suffix: str, data: bytes) -> str:
    """Write under a random name; return the storage name."""
    return default_storage.save(f"{prefix}/{uuid.uuid4().hex}{suffix}", ContentFile(data))


def store_png(png_bytes: bytes) -> str:
    return _save("radiographs", ".png", png_bytes)


def store_dicom(dicom_bytes: bytes) -> str:
    return _save("dicom", ".dcm", dicom_bytes)


def store_heatmap(png_bytes: bytes) -> str:
    return _save("heatmaps", ".png", png_bytes)


def delete_stored(name: str) -> None:
    if name:
        default_storage.delete(name)


def read_stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as fh:
        return fh.read()
