"""``heatmap_png``: an 8-bit palette PNG with per-entry alpha that draws as the RGBA heatmap."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from inference.gradcam import heatmap_png, inferno, jet


@pytest.fixture(scope="module")
def heat() -> np.ndarray:
    """A smooth map like Grad-CAM's (8x8 upsampled), zeros outside a box, every level present."""
    y, x = np.mgrid[0:300, 0:240].astype(np.float32)
    smooth = (np.sin(x / 37.0) * np.cos(y / 23.0) + 1.0) / 2.0
    smooth[:40] = 0.0
    smooth[-1, :] = np.linspace(0.0, 1.0, 240)
    return smooth.astype(np.float32)


def decode(png: bytes) -> tuple[Image.Image, np.ndarray]:
    image = Image.open(io.BytesIO(png))
    return image, np.asarray(image.convert("RGBA")).astype(int)


def test_the_alpha_is_the_square_root_of_the_heat_exactly(heat):
    image, rgba = decode(heatmap_png(heat))
    assert (image.format, image.mode, image.size) == ("PNG", "P", (240, 300))
    assert "transparency" in image.info
    assert np.array_equal(rgba[..., 3], np.round(np.sqrt(heat) * 255).astype(int))
    assert rgba[:40, :, 3].max() == 0  # no heat, fully transparent


@pytest.mark.parametrize("colormap", [("jet", jet), ("inferno", inferno)], ids=["jet", "inferno"])
def test_the_colour_is_the_colormap_of_the_heat_within_a_few_levels(heat, colormap):
    name, cmap = colormap
    _, rgba = decode(heatmap_png(heat, colormap=name))
    assert np.abs(rgba[..., :3] - cmap(heat).astype(int)).max() <= 4


def test_a_lower_max_alpha_scales_the_alpha(heat):
    _, rgba = decode(heatmap_png(heat, max_alpha=128))
    expected = np.round(np.sqrt(heat) * 128).astype(int)
    assert np.abs(rgba[..., 3] - expected).max() <= 1 and rgba[..., 3].max() == 128


def test_nan_and_out_of_range_heat_are_clipped():
    heat = np.array([[np.nan, -1.0], [2.0, 0.25]], dtype=np.float32)
    _, rgba = decode(heatmap_png(heat))
    assert rgba[..., 3].tolist() == [[0, 0], [255, 128]]


def test_the_palette_file_is_smaller_than_the_same_map_in_truecolour(heat):
    _, rgba = decode(heatmap_png(heat))
    truecolour = io.BytesIO()
    Image.fromarray(rgba.astype(np.uint8), mode="RGBA").save(truecolour, format="PNG")
    assert len(heatmap_png(heat)) < len(truecolour.getvalue())
