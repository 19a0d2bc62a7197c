"""The recipe variants against the source trap: sampling, augmentation, preprocessing options,
image-level folds, and that an exported model carries its preprocessing to serving."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from fastai.vision.all import TensorImage
from PIL import Image, ImageDraw

from inference import train
from inference.predictor import Predictor
from inference.preprocessing import preprocess, to_model_array
from inference.training import loop
from inference.training.augment import RandomGamma
from inference.training.data import Record, grouped_folds, image_folds


def rec(label: str, source: str, group: str) -> Record:
    return Record(path=Path(f"{group}.png"), label=label, group=group, source=source)


def test_source_balanced_weights_give_every_class_and_every_source_within_it_equal_mass():
    records = (
        [rec("covid", "figures", f"f{i}") for i in range(10)]
        + [rec("covid", "hannover", f"h{i}") for i in range(30)]
        + [rec("normal", "nih", f"n{i}") for i in range(100)]
        + [rec("pneumonia", "nih", f"p{i}") for i in range(60)]
        + [rec("pneumonia", "paediatric", f"k{i}") for i in range(5)]
    )
    w = loop.source_balanced_weights(records)

    def mass(pred):
        return sum(wi for wi, r in zip(w, records, strict=True) if pred(r))

    for label in ("covid", "normal", "pneumonia"):
        assert mass(lambda r, label=label: r.label == label) == pytest.approx(1.0)
    assert mass(lambda r: r.source == "figures") == pytest.approx(0.5)
    assert mass(lambda r: r.source == "hannover") == pytest.approx(0.5)
    # Five paediatric images weigh as much as sixty NIH pneumonias together.
    assert mass(lambda r: r.source == "paediatric") == pytest.approx(
        mass(lambda r: r.label == "pneumonia" and r.source == "nih")
    )


def test_image_level_folds_put_a_patient_on_both_sides_where_grouped_folds_never_do():
    records = [rec(c, "s", f"{c}-{i // 4}") for c in ("covid", "normal") for i in range(40)]
    leaked = 0
    for folds, may_leak in (
        (grouped_folds(records, n_folds=5, seed=1), False),
        (image_folds(records, n_folds=5, seed=1), True),
    ):
        assert sorted(np.concatenate(folds).tolist()) == list(range(len(records)))
        for valid in folds:
            train_groups = {records[i].group for i in set(range(len(records))) - set(valid)}
            shared = train_groups & {records[i].group for i in valid}
            if may_leak:
                leaked += len(shared)
            else:
                assert not shared
    assert leaked > 0


def test_random_gamma_bends_exposure_within_range_and_does_nothing_at_p_zero():
    torch.manual_seed(0)
    x = TensorImage(torch.linspace(0, 1, 64 * 64).reshape(1, 1, 64, 64).repeat(8, 1, 1, 1))
    out = RandomGamma(p=1.0)(x, split_idx=0)
    assert out.min() >= 0 and out.max() <= 1
    per_image_means = out.mean(dim=(1, 2, 3))
    assert per_image_means.std() > 0.01  # different curves per image
    same = RandomGamma(p=0.0)(x, split_idx=0)
    assert torch.allclose(same, x.clamp(1e-6, 1.0))
    assert torch.equal(RandomGamma(p=1.0)(x, split_idx=1), x)  # validation is untouched


@pytest.fixture(scope="module")
def chest_like_png(tmp_path_factory) -> bytes:
    img = Image.new("L", (300, 360), 30)
    draw = ImageDraw.Draw(img)
    draw.ellipse((40, 40, 140, 320), fill=90)
    draw.ellipse((160, 40, 260, 320), fill=110)
    draw.rectangle((0, 0, 300, 20), fill=250)  # a burnt-in label band at the top
    path = tmp_path_factory.mktemp("img") / "x.png"
    img.save(path)
    return path.read_bytes()


def test_clahe_and_a_wider_crop_change_the_array_and_unknown_equalisers_are_refused(
    chest_like_png,
):
    base = to_model_array(chest_like_png, size=64)
    clahe = to_model_array(chest_like_png, size=64, equalize="clahe")
    cropped = to_model_array(chest_like_png, size=64, margin=0.15)
    assert base.dtype == clahe.dtype == cropped.dtype == np.uint8
    assert base.shape == clahe.shape == cropped.shape == (64, 64)
    assert not np.array_equal(base, clahe) and not np.array_equal(base, cropped)
    raw = to_model_array(chest_like_png, size=64, equalize="none")
    assert not np.array_equal(base, raw)
    # Global equalisation spreads grey levels over the whole range; "none" keeps the film's own.
    assert np.ptp(base) > np.ptp(raw)
    with pytest.raises(ValueError, match="equalize"):
        to_model_array(chest_like_png, size=64, equalize="gamma")


def test_a_model_trained_with_variant_options_serves_with_the_same_preprocessing(
    tmp_path, chest_like_png
):
    data = tmp_path / "data"
    rng = np.random.default_rng(3)
    for k, label in enumerate(("covid", "normal", "pneumonia")):
        (data / label).mkdir(parents=True)
        for i in range(4):
            img = Image.fromarray(rng.integers(0, 60, size=(80, 80), dtype=np.uint8))
            ImageDraw.Draw(img).ellipse((10, 10 + 5 * k, 70, 70), fill=100 + 50 * k)
            img.save(data / label / f"{i}.png")
    args = [
        *("--data", str(data), "--size", "64", "--epochs", "1", "--bs", "4", "--folds", "2"),
        *("--export", "--out", str(tmp_path / "cv"), "--weights-dir", str(tmp_path / "w")),
        *("--sampling", "source-balanced", "--aug", "strong", "--mixup", "0.4"),
        *("--label-smoothing", "0.1", "--margin", "0.15", "--equalize", "clahe"),
        *("--width", "2"),
    ]
    assert train.main(args) == 0
    report = json.loads((tmp_path / "cv" / "report.json").read_text())
    variant = report["provenance"]["variant"]
    assert variant["sampling"] == "source-balanced" and variant["equalize"] == "clahe"
    assert report["provenance"]["loss"] == "cross-entropy, source-balanced sampling"

    predictor = Predictor.load(tmp_path / "w" / "darkcovidnet.safetensors", device="cpu")
    assert predictor.metadata["preprocessing"]["margin"] == 0.15
    assert variant["width"] == 2 and predictor.metadata["width"] == predictor.model.width == 2
    served = predictor.preprocess(chest_like_png)
    expected = preprocess(chest_like_png, size=64, margin=0.15, equalize="clahe")
    assert torch.equal(served, expected)
    assert not torch.equal(served, preprocess(chest_like_png, size=64))
