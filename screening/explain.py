"""Grad-CAM heatmaps for a completed prediction (worker side; imports torch lazily).

The model sees a cropped and squashed copy of the radiograph (``inference.preprocessing``: trim
uniform borders, crop 6 % margins, squash-resize). ``inference.gradcam.heat_on_original`` maps
the heat computed on that input back onto the decoded image's own geometry (zeros outside the
crop), so the stored RGBA PNG lies exactly over the stored radiograph when both are stretched to
the same box on the page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings

from inference.constants import CLASSES

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

logger = logging.getLogger(__name__)

COVID = "covid"


@dataclass(frozen=True)
class RenderedHeatmap:
    class_label: str
    png_bytes: bytes
    width: int
    height: int


def heatmap_classes(label: str) -> list[str]:
    """The predicted class, and COVID-19 as well when it is not the prediction."""
    return [label] if label == COVID else [label, COVID]


def _display_shape(height: int, width: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def heatmaps_compute(*, predictor: Any, image: Image.Image, label: str) -> list[RenderedHeatmap]:
    """Grad-CAM PNGs for ``heatmap_classes(label)`` on ``image`` (the decoded "L" radiograph).

    Uses the already loaded predictor's model and its own preprocessing; the probabilities the
    worker stores come from ``predictor.predict`` and are not touched (Grad-CAM runs the model in
    eval mode without changing any parameter or statistic).
    """
    import numpy as np

    from inference.gradcam import gradcam_maps, heat_on_original, heatmap_png, resize_heat

    labels = heatmap_classes(label)
    x = predictor.preprocess(image).unsqueeze(0)  # [1, 1, s, s]
    maps = gradcam_maps(predictor.model, x, [CLASSES.index(c) for c in labels])
    gray = np.asarray(image, dtype=np.uint8)
    height, width = _display_shape(*gray.shape, settings.HEATMAP_MAX_SIDE)
    rendered = []
    for class_label in labels:
        heat = heat_on_original(maps[CLASSES.index(class_label)], gray, margin=predictor.margin)
        if heat.shape != (height, width):
            heat = resize_heat(heat, (height, width))
        rendered.append(
            RenderedHeatmap(
                class_label=class_label, png_bytes=heatmap_png(heat), width=width, height=height
            )
        )
    return rendered


def heatmaps_compute_safely(
    *, predictor: Any, image: Image.Image, label: str
) -> list[RenderedHeatmap]:
    """``heatmaps_compute``, or none at all: a heatmap failure never fails the screening."""
    if not settings.INFERENCE_HEATMAPS or getattr(predictor, "model", None) is None:
        return []
    try:
        return heatmaps_compute(predictor=predictor, image=image, label=label)
    except Exception:  # noqa: BLE001 - the prediction stands without its explanation
        logger.exception("Grad-CAM heatmaps could not be computed")
        return []
