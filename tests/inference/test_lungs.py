"""The lung-field U-Net: box geometry, training smoke on drawn "lungs", the shipped model on the
sample films, and the crop as the classifier's preprocessing sees it."""

import csv
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from inference.lungs import (
    LUNG_WEIGHTS,
    LungFinder,
    LungUNet,
    LungWeightsError,
    expand_box,
    lung_cropped,
    mask_box,
)
from inference.model import count_parameters


def test_the_box_spans_the_two_largest_blobs_and_ignores_specks():
    mask = np.zeros((100, 100), dtype=bool)
    mask[20:80, 10:40] = True  # right lung
    mask[25:85, 60:90] = True  # left lung
    mask[2:4, 95:97] = True  # a speck outside
    assert mask_box(mask) == (0.20, 0.85, 0.10, 0.90)


def test_a_mask_smaller_than_the_minimum_area_finds_no_lungs():
    mask = np.zeros((100, 100), dtype=bool)
    mask[40:50, 40:50] = True  # 1% of the image
    assert mask_box(mask, min_area=0.05) is None
    assert mask_box(np.zeros((10, 10), dtype=bool)) is None


def test_the_margin_grows_the_box_by_its_own_size_and_stays_inside_the_image():
    assert expand_box((0.2, 0.8, 0.1, 0.9), (100, 200), margin=0.1) == (14, 86, 4, 196)
    assert expand_box((0.0, 1.0, 0.0, 1.0), (50, 50), margin=0.2) == (0, 50, 0, 50)


def test_the_unet_has_a_few_hundred_thousand_parameters_and_keeps_the_input_size():
    import torch

    net = LungUNet()
    assert 200_000 < count_parameters(net) < 1_000_000
    assert net(torch.zeros(1, 1, 128, 128)).shape == (1, 1, 128, 128)


def drawn_film(rng, k):
    """A dark film with two bright rounded 'lungs' and their mask."""
    img = Image.fromarray(rng.integers(0, 40, size=(96, 96), dtype=np.uint8))
    mask = Image.new("L", (96, 96))
    for box in ((12 + k % 3, 18, 42, 80), (54, 18 + k % 4, 84, 82)):
        ImageDraw.Draw(img).ellipse(box, fill=170)
        ImageDraw.Draw(mask).ellipse(box, fill=255)
    return img, mask


@pytest.fixture(scope="module")
def tiny_lung_run(tmp_path_factory):
    from inference.training import lungs as training

    root = tmp_path_factory.mktemp("lung-masks")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    rng = np.random.default_rng(3)
    rows = []
    for k in range(10):
        img, mask = drawn_film(rng, k)
        img.save(root / "images" / f"f{k}.png")
        mask.save(root / "masks" / f"f{k}.png")
        rows.append(
            {
                "id": f"f{k}",
                "image": f"images/f{k}.png",
                "mask": f"masks/f{k}.png",
                "origin": "v7labs",
                "group": f"p{k}",
            }
        )
    with (root / "manifest.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path_factory.mktemp("lung-run")
    code = training.main(
        [
            "--data",
            str(root),
            "--size",
            "32",
            "--epochs",
            "2",
            "--bs",
            "4",
            "--threads",
            "1",
            "--out",
            str(out / "report"),
            "--weights",
            str(out / "w" / "lungs.safetensors"),
        ]
    )
    assert code == 0
    return out


def test_lung_training_holds_out_a_fifth_of_the_groups_and_reports_dice_on_them(tiny_lung_run):
    report = json.loads((tiny_lung_run / "report" / "report.json").read_text())
    assert report["n_train"] == 8 and len(report["held_out_ids"]) == 2
    dice = report["dice_held_out"]["v7labs"]
    assert dice["n"] == 2 and 0.0 <= dice["mean"] <= 1.0


def test_exported_lung_weights_load_with_their_sha256_checked(tiny_lung_run):
    weights = tiny_lung_run / "w" / "lungs.safetensors"
    finder = LungFinder.load(weights)
    assert finder.version.startswith("lungs@") and finder.input_size == 32
    meta = json.loads(weights.with_suffix(".json").read_text())
    meta["weights_sha256"] = "0" * 64
    weights.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(LungWeightsError):
        LungFinder.load(weights)


@pytest.fixture(scope="module")
def shipped_lungs():
    if not LUNG_WEIGHTS.is_file():
        pytest.fail(f"the shipped lung model {LUNG_WEIGHTS} is missing")
    return LungFinder.load()


@pytest.mark.parametrize("name", ["covid", "normal", "pneumonia"])
def test_the_shipped_lung_model_finds_both_lungs_on_each_sample_film(
    shipped_lungs, sample_bytes, name
):
    from inference.preprocessing import load_grayscale

    gray = np.asarray(load_grayscale(sample_bytes[name]), dtype=np.uint8)
    mask = shipped_lungs.mask(gray)
    assert 0.05 < mask.mean() < 0.8  # lungs: a good part of a chest film, not all of it
    h, w = gray.shape
    top, bottom, left, right = shipped_lungs.box(gray)
    # the box is central and large: both lungs, not one of them or the whole film's frame
    assert (right - left) > 0.5 * w and (bottom - top) > 0.4 * h
    assert left < w / 2 < right and top < h / 2 < bottom
    halves = mask[:, : mask.shape[1] // 2].mean(), mask[:, mask.shape[1] // 2 :].mean()
    assert min(halves) > 0.3 * max(halves)  # lung in both halves


def test_a_film_without_lungs_is_left_uncropped_and_gets_no_box(shipped_lungs):
    blank = np.full((200, 180), 20, dtype=np.uint8)
    assert shipped_lungs.box(blank) is None
    assert lung_cropped(Image.fromarray(blank), shipped_lungs).size == (180, 200)


def test_the_lung_crop_is_the_box_of_the_decoded_film(shipped_lungs, sample_bytes):
    from inference.preprocessing import load_grayscale

    gray = np.asarray(load_grayscale(sample_bytes["normal"]), dtype=np.uint8)
    top, bottom, left, right = shipped_lungs.box(gray)
    cropped = np.asarray(lung_cropped(sample_bytes["normal"], shipped_lungs))
    assert np.array_equal(cropped, gray[top:bottom, left:right])
