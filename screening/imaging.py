"""Turning uploaded bytes into the stored image.

The decoding itself is the model library's (``inference.decode.decode_image``: PNG/JPEG only,
size and decompression-bomb limits). The portal stores a lossless PNG re-encoding of the decoded
grayscale image, never the raw upload bytes. DICOM and the chest-X-ray gate plug in here later.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


@dataclass(frozen=True)
class DecodedUpload:
    png_bytes: bytes
    width: int
    height: int


def decode_upload(data: bytes) -> DecodedUpload:
    """Decode an upload; raises ``ValidationError`` (on ``image``) with a readable message."""
    from inference.decode import ImageDecodeError, decode_image

    try:
        image = decode_image(data)
    except ImageDecodeError as exc:
        raise ValidationError({"image": str(exc)}, code="unreadable_image") from exc
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return DecodedUpload(png_bytes=buffer.getvalue(), width=image.width, height=image.height)


def store_png(png_bytes: bytes) -> str:
    """Write under a random name; return the storage name."""
    name = f"radiographs/{uuid.uuid4().hex}.png"
    return default_storage.save(name, ContentFile(png_bytes))


def delete_stored(name: str) -> None:
    if name:
        default_storage.delete(name)


def read_stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as fh:
        return fh.read()
