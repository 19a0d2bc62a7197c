"""Grad-CAM: shape, range, not constant, and no side effect on the model or its prediction."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from inference.gradcam import (
    colorbar_png,
    crop_box,
    gradcam,
    gradcam_maps,
    heat_on_original,
    heatmap_png,
    inferno,
    jet,
    overlay_png,
    target_layer,
)
from inference.model import DarkCovidNet
from inference.preprocessing import crop_margin, preprocess, to_model_array, trim_uniform_border


@pytest.fixture(scope="module")
def model() -> DarkCovidNet:
    """The shipped weights if they load, else a seeded fresh network (shape tests only)."""
    torch.set_num_threads(1)
    try:
        from inference.predictor import Predictor

        shipped = Predictor.load(device="cpu").model
        return getattr(shipped, "members", [shipped])[0]  # an ensemble's first member
    except Exception:  # noqa: BLE001 - weights mid-training or absent
        torch.manual_seed(0)
        return DarkCovidNet().eval()


@pytest.fixture(scope="module")
def x(sample_bytes, model) -> torch.Tensor:
    return preprocess(sample_bytes["covid"], size=model.input_size).unsqueeze(0)


@pytest.fixture(scope="module")
def x256(sample_bytes) -> torch.Tensor:
    """For the fresh 256 px networks below."""
    return preprocess(sample_bytes["covid"]).unsqueeze(0)


def _hooks(model: torch.nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in model.modules()
    )


def test_the_heatmap_has_the_input_shape_and_is_not_constant(model, x):
    with torch.no_grad():
        predicted = int(model(x).argmax())
    heat = gradcam(model, x, predicted)
    assert heat.shape == (x.shape[-2], x.shape[-1])
    assert heat.dtype == np.float32
    assert 0.0 <= heat.min() and heat.max() <= 1.0
    assert heat.std() > 1e-3


def test_a_fresh_network_gives_a_non_constant_heatmap_too(x256):
    torch.manual_seed(0)
    fresh = DarkCovidNet().eval()
    heat = gradcam(fresh, x256, 0)
    assert heat.shape == (256, 256) and heat.std() > 1e-3


def test_computing_it_does_not_change_the_prediction_or_the_model(model, x):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    hooks = _hooks(model)
    with torch.no_grad():
        before = model(x)
    maps = gradcam_maps(model, x, [0, 1, 2])
    with torch.no_grad():
        after = model(x)
    assert torch.equal(before, after)
    assert set(maps) == {0, 1, 2}
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert _hooks(model) == hooks
    assert all(p.grad is None for p in model.parameters())
    assert not model.training


def test_it_restores_train_mode_and_leaves_batchnorm_statistics_alone(x256):
    torch.manual_seed(1)
    net = DarkCovidNet().train()
    stats = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    gradcam(net, x256, 1)
    assert net.training
    assert all(torch.equal(stats[k], net.state_dict()[k]) for k in stats)


def test_it_works_inside_inference_mode(model, x):
    with torch.inference_mode():
        heat = gradcam(model, x, 0)
    assert heat.shape == tuple(x.shape[-2:])


def test_the_hooked_layer_is_the_last_256_channel_block(model):
    layer = target_layer(model)
    assert layer is model.features[-1]
    convs = [m for m in layer.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[-1].out_channels == 256 == model.head_conv[0].in_channels


def test_the_pngs_decode_with_the_expected_modes_and_sizes():
    heat = np.outer(np.linspace(0, 1, 64), np.linspace(0, 1, 80)).astype(np.float32)
    png = Image.open(io.BytesIO(heatmap_png(heat)))
    # An 8-bit palette whose entries carry alpha (tRNS): what browsers draw as RGBA.
    assert png.mode == "P" and "transparency" in png.info and png.size == (80, 64)
    rgba = png.convert("RGBA")
    alpha = np.asarray(rgba)[..., 3]
    assert alpha[0, 0] == 0 and alpha[-1, -1] == 255
    gray = np.full((64, 80), 128, np.uint8)
    over = Image.open(io.BytesIO(overlay_png(gray, heat)))
    assert over.mode == "RGB" and over.size == (80, 64)
    assert np.array_equal(np.asarray(over)[0, 0], [128, 128, 128])  # no heat: the radiograph
    bar = Image.open(io.BytesIO(colorbar_png(200, 10)))
    assert bar.size == (200, 10)


def test_the_colormaps_run_from_cold_to_hot():
    for cmap in (jet, inferno):
        lo, hi = cmap(np.array([0.0, 1.0]))
        assert lo.dtype == np.uint8
        assert int(lo[0]) < int(hi[0])  # red rises
    assert tuple(jet(np.array(0.0))) == (0, 0, 128)
    assert tuple(jet(np.array(1.0))) == (128, 0, 0)


def test_the_heatmap_maps_back_onto_the_decoded_image(sample_bytes):
    from inference.decode import decode_image

    gray = np.asarray(decode_image(sample_bytes["normal"]))
    framed = np.pad(gray, 20, constant_values=0)  # a uniform frame preprocessing trims
    top, bottom, left, right = crop_box(framed)
    assert np.array_equal(framed[top:bottom, left:right],
                          crop_margin(trim_uniform_border(framed)))  # fmt: skip
    heat = np.ones((256, 256), np.float32)
    placed = heat_on_original(heat, framed)
    assert placed.shape == framed.shape
    assert placed[:20].max() == 0 and placed[top:bottom, left:right].min() > 0.99
    assert to_model_array(Image.fromarray(framed)).shape == (256, 256)


def test_a_wider_crop_places_the_heat_on_a_smaller_central_box(sample_bytes):
    from inference.decode import decode_image

    gray = np.asarray(decode_image(sample_bytes["normal"]))
    heat = np.ones((64, 64), np.float32)
    default = heat_on_original(heat, gray)
    wider = heat_on_original(heat, gray, margin=0.15)
    top, bottom, left, right = crop_box(gray, margin=0.15)
    assert np.array_equal(gray[top:bottom, left:right],
                          crop_margin(trim_uniform_border(gray), margin=0.15))  # fmt: skip
    assert (wider > 0).sum() < (default > 0).sum()
    assert wider[top:bottom, left:right].min() > 0.99 and wider[: top - 1].max() == 0


def test_a_map_laid_at_display_size_matches_the_full_size_map_shrunk(sample_bytes):
    from inference.decode import decode_image
    from inference.gradcam import resize_heat

    gray = np.asarray(decode_image(sample_bytes["normal"]).resize((1500, 1200)))
    framed = np.pad(gray, ((0, 0), (90, 90)), constant_values=0)  # 1200 x 1680, trimmed sides
    yy, xx = np.mgrid[0:32, 0:32]
    heat = np.exp(-((yy - 10.0) ** 2 + (xx - 20.0) ** 2) / 60.0).astype(np.float32)
    small = heat_on_original(heat, framed, max_side=420)
    assert small.shape == (300, 420)  # the film's aspect, longest side 420
    shrunk = resize_heat(heat_on_original(heat, framed), small.shape)
    assert np.abs(small - shrunk).max() < 0.05
    assert small[:, :20].max() == 0  # the trimmed frame stays cold at display size too
    peak = np.unravel_index(small.argmax(), small.shape)
    assert np.abs(np.subtract(peak, np.unravel_index(shrunk.argmax(), shrunk.shape))).max() <= 2
    assert heat_on_original(heat, framed, max_side=4000).shape == framed.shape  # never enlarged


# --------------------------------------------------------------------------- Predictor.analyse
@pytest.fixture(scope="module")
def predictor():
    from inference.predictor import Predictor

    return Predictor.load(device="cpu")


def test_analyse_explains_from_one_preprocessing_and_one_forward_pass(
    predictor, sample_bytes, monkeypatch
):
    from inference.decode import decode_image

    image = decode_image(sample_bytes["normal"])
    preprocessed, forwards = [], []
    real_prepared = predictor._prepared  # the input and where it lies on the film

    def counting_prepared(img):
        preprocessed.append(img)
        return real_prepared(img)

    monkeypatch.setattr(predictor, "_prepared", counting_prepared)
    # The network's body (every member's blocks), whichever way analyse calls it.
    handle = predictor.model.features.register_forward_hook(lambda *args: forwards.append(1))
    try:
        analysis = predictor.analyse(image, explain=("predicted", "covid"))
    finally:
        handle.remove()

    # One forward pass, for the film and its test-time views together (one batch).
    assert len(preprocessed) == 1 and len(forwards) == 1
    expected = predictor.predict(sample_bytes["normal"])
    assert analysis.probabilities == pytest.approx(expected["probabilities"], abs=1e-6)
    assert analysis.label == expected["label"]
    assert analysis.priority == predictor.priority(expected["probabilities"]["covid"])
    assert analysis.model_version == predictor.model_version
    assert list(analysis.heatmaps) == list(dict.fromkeys([expected["label"], "covid"]))
    gray = np.asarray(image)
    top, bottom, left, right = crop_box(gray, margin=predictor.margin)
    for heat in analysis.heatmaps.values():
        assert heat.shape == gray.shape  # on the decoded image, not the 256 px model input
        assert heat[:top].max(initial=0) == 0 and heat[:, :left].max(initial=0) == 0
        assert heat[top:bottom, left:right].max() > 0.5


def test_analyse_without_explain_computes_no_heatmap(predictor, sample_bytes):
    from inference.decode import decode_image

    analysis = predictor.analyse(decode_image(sample_bytes["covid"]))
    assert analysis.heatmaps == {}
    assert sum(analysis.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
