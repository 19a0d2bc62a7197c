"""DICOM: pixel pipeline, compressed syntaxes, lateral views, broken files, de-identification."""

from __future__ import annotations

import copy
import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import (
    JPEG2000,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from inference.decode import ImageDecodeError, decode_upload
from inference.deidentify import EMPTY_KEYWORDS, REMOVE_KEYWORDS, deidentify
from inference.dicom import deidentified_bytes, read_dataset, to_bytes
from inference.preprocessing import preprocess
from scripts.make_sample_dicoms import (
    FAKE_IDENTITY,
    FAKE_STUDY_UID,
    build_dataset,
    jpeg_baseline_dataset,
    mono1_twin,
)

ROOT_UID = "1.2.826.0.1.3680043.8.498.55"
PHI_STRINGS = ("Testperson", "Erika", "FAKE-1234567", "19610412", "Fictional", "Doctor^Fake",
               "ACC-FAKE-42", "FAKE-DR-ROOM", "SN-FAKE", "Nowhere", "private note")  # fmt: skip


def ramp(rows: int = 96, cols: int = 256) -> np.ndarray:
    return np.tile(np.arange(cols, dtype=np.float64) * 255 / (cols - 1), (rows, 1)).round()


def decode(ds: Dataset):
    return decode_upload(to_bytes(ds))


# --------------------------------------------------------------------------- pixel pipeline
def test_the_monochrome1_and_monochrome2_sample_twins_give_the_same_model_input(dicom_dir):
    mono2 = decode_upload((dicom_dir / "covid_mono2_16bit.dcm").read_bytes())
    mono1 = decode_upload((dicom_dir / "covid_mono1_16bit.dcm").read_bytes())
    diff = (preprocess(mono1.image) - preprocess(mono2.image)).abs().max().item()
    assert diff < 1e-3


@pytest.mark.parametrize("window", [True, False])
@pytest.mark.parametrize("bits", [12, 16])
def test_monochrome1_twins_match_with_and_without_a_window(sample_gray, window, bits):
    ds2 = build_dataset(sample_gray["pneumonia"], sop_uid=f"{ROOT_UID}.1", bits_stored=bits,
                        window=window)  # fmt: skip
    ds1 = mono1_twin(ds2, sop_uid=f"{ROOT_UID}.2")
    a, b = np.asarray(decode(ds2).image, int), np.asarray(decode(ds1).image, int)
    assert np.abs(a - b).max() <= 1
    diff = (preprocess(decode(ds1).image) - preprocess(decode(ds2).image)).abs().max().item()
    assert diff < 0.05


def test_16_bit_data_with_rescale_and_window_map_to_the_expected_grey_levels():
    # Stored values span the 16-bit range; the window covers the values of grey 10..245.
    ds = build_dataset(ramp().astype(np.uint8), sop_uid=f"{ROOT_UID}.3", bits_stored=16,
                       slope=0.5, intercept=-500)  # fmt: skip
    out = np.asarray(decode(ds).image, dtype=np.float64)[0]
    expected = np.clip((ramp()[0] - 10) / 235, 0, 1) * 255
    assert np.abs(out - expected).max() <= 1.5


def test_12_bit_data_without_a_window_fill_the_8_bit_range():
    ds = build_dataset(ramp().astype(np.uint8), sop_uid=f"{ROOT_UID}.4", bits_stored=12,
                       slope=1, intercept=-1024, window=False)  # fmt: skip
    assert int(ds.BitsStored) == 12
    values = np.frombuffer(ds.PixelData, dtype=np.uint16)
    assert values.max() <= 4095
    out = np.asarray(decode(ds).image, dtype=np.float64)[0]
    assert out.min() == 0 and out.max() == 255
    assert np.abs(out - ramp()[0]).max() <= 1.5


def test_12_bit_data_ignore_garbage_in_the_unused_high_bits():
    ds = build_dataset(ramp().astype(np.uint8), sop_uid=f"{ROOT_UID}.5", bits_stored=12,
                       window=False)  # fmt: skip
    clean = np.asarray(decode(ds).image)
    values = np.frombuffer(ds.PixelData, dtype=np.uint16) | 0xF000  # overlay bits set
    ds.PixelData = values.tobytes()
    assert np.array_equal(np.asarray(decode(ds).image), clean)


def test_a_voi_lut_sequence_is_applied():
    ds = build_dataset(ramp().astype(np.uint8), sop_uid=f"{ROOT_UID}.6", bits_stored=12,
                       slope=1, intercept=0, window=False)  # fmt: skip
    lut = Dataset()
    lut.LUTDescriptor = [4096, 0, 16]
    lut.LUTData = (4095 - np.arange(4096, dtype=np.uint16)).tobytes()  # an inverting LUT
    lut["LUTData"].VR = "OW"
    ds.VOILUTSequence = [lut]
    out = np.asarray(decode(ds).image, dtype=np.float64)[0]
    assert out[0] > 240 and out[-1] < 15


@pytest.mark.parametrize("syntax", [JPEGBaseline8Bit, JPEGLosslessSV1, JPEGLSLossless,
                                    JPEGLSNearLossless, JPEG2000Lossless, JPEG2000, RLELossless])  # fmt: skip
def test_the_compressed_syntaxes_hospitals_use_have_a_decoder(syntax):
    from pydicom.pixels import get_decoder

    assert get_decoder(syntax).is_available


def test_it_decodes_jpeg_baseline_and_jpeg_2000_sample_files(dicom_dir, samples_dir):
    jpeg = decode_upload((dicom_dir / "normal_jpeg_baseline.dcm").read_bytes())
    j2k = decode_upload((dicom_dir / "pneumonia_j2k_lossless.dcm").read_bytes())
    for result in (jpeg, j2k):
        assert result.kind == "dicom" and result.image.mode == "L"
        assert np.asarray(result.image).std() > 20


def test_it_decodes_rle_and_in_memory_jpeg_datasets(sample_gray):
    ds = build_dataset(sample_gray["covid"], sop_uid=f"{ROOT_UID}.7", window=False)
    plain = np.asarray(decode(ds).image)
    rle = copy.deepcopy(ds)
    rle.compress(RLELossless)
    assert np.array_equal(np.asarray(decode(rle).image), plain)
    jpeg = jpeg_baseline_dataset(sample_gray["covid"], sop_uid=f"{ROOT_UID}.8", quality=95)
    source = sample_gray["covid"].astype(np.float64)  # no window: the data's own range is used
    stretched = (source - source.min()) / np.ptp(source) * 255
    assert np.abs(np.asarray(decode(jpeg).image, np.float64) - stretched).mean() < 3


def test_an_unsupported_compression_is_refused_with_a_clear_message(sample_gray):
    from pydicom.encaps import encapsulate
    from pydicom.uid import UID

    ds = build_dataset(sample_gray["covid"], sop_uid=f"{ROOT_UID}.9")
    ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.100")  # MPEG2
    ds.PixelData = encapsulate([b"\x00" * 64])
    ds["PixelData"].VR = "OB"
    with pytest.raises(ImageDecodeError, match=r"unsupported compression \(MPEG2"):
        decode(ds)


# --------------------------------------------------------------------------- refusals
def test_the_lateral_sample_is_refused_asking_for_a_frontal_image(dicom_dir):
    with pytest.raises(ImageDecodeError, match="frontal image \\(PA or AP\\)"):
        decode_upload((dicom_dir / "normal_lateral.dcm").read_bytes())


@pytest.mark.parametrize("view", ["LL", "RL", "LATERAL"])
def test_lateral_view_positions_are_refused(sample_gray, view):
    ds = build_dataset(sample_gray["normal"], sop_uid=f"{ROOT_UID}.10", view=view)
    with pytest.raises(ImageDecodeError, match="lateral"):
        decode(ds)


def test_a_lateral_view_code_is_refused(sample_gray):
    ds = build_dataset(sample_gray["normal"], sop_uid=f"{ROOT_UID}.11", view=None)
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = "R-10236", "SRT"
    code.CodeMeaning = "left lateral"
    ds.ViewCodeSequence = [code]
    with pytest.raises(ImageDecodeError, match="lateral"):
        decode(ds)


def test_pa_and_ap_views_are_accepted_and_a_missing_view_is_noted(sample_gray):
    for view in ("PA", "AP"):
        ds = build_dataset(sample_gray["normal"], sop_uid=f"{ROOT_UID}.12", view=view)
        assert not any("view" in w for w in decode(ds).warnings)
    missing = decode(build_dataset(sample_gray["normal"], sop_uid=f"{ROOT_UID}.13", view=None))
    assert any("view" in w for w in missing.warnings)


def test_a_ct_image_is_refused(sample_gray):
    ds = build_dataset(sample_gray["normal"], sop_uid=f"{ROOT_UID}.14", modality="CT")
    with pytest.raises(ImageDecodeError, match="CT"):
        decode(ds)


def test_a_dicom_without_pixel_data_is_refused(sample_gray):
    ds = build_dataset(sample_gray["normal"], sop_uid=f"{ROOT_UID}.15")
    del ds.PixelData
    with pytest.raises(ImageDecodeError, match="no pixel data"):
        decode(ds)


def test_pixel_data_shorter_than_rows_times_columns_is_refused(sample_gray):
    ds = build_dataset(sample_gray["normal"], sop_uid=f"{ROOT_UID}.16")
    ds.Rows = int(ds.Rows) * 2
    with pytest.raises(ImageDecodeError, match="damaged"):
        decode(ds)


def test_an_absurd_declared_length_is_refused(sample_gray):
    data = to_bytes(build_dataset(sample_gray["normal"], sop_uid=f"{ROOT_UID}.17"))
    pos = data.find(b"\xe0\x7f\x10\x00OW")
    bad = data[: pos + 8] + (0xFFFFFFF0).to_bytes(4, "little") + data[pos + 12 :]
    with pytest.raises(ImageDecodeError, match="declares more data"):
        decode_upload(bad)


def test_it_reads_without_force_so_a_bare_dataset_is_refused(sample_gray):
    data = to_bytes(build_dataset(sample_gray["normal"], sop_uid=f"{ROOT_UID}.18"))
    with pytest.raises(ImageDecodeError, match="not a PNG, JPEG or DICOM"):
        decode_upload(data[132:])
    with pytest.raises(ImageDecodeError):
        decode_upload(data[:128] + b"DICM" + b"\xff" * 64)


# --------------------------------------------------------------------------- de-identification
def test_every_annex_e_keyword_is_known_to_pydicom():
    from pydicom.datadict import tag_for_keyword

    unknown = [k for k in (*REMOVE_KEYWORDS, *EMPTY_KEYWORDS) if tag_for_keyword(k) is None]
    assert unknown == []


@pytest.fixture(scope="module")
def stored(dicom_dir) -> tuple[Dataset, Dataset, bytes]:
    """(original, de-identified read back from its bytes, those bytes), as the portal stores it."""
    raw = (dicom_dir / "covid_mono2_16bit.dcm").read_bytes()
    original = pydicom.dcmread(io.BytesIO(raw))
    data = to_bytes(decode_upload(raw).dicom_dataset)
    return original, pydicom.dcmread(io.BytesIO(data)), data


def test_the_stored_file_read_back_has_no_phi_tags(stored):
    original, clean, data = stored
    assert original.PatientName == FAKE_IDENTITY["PatientName"]  # the sample does carry PHI
    for text in PHI_STRINGS:
        assert text.encode() not in data, text
    assert clean.PatientIdentityRemoved == "YES"
    assert "Annex E" in clean.DeidentificationMethod
    assert clean.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "StudyDate",
                    "ReferringPhysicianName", "StudyID"):  # fmt: skip
        assert keyword in clean and str(clean.get(keyword)) == "", keyword
    for keyword in ("InstitutionName", "InstitutionAddress", "PerformingPhysicianName",
                    "OperatorsName", "ImageComments", "StudyDescription", "PatientAddress",
                    "OtherPatientIDs", "AccessionNumber", "PatientAge", "DeviceSerialNumber",
                    "SeriesDate", "ContentDate", "ContentTime", "StationName"):  # fmt: skip
        assert keyword not in clean, keyword
    assert not any(elem.tag.is_private for elem in clean.iterall())
    for elem in clean.iterall():
        if elem.VR in ("PN", "DA", "DT", "TM"):
            assert not elem.value, elem


def test_uids_are_replaced_consistently(stored):
    original, clean, _ = stored
    assert clean.SOPInstanceUID != original.SOPInstanceUID
    assert clean.StudyInstanceUID != FAKE_STUDY_UID
    assert clean.SeriesInstanceUID != original.SeriesInstanceUID
    assert clean.file_meta.MediaStorageSOPInstanceUID == clean.SOPInstanceUID
    # The source-image reference pointed at the instance itself: it still does.
    assert clean.SourceImageSequence[0].ReferencedSOPInstanceUID == clean.SOPInstanceUID
    assert clean.SOPClassUID == original.SOPClassUID  # class UIDs are not identifying
    assert clean.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    for elem in clean.iterall():
        if elem.VR == "UI" and elem.value:
            assert elem.value.is_valid, elem


def test_the_uid_mapping_is_deterministic_for_a_salt_and_differs_between_salts(dicom_dir):
    ds = read_dataset((dicom_dir / "covid_mono1_16bit.dcm").read_bytes())
    a, b = deidentify(ds, salt="s1"), deidentify(ds, salt="s1")
    c = deidentify(ds, salt="s2")
    assert a.SOPInstanceUID == b.SOPInstanceUID != c.SOPInstanceUID
    assert a.StudyInstanceUID == b.StudyInstanceUID != c.StudyInstanceUID
    assert ds.PatientName == FAKE_IDENTITY["PatientName"]  # the input is not modified


def test_the_pixels_survive_deidentification(dicom_dir):
    raw = (dicom_dir / "pneumonia_j2k_lossless.dcm").read_bytes()
    before = decode_upload(raw).image
    after = decode_upload(deidentified_bytes(raw)).image
    assert np.array_equal(np.asarray(before), np.asarray(after))


def test_phi_inside_nested_sequences_is_removed(sample_gray):
    ds = build_dataset(sample_gray["normal"], sop_uid=f"{ROOT_UID}.19")
    item = Dataset()
    item.PatientName = "Nested^Person"
    item.StudyDate = "20200101"
    item.ReferencedSOPInstanceUID = f"{ROOT_UID}.19"
    ds.ReferencedImageSequence = [item]
    clean = decode(ds).dicom_dataset
    nested = clean.ReferencedImageSequence[0]
    assert not nested.get("PatientName") and not nested.get("StudyDate")
    assert nested.ReferencedSOPInstanceUID == clean.SOPInstanceUID
    assert b"Nested" not in to_bytes(clean)


def test_a_compressed_frame_declaring_a_huge_size_is_refused_before_decoding(dicom_dir):
    raw = (dicom_dir / "pneumonia_j2k_lossless.dcm").read_bytes()
    siz = raw.find(b"\xff\x4f\xff\x51")
    assert siz > 0
    bomb = raw[: siz + 8] + (60000).to_bytes(4, "big") * 2 + raw[siz + 16 :]
    with pytest.raises(ImageDecodeError, match="does not match the size"):
        decode_upload(bomb)


def test_the_codestream_size_is_read_from_jpeg_and_jpeg_2000_frames(dicom_dir):
    from pydicom.encaps import get_frame

    from inference.dicom_pixels import codestream_size

    for name in ("normal_jpeg_baseline", "pneumonia_j2k_lossless"):
        ds = read_dataset((dicom_dir / f"{name}.dcm").read_bytes())
        frame = get_frame(ds.PixelData, 0, number_of_frames=1)
        assert codestream_size(frame) == (int(ds.Columns), int(ds.Rows))
