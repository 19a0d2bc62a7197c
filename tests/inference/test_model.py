import pytest
import torch
from torch import nn

from inference.model import DarkCovidNet, count_conv_layers, count_parameters


def test_it_has_the_published_seventeen_convolutional_layers():
    model = DarkCovidNet()
    assert count_conv_layers(model) == 17
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is None for c in convs)
    assert [c.out_channels for c in convs] == [
        8,
        16,
        32,
        16,
        32,
        64,
        32,
        64,
        128,
        64,
        128,
        256,
        128,
        256,
        128,
        256,
        3,
    ]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 17
    leaky = [m for m in model.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(leaky) == 17 and all(m.negative_slope == 0.1 for m in leaky)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 5


def test_its_parameter_count_is_that_of_a_one_channel_256_pixel_darkcovidnet():
    # 1,164,434 were published for RGB input; one grey channel removes 8*2*9 weights... and the
    # linear layer is 3*8*8*3+3 = 579 parameters at 256 px.
    assert count_parameters(DarkCovidNet()) == 1_166_497


def test_the_linear_layer_width_follows_the_input_size():
    small = DarkCovidNet(input_size=128)
    assert small.classifier[1].in_features == 3 * 4 * 4
    assert DarkCovidNet().classifier[1].in_features == 3 * 8 * 8
    out = small.eval()(torch.zeros(2, 1, 128, 128))
    assert out.shape == (2, 3)


def test_it_refuses_an_input_size_that_does_not_pool_evenly():
    with pytest.raises(ValueError):
        DarkCovidNet(input_size=250)


def test_width_two_doubles_every_layers_channels_and_keeps_seventeen_layers():
    base, wide = DarkCovidNet(input_size=64), DarkCovidNet(input_size=64, width=2)
    assert count_conv_layers(wide) == 17
    base_convs = [m for m in base.modules() if isinstance(m, nn.Conv2d)]
    wide_convs = [m for m in wide.modules() if isinstance(m, nn.Conv2d)]
    for b, w in zip(base_convs[:-1], wide_convs[:-1], strict=True):
        assert w.out_channels == 2 * b.out_channels
    assert wide_convs[-1].out_channels == 3  # the class-evidence maps stay one per class
    assert wide(torch.zeros(2, 1, 64, 64)).shape == (2, 3)


def test_a_widened_models_metadata_rebuilds_it_for_serving(tmp_path, sample_bytes):
    from inference.export import export_model
    from inference.predictor import Predictor

    wide = DarkCovidNet(input_size=64, width=2)
    weights = export_model(
        wide,
        weights_dir=tmp_path,
        name="wide",
        input_size=64,
        temperature=1.0,
        margin=0.0,
        equalize="none",
        thresholds={"covid_high": 0.5, "covid_medium": 0.2},
        extra={},
        width=2,
    )
    p = Predictor.load(weights, device="cpu")  # strict state-dict load: the shapes must match
    assert p.model.width == 2 and "x2" in p.metadata["architecture"]
    assert set(p.predict(sample_bytes["covid"])["probabilities"]) == set(p.classes)
