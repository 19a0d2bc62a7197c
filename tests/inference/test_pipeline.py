"""``inference.pipeline``: the one entry point the portal uses (intake in the web request)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from inference.pipeline import (
    GATE_NOT_CHECKED,
    ImageDecodeError,
    NotAChestXray,
    decode_stored,
    intake,
    render_heatmap,
)

MB = 1024 * 1024


def test_intake_reencodes_a_radiograph_losslessly_as_grey_png(sample_bytes):
    upload = intake(sample_bytes["normal"], max_bytes=20 * MB)
    assert upload.kind == "jpeg" and upload.dicom_bytes is None
    with Image.open(io.BytesIO(upload.png_bytes)) as png:
        assert (png.format, png.mode, png.size) == ("PNG", "L", upload.image.size)
        assert np.array_equal(np.asarray(png), np.asarray(upload.image))
    assert np.array_equal(np.asarray(decode_stored(upload.png_bytes)), np.asarray(upload.image))


def test_intake_of_a_dicom_keeps_only_the_deidentified_copy(dicom_samples):
    raw = dicom_samples["covid_mono2_16bit"]
    upload = intake(raw, max_bytes=20 * MB)
    assert upload.kind == "dicom" and upload.dicom_bytes and upload.dicom_bytes != raw
    assert b"Testperson" in raw and b"Testperson" not in upload.dicom_bytes
    import pydicom

    assert pydicom.dcmread(io.BytesIO(upload.dicom_bytes)).PatientIdentityRemoved == "YES"


def test_the_byte_limit_is_the_callers_and_only_the_callers(sample_bytes):
    data = sample_bytes["normal"]
    with pytest.raises(ImageDecodeError, match="too large"):
        intake(data, max_bytes=len(data) - 1)
    assert intake(data, max_bytes=len(data)).width > 0


def test_what_is_not_a_chest_xray_is_refused_with_the_gates_reason_and_code():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    photo[..., 0] = 250  # strongly coloured
    buffer = io.BytesIO()
    Image.fromarray(photo, "RGB").save(buffer, "PNG")
    with pytest.raises(NotAChestXray) as refused:
        intake(buffer.getvalue(), max_bytes=20 * MB)
    assert refused.value.code == "colour" and "chest X-ray" in str(refused.value)


def test_if_the_gate_itself_fails_the_image_is_accepted_and_flagged(sample_bytes, monkeypatch):
    def broken(decoded):
        raise FloatingPointError("simulated gate bug")

    monkeypatch.setattr("inference.gate.assess_decoded", broken)
    assert intake(sample_bytes["normal"], max_bytes=20 * MB).quality_flags == (GATE_NOT_CHECKED,)


def test_a_heatmap_is_rendered_at_most_max_side_keeping_the_shape():
    heat = np.zeros((312, 380), np.float32)
    heat[100:200, 100:200] = 1
    rendered = render_heatmap(heat, max_side=200)
    assert (rendered.width, rendered.height) == (200, 164)
    with Image.open(io.BytesIO(rendered.png_bytes)) as png:
        assert png.size == (200, 164)
    small = render_heatmap(heat, max_side=1024)
    assert (small.width, small.height) == (380, 312)
