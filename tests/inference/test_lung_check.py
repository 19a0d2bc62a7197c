"""The worker's lung check: lungs found on the sample films, a gate-accepted film without
plausible lung fields flagged, flat images flagged, and the batch equal to one at a time."""

import io

import numpy as np
import pytest
from PIL import Image

from inference.lungs import CHECK_MIN_AREA, LungFinder, lung_check, lung_checks, mask_check
from inference.pipeline import NO_LUNG_FIELDS, intake, lung_quality_flags
from inference.preprocessing import load_grayscale

MB = 1024 * 1024


@pytest.fixture(scope="module")
def finder():
    return LungFinder.load()


def _png(gray: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(gray)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["covid", "normal", "pneumonia"])
def test_the_lung_check_finds_two_lung_fields_on_each_sample_film(finder, sample_bytes, name):
    gray = np.asarray(load_grayscale(sample_bytes[name]), dtype=np.uint8)
    check = lung_check(finder, gray)
    assert check.plausible
    assert check.components >= 2 and check.area > CHECK_MIN_AREA
    stored = intake(sample_bytes[name], max_bytes=20 * MB).image  # what the worker decodes
    assert lung_quality_flags(finder, [stored]) == [()]


def test_a_sideways_film_that_the_gate_accepts_is_flagged_no_lung_fields(finder, sample_bytes):
    # The normal sample turned a quarter: a radiograph the gate lets through ("unusual
    # framing"), on which the lung finder no longer sees lung fields.
    gray = np.asarray(load_grayscale(sample_bytes["normal"]), dtype=np.uint8)
    sideways = np.rot90(gray)
    upload = intake(_png(sideways), max_bytes=20 * MB)  # the gate accepts it (no exception)
    assert "unusual framing" in upload.quality_flags
    assert not lung_check(finder, sideways).plausible
    assert lung_quality_flags(finder, [upload.image]) == [(NO_LUNG_FIELDS,)]


def test_flat_and_noise_images_have_no_lung_fields(finder):
    rng = np.random.default_rng(0)
    flat = np.full((300, 300), 128, dtype=np.uint8)
    noise = rng.integers(0, 256, (300, 300), dtype=np.uint8)
    checks = lung_checks(finder, [flat, noise])
    assert [c.plausible for c in checks] == [False, False]
    assert checks[0].area == 0.0


def test_a_mask_needs_the_minimum_area_and_a_lung_sized_component():
    mask = np.zeros((100, 100), dtype=bool)
    mask[20:80, 10:40] = True  # 18 %
    mask[25:85, 60:90] = True  # 18 %
    assert mask_check(mask).plausible and mask_check(mask).components == 2
    specks = np.zeros((100, 100), dtype=bool)
    specks[::10, ::10] = True  # 1 % in 100 specks: no component is lung-sized
    assert not mask_check(specks, min_area=0.0).plausible
    small = np.zeros((100, 100), dtype=bool)
    small[40:65, 40:65] = True  # one 6 % blob: below CHECK_MIN_AREA
    assert not mask_check(small).plausible


def test_the_batched_check_equals_one_film_at_a_time(finder, sample_bytes):
    grays = [np.asarray(load_grayscale(b), dtype=np.uint8) for b in sample_bytes.values()]
    grays.append(np.rot90(grays[1]))
    assert lung_checks(finder, grays) == [lung_check(finder, g) for g in grays]


def test_the_worker_s_onnx_runtime_check_agrees_with_torch(sample_bytes, tmp_path):
    from inference.pipeline import load_lung_finder

    torch_finder = LungFinder.load()
    ort_finder = load_lung_finder(engine="auto", threads=1, engine_cache=str(tmp_path))
    assert ort_finder.session is not None and list(tmp_path.glob("lungs-*.onnx"))
    grays = [np.asarray(load_grayscale(b), dtype=np.uint8) for b in sample_bytes.values()]
    grays.append(np.rot90(grays[1]))
    for a, b in zip(lung_checks(torch_finder, grays), lung_checks(ort_finder, grays), strict=True):
        assert a.plausible == b.plausible and a.components == b.components
        assert abs(a.area - b.area) < 1e-3
    cached = load_lung_finder(engine="onnxruntime", engine_cache=str(tmp_path))  # from the cache
    assert lung_checks(cached, grays) == lung_checks(ort_finder, grays)
    # the crop stays on torch: training and serving cut the same pixels
    assert ort_finder.box(grays[0]) == torch_finder.box(grays[0])


def test_one_pass_gives_the_lung_cut_and_the_same_check(finder, sample_bytes):
    grays = [np.asarray(load_grayscale(b), dtype=np.uint8) for b in sample_bytes.values()]
    grays += [np.rot90(grays[1]).copy(), np.full((300, 300), 128, dtype=np.uint8)]
    finder.mode = "mask"
    try:
        for gray in grays:
            cut, box, check = finder.cut_and_check(gray)
            want_cut, want_box = finder.cut(gray)
            assert box == want_box and np.array_equal(cut, want_cut)
            assert check == lung_check(finder, gray)
    finally:
        finder.mode = "crop"
    assert [finder.cut_and_check(g)[2].plausible for g in grays] == [True] * 3 + [False] * 2
