"""DICOM uploads: parse safely, turn the pixels into an 8-bit radiograph, and de-identify.

    decode_dicom(data) -> DecodedImage            (what ``decode.decode_upload`` calls for DICOM)
    read_dataset(data) -> pydicom Dataset          (no ``force=True``: a Part 10 file or nothing)
    dicom_to_gray(ds)  -> PIL "L" image
    deidentify(ds)     -> de-identified copy (PS3.15 Annex E basic profile)
    to_bytes(ds)       -> DICOM Part 10 bytes of a dataset (e.g. a de-identified one, for storage)

Pixel pipeline, in this order (PS3.3 C.11): stored values -> modality rescale
(``apply_modality_lut``: slope/intercept or Modality LUT) -> VOI (``apply_voi_lut``: VOI LUT
sequence or window centre/width; without either, the data's own min-max) -> 0..1 -> MONOCHROME1
inversion -> 8-bit "L". Then ``inference.preprocessing`` does what it does for any upload.

Compressed transfer syntaxes are decoded by pydicom's plugins: pylibjpeg (+ pylibjpeg-libjpeg:
JPEG baseline/extended/lossless, JPEG-LS; + pylibjpeg-openjpeg: JPEG 2000, HTJ2K), Pillow, and
pydicom's own RLE decoder. A syntax without an available decoder is refused, never guessed.
"""

from __future__ import annotations

import copy
import io
import secrets
import struct
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from inference.decode import (
    DICOM_MAGIC,
    DICOM_MAGIC_OFFSET,
    MAX_PIXELS,
    DecodedImage,
    ImageDecodeError,
    check_size,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

DAMAGED = "The DICOM file is damaged or incomplete. Export it again from the PACS and re-upload."
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
DEIDENTIFICATION_METHOD = "PS3.15 Annex E Basic Profile (screening portal)"


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


def _text(ds, keyword: str) -> str:
    try:
        value = ds.get(keyword)
    except Exception:  # noqa: BLE001
        return ""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = value[0] if len(value) else ""
    return str(value).strip().upper()


def check_view(ds) -> str | None:
    """Refuse lateral/oblique views and non-radiograph modalities; returns ViewPosition."""
    modality = _text(ds, "Modality")
    if modality in NOT_RADIOGRAPH_MODALITIES:
        raise ImageDecodeError(
            f"This DICOM file is {NOT_RADIOGRAPH_MODALITIES[modality]} (modality {modality}). "
            "The portal screens frontal chest radiographs (CR/DX) only."
        )
    view = _text(ds, "ViewPosition")
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
    return view or None


# --------------------------------------------------------------------------- pixels
def _check_pixel_module(ds, *, max_pixels: int) -> None:
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


def _check_transfer_syntax(ds) -> None:
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
    if _text(ds, "PhotometricInterpretation") == "MONOCHROME1":
        unit = 1.0 - unit  # MONOCHROME1: low values are white
    return unit


def dicom_to_gray(ds) -> tuple[Image.Image, Image.Image | None]:
    """Decoded 8-bit "L" image (and the RGB original for colour secondary captures)."""
    from pydicom.pixels import pixel_array

    photometric = _text(ds, "PhotometricInterpretation")
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
    view = check_view(ds)
    _check_pixel_module(ds, max_pixels=max_pixels)
    _check_transfer_syntax(ds)
    gray, original = dicom_to_gray(ds)
    notes = dicom_warnings(ds)
    clean = deidentify(ds)
    return DecodedImage(
        image=gray,
        kind="dicom",
        dicom_dataset=clean,
        view_position=view,
        warnings=notes,
        original=original,
    )


def dicom_warnings(ds) -> list[str]:
    notes: list[str] = []
    if _text(ds, "BurnedInAnnotation") == "YES":
        notes.append(
            "The DICOM header says the image has burned-in annotations, which may include "
            "patient details visible in the picture."
        )
    body = _text(ds, "BodyPartExamined")
    if body and body not in ("CHEST", "THORAX", "LUNG", "LUNGS", "TORAX", "THORAX_CHEST"):
        notes.append(f"The DICOM header names the body part as {body}, not CHEST.")
    view = _text(ds, "ViewPosition")
    if not view:
        notes.append("The DICOM header does not state the view (PA/AP); check it is frontal.")
    return notes


# --------------------------------------------------------------------------- de-identification
# PS3.15 Annex E, Table E.1-1, Basic Application Level Confidentiality Profile: attributes whose
# action is X (remove). Unknown keywords are ignored (tests check each one resolves).
REMOVE_KEYWORDS: tuple[str, ...] = (
    "AccessionNumber",
    "AcquisitionComments",
    "AcquisitionContextSequence",
    "AcquisitionDeviceProcessingDescription",
    "AcquisitionProtocolDescription",
    "ActualHumanPerformersSequence",
    "AdditionalPatientHistory",
    "AdmissionID",
    "AdmittingDate",
    "AdmittingDiagnosesCodeSequence",
    "AdmittingDiagnosesDescription",
    "AdmittingTime",
    "Allergies",
    "AuthorObserverSequence",
    "BranchOfService",
    "CassetteID",
    "ConfidentialityConstraintOnPatientDataDescription",
    "ContentCreatorIdentificationCodeSequence",
    "ContributionDescription",
    "CountryOfResidence",
    "CurrentPatientLocation",
    "CustodialOrganizationSequence",
    "DataSetTrailingPadding",
    "DerivationDescription",
    "DetectorID",
    "DeviceSerialNumber",
    "DigitalSignaturesSequence",
    "DischargeDiagnosisDescription",
    "DistributionAddress",
    "DistributionName",
    "EthnicGroup",
    "FrameComments",
    "GantryID",
    "GeneratorID",
    "HumanPerformerName",
    "HumanPerformerOrganization",
    "IconImageSequence",
    "IdentifyingComments",
    "ImageComments",
    "ImagePresentationComments",
    "ImagingServiceRequestComments",
    "Impressions",
    "InstitutionAddress",
    "InstitutionCodeSequence",
    "InstitutionName",
    "InstitutionalDepartmentName",
    "InsurancePlanIdentification",
    "IntendedRecipientsOfResultsIdentificationSequence",
    "InterpretationApproverSequence",
    "InterpretationAuthor",
    "InterpretationDiagnosisDescription",
    "InterpretationIDIssuer",
    "InterpretationRecorder",
    "InterpretationText",
    "InterpretationTranscriber",
    "IssuerOfAdmissionID",
    "IssuerOfPatientID",
    "IssuerOfServiceEpisodeID",
    "LastMenstrualDate",
    "MedicalAlerts",
    "MedicalRecordLocator",
    "MilitaryRank",
    "ModifiedAttributesSequence",
    "ModifiedImageDescription",
    "ModifyingDeviceID",
    "NamesOfIntendedRecipientsOfResults",
    "NameOfPhysiciansReadingStudy",
    "Occupation",
    "OperatorIdentificationSequence",
    "OperatorsName",
    "OrderCallbackPhoneNumber",
    "OrderEnteredBy",
    "OrderEntererLocation",
    "OriginalAttributesSequence",
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "ParticipantSequence",
    "PatientAddress",
    "PatientAge",
    "PatientBirthName",
    "PatientBirthTime",
    "PatientComments",
    "PatientInsurancePlanCodeSequence",
    "PatientMotherBirthName",
    "PatientPrimaryLanguageCodeSequence",
    "PatientPrimaryLanguageModifierCodeSequence",
    "PatientReligiousPreference",
    "PatientSexNeutered",
    "PatientSize",
    "PatientState",
    "PatientTelephoneNumbers",
    "PatientTransportArrangements",
    "PatientWeight",
    "PerformedLocation",
    "PerformedProcedureStepDescription",
    "PerformedProcedureStepID",
    "PerformedStationAETitle",
    "PerformedStationGeographicLocationCodeSequence",
    "PerformedStationName",
    "PerformedStationNameCodeSequence",
    "PerformingPhysicianIdentificationSequence",
    "PerformingPhysicianName",
    "PersonAddress",
    "PersonIdentificationCodeSequence",
    "PersonTelephoneNumbers",
    "PhysicianApprovingInterpretation",
    "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence",
    "PhysiciansReadingStudyIdentificationSequence",
    "PlateID",
    "PreMedication",
    "PregnancyStatus",
    "ReasonForTheImagingServiceRequest",
    "ReasonForTheRequestedProcedure",
    "ReasonForVisit",
    "ReasonForStudy",
    "ReferencedDigitalSignatureSequence",
    "ReferencedPatientAliasSequence",
    "ReferencedPatientSequence",
    "ReferencedPerformedProcedureStepSequence",
    "ReferencedSOPInstanceMACSequence",
    "ReferencedStudySequence",
    "ReferringPhysicianAddress",
    "ReferringPhysicianIdentificationSequence",
    "ReferringPhysicianTelephoneNumbers",
    "RegionOfResidence",
    "RequestAttributesSequence",
    "RequestedContrastAgent",
    "RequestedProcedureComments",
    "RequestedProcedureDescription",
    "RequestedProcedureID",
    "RequestedProcedureLocation",
    "RequestingPhysician",
    "RequestingService",
    "ResponsibleOrganization",
    "ResponsiblePerson",
    "ResultsComments",
    "ResultsDistributionListSequence",
    "ResultsIDIssuer",
    "ScheduledHumanPerformersSequence",
    "ScheduledPatientInstitutionResidence",
    "ScheduledPerformingPhysicianIdentificationSequence",
    "ScheduledPerformingPhysicianName",
    "ScheduledProcedureStepDescription",
    "ScheduledProcedureStepLocation",
    "ScheduledStationAETitle",
    "ScheduledStationGeographicLocationCodeSequence",
    "ScheduledStationName",
    "ScheduledStationNameCodeSequence",
    "ScheduledStudyLocation",
    "ScheduledStudyLocationAETitle",
    "SeriesDescription",
    "ServiceEpisodeDescription",
    "ServiceEpisodeID",
    "SmokingStatus",
    "SpecialNeeds",
    "StationName",
    "StudyComments",
    "StudyDescription",
    "StudyIDIssuer",
    "TextComments",
    "TextString",
    "TopicAuthor",
    "TopicKeywords",
    "TopicSubject",
    "TopicTitle",
    "VerifyingObserverIdentificationCodeSequence",
    "VerifyingObserverName",
    "VerifyingObserverSequence",
    "VerifyingOrganization",
    "VisitComments",
)
# Type 2 attributes the IODs require to be present: emptied (action Z) rather than removed.
EMPTY_KEYWORDS: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "ReferringPhysicianName",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ContentCreatorName",
)
# UIDs that identify a DICOM *class* (not an instance): never replaced.
_KEEP_UID_KEYWORDS = frozenset(
    {
        "SOPClassUID",
        "MediaStorageSOPClassUID",
        "ReferencedSOPClassUID",
        "TransferSyntaxUID",
        "ImplementationClassUID",
        "CodingSchemeUID",
        "ContextGroupExtensionCreatorUID",
        "MappingResourceUID",
        "PrivateInformationCreatorUID",
        "RelatedGeneralSOPClassUID",
        "OriginalSpecializedSOPClassUID",
        "ReferencedTransferSyntaxUIDInFile",
    }
)
# Text and date/time VRs: any remaining element of these VRs outside this allow-list is emptied
# (PN) or removed (dates/times; free text), which covers attributes the tables above miss.
_KEEP_TEXT_KEYWORDS = frozenset(
    {
        "Modality",
        "ViewPosition",
        "BodyPartExamined",
        "PatientOrientation",
        "PhotometricInterpretation",
        "ImageType",
        "ConversionType",
        "PresentationIntentType",
        "RescaleType",
        "WindowCenterWidthExplanation",
        "VOILUTFunction",
        "LossyImageCompression",
        "LossyImageCompressionMethod",
        "BurnedInAnnotation",
        "PixelIntensityRelationship",
        "PositionerType",
        "ImageLaterality",
        "Laterality",
        "SpecificCharacterSet",
        "PatientIdentityRemoved",
        "DeidentificationMethod",
        "CodeValue",
        "CodingSchemeDesignator",
        "CodingSchemeVersion",
        "CodeMeaning",
        "Manufacturer",
        "ManufacturerModelName",
        "LUTExplanation",
        "ModalityLUTType",
        "ImplementationVersionName",
        "SourceApplicationEntityTitle",
        "DetectorType",
        "Grid",
        "FilterType",
        "CollimatorShape",
        "ExposureControlMode",
        "PixelSpacingCalibrationType",
        "ImagerPixelSpacing",
        "PatientPosition",
        "SeriesNumber",
        "InstanceNumber",
        "AcquisitionNumber",
    }
)
_FREE_TEXT_VRS = frozenset({"LT", "ST", "UT", "LO", "SH", "UC"})
_DATE_VRS = frozenset({"DA", "DT", "TM"})


def _uid_mapper(salt: str) -> Callable[[str], str]:
    from pydicom.uid import generate_uid

    cache: dict[str, str] = {}

    def replace(uid: str) -> str:
        uid = str(uid).strip()
        if not uid:
            return uid
        if uid not in cache:
            cache[uid] = str(generate_uid(entropy_srcs=[salt, uid]))
        return cache[uid]

    return replace


def _is_registered_uid(value: str) -> bool:
    from pydicom._uid_dict import UID_dictionary

    return str(value).strip() in UID_dictionary


def deidentify(ds: Dataset, *, salt: str | None = None) -> Dataset:
    """A de-identified deep copy of ``ds`` (PS3.15 Annex E basic profile; see module doc).

    Within one call every UID maps to the same replacement wherever it appears (file meta,
    sequences, references); ``salt`` fixes the mapping across calls (default: random per call).
    """
    from pydicom.datadict import keyword_for_tag, tag_for_keyword
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    out = copy.deepcopy(ds)
    replace_uid = _uid_mapper(salt if salt is not None else secrets.token_hex(16))
    remove_tags = {t for t in (tag_for_keyword(k) for k in REMOVE_KEYWORDS) if t is not None}
    empty_tags = {t for t in (tag_for_keyword(k) for k in EMPTY_KEYWORDS) if t is not None}

    def clean(dataset: Dataset, top: bool) -> None:
        dataset.remove_private_tags()
        for elem in list(dataset):
            tag = elem.tag
            group = tag.group
            keyword = keyword_for_tag(tag) or ""
            if 0x5000 <= group <= 0x50FF or (0x6000 <= group <= 0x60FF):
                del dataset[tag]  # curves and overlays (may carry burned text / comments)
                continue
            if tag in remove_tags:
                del dataset[tag]
                continue
            if tag in empty_tags and top:
                elem.value = ""
                continue
            if elem.VR == "SQ":
                seq = elem.value if isinstance(elem.value, Sequence) else []
                for item in seq:
                    clean(item, top=False)
                continue
            if elem.VR == "UI":
                if keyword in _KEEP_UID_KEYWORDS:
                    continue
                values = elem.value if elem.VM > 1 else [elem.value]
                new = [v if _is_registered_uid(v) else replace_uid(v) for v in values if v]
                elem.value = new if elem.VM > 1 else (new[0] if new else "")
                continue
            if elem.VR == "PN":
                elem.value = ""
                continue
            if keyword in _KEEP_TEXT_KEYWORDS:
                continue
            if elem.VR in _DATE_VRS:
                if tag in empty_tags:
                    elem.value = ""
                else:
                    del dataset[tag]
                continue
            if elem.VR in _FREE_TEXT_VRS or elem.VR == "AS":
                if tag in empty_tags:
                    elem.value = ""
                else:
                    del dataset[tag]

    clean(out, top=True)
    for keyword in EMPTY_KEYWORDS[:8]:  # required type 2 attributes of the patient/study modules
        setattr(out, keyword, "")
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = DEIDENTIFICATION_METHOD
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    out.DeidentificationMethodCodeSequence = [code]
    meta = getattr(out, "file_meta", None)
    if meta is not None:
        if "MediaStorageSOPInstanceUID" in meta:
            meta.MediaStorageSOPInstanceUID = replace_uid(meta.MediaStorageSOPInstanceUID)
        if "SourceApplicationEntityTitle" in meta:
            del meta.SourceApplicationEntityTitle
    return out


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
