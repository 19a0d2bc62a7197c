"""The inference engines give eager's probabilities, fall back to torch, and cache their export.

``compiled`` (torch.compile) is measured by ``python -m inference.bench`` only: its first call
compiles C++ for tens of seconds, too slow for the suite.
"""

from __future__ import annotations

import sys

import pytest
import torch

from inference.bench import count_flops, sample_images
from inference.engines import (
    EngineUnavailable,
    engine_build,
    fold_batchnorm,
    onnx_cache_name,
)
from inference.model import DarkCovidNet
from inference.predictor import Predictor

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor.load(device="cpu")


@pytest.fixture(scope="module")
def batch(predictor) -> torch.Tensor:
    """Nine distinct radiographs (the samples and altered copies), preprocessed."""
    return torch.stack([predictor.preprocess(b) for b in sample_images(9)])


@pytest.fixture(scope="module")
def eager_probs(predictor, batch) -> torch.Tensor:
    with torch.inference_mode():
        return torch.softmax(predictor.model(batch) / predictor.temperature, dim=1)


@pytest.fixture(scope="module", autouse=True)
def shared_onnx_cache(tmp_path_factory):
    """One ONNX export for the module (it takes seconds); the cache tests use their own."""
    global SHARED_CACHE
    SHARED_CACHE = tmp_path_factory.mktemp("onnx-cache")


SHARED_CACHE = None


def build(name, predictor, **kwargs):
    kwargs.setdefault("cache_dir", SHARED_CACHE)
    return engine_build(
        name,
        predictor.model,
        threads=1,
        input_size=predictor.input_size,
        weights_sha256=predictor.weights_sha256,
        **kwargs,
    )


@pytest.mark.parametrize("name", ["folded", "channels_last", "onnxruntime"])
def test_each_engine_gives_eagers_probabilities_and_labels(name, predictor, batch, eager_probs):
    engine = build(name, predictor)
    for x, expected in ((batch, eager_probs), (batch[:1], eager_probs[:1])):
        probs = torch.softmax(engine(x) / predictor.temperature, dim=1)
        assert probs.shape == expected.shape
        assert float((probs - expected).abs().max()) < TOLERANCE
        assert torch.equal(probs.argmax(dim=1), expected.argmax(dim=1))
    assert engine.name == name and engine.version


def test_folding_removes_every_batchnorm_and_leaves_the_original_model_alone(predictor, batch):
    before = {k: v.clone() for k, v in predictor.model.state_dict().items()}
    folded = fold_batchnorm(predictor.model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    members = len(getattr(predictor.model, "members", [predictor.model]))  # shipped: an ensemble
    assert (
        sum(isinstance(m, torch.nn.BatchNorm2d) for m in predictor.model.modules()) == 17 * members
    )
    after = predictor.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    with torch.inference_mode():
        assert torch.allclose(folded(batch), predictor.model(batch), atol=1e-4)


def test_the_onnx_export_is_cached_under_the_weights_checksum_and_reused(predictor, tmp_path):
    build("onnxruntime", predictor, cache_dir=tmp_path)
    cached = tmp_path / onnx_cache_name(predictor.weights_sha256)
    assert [p.name for p in tmp_path.iterdir()] == [cached.name]
    assert predictor.weights_sha256[:16] in cached.name
    # A second build reads the file: make it recognisably different but still valid ONNX.
    import onnx

    proto = onnx.load_model_from_string(cached.read_bytes())
    proto.doc_string = "from the cache"
    cached.write_bytes(proto.SerializeToString())
    build("onnxruntime", predictor, cache_dir=tmp_path)
    assert onnx.load_model_from_string(cached.read_bytes()).doc_string == "from the cache"


def test_a_damaged_onnx_cache_file_is_rebuilt_not_trusted(predictor, batch, eager_probs, tmp_path):
    cached = tmp_path / onnx_cache_name(predictor.weights_sha256)
    cached.write_bytes(b"not an onnx model")
    engine = build("onnxruntime", predictor, cache_dir=tmp_path)
    probs = torch.softmax(engine(batch) / predictor.temperature, dim=1)
    assert float((probs - eager_probs).abs().max()) < TOLERANCE
    assert cached.read_bytes() != b"not an onnx model"


def test_auto_prefers_onnxruntime(predictor):
    assert build("auto", predictor).name == "onnxruntime"


def test_auto_falls_back_to_torch_without_onnxruntime(predictor, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.raises(EngineUnavailable):
        build("onnxruntime", predictor)
    engine = build("auto", predictor)
    assert engine.name == "folded" and engine.version.startswith("torch-")


def test_an_unknown_engine_is_refused_by_name(predictor):
    with pytest.raises(ValueError, match="tensorrt"):
        build("tensorrt", predictor)


def test_the_flop_count_matches_the_layer_shapes():
    model = DarkCovidNet(input_size=64).eval()
    flops = count_flops(model, 64)
    first = model.features[0][0]  # 1 -> 8 channels, 3x3, full resolution
    assert flops["conv"] > 2 * 64 * 64 * first.out_channels * 9
    assert flops["linear"] == 2 * model.classifier[1].in_features * 3
    assert flops["total"] == pytest.approx(flops["torch_flop_counter"], rel=1e-6)


@pytest.mark.parametrize("name", ["eager", "folded", "channels_last", "onnxruntime"])
def test_each_engine_explains_with_gradcam_pass_maps_and_logits(name, predictor, batch):
    from inference.gradcam import gradcam_pass

    engine = build(name, predictor)
    x = batch[1:2]
    # "the predicted class and COVID-19", chosen from the same pass's logits
    pick = lambda logits: [int(logits[0].argmax()), 0]  # noqa: E731
    want_logits, want_maps = gradcam_pass(predictor.model, x, pick)
    logits, maps = engine.explain(x, pick)
    assert torch.allclose(logits, want_logits, atol=1e-4)
    assert sorted(maps) == sorted(want_maps) and len(maps) >= 1
    for index, heat in maps.items():
        assert heat.shape == (predictor.input_size, predictor.input_size)
        assert float(abs(heat - want_maps[index]).max()) < 1e-3
        assert heat.max() == pytest.approx(1.0) and heat.std() > 0.01


def test_explaining_leaves_the_model_untouched(predictor, batch):
    before = {k: v.clone() for k, v in predictor.model.state_dict().items()}
    engine = build("onnxruntime", predictor)
    engine.explain(batch[:1], [0, 1, 2])
    assert all(p.grad is None for p in predictor.model.parameters())
    after = predictor.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_an_unwritable_onnx_cache_costs_only_the_cache(predictor, batch, eager_probs, tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the cache directory would go")
    engine = build("onnxruntime", predictor, cache_dir=blocked)
    probs = torch.softmax(engine(batch) / predictor.temperature, dim=1)
    assert float((probs - eager_probs).abs().max()) < TOLERANCE


@pytest.fixture(scope="module")
def ensemble():
    """Three DarkCovidNets served as one (inference.ensemble), BatchNorm statistics set away from
    their identity initial values so that folding them changes the weights."""
    from inference.ensemble import DarkCovidNetEnsemble

    torch.manual_seed(0)
    model = DarkCovidNetEnsemble.build(3, input_size=64, temperature=1.2).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.02, 0.2)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return model


@pytest.mark.parametrize("name", ["folded", "channels_last", "onnxruntime"])
def test_an_ensemble_runs_on_every_engine_with_the_same_logits_and_maps(name, ensemble):
    from inference.gradcam import gradcam_pass

    x = torch.randn(3, 1, 64, 64, generator=torch.Generator().manual_seed(1))
    engine = engine_build(name, ensemble, threads=1, input_size=64)
    with torch.inference_mode():
        expected = ensemble(x)
    assert float((engine(x) - expected).abs().max()) < 1e-3 * float(expected.abs().max())
    want_logits, want_maps = gradcam_pass(ensemble, x[:1], [0, 2])
    logits, maps = engine.explain(x[:1], [0, 2])
    assert torch.allclose(logits, want_logits, rtol=1e-4, atol=1e-4)
    for index in (0, 2):
        assert float(abs(maps[index] - want_maps[index]).max()) < 1e-3
