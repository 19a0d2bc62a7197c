"""Safe decoding of uploaded bytes into an 8-bit grayscale PIL image.

    decode_upload(data, max_bytes=None) -> DecodedImage(image "L", kind, dicom_dataset, warnings)
    decode_image(data)  -> PIL "L" image  (the same checks; what training and preprocessing call)

The portal does not call this module directly: ``inference.pipeline.intake`` decodes, gates and
re-encodes an upload in one call. ``ImageDecodeError`` and ``DecodedImage`` live in
``inference.intake_types`` (shared with ``inference.dicom``) and are re-exported here.

The file type is decided by its content, never by its name or a Content-Type header:

* PNG  -- the 8-byte PNG signature;
* JPEG -- the SOI marker followed by another marker (``FF D8 FF``);
* DICOM -- ``DICM`` at offset 128 (the Part 10 preamble), handled by ``inference.dicom``.

Anything else (GIF, TIFF, PDF, SVG, ZIP, HEIC, text, ...) is refused before any decoder runs;
only Pillow's PNG and JPEG decoders are ever tried (``Image.open(..., formats=[...])``).
PNG and JPEG structure is walked by hand first, so truncated files and files with data appended
after the image (HTML/JS polyglots, ZIP or PDF payloads) are refused with a clear message.
Decompression bombs are errors, not warnings, and there is a pixel limit below Pillow's own.

Every failure is an ``ImageDecodeError`` whose ``str()`` can be shown to the person who uploaded.
"""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from inference.intake_types import (
    DICOM_MAGIC,
    DICOM_MAGIC_OFFSET,
    MAX_PIXELS,
    DecodedImage,
    ImageDecodeError,
    Kind,
    check_size,
)

__all__ = ["DecodedImage", "ImageDecodeError", "decode_image", "decode_upload", "to_grayscale"]

ALLOWED_FORMATS: tuple[str, ...] = ("PNG", "JPEG")
# Bytes after the end of a PNG/JPEG that are tolerated when they carry no payload marker
# (some encoders leave a few bytes of padding).
TRAILER_TOLERANCE = 256

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8\xff"

NOT_ACCEPTED = "This file is not a PNG, JPEG or DICOM image"
DAMAGED = "The image file is damaged or incomplete. Export it again and re-upload."
APPENDED = (
    "The image file has extra data appended after the end of the image{what}, so it was refused "
    "for safety. Save or export the image again as a plain PNG or JPEG."
)

# Truncated files must fail loudly, never decode as half-grey images.
ImageFile.LOAD_TRUNCATED_IMAGES = False


# --------------------------------------------------------------------------- sniffing
def sniff(data: bytes) -> Kind | None:
    """ "png", "jpeg" or "dicom" from the leading bytes, else None."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(JPEG_SOI):
        return "jpeg"
    if data[DICOM_MAGIC_OFFSET : DICOM_MAGIC_OFFSET + 4] == DICOM_MAGIC:
        return "dicom"
    return None


_OTHER_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive or an Office document"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"BM", "a BMP image"),
    (b"\x00\x00\x01\x00", "an icon file"),
    (b"8BPS", "a Photoshop file"),
    (b"\x1f\x8b", "a compressed (gzip) file"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a program"),
    (b"\xd0\xcf\x11\xe0", "an Office document"),
)


def describe(data: bytes) -> str | None:
    """A plain-words guess at what a refused file is ("a GIF image"), or None."""
    for magic, what in _OTHER_SIGNATURES:
        if data.startswith(magic):
            return what
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "a WebP image"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "an HEIC photo (set the camera or export to JPEG)"
        if brand in (b"avif", b"avis"):
            return "an AVIF image"
        return "a video or MP4 file"
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "an SVG drawing"
    if head.startswith((b"<!doctype html", b"<html", b"<script")):
        return "a web page"
    if head.startswith(b"<?xml"):
        return "an XML file"
    if data[:8] == b"\x00\x00\x00\x0cjP  ":
        return "a JPEG 2000 image (upload it inside a DICOM file, or as PNG/JPEG)"
    sample = data[:4096]
    if sample and all(b in b"\t\n\r" or 32 <= b < 127 or b >= 128 for b in sample):
        try:
            sample.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return "a text file"
    return None


def _not_accepted(data: bytes) -> ImageDecodeError:
    what = describe(data)
    detail = f" (it looks like {what})" if what else ""
    return ImageDecodeError(f"{NOT_ACCEPTED}{detail}. Upload a PNG, JPEG or DICOM file.")


# --------------------------------------------------------------------------- trailing data
_PAYLOAD_MARKERS: tuple[tuple[bytes, str], ...] = (
    (b"<script", "a script"),
    (b"<html", "a web page"),
    (b"<!doctype", "a web page"),
    (b"<body", "a web page"),
    (b"<iframe", "a web page"),
    (b"<svg", "an SVG drawing"),
    (b"<?php", "a PHP script"),
    (b"<?xml", "an XML document"),
    (b"javascript:", "a script"),
    (b"onerror=", "a script"),
    (b"onload=", "a script"),
    (b"pk\x03\x04", "a ZIP archive"),
    (b"pk\x05\x06", "a ZIP archive"),
    (b"%pdf", "a PDF document"),
    (b"\x7felf", "a program"),
)


def trailer_payload(trailer: bytes) -> str | None:
    """What the bytes after an image's end look like, if they look like a payload."""
    low = trailer.lower()
    for marker, what in _PAYLOAD_MARKERS:
        if marker in low:
            return what
    if low.startswith(b"mz"):
        return "a program"
    return None


def _benign_trailer(trailer: bytes) -> bool:
    if not trailer:
        return True
    if not trailer.strip(b"\x00\xff \t\r\n"):
        return True  # padding only
    return False


def check_trailer(trailer: bytes) -> None:
    """Refuse appended data that carries a payload or is more than a little padding."""
    if _benign_trailer(trailer):
        return
    what = trailer_payload(trailer)
    if what is not None:
        raise ImageDecodeError(APPENDED.format(what=f" (it looks like {what})"))
    if len(trailer) > TRAILER_TOLERANCE:
        raise ImageDecodeError(APPENDED.format(what=f" ({len(trailer):,} bytes)"))


def png_trailer(data: bytes) -> bytes:
    """Walk the PNG chunks; the bytes after IEND. Truncated or malformed -> ImageDecodeError."""
    pos = len(PNG_SIGNATURE)
    end = len(data)
    first = True
    while True:
        if pos + 8 > end:
            raise ImageDecodeError(DAMAGED)
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        if first and ctype != b"IHDR":
            raise ImageDecodeError(DAMAGED)
        first = False
        if length > 0x7FFFFFFF or pos + 12 + length > end:
            raise ImageDecodeError(DAMAGED)
        pos += 12 + length
        if ctype == b"IEND":
            return data[pos:]


def jpeg_trailer(data: bytes) -> bytes:
    """Walk the JPEG markers (segments, then entropy-coded scans); the bytes after the EOI.

    Segment bodies (EXIF thumbnails with their own SOI/EOI included) are skipped by length, so
    the EOI found is the image's own, not a thumbnail's. Truncated -> ImageDecodeError.
    """
    pos = 2  # after SOI
    end = len(data)
    while True:
        if pos >= end:
            raise ImageDecodeError(DAMAGED)
        if data[pos] != 0xFF:
            raise ImageDecodeError(DAMAGED)
        while pos < end and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= end:
            raise ImageDecodeError(DAMAGED)
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            return data[pos:]
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # TEM, RSTn, SOI: no length
            continue
        if pos + 2 > end:
            raise ImageDecodeError(DAMAGED)
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > end:
            raise ImageDecodeError(DAMAGED)
        pos += length
        if marker == 0xDA:  # SOS: entropy-coded data follows until a real marker
            while True:
                nxt = data.find(b"\xff", pos)
                if nxt < 0 or nxt + 1 >= end:
                    raise ImageDecodeError(DAMAGED)
                following = data[nxt + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    pos = nxt + 1 if following == 0xFF else nxt + 2
                    continue
                pos = nxt
                break


# --------------------------------------------------------------------------- decoding
def decode_upload(
    data: bytes, *, max_pixels: int = MAX_PIXELS, max_bytes: int | None = None
) -> DecodedImage:
    """Any upload's bytes -> ``DecodedImage``; every refusal is an ``ImageDecodeError``.

    ``max_bytes`` is the caller's limit (the portal's ``MAX_UPLOAD_MB``, through
    ``pipeline.intake``); the library has none of its own, only the pixel limit.
    """
    if not data:
        raise ImageDecodeError("The file is empty.")
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageDecodeError(
            f"The file is too large ({len(data) / 1024 / 1024:.1f} MB); "
            f"the maximum is {max_bytes // (1024 * 1024)} MB."
        )
    kind = sniff(data)
    if kind is None:
        raise _not_accepted(data)
    if kind == "dicom":
        from inference.dicom import decode_dicom

        return decode_dicom(data, max_pixels=max_pixels)
    trailer = png_trailer(data) if kind == "png" else jpeg_trailer(data)
    check_trailer(trailer)
    img = _open_raster(data, kind, max_pixels=max_pixels)
    original = img if img.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr") else None
    gray = to_grayscale(img)
    if original is not None and original.format == "JPEG":
        original = ImageOps.exif_transpose(original)
    return DecodedImage(image=gray, kind=kind, original=original)


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """PNG/JPEG/DICOM bytes -> a fully loaded 8-bit grayscale ("L") image."""
    return decode_upload(data, max_pixels=max_pixels).image


def _open_raster(data: bytes, kind: Kind, *, max_pixels: int) -> Image.Image:
    fmt = "PNG" if kind == "png" else "JPEG"
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=[fmt])
            if img.format not in ALLOWED_FORMATS:  # e.g. an MPO returned for a JPEG
                raise ImageDecodeError(
                    "Multi-picture JPEG files are not accepted; export a single image."
                )
            check_size(*img.size, max_pixels=max_pixels)
            if getattr(img, "n_frames", 1) > 1 or getattr(img, "is_animated", False):
                raise ImageDecodeError("Animated images are not accepted; upload a single image.")
            img.load()
        except ImageDecodeError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageDecodeError(
                "The image declares an impossibly large size and was refused."
            ) from exc
        except UnidentifiedImageError as exc:
            raise ImageDecodeError(DAMAGED) from exc
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, MemoryError) as exc:
            raise ImageDecodeError(DAMAGED) from exc
    return img


def to_grayscale(img: Image.Image) -> Image.Image:
    """Any PIL mode -> "L", as the training data was prepared (transparency on black)."""
    if img.format == "JPEG":
        img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit / float data: stretch its own range to 8 bits instead of clipping at 255.
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        return Image.fromarray(np.round(scaled).astype(np.uint8), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", img.size, (0, 0, 0, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    if img.mode != "L":
        img = img.convert("L")
    return img
