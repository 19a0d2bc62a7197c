"""The chest-radiograph gate: accepts radiographs, refuses non-radiographs, flags poor quality."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from inference import gate
from inference.decode import decode_upload
from inference.gate import GateResult, assess_decoded, assess_image, load_layout
from inference.training.gate_eval import (
    blank,
    colour_photo,
    gradient,
    noise,
    non_radiographs,
    text_page,
)


@pytest.fixture(scope="module")
def radiographs(samples_dir) -> dict[str, Image.Image]:
    return {p.stem: Image.open(p).convert("L") for p in sorted(samples_dir.glob("*.jpg"))}


def test_it_accepts_the_sample_radiographs(radiographs):
    for name, img in radiographs.items():
        result = assess_image(img)
        assert isinstance(result, GateResult)
        assert result.accepted, (name, result.code, result.scores)
        assert result.reason is None and result.code is None


def test_it_accepts_the_sample_radiographs_decoded_from_dicom(dicom_dir):
    for name in ("covid_mono2_16bit", "covid_mono1_16bit", "normal_jpeg_baseline"):
        decoded = decode_upload((dicom_dir / f"{name}.dcm").read_bytes())
        assert decoded.image.mode == "L"
        assert assess_decoded(decoded).accepted, name


def test_it_rejects_generated_non_radiographs():
    images = [
        (kind, img) for kind, _, img in non_radiographs(per_kind=3, seed=7)
        if kind != "scikit-image sample"
    ]  # fmt: skip
    rejected = [not assess_image(img).accepted for _, img in images]
    assert np.mean(rejected) >= 0.9
    # Everything but the synthetic grey "photos" (the hard case) is refused outright.
    assert all(r for (kind, _), r in zip(images, rejected, strict=True) if kind != "grey photo")


@pytest.mark.parametrize(
    ("make", "codes"),
    [
        (colour_photo, {"colour"}),
        (text_page, {"document", "texture", "aspect", "layout"}),
        (blank, {"blank"}),
        (noise, {"texture", "blank", "colour", "document", "layout"}),
        (gradient, {"smooth", "colour", "blank", "aspect"}),
    ],
)
def test_each_kind_of_non_radiograph_is_refused_with_a_friendly_reason(make, codes):
    rng = np.random.default_rng(3)
    for _ in range(3):
        result = assess_image(make(rng))
        assert not result.accepted
        assert result.code in codes
        assert result.reason and ("X-ray" in result.reason or "radiograph" in result.reason)


def test_the_saturation_check_uses_the_colour_original(radiographs):
    xray = radiographs["normal"]
    annotated = xray.convert("RGB")
    ImageDraw.Draw(annotated).rectangle([10, 10, 60, 30], fill=(255, 0, 0))  # a PACS marker
    assert assess_image(annotated).accepted
    photo = colour_photo(np.random.default_rng(1))
    grey_of_photo = photo.convert("L")
    assert assess_image(grey_of_photo, original=photo).code == "colour"


def test_a_colour_jpeg_upload_is_gated_on_its_colour(radiographs):
    buf = io.BytesIO()
    colour_photo(np.random.default_rng(2)).save(buf, format="JPEG")
    decoded = decode_upload(buf.getvalue())
    assert decoded.image.mode == "L" and decoded.original is not None
    assert assess_decoded(decoded).code == "colour"


def test_low_quality_radiographs_are_flagged_not_refused(radiographs):
    arr = np.asarray(radiographs["pneumonia"], dtype=np.float64)
    dark = assess_image(Image.fromarray((arr * 0.5).astype(np.uint8)))
    assert dark.accepted and "too dark" in dark.quality_flags
    bright = assess_image(Image.fromarray((255 - 0.5 * (255 - arr)).astype(np.uint8)))
    assert bright.accepted and "too bright" in bright.quality_flags
    small = assess_image(radiographs["normal"].resize((200, 200)))
    assert small.accepted and "low resolution" in small.quality_flags
    img = radiographs["normal"]
    cropped = assess_image(img.crop((0, 0, img.size[0], img.size[1] // 2)))
    assert cropped.accepted and "heavily cropped" in cropped.quality_flags


def test_scores_are_plain_floats_for_storage(radiographs):
    scores = assess_image(radiographs["covid"]).scores
    assert {"colour_fraction", "entropy", "layout_residual", "tail_score"} <= set(scores)
    assert all(isinstance(v, float) for v in scores.values())


def test_the_layout_model_loads_without_pickle():
    model = load_layout()
    assert model.components.shape == (gate.N_COMPONENTS, gate.THUMB * gate.THUMB)
    assert set(model.references) == set(gate.TAIL_SIGNALS)
    assert model.n_images > 1000
    assert np.isfinite([model.residual_threshold, model.tail_threshold]).all()


def test_without_the_layout_file_the_fixed_checks_still_work(monkeypatch, radiographs):
    monkeypatch.setattr(gate, "default_layout", lambda: None)
    assert assess_image(radiographs["normal"]).accepted
    assert assess_image(blank(np.random.default_rng(0))).code == "blank"


def _padded_samples(radiographs):
    """The samples with uneven black borders (trimmed by preprocessing), and as they are."""
    for img in radiographs.values():
        yield np.pad(np.asarray(img), ((7, 30), (12, 0)), constant_values=0)
        yield np.asarray(img)


def test_crop_box_is_exactly_the_region_preprocessing_feeds_the_model(radiographs):
    """Grad-CAM maps heat back through ``crop_box``: it must be the very pixels the model saw."""
    from inference.geometry import crop_box
    from inference.preprocessing import DEFAULT_SIZE, to_model_array

    for arr in _padded_samples(radiographs):
        top, bottom, left, right = crop_box(arr)
        model_input = to_model_array(Image.fromarray(arr), equalize="none")

        def resized(region: np.ndarray) -> np.ndarray:
            img = Image.fromarray(np.ascontiguousarray(region))
            return np.asarray(img.resize((DEFAULT_SIZE, DEFAULT_SIZE), Image.Resampling.BILINEAR))

        assert np.array_equal(model_input, resized(arr[top:bottom, left:right]))
        # One pixel off is visible, so the equality above is a real check.
        assert not np.array_equal(model_input, resized(arr[top + 1 : bottom, left:right]))


def test_the_gate_lays_out_the_same_region_as_preprocessing(radiographs):
    from inference.geometry import crop_box

    for arr in _padded_samples(radiographs):
        top, bottom, left, right = crop_box(arr)
        region = Image.fromarray(np.ascontiguousarray(arr[top:bottom, left:right]))
        small = np.asarray(region.resize((gate.THUMB, gate.THUMB), Image.Resampling.BOX), float)
        expected = ((small - small.mean()) / (small.std() + 1e-6)).ravel()
        assert np.allclose(gate.layout_thumbnail(Image.fromarray(arr)), expected)


def test_the_gate_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys; import inference.gate, inference.decode, inference.dicom; "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0
