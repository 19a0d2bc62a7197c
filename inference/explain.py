"""Grad-CAM of a served model, laid back on the film, for models whose inputs differ in geometry.

A model may read several preprocessings of one film, one input channel each (metadata
``preprocessing.inputs``): the whole film, and the film cut to its lungs' box by the lung model
(``inference.lungs``). Their pixels sit at different places of the film, so one map summed over
all members would add evidence from different places. Instead each input gets its own map (its
members' channels only: ``input_cams``), each map is laid on the film through its own input's
box (``Frame``), and the maps are added there (``laid_on_film``). A model with one input keeps
the usual Grad-CAM map, unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from inference.geometry import crop_box
from inference.gradcam import cam_from_grads, cam_raw, heat_on_original

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Frame:
    """Where one model input lies in the decoded film: the 8-bit array the input was made from
    (the film itself, or its lung-cut part) and that array's top-left corner in the film."""

    array: np.ndarray
    offset: tuple[int, int] = (0, 0)
    # What the lung model saw on the film, when this input was cut by it (the worker's check).
    lungs: Any = None

    def box(self, *, margin: float) -> Box:
        """(top, bottom, left, right) on the film of what the model input shows."""
        top, bottom, left, right = crop_box(self.array, margin=margin)
        dy, dx = self.offset
        return top + dy, bottom + dy, left + dx, right + dx


def input_groups(member_inputs: Sequence[int] | None, channels: int) -> list[list[int]] | None:
    """For each input, the channels of the hooked activations that its members produce (members'
    blocks sit side by side, in member order); ``None`` when every member reads the same input."""
    if not member_inputs or len(set(member_inputs)) == 1:
        return None
    per_member = channels // len(member_inputs)
    return [
        [
            k * per_member + j
            for k, c in enumerate(member_inputs)
            if c == want
            for j in range(per_member)
        ]
        for want in range(max(member_inputs) + 1)
    ]


def input_cams(
    grads: torch.Tensor,
    activations: torch.Tensor,
    size: torch.Size,
    groups: list[list[int]] | None,
) -> list[np.ndarray]:
    """One image's Grad-CAM maps, one per input (both tensors [1, C, h, w]).

    One input: the usual min-max scaled map (``cam_from_grads``). Several: ReLU(sum_c w_c A_c)
    over each input's own channels, upsampled to the input size and all divided by one common
    maximum, so the maps keep their relative strength when ``laid_on_film`` adds them."""
    if groups is None:
        return [cam_from_grads(grads, activations, size)]
    raw = [cam_raw(grads[:, g], activations[:, g], size) for g in groups]
    peak = max(float(r.max()) for r in raw)
    return [(r / peak if peak > 0 else np.zeros_like(r)).astype(np.float32) for r in raw]


def laid_on_film(
    heats: list[np.ndarray],
    film: np.ndarray,
    boxes: list[Box],
    *,
    margin: float,
    max_side: int | None,
) -> np.ndarray:
    """The maps of one class (one per input) on the film, added and scaled to [0, 1]."""
    if len(heats) == 1:
        return heat_on_original(heats[0], film, margin=margin, max_side=max_side, box=boxes[0])
    total = sum(
        heat_on_original(h, film, margin=margin, max_side=max_side, box=b)
        for h, b in zip(heats, boxes, strict=True)
    )
    peak = float(total.max())
    return total / peak if peak > 0 else total


def model_groups(model: torch.nn.Module) -> list[list[int]] | None:
    """``input_groups`` of a served network (None for one DarkCovidNet or a one-input ensemble)."""
    inputs = getattr(model, "member_inputs", None)
    if not inputs:
        return None
    # head_conv reads the hooked block: its input channels are one member's share.
    return input_groups(inputs, len(inputs) * model.members[0].head_conv[0].in_channels)


def head_cams(
    model: torch.nn.Module,
    activations: torch.Tensor,
    picks: list[list[int]],
    size: torch.Size,
    *,
    device: torch.device,
) -> list[dict[int, list[np.ndarray]]]:
    """Each film's Grad-CAM maps from the hooked activations of a batch [n, C, h, w] (computed
    without autograd, by torch or an engine): the small head runs once more with autograd, and
    one backward pass per slot of ``picks`` (film i's classes) serves the whole batch (films do
    not interact in eval mode). Film i's maps: class -> one map per input (``input_cams``)."""
    groups = model_groups(model)
    maps: list[dict[int, list[np.ndarray]]] = [{} for _ in picks]
    slots = len(picks[0]) if picks else 0
    with torch.inference_mode(False), torch.enable_grad():
        a = activations.detach().clone().to(device).requires_grad_(True)
        head = model.classifier(model.head_conv(a))
        if hasattr(model, "class_scores"):  # an ensemble with units: one score per class
            head = model.class_scores(head)
        for slot in range(slots):
            target = sum(head[i, chosen[slot]] for i, chosen in enumerate(picks))
            (grads,) = torch.autograd.grad(target, a, retain_graph=slot < slots - 1)
            for i, chosen in enumerate(picks):  # the maps of film i from its own rows
                if chosen[slot] not in maps[i]:
                    maps[i][chosen[slot]] = input_cams(grads[i : i + 1], a[i : i + 1], size, groups)
    return maps
