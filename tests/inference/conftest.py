"""Fixtures for the pure model-library tests (no Django needed: run with
``--confcutdir=tests/inference`` to skip the portal's conftest)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SAMPLES = ROOT / "tests" / "samples"
SAMPLE_NAMES = ("covid", "normal", "pneumonia")


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def sample_bytes() -> dict[str, bytes]:
    return {name: (SAMPLES / f"{name}.jpg").read_bytes() for name in SAMPLE_NAMES}


@pytest.fixture(scope="session")
def sample_gray() -> dict[str, np.ndarray]:
    """The sample radiographs as uint8 arrays, at most 256 px (small, fast DICOM builds)."""
    out = {}
    for name in SAMPLE_NAMES:
        img = Image.open(SAMPLES / f"{name}.jpg").convert("L")
        img.thumbnail((256, 256))
        out[name] = np.asarray(img, dtype=np.uint8)
    return out


@pytest.fixture(scope="session")
def dicom_dir() -> Path:
    return SAMPLES / "dicom"
