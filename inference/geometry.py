"""Torch-free crop geometry shared by preprocessing, the gate and Grad-CAM (the web process, which
runs the gate, never needs torch).

``inference.preprocessing`` imports ``trim_uniform_border`` and ``crop_margin`` from here (one
implementation); ``crop_box`` says where that crop lies on the decoded image, which is how
``gradcam.heat_on_original`` puts a heatmap back over the radiograph.
``tests/inference/test_gate.py`` checks that ``crop_box`` is exactly the region the model sees.
"""

from __future__ import annotations

import numpy as np

# The model's default centre crop and the flatness below which a border row/column is trimmed.
MARGIN = 0.06
BORDER_STD = 4.0


def _kept(arr: np.ndarray, max_std: float) -> tuple[np.ndarray, np.ndarray]:
    return arr.std(axis=1) > max_std, arr.std(axis=0) > max_std


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
