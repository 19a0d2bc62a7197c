"""Several DarkCovidNets (the fold models of one CV) served as one model.

The ensemble's output is ``T * log(mean_k softmax(z_k / T))``: the predictor's usual
``softmax(output / T)`` then gives exactly the mean of the members' calibrated probabilities, so a
caller that treats it as one DarkCovidNet (same input, same temperature, same thresholds, same
``features`` -> ``head_conv`` -> ``classifier`` stages) gets the averaged ensemble.
"""

from __future__ import annotations

import torch
from torch import nn

from inference.model import DarkCovidNet


class _Stage(nn.Module):
    """One stage (features, head_conv or classifier) run on every member.

    The members are held in a plain tuple, not registered here, so the ensemble's state dict
    keeps exactly ``members.K.*``; copies (``copy.deepcopy``) keep pointing at the copied members.
    Inputs and outputs stack the members along the channel dimension.
    """

    def __init__(self, members: nn.ModuleList, stage: str, split: int | None) -> None:
        super().__init__()
        self._members = tuple(members)
        self.stage, self.split = stage, split

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = x.chunk(len(self._members), dim=1) if self.split else [x] * len(self._members)
        return torch.cat(
            [getattr(m, self.stage)(part) for m, part in zip(self._members, parts, strict=True)],
            dim=1,
        )


class _Combine(nn.Module):
    """Members' logits, stacked on dim 1 -> T * log(mean of the members' softmax(z / T))."""

    def __init__(self, n: int, temperature: float) -> None:
        super().__init__()
        self.n, self.temperature = n, temperature

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = torch.stack(z.chunk(self.n, dim=1))  # [members, batch, classes]
        mean = torch.softmax(z / self.temperature, dim=2).mean(dim=0)
        return self.temperature * torch.log(mean.clamp_min(1e-12))


class DarkCovidNetEnsemble(nn.Module):
    """``classifier(head_conv(features(x)))`` is the ensemble's output, as for one DarkCovidNet,
    so Grad-CAM (which hooks ``features[-1]``) and the serving engines treat it as one network:
    its "features" are the members' last blocks side by side (Grad-CAM then sums every member's
    evidence for the ensemble's score)."""

    def __init__(self, members: list[DarkCovidNet], *, temperature: float = 1.0) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.temperature = float(temperature)
        self.input_size = members[0].input_size
        self.in_channels = members[0].in_channels
        # Not submodules (see _Stage): assigned through object.__setattr__.
        object.__setattr__(self, "features", nn.Sequential(_Stage(self.members, "features", None)))
        object.__setattr__(self, "head_conv", _Stage(self.members, "head_conv", len(members)))
        object.__setattr__(
            self,
            "classifier",
            nn.Sequential(
                _Stage(self.members, "classifier", len(members)),
                _Combine(len(members), self.temperature),
            ),
        )

    @classmethod
    def build(
        cls,
        n: int,
        *,
        input_size: int,
        in_channels: int = 1,
        temperature: float = 1.0,
        width: int = 1,
    ) -> DarkCovidNetEnsemble:
        members = [
            DarkCovidNet(input_size=input_size, in_channels=in_channels, width=width)
            for _ in range(n)
        ]
        return cls(members, temperature=temperature)

    def member_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """[n_members, batch, classes]: each member's calibrated probabilities."""
        return torch.stack([torch.softmax(m(x) / self.temperature, dim=1) for m in self.members])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head_conv(self.features(x)))

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))


def build_classifier(metadata: dict) -> nn.Module:
    """The empty network a weights file's metadata describes: one DarkCovidNet, or an ensemble
    of ``metadata["ensemble"]["members"]`` with the metadata's temperature; ``width`` when
    the channels were widened."""
    size, channels = int(metadata["input_size"]), int(metadata.get("in_channels", 1))
    width = int(metadata.get("width", 1))  # absent: the published width
    members = int(metadata.get("ensemble", {}).get("members", 0))
    if not members:
        return DarkCovidNet(input_size=size, in_channels=channels, width=width)
    return DarkCovidNetEnsemble.build(
        members,
        input_size=size,
        in_channels=channels,
        temperature=float(metadata.get("temperature", 1.0)),
        width=width,
    )
