"""Tiny generated data sets for the training smoke tests: per class a few 96 px films with an
ellipse whose place and brightness give the class away, so that one epoch learns something."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def tiny_dataset_write(
    root: Path, *, per_class: int, seed: int, sources: int | None = None, group_size: int = 2
) -> Path:
    """Films under ``root/<label>/`` and a ``manifest.csv`` (groups of ``group_size`` films);
    with ``sources``, a source column spreading each class's films over that many sites."""
    rng = np.random.default_rng(seed)
    rows = ["path,label,group" + (",source" if sources else "")]
    for k, label in enumerate(("covid", "normal", "pneumonia")):
        (root / label).mkdir()
        for i in range(per_class):
            img = Image.fromarray(rng.integers(0, 80, size=(96, 96), dtype=np.uint8))
            ImageDraw.Draw(img).ellipse((10 + 10 * k, 20, 60 + 8 * k, 80), fill=120 + 40 * k)
            img.save(root / label / f"{i}.png")
            row = f"{label}/{i}.png,{label},{label}-{i // group_size}"
            rows.append(row + (f",site-{i % sources}" if sources else ""))
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root
