"""Build sample DICOM files from the sample radiographs in tests/samples/ (never real patient files).

    python scripts/make_sample_dicoms.py [--samples tests/samples] [--out tests/samples/dicom]

Every file carries a *fake* identity (name, IDs, dates, institution, physicians, comments, a
private tag) so that de-identification can be tested. Written:

* ``covid_mono2_16bit.dcm``   MONOCHROME2, 16 bits, rescale slope/intercept and a VOI window
* ``covid_mono1_16bit.dcm``   its MONOCHROME1 twin (stored values and window mirrored)
* ``normal_jpeg_baseline.dcm`` 8-bit JPEG baseline (encoded by Pillow, encapsulated)
* ``pneumonia_j2k_lossless.dcm`` 16-bit (12 stored) JPEG 2000 lossless (pylibjpeg-openjpeg)
* ``normal_lateral.dcm``       ViewPosition LL (must be refused as a lateral view)

``build_dataset`` / ``mono1_twin`` / ``jpeg_baseline_dataset`` are reused by the tests and the
hostile corpus generator.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FAKE_IDENTITY: dict[str, str] = {
    "PatientName": "Testperson^Erika^Maria",
    "PatientID": "FAKE-1234567",
    "PatientBirthDate": "19610412",
    "PatientSex": "F",
    "PatientAge": "063Y",
    "PatientAddress": "1 Example Street, Sampletown",
    "OtherPatientIDs": "FAKE-OTHER-99",
    "AccessionNumber": "ACC-FAKE-42",
    "StudyID": "STUDY-7",
    "StudyDate": "20240131",
    "StudyTime": "101500",
    "SeriesDate": "20240131",
    "AcquisitionDate": "20240131",
    "ContentDate": "20240131",
    "InstitutionName": "Fictional General Hospital",
    "InstitutionAddress": "99 Nowhere Road",
    "ReferringPhysicianName": "Doctor^Fake",
    "PerformingPhysicianName": "Radiographer^Fake",
    "OperatorsName": "Operator^Fake",
    "StationName": "FAKE-DR-ROOM-3",
    "StudyDescription": "CHEST PA for Testperson",
    "SeriesDescription": "PA ERECT",
    "ImageComments": "patient Erika Testperson, bed 12",
    "DeviceSerialNumber": "SN-FAKE-0001",
}
FAKE_STUDY_UID = "1.2.826.0.1.3680043.8.498.11111111111111111111"
FAKE_SERIES_UID = "1.2.826.0.1.3680043.8.498.22222222222222222222"


def _load_gray(path: Path, max_side: int) -> np.ndarray:
    img = Image.open(path)
    img.load()
    img = img.convert("L")
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.uint8)


def base_dataset(
    *,
    rows: int,
    cols: int,
    sop_uid: str,
    view: str | None = "PA",
    modality: str = "DX",
    identity: bool = True,
):
    """A DX image dataset with file meta (Explicit VR Little Endian) and no pixel module yet."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

    sop_class = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = FAKE_STUDY_UID
    ds.SeriesInstanceUID = FAKE_SERIES_UID
    ds.FrameOfReferenceUID = FAKE_SERIES_UID + ".1"
    ds.Modality = modality
    ds.BodyPartExamined = "CHEST"
    if view is not None:
        ds.ViewPosition = view
    ds.PatientOrientation = ["L", "F"]
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.Manufacturer = "Synthetic"
    if identity:
        for keyword, value in FAKE_IDENTITY.items():
            setattr(ds, keyword, value)
        ref = Dataset()
        ref.ReferencedSOPClassUID = sop_class
        ref.ReferencedSOPInstanceUID = sop_uid  # refers to itself: must map consistently
        ds.SourceImageSequence = [ref]
        ds.add_new(0x00091010, "LO", "FAKE-PRIVATE-CREATOR")
        ds.add_new(0x00091011, "LO", "private note: Erika Testperson")
        ds.ContentTime = _dt.time(10, 15).strftime("%H%M%S")
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PixelRepresentation = 0
    return ds


def build_dataset(
    gray: np.ndarray,
    *,
    sop_uid: str,
    photometric: str = "MONOCHROME2",
    bits_stored: int = 16,
    slope: float = 0.5,
    intercept: float = -500.0,
    window: bool = True,
    view: str | None = "PA",
    modality: str = "DX",
    identity: bool = True,
):
    """An uncompressed DICOM of an 8-bit picture, stored as ``bits_stored``-bit values.

    Stored value v = 64 + gray * (2**bits_stored - 129) / 255 (MONOCHROME2), so the picture uses
    almost the whole stored range; the window (if any) covers the modality values of grey 10..245.
    MONOCHROME1 stores the mirrored value (max - v) and mirrors the window centre.
    """
    top = 2**bits_stored - 1
    stored = np.round(64 + gray.astype(np.float64) * (top - 128) / 255.0)
    if photometric == "MONOCHROME1":
        stored = top - stored
    ds = base_dataset(
        rows=gray.shape[0],
        cols=gray.shape[1],
        sop_uid=sop_uid,
        view=view,
        modality=modality,
        identity=identity,
    )
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16 if bits_stored > 8 else 8
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.RescaleSlope = f"{slope:g}"
    ds.RescaleIntercept = f"{intercept:g}"
    ds.RescaleType = "US"
    if window:
        lo = (64 + 10 * (top - 128) / 255.0) * slope + intercept
        hi = (64 + 245 * (top - 128) / 255.0) * slope + intercept
        center, width = (lo + hi) / 2, hi - lo
        if photometric == "MONOCHROME1":
            center = slope * top + 2 * intercept - center
        ds.WindowCenter = f"{center:.4f}"
        ds.WindowWidth = f"{width:.4f}"
        ds.VOILUTFunction = "LINEAR_EXACT"
    dtype = np.uint16 if ds.BitsAllocated == 16 else np.uint8
    ds.PixelData = stored.astype(dtype).tobytes()
    return ds


def mono1_twin(ds_mono2, *, sop_uid: str):
    """The MONOCHROME1 twin of a MONOCHROME2 dataset: mirrored stored values and window."""
    import copy

    twin = copy.deepcopy(ds_mono2)
    top = 2 ** int(twin.BitsStored) - 1
    dtype = np.uint16 if int(twin.BitsAllocated) == 16 else np.uint8
    values = np.frombuffer(ds_mono2.PixelData, dtype=dtype)
    twin.PixelData = (top - values.astype(np.int64)).astype(dtype).tobytes()
    twin.PhotometricInterpretation = "MONOCHROME1"
    if "WindowCenter" in twin:
        slope = float(twin.get("RescaleSlope", 1))
        intercept = float(twin.get("RescaleIntercept", 0))
        twin.WindowCenter = f"{slope * top + 2 * intercept - float(twin.WindowCenter):.4f}"
    twin.SOPInstanceUID = sop_uid
    twin.file_meta.MediaStorageSOPInstanceUID = sop_uid
    return twin


def jpeg_baseline_dataset(
    gray: np.ndarray, *, sop_uid: str, view: str | None = "PA", quality: int = 90
):
    """8-bit MONOCHROME2 with the pixels as one encapsulated JPEG baseline frame (Pillow)."""
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    buf = io.BytesIO()
    Image.fromarray(gray, mode="L").save(buf, format="JPEG", quality=quality)
    ds = base_dataset(rows=gray.shape[0], cols=gray.shape[1], sop_uid=sop_uid, view=view)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.LossyImageCompression = "01"
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return ds


def j2k_lossless_dataset(gray: np.ndarray, *, sop_uid: str):
    """12-bit-stored MONOCHROME2 compressed as JPEG 2000 lossless by pylibjpeg-openjpeg."""
    from pydicom.uid import JPEG2000Lossless

    ds = build_dataset(gray, sop_uid=sop_uid, bits_stored=12, slope=1.0, intercept=-1024.0)
    ds.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg")
    return ds


def write(ds, path: Path) -> int:
    from inference.dicom import to_bytes

    data = to_bytes(ds)
    path.write_bytes(data)
    return len(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=ROOT / "tests" / "samples")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "samples" / "dicom")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    root = "1.2.826.0.1.3680043.8.498.9"
    covid = _load_gray(args.samples / "covid.jpg", 256)
    normal = _load_gray(args.samples / "normal.jpg", 512)
    pneumonia = _load_gray(args.samples / "pneumonia.jpg", 256)
    mono2 = build_dataset(covid, sop_uid=f"{root}.1")
    files = {
        "covid_mono2_16bit.dcm": mono2,
        "covid_mono1_16bit.dcm": mono1_twin(mono2, sop_uid=f"{root}.2"),
        "normal_jpeg_baseline.dcm": jpeg_baseline_dataset(normal, sop_uid=f"{root}.3"),
        "pneumonia_j2k_lossless.dcm": j2k_lossless_dataset(pneumonia, sop_uid=f"{root}.4"),
        "normal_lateral.dcm": jpeg_baseline_dataset(
            _load_gray(args.samples / "normal.jpg", 256), sop_uid=f"{root}.5", view="LL"
        ),
    }
    total = 0
    for name, ds in files.items():
        size = write(ds, args.out / name)
        total += size
        print(f"{name:28s} {size / 1024:7.1f} KB")
    print(f"{'total':28s} {total / 1024:7.1f} KB -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
