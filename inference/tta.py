"""Test-time augmentation: a few fixed views of each preprocessed film, one definition for the
CV's measurement (``scripts.tta_eval``) and for serving (``Predictor``, when the weights'
metadata names views under ``"tta"``).

    views = tta_views(x01, ["zoom1.04", "zoom1.08"])   # [2n, C, s, s], view-major, in [0, 1]
    check_tta_views(metadata["tta"]["views"])         # known names, "identity" first

A view is an affine transform of the preprocessed image (``x`` in [0, 1], before normalisation,
so a rotation's empty corners are black as in training), by torchvision's ``affine`` with
bilinear interpolation. Torch is imported inside the functions: ``inference.metadata`` checks the
names without loading it.
"""

from __future__ import annotations

from collections.abc import Sequence

VIEWS: dict[str, dict[str, float]] = {
    "identity": {},
    "rot+7": {"angle": 7.0},
    "rot-7": {"angle": -7.0},
    "zoom1.08": {"scale": 1.08},
    "zoom1.04": {"scale": 1.04},
    "zoom0.94": {"scale": 0.94},
}
IDENTITY = "identity"


def check_tta_views(views: Sequence[str]) -> tuple[str, ...]:
    """The views as a tuple, or ValueError: unknown names, repeats, or "identity" not first
    (the served Grad-CAM explains the identity view, so it must be one of them, and first)."""
    views = tuple(views)
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise ValueError(f"unknown test-time views {unknown}; known: {sorted(VIEWS)}")
    if len(set(views)) != len(views):
        raise ValueError(f"test-time views repeat: {list(views)}")
    if not views or views[0] != IDENTITY:
        raise ValueError(f"test-time views must start with {IDENTITY!r}, got {list(views)}")
    return views


def tta_view(x01, name: str):
    """One view of a batch ``x01`` [n, C, s, s] in [0, 1] (returned as is for "identity")."""
    from torchvision.transforms.v2 import functional as F

    v = VIEWS[name]
    if not v:
        return x01
    return F.affine(
        x01,
        angle=v.get("angle", 0.0),
        translate=[0, 0],
        scale=v.get("scale", 1.0),
        shear=[0.0],
        interpolation=F.InterpolationMode.BILINEAR,
    )


def tta_views(x01, views: Sequence[str]):
    """The views of ``x01`` stacked view-major: rows ``k*n .. (k+1)*n - 1`` are view ``k``."""
    import torch

    return torch.cat([tta_view(x01, name) for name in views])
