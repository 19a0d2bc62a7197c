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

    def __init__(
        self,
        members: nn.ModuleList,
        stage: str,
        split: int | None,
        inputs: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        self._members = tuple(members)
        self.stage, self.split, self.inputs = stage, split, inputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.split:
            parts = x.chunk(len(self._members), dim=1)
        elif self.inputs:  # each member reads its own input channel (see member_inputs)
            parts = [x[:, c : c + 1] for c in self.inputs]
        else:
            parts = [x] * len(self._members)
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


class _UnitMeans(nn.Module):
    """Members' logits, stacked on dim 1 -> for each unit (a group of members), the log of the
    mean of its members' (untempered) softmax: [batch, units * classes].

    A unit is what one fold of a mixed CV row measured (``inference.training.mix``): the fold's
    whole-film model and its lung-cut model, averaged before the temperature. Serving averages
    each unit over the test-time views, tempers it, then averages the units (Predictor)."""

    def __init__(
        self,
        n: int,
        units: tuple[tuple[int, ...], ...],
        weights: tuple[float, ...] | None = None,
    ) -> None:
        super().__init__()
        self.n, self.units = n, units
        # Each unit's members' shares of its mean (a weighted mix, scripts.mix_rows --weights),
        # normalised within the unit; None: equal shares.
        self.shares = (
            None
            if weights is None
            else [
                torch.tensor([weights[k] for k in unit], dtype=torch.float32).div_(
                    sum(weights[k] for k in unit)
                )
                for unit in units
            ]
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(torch.stack(z.chunk(self.n, dim=1)), dim=2)  # [members, batch, C]
        if self.shares is None:
            means = [probs[list(unit)].mean(dim=0) for unit in self.units]
        else:
            means = [
                torch.tensordot(share.to(probs), probs[list(unit)], dims=1)
                for unit, share in zip(self.units, self.shares, strict=True)
            ]
        return torch.log(torch.cat(means, dim=1).clamp_min(1e-12))


class DarkCovidNetEnsemble(nn.Module):
    """``classifier(head_conv(features(x)))`` is the ensemble's output, as for one DarkCovidNet,
    so Grad-CAM (which hooks ``features[-1]``) and the serving engines treat it as one network:
    its "features" are the members' last blocks side by side (Grad-CAM then sums every member's
    evidence for the ensemble's score).

    ``member_inputs``: for members that read different preprocessings of the film (the whole film
    and the lung-masked film, say), member k reads input channel ``member_inputs[k]`` of an
    input with one channel per preprocessing; ``None``: every member reads the whole input.
    ``units``: groups of members whose untempered probabilities are averaged first (a mixed
    row's folds); the output is then each unit's log-mean probabilities ([batch, units *
    classes], see ``_UnitMeans``), not one set of logits, and ``class_scores`` reduces it.
    ``member_weights`` (with units only): each member's weight in its unit's mean (a weighted
    mix of rows); None: equal. Plain floats, not tensors: the state dict stays the members'."""

    def __init__(
        self,
        members: list[DarkCovidNet],
        *,
        temperature: float = 1.0,
        member_inputs: list[int] | tuple[int, ...] | None = None,
        units: list[list[int]] | None = None,
        member_weights: list[float] | tuple[float, ...] | None = None,
    ) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.temperature = float(temperature)
        self.input_size = members[0].input_size
        self.member_inputs = tuple(int(c) for c in member_inputs) if member_inputs else None
        if self.member_inputs is None:
            self.in_channels = members[0].in_channels
        else:
            if len(self.member_inputs) != len(members) or min(self.member_inputs) < 0:
                raise ValueError(f"member_inputs {member_inputs} do not fit {len(members)} members")
            if any(m.in_channels != 1 for m in members):
                raise ValueError("members that read one input channel each must take one channel")
            self.in_channels = max(self.member_inputs) + 1
        self.units = tuple(tuple(int(k) for k in u) for u in units) if units else None
        if self.units and sorted(k for u in self.units for k in u) != list(range(len(members))):
            raise ValueError(f"units {units} must hold each of the {len(members)} members once")
        self.member_weights = (
            tuple(float(w) for w in member_weights) if member_weights is not None else None
        )
        if self.member_weights is not None and (
            not self.units
            or len(self.member_weights) != len(members)
            or min(self.member_weights) <= 0
        ):
            raise ValueError(
                f"member_weights {member_weights}: one positive weight per member, with units"
            )
        combine = (
            _UnitMeans(len(members), self.units, self.member_weights)
            if self.units
            else _Combine(len(members), self.temperature)
        )
        # Not submodules (see _Stage): assigned through object.__setattr__.
        object.__setattr__(
            self,
            "features",
            nn.Sequential(_Stage(self.members, "features", None, self.member_inputs)),
        )
        object.__setattr__(self, "head_conv", _Stage(self.members, "head_conv", len(members)))
        object.__setattr__(
            self,
            "classifier",
            nn.Sequential(
                _Stage(self.members, "classifier", len(members)),
                combine,
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
        member_inputs: list[int] | None = None,
        units: list[list[int]] | None = None,
        member_weights: list[float] | None = None,
    ) -> DarkCovidNetEnsemble:
        channels = 1 if member_inputs else in_channels
        members = [
            DarkCovidNet(input_size=input_size, in_channels=channels, width=width) for _ in range(n)
        ]
        return cls(
            members,
            temperature=temperature,
            member_inputs=member_inputs,
            units=units,
            member_weights=member_weights,
        )

    def member_input(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """What member k reads of the ensemble's input."""
        if self.member_inputs is None:
            return x
        c = self.member_inputs[k]
        return x[:, c : c + 1]

    def member_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """[n_members, batch, classes]: each member's calibrated probabilities."""
        return torch.stack(
            [
                torch.softmax(m(self.member_input(x, k)) / self.temperature, dim=1)
                for k, m in enumerate(self.members)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head_conv(self.features(x)))

    def class_scores(self, out: torch.Tensor) -> torch.Tensor:
        """[batch, classes] scores for Grad-CAM from the output: the output itself, or with
        units ``T * log(mean over units of softmax(unit log-mean / T))``, the film's calibrated
        ensemble probability on a log scale."""
        if not self.units:
            return out
        units = torch.stack(out.chunk(len(self.units), dim=1))  # [units, batch, classes]
        calibrated = torch.softmax(units / self.temperature, dim=2).mean(dim=0)
        return self.temperature * torch.log(calibrated.clamp_min(1e-12))

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).mean(dim=(2, 3))


def build_classifier(metadata: dict) -> nn.Module:
    """The empty network a weights file's metadata describes: one DarkCovidNet, or an ensemble
    of ``metadata["ensemble"]["members"]`` with the metadata's temperature (members reading
    their own input channel when ``metadata["ensemble"]["member_inputs"]`` says which, weighted
    within their units when ``["member_weights"]`` gives weights);
    ``width`` when the channels were widened."""
    size, channels = int(metadata["input_size"]), int(metadata.get("in_channels", 1))
    width = int(metadata.get("width", 1))  # absent: the published width
    ensemble = metadata.get("ensemble", {})
    members = int(ensemble.get("members", 0))
    if not members:
        return DarkCovidNet(input_size=size, in_channels=channels, width=width)
    model = DarkCovidNetEnsemble.build(
        members,
        input_size=size,
        in_channels=channels,
        temperature=float(metadata.get("temperature", 1.0)),
        width=width,
        member_inputs=ensemble.get("member_inputs"),
        units=ensemble.get("units"),
        member_weights=ensemble.get("member_weights"),
    )
    if model.in_channels != channels:
        raise ValueError(f"member_inputs need {model.in_channels} input channels, not {channels}")
    return model
