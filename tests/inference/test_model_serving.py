"""What the portal's predictor takes from a model's metadata: temperature, band thresholds,
normalisation, the fold ensemble and the lung crop; and train/serve parity with the lung crop."""

import json

import numpy as np
import pytest
import torch

from inference.ensemble import DarkCovidNetEnsemble
from inference.export import export_model
from inference.model import DarkCovidNet
from inference.predictor import Predictor
from inference.preprocessing import to_model_array


def export(model, tmp_path, name="m", **kwargs):
    options = {
        "weights_dir": tmp_path,
        "name": name,
        "input_size": 64,
        "temperature": 1.0,
        "margin": 0.0,
        "equalize": "none",
        "thresholds": {"covid_high": 0.5, "covid_medium": 0.2},
        "extra": {},
    } | kwargs
    return export_model(model, **options)


def set_metadata(weights, **changes):
    path = weights.with_suffix(".json")
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def logits_of(model, predictor, image):
    with torch.no_grad():
        return model.eval()(predictor.preprocess(image).unsqueeze(0))[0]


def test_the_probabilities_follow_the_temperature_in_the_metadata(tmp_path, sample_bytes):
    torch.manual_seed(1)
    model = DarkCovidNet(input_size=64)
    weights = export(model, tmp_path)
    for t in (0.5, 3.0):
        set_metadata(weights, temperature=t)
        p = Predictor.load(weights, device="cpu")
        got = p.predict(sample_bytes["covid"])["probabilities"]
        expected = torch.softmax(logits_of(model, p, sample_bytes["covid"]) / t, 0)
        assert [got[c] for c in p.classes] == pytest.approx(expected.tolist(), abs=1e-6)


def test_the_priority_bands_follow_the_thresholds_in_the_metadata(tmp_path):
    weights = export(DarkCovidNet(input_size=64), tmp_path)
    set_metadata(weights, thresholds={"covid_high": 0.7, "covid_medium": 0.3})
    p = Predictor.load(weights, device="cpu")
    assert [p.priority(x) for x in (0.71, 0.69, 0.31, 0.29)] == ["high", "medium", "medium", "low"]


def test_the_input_is_normalised_with_the_metadatas_mean_and_sd(tmp_path, sample_bytes):
    weights = export(DarkCovidNet(input_size=64), tmp_path, normalization=(0.449, 0.226))
    p = Predictor.load(weights, device="cpu")
    arr = to_model_array(sample_bytes["normal"], size=64, margin=0.0, equalize="none")
    expected = (torch.from_numpy(arr).float() / 255.0 - 0.449) / 0.226
    assert torch.allclose(p.preprocess(sample_bytes["normal"])[0], expected, atol=1e-6)


def test_an_ensemble_predicts_the_mean_of_its_members_calibrated_probabilities(
    tmp_path, sample_bytes
):
    torch.manual_seed(2)
    members = [DarkCovidNet(input_size=64) for _ in range(3)]
    weights = export(DarkCovidNetEnsemble(members), tmp_path, temperature=1.6, ensemble=3)
    p = Predictor.load(weights, device="cpu")
    x = p.preprocess(sample_bytes["pneumonia"]).unsqueeze(0)
    with torch.no_grad():
        expected = torch.stack([torch.softmax(m.eval()(x)[0] / 1.6, 0) for m in members]).mean(0)
    got = p.predict(sample_bytes["pneumonia"])["probabilities"]
    assert [got[c] for c in p.classes] == pytest.approx(expected.tolist(), abs=1e-6)
    # and it explains with Grad-CAM like a single model
    analysis = p.analyse(sample_bytes["pneumonia"], explain=("covid",))
    assert set(analysis.heatmaps) == {"covid"}


@pytest.fixture(scope="module")
def lung_finder():
    from inference.lungs import LungFinder

    return LungFinder.load()


@pytest.mark.parametrize("mode", ["crop", "mask"])
def test_training_and_serving_crop_to_the_same_lungs_and_give_the_same_input(
    mode, tmp_path, sample_bytes, samples_dir, lung_finder
):
    import shutil

    from inference.training.data import Record, load_arrays
    from inference.training.report import lungs_metadata

    lungs = lungs_metadata(lung_finder_path(), mode)
    for src in (lung_finder_path(), lung_finder_path().with_suffix(".json")):
        shutil.copy(src, tmp_path / src.name)  # the lung model lives beside the classifier
    weights = export(
        DarkCovidNet(input_size=64), tmp_path, normalization=(0.449, 0.226), lungs=lungs
    )
    p = Predictor.load(weights, device="cpu")
    records = [
        Record(path=samples_dir / f"{n}.jpg", label=n, group=n, source="s")
        for n in ("covid", "normal", "pneumonia")
    ]
    lung_finder.mode = mode  # as the training CLI's --lungs-mode sets it
    trained = load_arrays(records, size=64, margin=0.0, equalize="none", lungs=lung_finder)
    lung_finder.mode = "crop"
    assert p.lungs.mode == mode  # from the classifier's metadata
    for arr, r in zip(trained, records, strict=True):
        served = p.preprocess(r.path.read_bytes())[0]
        assert torch.allclose(
            served, (torch.from_numpy(arr).float() / 255 - 0.449) / 0.226, atol=1e-5
        )
    uncropped = to_model_array(sample_bytes["normal"], size=64, margin=0.0, equalize="none")
    assert not np.array_equal(uncropped, trained[1])  # the crop did something
    if mode == "mask":  # black outside the lung fields: corners of the crop, not its middle
        for arr in trained:
            assert arr[:4, :4].max() == 0 and arr[:4, -4:].max() == 0
            assert arr[24:40, 8:24].mean() > 20


def lung_finder_path():
    from inference.lungs import LUNG_WEIGHTS

    return LUNG_WEIGHTS


@pytest.mark.parametrize("engine", ["folded", "onnxruntime"])
def test_the_serving_engines_run_the_ensemble_and_its_grad_cam_as_eager_does(engine, tmp_path):
    from inference.engines import engine_build
    from inference.gradcam import gradcam_pass

    torch.manual_seed(3)
    ens = DarkCovidNetEnsemble([DarkCovidNet(input_size=64) for _ in range(2)], temperature=1.3)
    ens.eval()
    x = torch.randn(1, 1, 64, 64)
    built = engine_build(
        engine,
        ens,
        threads=1,
        input_size=64,
        in_channels=1,
        weights_sha256="0" * 64,
        cache_dir=tmp_path,
    )
    logits, maps = gradcam_pass(ens, x, [0])
    assert torch.allclose(built(x), logits, atol=1e-4)
    engine_logits, engine_maps = built.explain(x, [0])
    assert torch.allclose(engine_logits, logits, atol=1e-4)
    assert np.abs(engine_maps[0] - maps[0]).max() < 1e-3


def test_the_ensembles_grad_cam_uses_every_member():
    from inference.gradcam import gradcam

    torch.manual_seed(4)
    a, b = DarkCovidNet(input_size=64).eval(), DarkCovidNet(input_size=64).eval()
    x = torch.randn(1, 1, 64, 64)
    with_b = gradcam(DarkCovidNetEnsemble([a, b]).eval(), x, 0)
    with_b2 = gradcam(DarkCovidNetEnsemble([a, DarkCovidNet(input_size=64).eval()]).eval(), x, 0)
    assert not np.allclose(with_b, with_b2)  # the second member changes the map
