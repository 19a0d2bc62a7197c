"""Grad-CAM heatmaps for DarkCovidNet, and PNG renderings the portal can overlay.

    heat = gradcam(model, x, class_index)         # float32 [s, s] in [0, 1], x: [1, 1, s, s]
    maps = gradcam_maps(model, x, [0, 2])          # one forward pass, several classes
    logits, maps = gradcam_pass(model, x, pick)    # the logits of that pass too (Predictor.analyse)
    heatmap_png(heat)        -> RGBA PNG (colour = heat, alpha grows with heat) for a CSS overlay
    overlay_png(gray, heat)  -> RGB PNG of the heat blended over the grey radiograph
    colorbar_png()           -> the colour scale (low -> high) for the legend
    heat_on_original(heat, gray) -> the heat mapped back onto the decoded image's geometry
    crop_box(gray)           -> where the model input lies in the decoded image (re-exported)

Layer choice: the activations are the *output of ``model.features[-1]``*, the last 256-channel
Conv-BN-LeakyReLU block (8x8 for a 256 px input), i.e. the input of ``model.head_conv``. That is
the last block with many channels and spatial extent; ``head_conv`` itself has only one map per
class, so Grad-CAM on it degenerates to that map.

Side effects: none. The model is put in eval mode for the pass and its mode restored; the forward
hook is removed in a ``finally``; gradients are taken with ``torch.autograd.grad`` (parameters'
``.grad`` are not touched), and in eval mode BatchNorm statistics do not move. The tests check
that the logits and the state dict are identical before and after, and that no hook is left.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from inference.geometry import MARGIN, crop_box, fit_within

__all__ = [
    "colorbar_png",
    "crop_box",
    "gradcam",
    "gradcam_maps",
    "gradcam_pass",
    "heat_on_original",
    "heatmap_png",
    "inferno",
    "jet",
    "overlay_png",
    "resize_heat",
    "target_layer",
]


def target_layer(model: nn.Module) -> nn.Module:
    """The hooked block: ``model.features[-1]`` (the input of ``model.head_conv``)."""
    return model.features[-1]


def gradcam_pass(
    model: nn.Module,
    x: torch.Tensor,
    class_indices: Sequence[int] | Callable[[torch.Tensor], Sequence[int]],
) -> tuple[torch.Tensor, dict[int, np.ndarray]]:
    """One forward pass: the logits [1, n_classes] and Grad-CAM maps for ``class_indices``.

    ``class_indices`` may be a function of the logits (e.g. "the predicted class and COVID-19"),
    so that the prediction and its explanation come from the same pass.
    """
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be [1, C, H, W], got {tuple(x.shape)}")
    device = next(model.parameters()).device
    x = x.detach().to(device)
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        captured.append(output)

    was_training = model.training
    handle = target_layer(model).register_forward_hook(hook)
    try:
        model.eval()
        with torch.inference_mode(False), torch.enable_grad():
            logits = model(x)
            chosen = class_indices(logits.detach()) if callable(class_indices) else class_indices
            indices = list(dict.fromkeys(int(i) for i in chosen))
            out = {
                index: _cam(logits, captured[-1], index, x.shape[-2:], retain=n < len(indices) - 1)
                for n, index in enumerate(indices)
            }
    finally:
        handle.remove()
        model.train(was_training)
    return logits.detach(), out


def _cam(
    logits: torch.Tensor,
    activations: torch.Tensor,
    index: int,
    size: torch.Size,
    *,
    retain: bool,
) -> np.ndarray:
    (grads,) = torch.autograd.grad(logits[0, index], activations, retain_graph=retain)
    return cam_from_grads(grads, activations, size)


def cam_raw(grads: torch.Tensor, activations: torch.Tensor, size: torch.Size) -> np.ndarray:
    """ReLU(sum_c mean(dy/dA_c) * A_c) of one image (both tensors [1, C, h, w]), bilinearly
    upsampled to ``size``, not yet scaled."""
    weights = grads.mean(dim=(2, 3), keepdim=True)  # [1, C, 1, 1]
    cam = torch.relu((weights * activations).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)
    return cam[0, 0].detach().float().cpu().numpy()


def cam_from_grads(grads: torch.Tensor, activations: torch.Tensor, size: torch.Size) -> np.ndarray:
    """The Grad-CAM map of one image from its gradients and activations (both [1, C, h, w])."""
    cam = cam_raw(grads, activations, size)
    low, high = float(cam.min()), float(cam.max())
    scaled = (cam - low) / (high - low) if high > low else np.zeros_like(cam)
    return scaled.astype(np.float32)


def gradcam_maps(
    model: nn.Module, x: torch.Tensor, class_indices: Sequence[int]
) -> dict[int, np.ndarray]:
    """Grad-CAM for several classes from one forward pass; see ``gradcam``."""
    return gradcam_pass(model, x, class_indices)[1]


def gradcam(model: nn.Module, x: torch.Tensor, class_index: int) -> np.ndarray:
    """Grad-CAM of ``class_index`` for one preprocessed input ``x`` [1, 1, s, s].

    Returns float32 [s, s] in [0, 1]: ReLU(sum_c mean(dy/dA_c) * A_c) on the output A of the last
    256-channel block, bilinearly upsampled to the input size and min-max scaled to [0, 1] (as
    the usual Grad-CAM displays do; all zeros when the map is flat, e.g. no location speaks for
    the class).
    """
    return gradcam_maps(model, x, [class_index])[int(class_index)]


# --------------------------------------------------------------------------- colour
def jet(values: np.ndarray) -> np.ndarray:
    """[..] in [0, 1] -> [.., 3] uint8, the classic jet map (blue -> cyan -> yellow -> red)."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)[..., None]
    channels = np.array([3.0, 2.0, 1.0], dtype=np.float32)  # r, g, b centres on 4v
    rgb = np.clip(1.5 - np.abs(4.0 * v - channels), 0.0, 1.0)
    return np.round(rgb * 255.0).astype(np.uint8)


_INFERNO = np.array(
    [
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
    ],
    dtype=np.float32,
)


def inferno(values: np.ndarray) -> np.ndarray:
    """[..] in [0, 1] -> [.., 3] uint8, piecewise-linear approximation of matplotlib's inferno."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    pos = v * (len(_INFERNO) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(_INFERNO) - 2)
    frac = (pos - lo)[..., None]
    rgb = _INFERNO[lo] * (1 - frac) + _INFERNO[lo + 1] * frac
    return np.round(rgb).astype(np.uint8)


COLORMAPS = {"jet": jet, "inferno": inferno}


def _png(arr: np.ndarray, mode: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr), mode=mode).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _check_heat(heat: np.ndarray) -> np.ndarray:
    heat = np.asarray(heat, dtype=np.float32)
    if heat.ndim != 2:
        raise ValueError(f"heat must be 2-D, got shape {heat.shape}")
    return np.nan_to_num(np.clip(heat, 0.0, 1.0))


_HEAT_PALETTES: dict[tuple[str, int], tuple[bytes, bytes]] = {}
# zlib level of the heatmap PNGs: at 1024 px, 6 took ~3.6x the time of 1 for a file 1.6x smaller
# (BENCHMARKS.md); the worker's CPU is the scarce resource, a heatmap is ~0.1-0.2 MB either way.
HEATMAP_PNG_COMPRESS_LEVEL = 1


def _heat_palette(colormap: str, max_alpha: int) -> tuple[bytes, bytes]:
    """256 RGB entries and their alphas: entry i stands for sqrt(heat) = i / 255."""
    key = (colormap, int(max_alpha))
    if key not in _HEAT_PALETTES:
        level = np.arange(256, dtype=np.float32) / 255.0
        rgb = COLORMAPS[colormap](level**2)
        alpha = np.round(level * max_alpha).clip(0, 255).astype(np.uint8)
        _HEAT_PALETTES[key] = (rgb.tobytes(), alpha.tobytes())
    return _HEAT_PALETTES[key]


def heatmap_png(heat: np.ndarray, *, colormap: str = "jet", max_alpha: int = 255) -> bytes:
    """PNG with alpha: colour from ``colormap``, alpha rising with the heat (0 where heat is 0),
    so the page can lay it over the radiograph and scale the layer with a CSS opacity slider.

    Stored as an 8-bit palette image whose 256 entries carry their own alpha (PNG ``tRNS``;
    browsers and Pillow's ``convert("RGBA")`` expand it): one byte per pixel instead of four
    and no ``optimize`` pass, ~60x faster to encode and half the bytes of the RGBA file it
    replaces. The index is sqrt(heat) in 256 steps, so the alpha is round(sqrt(heat) * max_alpha)
    as before (exactly for the default 255, within one level otherwise); the colour is within a
    few levels of ``colormap(heat)`` (largest where the alpha is low).
    """
    heat = _check_heat(heat)
    index = np.rint(np.sqrt(heat) * 255.0).astype(np.uint8)
    palette, alphas = _heat_palette(colormap, max_alpha)
    image = Image.frombytes("P", (index.shape[1], index.shape[0]), np.ascontiguousarray(index))
    image.putpalette(palette, rawmode="RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=HEATMAP_PNG_COMPRESS_LEVEL, transparency=alphas)
    return buf.getvalue()


def overlay_png(
    gray: np.ndarray, heat: np.ndarray, *, alpha: float = 0.45, colormap: str = "jet"
) -> bytes:
    """RGB PNG of the heat blended over a grey image of the same shape (heat is resized if not)."""
    gray = np.asarray(gray)
    if gray.ndim != 2:
        raise ValueError(f"gray must be 2-D, got shape {gray.shape}")
    heat = _check_heat(heat)
    if heat.shape != gray.shape:
        heat = resize_heat(heat, gray.shape)
    base = np.repeat(gray.astype(np.float32)[..., None], 3, axis=-1)
    colour = COLORMAPS[colormap](heat).astype(np.float32)
    weight = (alpha * np.sqrt(heat))[..., None]
    blended = base * (1.0 - weight) + colour * weight
    return _png(np.round(blended).clip(0, 255).astype(np.uint8), "RGB")


def colorbar_png(width: int = 256, height: int = 12, *, colormap: str = "jet") -> bytes:
    """Horizontal colour scale, low (left) to high (right), for the page's legend."""
    ramp = np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (height, 1))
    return _png(COLORMAPS[colormap](ramp), "RGB")


# --------------------------------------------------------------------------- geometry
def resize_heat(heat: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    img = Image.fromarray(np.asarray(heat, dtype=np.float32), mode="F")
    return np.asarray(img.resize((shape[1], shape[0]), Image.Resampling.BILINEAR), np.float32)


def heat_on_original(
    heat: np.ndarray,
    gray: np.ndarray,
    *,
    margin: float = MARGIN,
    max_side: int | None = None,
    box: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Map a heatmap on the model input back onto the decoded image (zeros outside the crop).

    ``margin`` must be the model's own (``Predictor.margin``): a model trained with a wider centre
    crop sees a smaller part of the film. With ``max_side`` the map is laid on the image scaled
    so that its longest side is at most that (the size it is displayed and stored at): mapping a
    128 px map onto a 2048 px film first and shrinking it after cost 3-6x more (issue 14).
    ``box``: ``crop_box(gray, margin=margin)`` when the caller already has it (several maps of
    one film)."""
    gray = np.asarray(gray)
    scale, shape = fit_within(gray.shape, max_side)
    box = crop_box(gray, margin=margin) if box is None else box
    top, bottom, left, right = (round(v * scale) for v in box)
    out = np.zeros(shape, np.float32)
    if bottom > top and right > left:
        out[top:bottom, left:right] = resize_heat(_check_heat(heat), (bottom - top, right - left))
    return out
