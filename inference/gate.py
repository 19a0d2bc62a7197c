"""Is it a frontal chest radiograph at all? A gate in front of the model, built from measurements.

    result = assess_decoded(decode_upload(data))     # or assess_image(img, original=colour)
    result.accepted, result.reason (user-facing), result.code, result.quality_flags, result.scores

The portal reaches the gate through ``inference.pipeline.intake`` (decode, gate, re-encode).
Torch-free: the web process that runs it never loads the model.

Signals (all cheap, computed on the image as the training data was prepared: shorter side at most
512 px):

* colour   -- fraction of strongly coloured pixels of the *original* upload (only when it was a
              colour image; radiographs are grey, so a PACS screenshot with a coloured annotation
              passes, a colour photo does not);
* blank    -- grey-level spread, or nearly all pixels at one grey level;
* document -- histogram entropy, the share of near-white pixels and of the most common grey level
              (the paper of a text page, the flat panels of a screenshot);
* smooth   -- fine detail left after a 2-pixel blur (gradients and drawings have none; every
              radiograph has film/detector grain and anatomy);
* texture  -- Laplacian and gradient energy (noise, text, fine patterns);
* aspect   -- width/height far outside any radiograph's;
* layout   -- a 32x32 thumbnail (uniform borders trimmed, margins cropped, z-scored) projected on
              the first principal components of the training radiographs: reconstruction residual
              and Mahalanobis distance in that subspace (a chest film's layout -- dark lungs either
              side of a bright mediastinum, shoulders, diaphragm -- is very regular);
* tail     -- a combined out-of-distribution score: the sum of -log one-sided tail probabilities
              of three signals (histogram entropy, share of flat 16x16 blocks, layout residual)
              against their empirical distribution on the training radiographs (catches images
              that are somewhat unusual in several ways at once).

Fixed thresholds (colour .. aspect) are set outside the whole range seen on the 1,645 training
radiographs; the layout and tail thresholds are fitted on them (``fit_layout``) and stored in
``inference/gate_layout.npz`` (``inference.gate_layout``; arrays only, loaded with
``allow_pickle=False``). The model's own penultimate features are not used on purpose: the gate
must not move when the weights are retrained. ``python -m inference.training.gate_eval``
measures the gate (reports/gate.md).

Quality flags (the image is accepted but the clinician is told): too dark, too bright, low
contrast, low resolution, heavily cropped (unusual aspect), unusual framing (layout residual in
the top 1% of the training radiographs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageFilter

from inference.decode import to_grayscale

# Re-exported for ``gate_eval`` (fits and saves the layout) and the tests.
from inference.gate_layout import (  # noqa: F401
    TAIL_SIGNALS,
    LayoutModel,
    default_layout,
    load_layout,
    reload_layout,
    save_layout,
)
from inference.geometry import crop_margin, trim_uniform_border

if TYPE_CHECKING:
    from inference.decode import DecodedImage

WORK_SIDE = 512  # shorter side, as the training images were prepared
DETAIL_SIDE = 256
THUMB = 32
N_COMPONENTS = 5

# Fixed thresholds. Ranges on the 1,645 training radiographs are in the comments.
COLOUR_CHROMA = 40  # max-min of R, G, B counted as "coloured"
COLOUR_FRACTION = 0.15  # radiographs: 0 (all grey)
MIN_STD = 10.0  # radiographs: 14.8 .. 82
MAX_MODE_FRACTION = 0.45  # one grey level +-2; radiographs: 0.011 .. 0.29 (paper, UI panels)
BLANK_MODE_FRACTION = 0.9  # nearly everything one grey level
MIN_ENTROPY = 4.8  # bits; radiographs: 5.76 .. 7.84
MAX_WHITE_FRACTION = 0.35  # pixels >= 250; radiographs: 0 .. 0.15
MIN_DETAIL = 0.45  # mean |x - blur(x)|; radiographs: 1.14 .. 11.9
MAX_LAPLACIAN = 30.0  # on the stretched copy; radiographs: 2.4 .. 23.6
MAX_GRADIENT = 22.0  # radiographs: 2.1 .. 16.2
ASPECT_RANGE = (0.5, 2.0)  # radiographs: 0.78 .. 1.68
# Quality flags.
DARK_MEAN, DARK_P99 = 70.0, 125.0  # radiographs: mean 58 .. 211, p99 123 .. 255
BRIGHT_MEAN, BRIGHT_P1 = 190.0, 100.0  # p1: 0 .. 110
LOW_CONTRAST_STD = 22.0
LOW_RESOLUTION_SIDE = 256
CROPPED_ASPECT = (0.7, 1.5)
# Layout/tail fitting: quantile and margin over the training radiographs' scores.
FIT_QUANTILE = 99.5
RESIDUAL_MARGIN, MAHALANOBIS_MARGIN, TAIL_MARGIN = 1.1, 2.0, 1.2
FRAMING_QUANTILE = 99.0
MESSAGES: dict[str, str] = {
    "colour": (
        "This looks like a colour photo or picture, not a chest X-ray. Upload the radiograph "
        "itself: the PNG, JPEG or DICOM file exported from the X-ray system or PACS."
    ),
    "blank": "The image is blank or almost uniform: there is no radiograph in it to screen.",
    "document": (
        "This looks like a document or a screenshot, not a chest X-ray. Upload the radiograph "
        "image itself."
    ),
    "smooth": "This looks like a drawing or a colour gradient, not a chest X-ray.",
    "texture": (
        "This image is mostly noise or fine pattern (such as text or a texture), not a chest X-ray."
    ),
    "aspect": "The image is far too narrow or too wide to be a chest radiograph.",
    "layout": (
        "This does not look like a frontal chest X-ray (PA or AP view). If it is one, upload the "
        "original, uncropped file from the X-ray system (DICOM if possible) rather than a photo "
        "or a screenshot."
    ),
}
MESSAGES["tail"] = MESSAGES["layout"]


@dataclass
class GateResult:
    accepted: bool
    reason: str | None = None  # user-facing, None when accepted
    code: str | None = None  # machine-readable reason: a key of MESSAGES
    quality_flags: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- measurements
def working_copy(img: Image.Image) -> Image.Image:
    """Grey, shorter side at most WORK_SIDE (Lanczos), like the training images."""
    gray = img if img.mode == "L" else to_grayscale(img.copy())
    w, h = gray.size
    if min(w, h) > WORK_SIDE:
        scale = WORK_SIDE / min(w, h)
        gray = gray.resize(
            (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS
        )
    return gray


def colour_fraction(original: Image.Image | None) -> float:
    if original is None or original.mode in ("L", "LA", "I", "I;16", "F", "1"):
        return 0.0
    rgb = original.convert("RGB")
    rgb.thumbnail((256, 256))
    arr = np.asarray(rgb, dtype=np.int16)
    chroma = arr.max(axis=-1) - arr.min(axis=-1)
    return float(np.mean(chroma > COLOUR_CHROMA))


def layout_thumbnail(gray: Image.Image) -> np.ndarray:
    arr = crop_margin(trim_uniform_border(np.asarray(gray, dtype=np.uint8)))
    small = Image.fromarray(np.ascontiguousarray(arr), mode="L").resize(
        (THUMB, THUMB), Image.Resampling.BOX
    )
    t = np.asarray(small, dtype=np.float64).ravel()
    return (t - t.mean()) / (t.std() + 1e-6)


def measure(img: Image.Image, original: Image.Image | None = None) -> tuple[dict, np.ndarray]:
    """All signals of one image (any mode) -> (signals, layout thumbnail)."""
    if original is None and img.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr"):
        original = img
    width, height = img.size
    gray = working_copy(img)
    arr = np.asarray(gray, dtype=np.float64)
    hist = np.bincount(arr.astype(np.uint8).ravel(), minlength=256) / arr.size
    mode = int(hist.argmax())
    nonzero = hist[hist > 0]
    # Structure is measured on a contrast-stretched square copy, so that a dark or washed-out
    # radiograph keeps its detail (and is flagged, not refused).
    square = np.asarray(
        gray.resize((DETAIL_SIDE, DETAIL_SIDE), Image.Resampling.BILINEAR), dtype=np.float64
    )
    lo, hi = np.percentile(square, (0.5, 99.5))
    if hi - lo >= 8:
        square = np.clip((square - lo) * (255.0 / (hi - lo)), 0, 255)
    stretched = Image.fromarray(np.round(square).astype(np.uint8), mode="L")
    s = np.asarray(stretched, dtype=np.float64)
    blurred = np.asarray(stretched.filter(ImageFilter.GaussianBlur(2)), dtype=np.float64)
    lap = np.abs(4 * s[1:-1, 1:-1] - s[:-2, 1:-1] - s[2:, 1:-1] - s[1:-1, :-2] - s[1:-1, 2:])
    gx = np.abs(np.diff(s, axis=1))[:-1]
    gy = np.abs(np.diff(s, axis=0))[:, :-1]
    blocks = s.reshape(16, 16, 16, 16).transpose(0, 2, 1, 3).reshape(256, 256)
    signals = {
        "width": float(width),
        "height": float(height),
        "aspect": width / height,
        "colour_fraction": colour_fraction(original),
        "mean": float(arr.mean()),
        "std": float(arr.std()),
        "p1": float(np.percentile(arr, 1)),
        "p99": float(np.percentile(arr, 99)),
        "mode_fraction": float(hist[max(0, mode - 2) : mode + 3].sum()),
        "entropy": float(-(nonzero * np.log2(nonzero)).sum()),
        "white_fraction": float(hist[250:].sum()),
        "detail": float(np.abs(s - blurred).mean()),
        "laplacian": float(lap.mean()),
        "gradient": float(np.hypot(gx, gy).mean()),
        "flat_blocks": float(np.mean(blocks.std(axis=1) < 3.0)),
        "grey_levels": float(np.count_nonzero(np.bincount(s.astype(np.uint8).ravel()))),
    }
    return signals, layout_thumbnail(gray)


# --------------------------------------------------------------------------- layout model
def fit_layout(images: list[Image.Image]) -> LayoutModel:
    """Fit the layout PCA and the tail references/thresholds on training radiographs."""
    measured = [measure(img) for img in images]
    thumbs = np.stack([t for _, t in measured])
    mean = thumbs.mean(axis=0)
    _, sv, vt = np.linalg.svd(thumbs - mean, full_matrices=False)
    variances = (sv**2 / (len(thumbs) - 1))[:N_COMPONENTS]
    partial = LayoutModel(
        mean=mean,
        components=vt[:N_COMPONENTS],
        variances=variances,
        references={},
        residual_threshold=np.inf,
        mahalanobis_threshold=np.inf,
        tail_threshold=np.inf,
        framing_threshold=np.inf,
        n_images=len(images),
    )
    projected = np.array([partial.project(t) for t in thumbs])
    for (signals, _), (res, _) in zip(measured, projected, strict=True):
        signals["layout_residual"] = res
    partial.references = {
        name: np.sort(np.array([s[name] for s, _ in measured])) for name in TAIL_SIGNALS
    }
    tails = np.array([partial.tail_score(s) for s, _ in measured])
    partial.residual_threshold = float(np.percentile(projected[:, 0], FIT_QUANTILE)) * (
        RESIDUAL_MARGIN
    )
    partial.mahalanobis_threshold = float(np.percentile(projected[:, 1], FIT_QUANTILE)) * (
        MAHALANOBIS_MARGIN
    )
    partial.tail_threshold = float(np.percentile(tails, FIT_QUANTILE)) * TAIL_MARGIN
    partial.framing_threshold = float(np.percentile(projected[:, 0], FRAMING_QUANTILE))
    return partial


# --------------------------------------------------------------------------- the gate
def _quality_flags(sig: dict[str, float], layout: LayoutModel | None) -> list[str]:
    flags = []
    if sig["mean"] < DARK_MEAN or sig["p99"] < DARK_P99:
        flags.append("too dark")
    if sig["mean"] > BRIGHT_MEAN or sig["p1"] > BRIGHT_P1:
        flags.append("too bright")
    if sig["std"] < LOW_CONTRAST_STD:
        flags.append("low contrast")
    if min(sig["width"], sig["height"]) < LOW_RESOLUTION_SIDE:
        flags.append("low resolution")
    lo, hi = CROPPED_ASPECT
    if not lo <= sig["aspect"] <= hi:
        flags.append("heavily cropped")
    if layout is not None and sig.get("layout_residual", 0.0) > layout.framing_threshold:
        flags.append("unusual framing")
    return flags


def _rejection(sig: dict[str, float], layout: LayoutModel | None) -> str | None:
    if sig["colour_fraction"] > COLOUR_FRACTION:
        return "colour"
    if sig["std"] < MIN_STD or sig["mode_fraction"] > BLANK_MODE_FRACTION:
        return "blank"
    if (
        sig["entropy"] < MIN_ENTROPY
        or sig["white_fraction"] > MAX_WHITE_FRACTION
        or sig["mode_fraction"] > MAX_MODE_FRACTION
    ):
        return "document"
    if sig["detail"] < MIN_DETAIL:
        return "smooth"
    if sig["laplacian"] > MAX_LAPLACIAN or sig["gradient"] > MAX_GRADIENT:
        return "texture"
    if not ASPECT_RANGE[0] <= sig["aspect"] <= ASPECT_RANGE[1]:
        return "aspect"
    if layout is not None:
        if (
            sig["layout_residual"] > layout.residual_threshold
            or sig["layout_mahalanobis"] > layout.mahalanobis_threshold
        ):
            return "layout"
        if sig["tail_score"] > layout.tail_threshold:
            return "tail"
    return None


def assess_image(
    img: Image.Image,
    *,
    original: Image.Image | None = None,
    layout: LayoutModel | None = None,
) -> GateResult:
    """Gate one image. ``img`` may be any mode; pass the colour ``original`` when ``img`` is its
    grey version (as ``decode_upload`` returns them) so that saturation can be measured."""
    model = layout if layout is not None else default_layout()
    sig, thumb = measure(img, original)
    if model is not None:
        sig["layout_residual"], sig["layout_mahalanobis"] = model.project(thumb)
        sig["tail_score"] = model.tail_score(sig)
    code = _rejection(sig, model)
    return GateResult(
        accepted=code is None,
        reason=None if code is None else MESSAGES[code],
        code=code,
        quality_flags=_quality_flags(sig, model),
        scores={k: round(float(v), 6) for k, v in sig.items()},
    )


def assess_decoded(decoded: DecodedImage) -> GateResult:
    """Gate a ``decode.decode_upload`` result (uses its colour original when there was one)."""
    return assess_image(decoded.image, original=decoded.original)
