"""The class-conditional source adversary (``--adversary``): the reversed gradient, its ramp,
and a tiny fold run whose saved model is a plain DarkCovidNet."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from inference import train
from inference.model import DarkCovidNet
from inference.training.adversary import (
    SourceAdversary,
    adversary_scale,
    reverse_gradient,
    scale_callback,
)
from tests.inference.tiny_data import tiny_dataset_write


def test_the_reversal_layer_passes_values_and_turns_the_gradient_around():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = reverse_gradient(x, 0.5)
    assert torch.equal(y, x)
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.allclose(x.grad, torch.tensor([-0.5, -1.0, -1.5]))


def test_the_adversary_weight_ramps_from_nothing_to_its_full_value():
    values = [adversary_scale(p, weight=0.8) for p in np.linspace(0, 1, 11)]
    assert values[0] == 0.0
    assert all(b > a for a, b in zip(values, values[1:], strict=False))
    assert values[-1] == pytest.approx(0.8, abs=1e-3)


def test_the_callback_sets_the_reversal_from_training_progress_before_each_batch():
    model = SourceAdversary(DarkCovidNet(input_size=64), n_classes=3, n_sources=2)
    callback = scale_callback(model, weight=0.8)
    for progress in (0.0, 0.3, 1.0):
        callback.learn = SimpleNamespace(pct_train=progress)
        callback.before_batch()
        assert model.scale == adversary_scale(progress, weight=0.8)
    assert model.scale > 0.7


def test_the_head_learns_the_source_while_the_network_is_pushed_the_other_way():
    torch.manual_seed(0)
    net = DarkCovidNet(input_size=64)
    model = SourceAdversary(net, n_classes=3, n_sources=4)
    x = torch.randn(6, 1, 64, 64)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    sources = torch.tensor([0, 1, 2, 3, 0, 1])

    def grads(scale: float):
        model.zero_grad()
        model.scale = scale
        model(x)
        model.source_loss(labels, sources).backward()
        return model.head[0].weight.grad.clone(), net.features[0][0].weight.grad.clone()

    head_on, net_on = grads(1.0)
    head_off, net_off = grads(0.0)
    # The head descends its own loss either way; the network gets the loss's gradient reversed,
    # and none at all before the ramp starts.
    assert torch.allclose(head_on, head_off)
    assert net_off.abs().max() == 0
    model.zero_grad()
    feats = net.features(x).mean(dim=(2, 3))
    logits = model.head(feats).view(-1, 3, 4)[torch.arange(6), labels]
    torch.nn.functional.cross_entropy(logits, sources).backward()
    assert torch.allclose(net_on, -net.features[0][0].weight.grad, atol=1e-6)


@pytest.fixture(scope="module")
def two_source_dataset(tmp_path_factory):
    """Every class from two sources (a manifest with a source column)."""
    return tiny_dataset_write(
        tmp_path_factory.mktemp("two-sources"), per_class=6, seed=3, sources=2
    )


def test_a_fold_trained_with_the_adversary_saves_a_plain_classifier_and_records_the_option(
    two_source_dataset, tmp_path
):
    common = ["--data", str(two_source_dataset), "--size", "64", "--epochs", "1", "--bs", "4"]
    common += ["--folds", "2", "--only-fold", "0"]
    assert train.main([*common, "--out", str(tmp_path / "plain")]) == 0
    assert train.main([*common, "--adversary", "1", "--out", str(tmp_path / "adv")]) == 0
    plain = json.loads((tmp_path / "plain" / "folds" / "fold-0.json").read_text())
    adv = json.loads((tmp_path / "adv" / "folds" / "fold-0.json").read_text())
    assert "adversary" not in plain["signature"]  # earlier rows' checkpoints still match
    assert adv["signature"]["adversary"] == 1.0
    assert not np.allclose(plain["logits"], adv["logits"])
    state = load_file(str(tmp_path / "adv" / "folds" / "fold-0.safetensors"))
    DarkCovidNet(input_size=64).load_state_dict(state)  # strict: no head, no wrapper prefix
