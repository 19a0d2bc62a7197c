"""Torch-free crop geometry shared by preprocessing, the gate and Grad-CAM (the web process, which
runs the gate, never needs torch).

``inference.preprocessing`` imports ``trim_uniform_border`` and ``crop_margin`` from here (one
implementation); ``crop_box`` says where that crop lies on the decoded image, which is how
``gradcam.heat_on_original`` puts a heatmap back over the radiograph.
``tests/inference/test_gate.py`` checks that ``crop_box`` is exactly the region the model sees.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# The model's default centre crop and the flatness below which a border row/column is trimmed.
MARGIN = 0.06
BORDER_STD = 4.0
_BAND_ROWS = 64


def _exact(arr: np.ndarray) -> bool:
    return arr.ndim == 2 and np.issubdtype(arr.dtype, np.integer) and arr.dtype.itemsize <= 2


def _moments(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-row and per-column sums of x and x^2 of an 8/16-bit image, exact (int64), in
    cache-sized bands of rows: 3-4x faster than numpy's float64 std on a 2048 px film
    (python -m benchmarks.intake)."""
    height, width = arr.shape
    work = np.int32 if arr.dtype.itemsize == 1 else np.int64  # 255^2 fits; 65535^2 does not
    row_sum, row_sq = np.empty(height, np.int64), np.empty(height, np.int64)
    col_sum, col_sq = np.zeros(width, np.int64), np.zeros(width, np.int64)
    for start in range(0, height, _BAND_ROWS):
        band = arr[start : start + _BAND_ROWS].astype(work)
        squares = band * band
        row_sum[start : start + _BAND_ROWS] = band.sum(axis=1, dtype=np.int64)
        row_sq[start : start + _BAND_ROWS] = squares.sum(axis=1, dtype=np.int64)
        col_sum += band.sum(axis=0, dtype=np.int64)
        col_sq += squares.sum(axis=0, dtype=np.int64)
    return row_sum, row_sq, col_sum, col_sq


def _kept(arr: np.ndarray, max_std: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns whose standard deviation exceeds ``max_std``."""
    if not _exact(arr):
        return arr.std(axis=1) > max_std, arr.std(axis=0) > max_std
    # The same test in exact integer arithmetic: n * sum x^2 - (sum x)^2 > (max_std * n)^2.
    # Every screening computes this box three times (preprocessing, two heatmaps).
    height, width = arr.shape
    row_sum, row_sq, col_sum, col_sq = _moments(arr)
    rows = width * row_sq - row_sum * row_sum > (max_std * width) ** 2
    cols = height * col_sq - col_sum * col_sum > (max_std * height) ** 2
    return rows, cols


def image_std(arr: np.ndarray) -> float:
    """``float(arr.std())``; for an 8-bit image from its histogram (PIL, in C: exact integer
    sums) instead of numpy's float64 pass over every pixel (the lung check's flatness test on
    every film; BENCHMARKS.md section 2)."""
    arr = np.asarray(arr)
    if arr.ndim != 2 or arr.dtype != np.uint8 or arr.size == 0:
        return float(arr.std())
    counts = Image.fromarray(np.ascontiguousarray(arr), mode="L").histogram()
    n = arr.size
    s1 = sum(v * c for v, c in enumerate(counts))
    s2 = sum(v * v * c for v, c in enumerate(counts))
    return float(np.sqrt(max(0, n * s2 - s1 * s1))) / n


def fit_within(shape: tuple[int, int], max_side: int | None) -> tuple[float, tuple[int, int]]:
    """(scale, (height, width)) of an image of ``shape`` shrunk so that its longest side is at
    most ``max_side`` (never enlarged; None: as it is): one rule for a heatmap's size wherever it
    is laid out (``gradcam.heat_on_original``) or encoded (``pipeline.render_heatmap``)."""
    height, width = shape
    scale = 1.0 if max_side is None else min(1.0, max_side / max(height, width))
    return scale, (max(1, round(height * scale)), max(1, round(width * scale)))


def trim_box(arr: np.ndarray, *, max_std: float = BORDER_STD) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) after dropping (nearly) flat outer rows/columns."""
    rows, cols = _kept(arr, max_std)
    if rows.sum() < arr.shape[0] // 2 or cols.sum() < arr.shape[1] // 2:
        return 0, arr.shape[0], 0, arr.shape[1]  # mostly flat: left for the gate to judge
    r0, r1 = int(np.argmax(rows)), len(rows) - int(np.argmax(rows[::-1]))
    c0, c1 = int(np.argmax(cols)), len(cols) - int(np.argmax(cols[::-1]))
    return r0, r1, c0, c1


def trim_uniform_border(arr: np.ndarray, *, max_std: float = BORDER_STD) -> np.ndarray:
    r0, r1, c0, c1 = trim_box(arr, max_std=max_std)
    return arr[r0:r1, c0:c1]


def crop_margin(arr: np.ndarray, *, margin: float = MARGIN) -> np.ndarray:
    h, w = arr.shape
    dy, dx = int(round(h * margin)), int(round(w * margin))
    return arr[dy : h - dy, dx : w - dx]


def crop_box(gray: np.ndarray, *, margin: float = MARGIN) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the region preprocessing keeps (border trim, then margin),
    expressed on the decoded image."""
    top, bottom, left, right = trim_box(np.asarray(gray))
    h, w = bottom - top, right - left
    dy, dx = int(round(h * margin)), int(round(w * margin))
    return top + dy, bottom - dy, left + dx, right - dx
