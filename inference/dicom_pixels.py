"""DICOM pixel data -> an 8-bit radiograph, with the checks that come before decoding.

Pixel pipeline, in this order (PS3.3 C.11): stored values -> modality rescale
(``apply_modality_lut``: slope/intercept or Modality LUT) -> VOI (``apply_voi_lut``: VOI LUT
sequence or window centre/width; without either, the data's own min-max) -> 0..1 -> MONOCHROME1
inversion -> 8-bit "L". Then ``inference.preprocessing`` does what it does for any upload.

Compressed transfer syntaxes are decoded by pydicom's plugins: pylibjpeg (+ pylibjpeg-libjpeg:
JPEG baseline/extended/lossless, JPEG-LS; + pylibjpeg-openjpeg: JPEG 2000, HTJ2K), Pillow, and
pydicom's own RLE decoder. A syntax without an available decoder is refused, never guessed.
"""

from __future__ import annotations

import struct
import warnings
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from inference.intake_types import ImageDecodeError, check_size

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

DAMAGED = "The DICOM file is damaged or incomplete. Export it again from the PACS and re-upload."


def header_text(ds, keyword: str) -> str:
    """An attribute's (first) value as upper-case text; "" when absent or unreadable."""
    try:
        value = ds.get(keyword)
    except Exception:  # noqa: BLE001
        return ""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = value[0] if len(value) else ""
    return str(value).strip().upper()


def check_pixel_module(ds, *, max_pixels: int) -> None:
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ImageDecodeError(
            "This DICOM file contains no image (no pixel data). It may be a report, or the "
            "file may be incomplete: upload the radiograph itself."
        )
    if "PixelData" not in ds:
        raise ImageDecodeError(
            "This DICOM file stores floating-point pixels, which are not supported."
        )
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        bits = int(ds.BitsAllocated)
        stored = int(ds.get("BitsStored", bits))
        spp = int(ds.get("SamplesPerPixel", 1))
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except Exception as exc:  # noqa: BLE001 - missing or malformed type 1 attributes
        raise ImageDecodeError(DAMAGED) from exc
    if bits not in (1, 8, 16, 32) or not 1 <= stored <= bits or spp not in (1, 3):
        raise ImageDecodeError(DAMAGED)
    if frames > 1:
        raise ImageDecodeError(
            f"This DICOM file holds {frames} frames (a series or a cine loop). "
            "Upload a single frontal chest radiograph."
        )
    check_size(cols, rows, max_pixels=max_pixels)
    ts = ds.file_meta.get("TransferSyntaxUID")
    if ts is None:
        raise ImageDecodeError(DAMAGED)
    if ts.is_compressed:
        _check_compressed_frame(ds)
    else:
        expected = rows * cols * spp * bits // 8 if bits >= 8 else (rows * cols + 7) // 8
        try:
            actual = len(ds.PixelData)
        except Exception as exc:  # noqa: BLE001
            raise ImageDecodeError(DAMAGED) from exc
        if actual < expected:
            raise ImageDecodeError(DAMAGED)


def check_transfer_syntax(ds) -> None:
    from pydicom.pixels import get_decoder

    ts = ds.file_meta.get("TransferSyntaxUID")
    name = getattr(ts, "name", None) or str(ts)
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        decoder = None
    except Exception:  # noqa: BLE001
        decoder = None
    if decoder is None or not decoder.is_available:
        raise ImageDecodeError(
            f"This DICOM uses an unsupported compression ({name}). Export it uncompressed, or "
            "as JPEG, JPEG-LS or JPEG 2000, and re-upload."
        )


_SOF_MARKERS = frozenset({*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC),
                          *range(0xCD, 0xD0), 0xF7})  # fmt: skip


def codestream_size(frame: bytes) -> tuple[int, int] | None:
    """(width, height) declared by a JPEG / JPEG-LS / JPEG 2000 codestream header, if found."""
    soc = frame.find(b"\xff\x4f\xff\x51", 0, 256)  # JPEG 2000: SOC + SIZ (raw or inside JP2)
    if soc >= 0 and len(frame) >= soc + 24:
        xsiz, ysiz, xoff, yoff = struct.unpack(">IIII", frame[soc + 8 : soc + 24])
        return xsiz - xoff, ysiz - yoff
    if not frame.startswith(b"\xff\xd8"):
        return None
    pos = 2
    while pos + 4 <= len(frame) and frame[pos] == 0xFF:
        marker = frame[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xD8 or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", frame[pos + 2 : pos + 4])
        if marker in _SOF_MARKERS and pos + 9 <= len(frame):
            height, width = struct.unpack(">HH", frame[pos + 5 : pos + 9])
            return width, height
        if marker == 0xDA:
            return None
        pos += 2 + length
    return None


def _check_compressed_frame(ds: Dataset) -> None:
    """The compressed frame must declare the size the header does (a tiny codestream that
    declares 60000x60000 pixels is a decompression bomb aimed at the decoder)."""
    from pydicom.encaps import get_frame

    try:
        frame = get_frame(ds.PixelData, 0, number_of_frames=1)
    except Exception as exc:  # noqa: BLE001
        raise ImageDecodeError(DAMAGED) from exc
    size = codestream_size(bytes(frame[:65536]))
    if size is not None and size != (int(ds.Columns), int(ds.Rows)):
        raise ImageDecodeError(
            "The image inside this DICOM file does not match the size its header declares "
            f"({size[0]}x{size[1]} vs {int(ds.Columns)}x{int(ds.Rows)}); the file was refused."
        )


def _voi_output_range(ds) -> tuple[float, float]:
    """The value range ``apply_voi_lut`` maps to (mirrors pydicom's PS3.3 C.11.2 logic)."""
    voi_seq = ds.get("VOILUTSequence")
    if voi_seq:
        item = voi_seq[0]
        bits = int(item.LUTDescriptor[2])
        data = item.LUTData
        if isinstance(data, (bytes, bytearray)):
            lut = np.frombuffer(data, dtype="<u2" if bits > 8 else np.uint8)
        else:
            lut = np.asarray(data if isinstance(data, (list, tuple)) else list(data), np.float64)
        if lut.size == 0:
            return 0.0, float(2**bits - 1)
        return float(lut.min()), float(lut.max())
    if ds.get("ModalityLUTSequence"):
        lo, hi = 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    elif int(ds.get("PixelRepresentation", 0)) == 0:
        lo, hi = 0.0, float(2 ** int(ds.BitsStored) - 1)
    else:
        lo, hi = float(-(2 ** (int(ds.BitsStored) - 1))), float(2 ** (int(ds.BitsStored) - 1) - 1)
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    if slope is not None and intercept is not None:
        lo, hi = lo * float(slope) + float(intercept), hi * float(slope) + float(intercept)
    return min(lo, hi), max(lo, hi)


def _has_voi(ds) -> bool:
    if ds.get("VOILUTSequence"):
        return True
    return ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None


def _unit_range(arr: np.ndarray) -> np.ndarray:
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.zeros(arr.shape, dtype=np.float64)
    return (arr.astype(np.float64) - lo) / (hi - lo)


def pixels_to_unit(arr: np.ndarray, ds) -> np.ndarray:
    """Monochrome stored values -> float64 in [0, 1], 1 = bright (white bone), as displayed."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = apply_modality_lut(arr, ds)
    unit: np.ndarray | None = None
    if _has_voi(ds):
        try:
            windowed = apply_voi_lut(values, ds, index=0, prefer_lut=True)
            lo, hi = _voi_output_range(ds)
            if hi > lo:
                unit = np.clip((np.asarray(windowed, dtype=np.float64) - lo) / (hi - lo), 0, 1)
                if float(unit.max() - unit.min()) < 1e-6:
                    unit = None  # a window that blanks the image is worse than none
        except Exception:  # noqa: BLE001 - a malformed window: fall back to the data's range
            unit = None
    if unit is None:
        unit = _unit_range(values)
    if header_text(ds, "PhotometricInterpretation") == "MONOCHROME1":
        unit = 1.0 - unit  # MONOCHROME1: low values are white
    return unit


def dicom_to_gray(ds) -> tuple[Image.Image, Image.Image | None]:
    """Decoded 8-bit "L" image (and the RGB original for colour secondary captures)."""
    from pydicom.pixels import pixel_array

    photometric = header_text(ds, "PhotometricInterpretation")
    if photometric not in ("MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422"):
        raise ImageDecodeError(
            f"This DICOM uses a colour model that is not supported ({photometric or 'none'}); "
            "a chest radiograph is MONOCHROME1 or MONOCHROME2."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            warnings.filterwarnings("ignore", category=UserWarning)
            arr = pixel_array(ds)
    except ImageDecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - decoders raise anything on corrupt fragments
        raise ImageDecodeError(
            "The image inside this DICOM file could not be decoded (damaged or incomplete "
            "pixel data)."
        ) from exc
    arr = np.asarray(arr)
    if photometric.startswith("MONOCHROME"):
        if arr.ndim != 2:
            raise ImageDecodeError(DAMAGED)
        unit = pixels_to_unit(arr, ds)
        gray = Image.fromarray(np.round(unit * 255.0).astype(np.uint8), mode="L")
        return gray, None
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ImageDecodeError(DAMAGED)
    if arr.dtype != np.uint8:
        arr = np.round(_unit_range(arr) * 255.0).astype(np.uint8)
    rgb = Image.fromarray(np.ascontiguousarray(arr), mode="RGB")
    return rgb.convert("L"), rgb
