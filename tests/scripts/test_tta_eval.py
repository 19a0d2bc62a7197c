"""Test-time augmentation averages the model's softmax over deterministic views."""

import numpy as np
import torch

from inference.model import DarkCovidNet
from inference.training.loop import predict_arrays
from scripts.tta_eval import tta_logits


def small_model():
    torch.manual_seed(0)
    return DarkCovidNet(input_size=32, in_channels=1).eval()


def arrays(n=3):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(n, 32, 32), dtype=np.uint8)


def test_the_identity_view_alone_gives_the_plain_predictions_up_to_a_constant():
    model, x = small_model(), arrays()
    plain = torch.softmax(
        torch.from_numpy(predict_arrays(model, x, device="cpu", norm="imagenet")), 1
    )
    tta = torch.softmax(
        torch.from_numpy(tta_logits(model, x, views=["identity"], norm="imagenet")), 1
    )
    assert np.allclose(plain.numpy(), tta.numpy(), atol=1e-5)


class Halves(torch.nn.Module):
    """Logits from the top, left and right parts of the film: any rotation or zoom changes them."""

    def forward(self, x):
        h = x.shape[-1] // 2
        parts = [
            x[..., :h, :].mean((1, 2, 3)),
            x[..., :, :h].mean((1, 2, 3)),
            x[..., h:].mean((1, 2, 3)),
        ]
        return torch.stack(parts, dim=1)


def test_several_views_give_the_mean_of_the_views_probabilities():
    model = Halves()
    x = (
        np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (2, 32, 1))
        // np.array([1, 2])[:, None, None]
    )
    x = x.astype(np.uint8)
    each = [np.exp(tta_logits(model, x, views=[v], norm="imagenet")) for v in ("identity", "rot+7")]
    both = np.exp(tta_logits(model, x, views=["identity", "rot+7"], norm="imagenet"))
    assert np.allclose(both, (each[0] + each[1]) / 2, atol=1e-5)
    assert not np.allclose(each[0], each[1], atol=1e-4)  # the rotation is a different view
