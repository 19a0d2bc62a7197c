"""The weights committed under inference/weights/ are intact and behave as recorded."""

import json

import pytest

from inference.metadata import sha256_file
from inference.predictor import DEFAULT_WEIGHTS, Predictor


@pytest.fixture(scope="module")
def predictor():
    return Predictor.load(device="cpu")


@pytest.fixture(scope="module")
def expected(samples_dir):
    return json.loads((samples_dir / "expected_predictions.json").read_text())


def test_the_shipped_weights_match_their_recorded_checksum(predictor, expected):
    digest = sha256_file(DEFAULT_WEIGHTS)
    assert digest == predictor.weights_sha256 == expected["weights_sha256"]
    assert predictor.model_version == expected["model_version"] == f"darkcovidnet@{digest[:12]}"


def test_the_shipped_model_reproduces_the_recorded_probabilities(predictor, expected, samples_dir):
    assert len(expected["predictions"]) == 3
    for name, probs in expected["predictions"].items():
        got = predictor.predict((samples_dir / name).read_bytes())["probabilities"]
        for cls, p in probs.items():
            assert got[cls] == pytest.approx(p, abs=1e-5), (name, cls)


def test_the_shipped_model_was_cross_validated_and_carries_its_operating_points(predictor):
    meta = predictor.metadata
    assert meta["training"]["epochs"] >= 20
    assert meta["cv_metrics"]["accuracy"]["mean"] > 0.5
    t = meta["thresholds"]
    assert 0.0 < t["covid_medium"] <= t["covid_high"] < 1.0
    assert predictor.priority(t["covid_high"]) == "high"
    assert predictor.priority(t["covid_medium"]) in ("medium", "high")
    assert predictor.priority(0.0) == "low"
    assert 0.2 < predictor.temperature < 5.0


def test_cuda_is_refused_clearly_when_there_is_no_gpu():
    import torch

    if torch.cuda.is_available():
        assert Predictor.load(device="cuda").device.type == "cuda"
    else:
        with pytest.raises(RuntimeError, match="no CUDA device"):
            Predictor.load(device="cuda")
