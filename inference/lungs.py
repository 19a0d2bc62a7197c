"""Lung fields: a small U-Net that finds the lungs, and the crop to their box.

lungs = LungFinder.load()            # shipped weights, sha256 verified, loaded once
lungs.box(gray)                      # (top, bottom, left, right) on the image, or None
lungs.cut(gray)                      # the film cut to the lungs' box plus a margin (mode "mask":
                                     # black outside the lung fields), and the box
lungs.cut_and_check(gray)            # the cut and the lung check from one U-Net pass
lung_check(lungs, gray)              # LungCheck: area, lung-like components, plausible

The classifier's preprocessing calls ``cut`` before its own resize when a model was trained
with the lung crop or mask (its metadata says so), in training and serving alike. A film where no lungs
are found is returned uncropped and ``box`` gives ``None``: the caller flags it.

The worker's quality check (``lung_check``, ``lung_checks`` for a batch in one forward pass) asks
a stricter question than the crop: are there lung fields at all? Its thresholds come from
``python -m benchmarks.lung_check`` (BENCHMARKS.md, section 3).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from inference.geometry import image_std

LUNG_WEIGHTS = Path(__file__).resolve().parent / "weights" / "lungs.safetensors"
LUNG_INPUT_SIZE = 128
# Fraction of the lungs' box added on every side: keeps the costophrenic angles and apices that a
# slightly short mask would cut, and some mediastinum.
LUNG_MARGIN = 0.08
# Below this share of the image the mask is noise, not lungs.
MIN_LUNG_AREA = 0.05
# A (nearly) flat image has nothing to segment: per-image z-scoring would turn it into zeros, on
# which the network still paints a blob.
FLAT_STD = 4.0
# The quality check (``lung_check``): a component of the mask counts as lung-like from this share
# of the image, and a film has lung fields when its two largest components cover at least
# CHECK_MIN_AREA of it. Chosen from the survey in benchmarks/lung_check.py.
CHECK_COMPONENT_AREA = 0.02
CHECK_MIN_AREA = 0.08
# In the "mask" mode (constants.LUNG_MODES) the lung fields are grown by MASK_GROW cells of the
# U-Net's grid (~2% of the side at 128: the mask's edge runs along the pleura) before everything
# outside them is set to black.
MASK_GROW = 3


class LungWeightsError(RuntimeError):
    """The lung model's weights are missing, altered, or do not match their metadata."""


def _double_conv(ni: int, nf: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(ni, nf, 3, padding=1, bias=False),
        nn.BatchNorm2d(nf),
        nn.ReLU(inplace=True),
        nn.Conv2d(nf, nf, 3, padding=1, bias=False),
        nn.BatchNorm2d(nf),
        nn.ReLU(inplace=True),
    )


class LungUNet(nn.Module):
    """U-Net (Ronneberger et al., 2015) with widths 8..128 over five levels: ~0.49 M parameters."""

    def __init__(self, *, base: int = 8, levels: int = 5) -> None:
        super().__init__()
        widths = [base * 2**i for i in range(levels)]
        self.down = nn.ModuleList(
            _double_conv(ni, nf) for ni, nf in zip([1, *widths[:-1]], widths, strict=True)
        )
        self.up = nn.ModuleList(
            _double_conv(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(levels - 1))
        )
        self.out = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else nn.functional.max_pool2d(x, 2))
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = nn.functional.interpolate(x, size=skip.shape[-2:], mode="bilinear")
            x = block(torch.cat([x, skip], dim=1))
        return self.out(x)  # logits [n, 1, h, w]


def lung_input(gray: np.ndarray, *, size: int = LUNG_INPUT_SIZE) -> torch.Tensor:
    """Grey uint8 image -> the U-Net's input [1, size, size]: squash-resized, per-image z-scored
    (exposure differs by source; the lungs' shape should not depend on it)."""
    small = Image.fromarray(np.ascontiguousarray(gray, dtype=np.uint8), mode="L").resize(
        (size, size), Image.Resampling.BILINEAR
    )
    x = torch.from_numpy(np.asarray(small, dtype=np.float32) / 255.0)
    return ((x - x.mean()) / (x.std() + 1e-3)).unsqueeze(0)


def mask_box(
    mask: np.ndarray, *, min_area: float = MIN_LUNG_AREA
) -> tuple[float, float, float, float] | None:
    """Box (top, bottom, left, right, as fractions of the mask's side) of the two largest
    connected components of a boolean mask, or None when they cover less than ``min_area``."""
    keep = lung_fields(mask, min_area=min_area)
    return None if keep is None else fields_box(keep)


def fields_box(fields: np.ndarray) -> tuple[float, float, float, float]:
    """Box (top, bottom, left, right, as fractions of the side) of a non-empty boolean mask."""
    rows, cols = np.flatnonzero(fields.any(axis=1)), np.flatnonzero(fields.any(axis=0))
    h, w = fields.shape
    return rows[0] / h, (rows[-1] + 1) / h, cols[0] / w, (cols[-1] + 1) / w


def lung_fields(mask: np.ndarray, *, min_area: float = MIN_LUNG_AREA) -> np.ndarray | None:
    """The two largest connected components of a boolean mask, or None when they cover less
    than ``min_area`` of it."""
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    if not n:
        return None
    sizes = ndimage.sum_labels(mask, labels, index=range(1, n + 1))
    keep = np.isin(labels, 1 + np.argsort(sizes)[::-1][:2])
    return None if keep.mean() < min_area else keep


def expand_box(
    box: tuple[float, float, float, float], shape: tuple[int, int], *, margin: float = LUNG_MARGIN
) -> tuple[int, int, int, int]:
    """Fractional box -> pixel box on an image of ``shape``, grown by ``margin`` of its size."""
    top, bottom, left, right = box
    h, w = shape
    dy, dx = (bottom - top) * margin, (right - left) * margin
    return (
        max(0, round((top - dy) * h)),
        min(h, round((bottom + dy) * h)),
        max(0, round((left - dx) * w)),
        min(w, round((right + dx) * w)),
    )


def lung_cropped(image, finder: LungFinder) -> Image.Image:
    """Image bytes or PIL image -> its 8-bit grey image cropped to the lungs' box (uncropped when
    no lungs are found). The classifier's preprocessing continues from this image."""
    from inference.preprocessing import load_grayscale

    gray = np.asarray(load_grayscale(image), dtype=np.uint8)
    return Image.fromarray(np.ascontiguousarray(finder.cut(gray)[0]), mode="L")


@dataclass
class LungFinder:
    model: LungUNet
    metadata: dict[str, Any]
    # ONNX Runtime session of the same weights for the worker's quality check (``lung_checks``),
    # about half the torch time on one thread (BENCHMARKS.md, section 3). The crop (``box``)
    # always runs in torch: training and serving must cut the same pixels.
    session: Any = field(default=None, repr=False)
    # How a classifier uses it (LUNG_MODES): set from the classifier's metadata or --lungs-mode.
    mode: str = "crop"

    @classmethod
    def load(cls, path: Path | str | None = None) -> LungFinder:
        from safetensors.torch import load_file

        from inference.metadata import sha256_file

        weights = Path(path) if path else LUNG_WEIGHTS
        meta_path = weights.with_suffix(".json")
        if not weights.is_file() or not meta_path.is_file():
            raise LungWeightsError(f"missing {weights} or its metadata {meta_path.name}")
        metadata = json.loads(meta_path.read_text())
        if sha256_file(weights) != metadata.get("weights_sha256"):
            raise LungWeightsError(f"{weights.name}: sha256 does not match its metadata")
        model = LungUNet(**metadata.get("architecture_args", {}))
        model.load_state_dict(load_file(str(weights), device="cpu"), strict=True)
        return cls(model=model.eval(), metadata=metadata)

    @property
    def version(self) -> str:
        return self.metadata["model_version"]

    @property
    def input_size(self) -> int:
        return int(self.metadata.get("input_size", LUNG_INPUT_SIZE))

    def probabilities(self, gray: np.ndarray) -> np.ndarray:
        """Lung probability per pixel of the U-Net's ``input_size`` grid (ONNX Runtime if set
        up: the same masks as torch on 299 cxr3 films, in half the time; BENCHMARKS.md)."""
        logits = self.logits(lung_input(gray, size=self.input_size).unsqueeze(0))
        return torch.sigmoid(logits)[0, 0].numpy()

    def use_onnxruntime(self, *, threads: int = 1, cache_dir: Path | str | None = None) -> None:
        """Run ``lung_checks`` through ONNX Runtime (exported once, cached in ``cache_dir`` by
        the weights' sha256). Raises when onnxruntime or the export is unavailable."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            self._onnx_bytes(cache_dir), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def try_onnxruntime(self, *, threads: int = 1, cache_dir: Path | str | None = None) -> bool:
        """``use_onnxruntime``, or torch as before when it cannot be set up (logged)."""
        try:
            self.use_onnxruntime(threads=threads, cache_dir=cache_dir)
            return True
        except Exception as exc:  # noqa: BLE001 - torch does the same, slower
            logging.getLogger(__name__).warning(
                "lung model on torch: ONNX Runtime unavailable (%s)", type(exc).__name__
            )
            return False

    def _onnx_bytes(self, cache_dir: Path | str | None) -> bytes:
        import io

        cached = None
        if cache_dir is not None:
            tag = f"{torch.__version__}-{self.metadata['weights_sha256'][:16]}"
            cached = Path(cache_dir) / f"lungs-{tag}.onnx"
            if cached.is_file():
                return cached.read_bytes()
        import warnings

        buffer = io.BytesIO()
        example = torch.zeros(1, 1, self.input_size, self.input_size)
        with warnings.catch_warnings():  # the TorchScript exporter's deprecation notice
            warnings.simplefilter("ignore")
            torch.onnx.export(
                self.model, (example,), buffer, input_names=["x"], output_names=["logits"],
                dynamic_axes={"x": {0: "n"}}, dynamo=False,
            )  # fmt: skip
        if cached is not None:
            from inference.engines import write_atomically

            try:
                write_atomically(cached, buffer.getvalue())
            except OSError:
                pass  # the next start exports again
        return buffer.getvalue()

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        """U-Net logits [n, 1, s, s] of a batch of ``lung_input``s (ONNX Runtime if set up)."""
        if self.session is not None:
            (out,) = self.session.run(["logits"], {"x": batch.contiguous().numpy()})
            return torch.from_numpy(out)
        with torch.inference_mode():
            return self.model(batch)

    def mask(self, gray: np.ndarray) -> np.ndarray:
        return self.probabilities(gray) > float(self.metadata.get("threshold", 0.5))

    def box(
        self, gray: np.ndarray, *, margin: float | None = None
    ) -> tuple[int, int, int, int] | None:
        """Pixel box (top, bottom, left, right) of the lungs plus margin, or None if none found."""
        fields = self._fields(gray)
        return None if fields is None else self._pixel_box(fields, gray.shape, margin)

    def cut_and_check(
        self, gray: np.ndarray
    ) -> tuple[np.ndarray, tuple[int, int, int, int] | None, LungCheck]:
        """``cut`` and ``lung_check`` from one pass of the U-Net (the predictor of a classifier
        that reads the lung cut gives the worker its lung check this way)."""
        if image_std(gray) < FLAT_STD:
            return gray, None, FLAT_FILM_CHECK
        mask = self.mask(gray)
        cut = self._cut_fields(gray, self._lung_fields(mask), mode=self.mode)
        return (*cut, self.check(mask))

    def check(self, mask: np.ndarray) -> LungCheck:
        """The quality check of a U-Net mask (the check's own area threshold)."""
        return mask_check(mask, min_area=float(self.metadata.get("check_min_area", CHECK_MIN_AREA)))

    def cut(self, gray: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
        """The film as this classifier's preprocessing continues from it (``mode``: cropped, or
        cropped and masked) and the pixel box cut (None: no lungs found, the film as it came),
        from one pass of the U-Net."""
        return self._cut_fields(gray, self._fields(gray), mode=self.mode)

    def _fields(self, gray: np.ndarray) -> np.ndarray | None:
        # A (nearly) flat film has no lungs to find (FLAT_STD).
        if image_std(gray) < FLAT_STD:
            return None
        return self._lung_fields(self.mask(gray))

    def _lung_fields(self, mask: np.ndarray) -> np.ndarray | None:
        return lung_fields(mask, min_area=float(self.metadata.get("min_area", MIN_LUNG_AREA)))

    def _pixel_box(
        self, fields: np.ndarray, shape: tuple[int, int], margin: float | None = None
    ) -> tuple[int, int, int, int]:
        m = float(self.metadata.get("margin", LUNG_MARGIN)) if margin is None else margin
        return expand_box(fields_box(fields), shape, margin=m)

    def _cut_fields(
        self, gray: np.ndarray, fields: np.ndarray | None, *, mode: str
    ) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
        if fields is None:
            return gray, None
        box = top, bottom, left, right = self._pixel_box(fields, gray.shape)
        if mode == "mask":
            from scipy import ndimage

            grown = ndimage.binary_dilation(fields, iterations=MASK_GROW)
            h, w = gray.shape
            full = Image.fromarray(grown.astype(np.uint8) * 255, mode="L").resize(
                (w, h), Image.Resampling.NEAREST
            )
            gray = np.where(np.asarray(full) > 127, gray, 0).astype(np.uint8)
        return gray[top:bottom, left:right], box


def classifier_lungs(path: Path, expected: dict) -> LungFinder:
    """The lung model a classifier's metadata names (``preprocessing.lungs``), checked against
    the version it recorded, set to the classifier's mode."""
    from inference.constants import LUNG_MODES
    from inference.metadata import WeightsIntegrityError

    finder = LungFinder.load(path)
    finder.mode = expected.get("mode", "crop")  # how this classifier's preprocessing uses it
    if finder.mode not in LUNG_MODES:
        raise WeightsIntegrityError(f"unknown lung mode {finder.mode!r}; known: {LUNG_MODES}")
    if finder.version != expected.get("model_version"):
        raise WeightsIntegrityError(
            f"{path.name} is {finder.version}; the classifier was trained with "
            f"{expected.get('model_version')}"
        )
    return finder


@dataclass(frozen=True)
class LungCheck:
    """What the finder saw on one film: ``area`` (share of the image covered by the two largest
    mask components), ``components`` (lung-like ones, each at least CHECK_COMPONENT_AREA) and
    whether that is plausible for a frontal chest film."""

    area: float
    components: int
    plausible: bool


# A (nearly) flat film has nothing to segment (FLAT_STD): no lung fields, without the U-Net.
FLAT_FILM_CHECK = LungCheck(area=0.0, components=0, plausible=False)


def mask_check(mask: np.ndarray, *, min_area: float = CHECK_MIN_AREA) -> LungCheck:
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    sizes = np.sort(ndimage.sum_labels(mask, labels, index=range(1, n + 1)))[::-1] / mask.size
    area = float(sizes[:2].sum()) if n else 0.0
    components = int((sizes >= CHECK_COMPONENT_AREA).sum()) if n else 0
    return LungCheck(
        area=area, components=components, plausible=area >= min_area and components > 0
    )


def lung_checks(finder: LungFinder, grays: list[np.ndarray]) -> list[LungCheck]:
    """``lung_check`` for several films with one forward pass of the U-Net."""
    if not grays:
        return []
    size = finder.input_size
    logits = finder.logits(torch.stack([lung_input(g, size=size) for g in grays]))
    masks = (torch.sigmoid(logits)[:, 0] > float(finder.metadata.get("threshold", 0.5))).numpy()
    return [
        FLAT_FILM_CHECK if image_std(g) < FLAT_STD else finder.check(m)
        for g, m in zip(grays, masks, strict=True)
    ]


def lung_check(finder: LungFinder, gray: np.ndarray) -> LungCheck:
    """Are there lung fields on this film? A (nearly) flat image has none."""
    return lung_checks(finder, [gray])[0]
