"""DarkCovidNet (Ozturk et al., 2020): 17 Conv-BN-LeakyReLU layers, a Darknet-19 derivative."""

from __future__ import annotations

import torch
from torch import nn

from inference.constants import CLASSES


def conv_block(ni: int, nf: int, size: int = 3, stride: int = 1) -> nn.Sequential:
    """Conv (no bias: BatchNorm follows) + BatchNorm + LeakyReLU(0.1), 'same' padding."""
    return nn.Sequential(
        nn.Conv2d(ni, nf, kernel_size=size, stride=stride, padding=(size - 1) // 2, bias=False),
        nn.BatchNorm2d(nf),
        nn.LeakyReLU(negative_slope=0.1, inplace=True),
    )


def triple_conv(ni: int, nf: int) -> nn.Sequential:
    """3x3 ni->nf, 1x1 nf->ni (bottleneck), 3x3 ni->nf."""
    return nn.Sequential(conv_block(ni, nf), conv_block(nf, ni, size=1), conv_block(ni, nf))


def maxpooling() -> nn.MaxPool2d:
    return nn.MaxPool2d(2, stride=2)


class DarkCovidNet(nn.Module):
    """The published layout; only the classifier's width depends on the input size.

    ``in_channels`` is 1: the portal feeds 8-bit grayscale radiographs (the paper replicated the
    grey channel three times, which adds parameters to the first layer and no information).
    ``width`` multiplies every layer's channels (1: the published 8-16-...-256; issue 9's
    "width x2" recipe is 2): same 17 layers, same blocks.
    """

    def __init__(
        self,
        *,
        input_size: int = 256,
        in_channels: int = 1,
        n_classes: int = len(CLASSES),
        width: int = 1,
    ) -> None:
        super().__init__()
        if input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32, got {input_size}")
        if width < 1:
            raise ValueError(f"width must be a positive integer, got {width}")
        self.input_size = input_size
        self.in_channels = in_channels
        self.width = width

        def c(n: int) -> int:
            return n * width

        self.features = nn.Sequential(
            conv_block(in_channels, c(8)),
            maxpooling(),
            conv_block(c(8), c(16)),
            maxpooling(),
            triple_conv(c(16), c(32)),
            maxpooling(),
            triple_conv(c(32), c(64)),
            maxpooling(),
            triple_conv(c(64), c(128)),
            maxpooling(),
            triple_conv(c(128), c(256)),
            conv_block(c(256), c(128), size=1),
            conv_block(c(128), c(256)),
        )
        # Last conv layer (the 17th): 256 -> n_classes maps, the "class evidence" maps that the
        # linear layer combines. Kept separate so Grad-CAM can hook the block before it.
        self.head_conv = conv_block(c(256), n_classes)
        side = input_size // 32
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(n_classes * side * side, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head_conv(self.features(x)))

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        """Globally pooled features of the last 256-channel block (for OOD / source checks)."""
        return self.features(x).mean(dim=(2, 3))


def count_conv_layers(model: nn.Module) -> int:
    return sum(1 for m in model.modules() if isinstance(m, nn.Conv2d))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
