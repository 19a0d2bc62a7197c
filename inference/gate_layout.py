"""The gate's layout model: a PCA of chest-film thumbnails and the tail-score references,
fitted on training radiographs (``gate.fit_layout``) and shipped as ``inference/gate_layout.npz``
(arrays only, loaded with ``allow_pickle=False``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

GATE_VERSION = "1"
LAYOUT_PATH = Path(__file__).resolve().parent / "gate_layout.npz"
# Signals in the tail score and the direction in which a non-radiograph departs.
# Texture signals (detail, Laplacian) are left out on purpose: they mostly tell scanners and
# archives apart, and fitted on one dataset they refused 13% of the other one's radiographs.
TAIL_SIGNALS: dict[str, int] = {
    "entropy": -1,
    "flat_blocks": +1,
    "layout_residual": +1,
}


@dataclass
class LayoutModel:
    mean: np.ndarray  # [THUMB*THUMB]
    components: np.ndarray  # [k, THUMB*THUMB]
    variances: np.ndarray  # [k]
    references: dict[str, np.ndarray]  # sorted training values of each TAIL_SIGNALS signal
    residual_threshold: float
    mahalanobis_threshold: float
    tail_threshold: float
    framing_threshold: float
    n_images: int

    def project(self, thumb: np.ndarray) -> tuple[float, float]:
        centred = thumb - self.mean
        z = self.components @ centred
        residual = centred - self.components.T @ z
        return float(np.mean(residual**2)), float(np.mean(z**2 / self.variances))

    def tail_score(self, signals: dict[str, float]) -> float:
        total = 0.0
        for name, direction in TAIL_SIGNALS.items():
            ref = self.references[name]
            n = len(ref)
            x = signals[name]
            if direction > 0:
                count = n - int(np.searchsorted(ref, x, side="left"))
            else:
                count = int(np.searchsorted(ref, x, side="right"))
            total += -float(np.log((count + 1) / (n + 1)))
        return total


def save_layout(model: LayoutModel, path: Path = LAYOUT_PATH) -> None:
    arrays: dict[str, Any] = {
        "mean": model.mean.astype(np.float32),
        "components": model.components.astype(np.float32),
        "variances": model.variances.astype(np.float64),
        "thresholds": np.array(
            [
                model.residual_threshold,
                model.mahalanobis_threshold,
                model.tail_threshold,
                model.framing_threshold,
                model.n_images,
            ],
            dtype=np.float64,
        ),
        "version": np.array([int(GATE_VERSION)]),
    }
    for name, ref in model.references.items():
        arrays[f"ref_{name}"] = ref.astype(np.float64)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def load_layout(path: Path = LAYOUT_PATH) -> LayoutModel:
    with np.load(path, allow_pickle=False) as z:
        res_t, maha_t, tail_t, framing_t, n = (float(v) for v in z["thresholds"])
        return LayoutModel(
            mean=z["mean"].astype(np.float64),
            components=z["components"].astype(np.float64),
            variances=z["variances"].astype(np.float64),
            references={name: z[f"ref_{name}"] for name in TAIL_SIGNALS},
            residual_threshold=res_t,
            mahalanobis_threshold=maha_t,
            tail_threshold=tail_t,
            framing_threshold=framing_t,
            n_images=int(n),
        )


_LAYOUT: LayoutModel | None = None
_LAYOUT_LOADED = False


def default_layout() -> LayoutModel | None:
    """The shipped layout model (loaded once), or None if the file is missing."""
    global _LAYOUT, _LAYOUT_LOADED
    if not _LAYOUT_LOADED:
        _LAYOUT_LOADED = True
        if LAYOUT_PATH.is_file():
            _LAYOUT = load_layout(LAYOUT_PATH)
        else:
            log.warning("gate layout model %s missing: layout checks are off", LAYOUT_PATH)
    return _LAYOUT


def reload_layout() -> None:
    global _LAYOUT_LOADED
    _LAYOUT_LOADED = False
