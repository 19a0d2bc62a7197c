"""DICOM uploads: parse safely, refuse what is not a frontal chest radiograph, decode, and
attach the de-identified copy.

    decode_dicom(data) -> DecodedImage            (what ``decode.decode_upload`` calls for DICOM)
    read_dataset(data) -> pydicom Dataset          (no ``force=True``: a Part 10 file or nothing)
    to_bytes(ds)       -> DICOM Part 10 bytes of a dataset (e.g. a de-identified one, for storage)

Pixels: ``inference.dicom_pixels``; de-identification: ``inference.deidentify``.
"""

from __future__ import annotations

import io
import warnings
from typing import TYPE_CHECKING

from inference.deidentify import deidentify
from inference.dicom_pixels import (
    DAMAGED,
    check_pixel_module,
    check_transfer_syntax,
    dicom_to_gray,
    header_text,
)
from inference.intake_types import (
    DICOM_MAGIC,
    DICOM_MAGIC_OFFSET,
    MAX_PIXELS,
    DecodedImage,
    ImageDecodeError,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

LATERAL_VIEWS = frozenset({"LL", "RL", "LATERAL", "LAT", "LLAT", "RLAT"})
OBLIQUE_VIEWS = frozenset({"RAO", "LAO", "RPO", "LPO", "RLO", "LLO", "OBLIQUE"})
# Modalities that are certainly not a projection chest radiograph.
NOT_RADIOGRAPH_MODALITIES: dict[str, str] = {
    "CT": "a CT image",
    "MR": "an MRI image",
    "US": "an ultrasound image",
    "NM": "a nuclear medicine image",
    "PT": "a PET image",
    "MG": "a mammogram",
    "IO": "an intra-oral dental radiograph",
    "PX": "a panoramic dental radiograph",
    "XA": "an angiography image",
    "RF": "a fluoroscopy image",
    "OP": "an ophthalmic photograph",
    "OPT": "an eye scan",
    "SM": "a microscopy slide",
    "ES": "an endoscopy image",
    "XC": "a photograph",
    "GM": "a microscopy image",
    "ECG": "an ECG",
    "SR": "a structured report",
    "DOC": "a document",
    "RTIMAGE": "a radiotherapy image",
    "SEG": "a segmentation",
    "PR": "a presentation state",
    "KO": "a key object selection",
}


# --------------------------------------------------------------------------- reading
def read_dataset(data: bytes) -> Dataset:
    """Parse Part 10 bytes (preamble + ``DICM``) without ``force``; broken -> ImageDecodeError."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    if data[DICOM_MAGIC_OFFSET : DICOM_MAGIC_OFFSET + 4] != DICOM_MAGIC:
        raise ImageDecodeError("This file is not a DICOM Part 10 file (no DICM preamble).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data), force=False)
            # Elements are parsed lazily; touch the ones used below so a broken header fails here.
            _ = ds.file_meta.get("TransferSyntaxUID")
            _check_declared_lengths(ds)
            for keyword in ("Rows", "Columns", "BitsAllocated", "PhotometricInterpretation"):
                _ = ds.get(keyword)
    except ImageDecodeError:
        raise
    except InvalidDicomError as exc:
        raise ImageDecodeError(DAMAGED) from exc
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on hostile input
        raise ImageDecodeError(DAMAGED) from exc
    return ds


UNDEFINED_LENGTH = 0xFFFFFFFF


def _check_declared_lengths(ds: Dataset) -> None:
    """Refuse elements that declare more bytes than the file holds (pydicom reads short)."""
    for tag in list(ds.keys()):
        raw = ds.get_item(tag)
        length = getattr(raw, "length", None)
        value = getattr(raw, "value", None)
        if length is None or length == UNDEFINED_LENGTH or not isinstance(value, bytes):
            continue
        if len(value) < length:
            raise ImageDecodeError(
                "The DICOM file is damaged: an element declares more data than the file "
                "contains. Export it again from the PACS and re-upload."
            )


def check_view(ds) -> None:
    """Refuse lateral/oblique views and non-radiograph modalities."""
    modality = header_text(ds, "Modality")
    if modality in NOT_RADIOGRAPH_MODALITIES:
        raise ImageDecodeError(
            f"This DICOM file is {NOT_RADIOGRAPH_MODALITIES[modality]} (modality {modality}). "
            "The portal screens frontal chest radiographs (CR/DX) only."
        )
    view = header_text(ds, "ViewPosition")
    meanings: list[str] = []
    try:
        for item in ds.get("ViewCodeSequence") or []:
            meanings.append(str(item.get("CodeMeaning", "")).lower())
    except Exception:  # noqa: BLE001
        meanings = []
    if view in LATERAL_VIEWS or any("lateral" in m for m in meanings):
        raise ImageDecodeError(
            f"This is a lateral chest view (ViewPosition {view or 'lateral'}). "
            "Please upload the frontal image (PA or AP) of the examination."
        )
    if view in OBLIQUE_VIEWS or any("oblique" in m for m in meanings):
        raise ImageDecodeError(
            f"This is an oblique view (ViewPosition {view or 'oblique'}). "
            "Please upload the frontal image (PA or AP) of the examination."
        )


def decode_dicom(data: bytes, *, max_pixels: int = MAX_PIXELS) -> DecodedImage:
    """DICOM Part 10 bytes -> ``DecodedImage`` with the de-identified dataset attached."""
    ds = read_dataset(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pydicom's notes on odd values
            return _decode_dataset(ds, max_pixels=max_pixels)
    except ImageDecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - lazily parsed elements can fail anywhere
        raise ImageDecodeError(DAMAGED) from exc


def _decode_dataset(ds: Dataset, *, max_pixels: int) -> DecodedImage:
    check_view(ds)
    check_pixel_module(ds, max_pixels=max_pixels)
    check_transfer_syntax(ds)
    gray, original = dicom_to_gray(ds)
    notes = dicom_warnings(ds)
    clean = deidentify(ds)
    return DecodedImage(
        image=gray,
        kind="dicom",
        dicom_dataset=clean,
        warnings=notes,
        original=original,
    )


def dicom_warnings(ds) -> list[str]:
    notes: list[str] = []
    if header_text(ds, "BurnedInAnnotation") == "YES":
        notes.append(
            "The DICOM header says the image has burned-in annotations, which may include "
            "patient details visible in the picture."
        )
    body = header_text(ds, "BodyPartExamined")
    if body and body not in ("CHEST", "THORAX", "LUNG", "LUNGS", "TORAX", "THORAX_CHEST"):
        notes.append(f"The DICOM header names the body part as {body}, not CHEST.")
    view = header_text(ds, "ViewPosition")
    if not view:
        notes.append("The DICOM header does not state the view (PA/AP); check it is frontal.")
    return notes


def to_bytes(ds: Dataset) -> bytes:
    """A dataset as DICOM Part 10 bytes (preamble, file meta), e.g. for storing the PHI-free copy."""
    import pydicom

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def deidentified_bytes(data: bytes, *, salt: str | None = None) -> bytes:
    """Upload bytes -> de-identified DICOM bytes (parsing as strictly as ``decode_dicom``)."""
    return to_bytes(deidentify(read_dataset(data), salt=salt))
