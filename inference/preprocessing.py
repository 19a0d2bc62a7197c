"""One preprocessing implementation, shared by training (validation transform) and serving.

image bytes / PIL image
  -> decode to 8-bit grayscale                       (``decode.decode_image``)
  -> trim uniform borders, crop a fixed margin        (frames, captions, burnt-in markers)
  -> squash-resize to size x size                      (keeps the whole chest in view)
  -> histogram equalisation                            (removes source-specific exposure/contrast)
     (global by default; ``equalize="clahe"`` for contrast-limited adaptive equalisation)
  -> uint8 array  -> float in [0, 1] -> (x - MEAN) / STD -> tensor [1, size, size]

Training caches the uint8 arrays and applies augmentation and the same normalisation on
batches; serving calls ``preprocess``. ``PREPROCESSING_VERSION`` is recorded in the model
metadata and must change whenever any step here changes.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageOps

from inference.decode import decode_image, to_grayscale

# Border trimming and margins live in the torch-free geometry module (the gate uses them too).
from inference.geometry import BORDER_STD, MARGIN, crop_margin, trim_uniform_border  # noqa: F401

PREPROCESSING_VERSION = "2"
DEFAULT_SIZE = 256
# Variants a model may be trained with; its metadata records which (``Predictor`` follows it).
EQUALIZERS = ("global", "clahe", "none")
# After equalisation pixel values are ~uniform on [0, 1]: mean 0.5, std 1/sqrt(12) ~ 0.29.
MEAN = 0.5
STD = 0.29


def load_grayscale(image: bytes | Image.Image) -> Image.Image:
    if isinstance(image, (bytes, bytearray, memoryview)):
        return decode_image(bytes(image))
    image.load()
    return to_grayscale(image)


def equalize_array(resized: Image.Image, *, method: str = "global") -> np.ndarray:
    if method == "global":
        return np.array(ImageOps.equalize(resized), dtype=np.uint8)
    if method == "clahe":
        # Local equalisation keeps lung texture contrast that one global curve flattens.
        from skimage.exposure import equalize_adapthist

        out = equalize_adapthist(np.asarray(resized), clip_limit=0.01)
        return np.round(out * 255.0).astype(np.uint8)
    if method == "none":  # ablation only: leaves each source's exposure as it came
        return np.array(resized, dtype=np.uint8)
    raise ValueError(f"equalize must be one of {EQUALIZERS}, not {method!r}")


def to_model_array(
    image: bytes | Image.Image,
    *,
    size: int = DEFAULT_SIZE,
    margin: float = MARGIN,
    equalize: str = "global",
    lungs=None,
) -> np.ndarray:
    """The deterministic part of preprocessing: an equalised ``size x size`` uint8 array.

    ``lungs`` (an ``inference.lungs.LungFinder``, for a model trained with the lung crop): crop
    the decoded film to its lungs' box first (uncropped when no lungs are found)."""
    if lungs is not None:
        from inference.lungs import lung_cropped

        image = lung_cropped(image, lungs)
    gray = load_grayscale(image)
    arr = crop_margin(trim_uniform_border(np.asarray(gray, dtype=np.uint8)), margin=margin)
    resized = Image.fromarray(np.ascontiguousarray(arr), mode="L").resize(
        (size, size), Image.Resampling.BILINEAR
    )
    return equalize_array(resized, method=equalize)


def normalize(batch: torch.Tensor, *, mean: float = MEAN, std: float = STD) -> torch.Tensor:
    """uint8 (or float in [0, 1]) tensor -> the model's normalised float input (``mean``/``std``:
    the model metadata's ``normalization``)."""
    if batch.dtype == torch.uint8:
        batch = batch.float().div_(255.0)
    return (batch - mean) / std


def preprocess(
    image: bytes | Image.Image,
    *,
    size: int = DEFAULT_SIZE,
    margin: float = MARGIN,
    equalize: str = "global",
    mean: float = MEAN,
    std: float = STD,
    lungs=None,
) -> torch.Tensor:
    """Serving path: image -> float tensor [1, size, size]."""
    arr = to_model_array(image, size=size, margin=margin, equalize=equalize, lungs=lungs)
    return normalize(torch.from_numpy(arr).unsqueeze(0), mean=mean, std=std)
