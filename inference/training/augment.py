"""Training-only batch augmentations beyond fastai's: sensor noise, softness and gamma."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from fastai.vision.all import TensorImage, Transform


class RandomNoiseBlur(Transform):
    """Per image, with probability ``p`` each: Gaussian noise, and a 3x3 box blur.

    Archive scans and journal figures differ in grain and sharpness; randomising both makes
    them worse cues for the class.
    """

    split_idx, order = 0, 90  # train only; after lighting/affine, before Normalize (99)

    def __init__(self, p: float = 0.5, max_sigma: float = 0.04) -> None:
        super().__init__()
        self.p, self.max_sigma = p, max_sigma

    def encodes(self, x: TensorImage) -> TensorImage:
        n = x.shape[0]
        blur_mask = (torch.rand(n, 1, 1, 1, device=x.device) < self.p).to(x.dtype)
        blurred = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        x = x * (1 - blur_mask) + blurred * blur_mask
        noise_mask = (torch.rand(n, 1, 1, 1, device=x.device) < self.p).to(x.dtype)
        sigma = torch.rand(n, 1, 1, 1, device=x.device) * self.max_sigma
        return (x + torch.randn_like(x) * sigma * noise_mask).clamp_(0.0, 1.0)


class RandomGamma(Transform):
    """Per image, with probability ``p``: x ** gamma, log-uniform in [1/max_gamma, max_gamma].

    Film/detector response curves differ between sources; fastai's lighting transform only
    shifts brightness and contrast linearly in logit space.
    """

    split_idx, order = 0, 85  # train only; before noise/blur (90) and Normalize (99)

    def __init__(self, p: float = 0.8, max_gamma: float = 1.8) -> None:
        super().__init__()
        self.p, self.log_max = p, float(torch.log(torch.tensor(max_gamma)))

    def encodes(self, x: TensorImage) -> TensorImage:
        n = x.shape[0]
        log_gamma = (torch.rand(n, 1, 1, 1, device=x.device) * 2 - 1) * self.log_max
        apply = (torch.rand(n, 1, 1, 1, device=x.device) < self.p).to(x.dtype)
        gamma = torch.exp(log_gamma * apply)
        return x.clamp(1e-6, 1.0).pow(gamma)
