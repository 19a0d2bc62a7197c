"""The one entry point into the model library, for the portal and the command-line tools alike.

Intake (web request; torch-free, ~20 ms plus decoding)::

    upload = intake(data, max_bytes=20 * 1024 * 1024)
    upload.png_bytes, upload.dicom_bytes, upload.kind, upload.notes, upload.quality_flags
    # ImageDecodeError (unreadable, refused, too large) or NotAChestXray (the gate) otherwise

Analysis (worker; loads torch)::

    predictor = load_predictor()                       # once per process
    image = decode_stored(stored_png_bytes)
    analysis = predictor.analyse(image, explain=("predicted", "covid"))
    analysis.probabilities, .label, .priority, .model_version, .heatmaps["covid"]
    rendered = render_heatmap(analysis.heatmaps["covid"], max_side=1024)   # RGBA PNG bytes
    analyses = predictor.analyse_batch(images, explain=(...))   # one forward pass for several

Lung check (worker; loads torch)::

    finder = load_lung_finder()                        # once per process
    lung_quality_flags(finder, images)                 # per image: () or (NO_LUNG_FIELDS,)

``Predictor.analyse`` preprocesses the image once and runs one forward pass: the probabilities
and the Grad-CAM maps come from the same pass. The maps are already on the decoded image's
geometry (transparent outside the part the model saw), so a stored heatmap lies over the stored
radiograph when both are stretched to the same box.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from inference.decode import decode_image, decode_upload
from inference.intake_types import ImageDecodeError, Kind

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from inference.intake_types import DecodedImage
    from inference.lungs import LungCheck, LungFinder
    from inference.predictor import Predictor

__all__ = [
    "GATE_NOT_CHECKED",
    "LUNG_CHECK_NOT_RUN",
    "LUNG_FLAGS",
    "NO_LUNG_FIELDS",
    "PREDICTED",
    "Analysis",
    "DecodedUpload",
    "ImageDecodeError",
    "NotAChestXray",
    "RenderedHeatmap",
    "decode_stored",
    "intake",
    "load_lung_finder",
    "load_predictor",
    "lung_check_flags",
    "lung_quality_flags",
    "render_heatmap",
]

logger = logging.getLogger(__name__)

# Quality flag of an image the gate itself failed on: accepted, and the clinician is told.
GATE_NOT_CHECKED = "not checked by the image gate"
# Quality flags of the worker's lung check: the lung finder found no plausible lung fields on the
# film (the gate passed it; the model's reading of it is unreliable), or the check itself failed.
NO_LUNG_FIELDS = "no lung fields found"
LUNG_CHECK_NOT_RUN = "lung check not run"
LUNG_FLAGS = (NO_LUNG_FIELDS, LUNG_CHECK_NOT_RUN)
# In ``Predictor.analyse(explain=...)``: whatever class the model predicts.
PREDICTED = "predicted"

# zlib level of the stored (re-encoded) radiograph. Lossless at any level; level 1 encoded a
# 512 px film in 6-9 ms and a 2048 px one in 63-71 ms against ~33 and 160-230 ms at PNG's
# default 6, for 17-42 % more bytes (python -m benchmarks.intake, BENCHMARKS.md section 5): the
# upload request is the web tier's CPU.
STORED_PNG_COMPRESS_LEVEL = 1


class NotAChestXray(ImageDecodeError):
    """The chest X-ray gate refused a decodable image; ``code`` is the gate's reason key."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class DecodedUpload:
    """An accepted upload, ready to store: nothing in it is the raw upload itself."""

    image: Image.Image = field(repr=False)  # 8-bit grey ("L"): what the model will see
    kind: Kind
    png_bytes: bytes = field(repr=False)  # lossless re-encoding of ``image``
    dicom_bytes: bytes | None = field(default=None, repr=False)  # de-identified (DICOM only)
    notes: tuple[str, ...] = ()  # decoder's plain-language notes (e.g. burned-in annotations)
    quality_flags: tuple[str, ...] = ()  # the gate's low-quality flags ("too dark", ...)

    @property
    def width(self) -> int:
        return self.image.size[0]

    @property
    def height(self) -> int:
        return self.image.size[1]


@dataclass(frozen=True)
class Analysis:
    """The model's reading of one image."""

    probabilities: dict[str, float]
    label: str
    priority: str  # "high" | "medium" | "low" (the model's stored thresholds)
    model_version: str
    weights_sha256: str
    inference_ms: int
    # Grad-CAM per requested class, float32 in [0, 1] on the decoded image's geometry.
    heatmaps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    # inference.lungs.LungCheck when the model itself ran the lung model on the film (it reads
    # the lung cut): the worker's lung check, from the same pass; None: the worker runs it.
    lung_check: Any = None


@dataclass(frozen=True)
class RenderedHeatmap:
    png_bytes: bytes = field(repr=False)  # RGBA: colour = heat, alpha grows with heat
    width: int
    height: int


# --------------------------------------------------------------------------- intake
def intake(data: bytes, *, max_bytes: int) -> DecodedUpload:
    """Decode an upload by its content (PNG/JPEG/DICOM), gate it, re-encode it for storage.

    Raises ``ImageDecodeError`` (unreadable, refused, over ``max_bytes``, lateral DICOM ...) or
    its subclass ``NotAChestXray``; ``str(error)`` is the message for the person uploading.
    """
    decoded = decode_upload(data, max_bytes=max_bytes)
    dicom_bytes = None
    if decoded.kind == "dicom":
        from inference.dicom import to_bytes

        if decoded.dicom_dataset is None:  # the library always de-identifies; never store raw
            raise ImageDecodeError("The DICOM file could not be de-identified.")
        dicom_bytes = to_bytes(decoded.dicom_dataset)
    flags = _gate(decoded)
    buffer = io.BytesIO()
    decoded.image.save(buffer, format="PNG", compress_level=STORED_PNG_COMPRESS_LEVEL)
    return DecodedUpload(
        image=decoded.image,
        kind=decoded.kind,
        png_bytes=buffer.getvalue(),
        dicom_bytes=dicom_bytes,
        notes=tuple(decoded.warnings or ()),
        quality_flags=flags,
    )


def _gate(decoded: DecodedImage) -> tuple[str, ...]:
    """The gate's quality flags; ``NotAChestXray`` for what is clearly not a chest film."""
    try:
        from inference.gate import assess_decoded

        result = assess_decoded(decoded)
    except Exception:  # noqa: BLE001 - a gate bug must not lose a decodable radiograph
        logger.exception("chest X-ray gate failed; image accepted unchecked")
        return (GATE_NOT_CHECKED,)
    if not result.accepted:
        raise NotAChestXray(
            result.reason or "This does not look like a chest X-ray.", code=result.code or "other"
        )
    return tuple(result.quality_flags)


def decode_stored(data: bytes) -> Image.Image:
    """A stored (already accepted) image's bytes -> the 8-bit grey image ``analyse`` takes."""
    return decode_image(data)


# --------------------------------------------------------------------------- analysis
def load_predictor(
    path: str | None = None,
    *,
    device: str = "auto",
    engine: str = "eager",
    threads: int | None = None,
    engine_cache: str | None = None,
) -> Predictor:
    """The model (shipped weights unless ``path``), sha256-checked; imports torch.

    ``engine``/``threads``/``engine_cache``: see ``Predictor.load`` (inference/engines.py)."""
    from inference.predictor import Predictor

    return Predictor.load(
        path, device=device, engine=engine, threads=threads, engine_cache=engine_cache
    )


def render_heatmap(heat: np.ndarray, *, max_side: int) -> RenderedHeatmap:
    """An ``Analysis.heatmaps`` map as an RGBA PNG, longest side at most ``max_side``."""
    from inference.geometry import fit_within
    from inference.gradcam import heatmap_png, resize_heat

    _, shape = fit_within(heat.shape, max_side)
    if shape != heat.shape:
        heat = resize_heat(heat, shape)
    return RenderedHeatmap(png_bytes=heatmap_png(heat), width=shape[1], height=shape[0])


# --------------------------------------------------------------------------- lung check
def load_lung_finder(
    path: str | None = None,
    *,
    engine: str = "eager",
    threads: int | None = None,
    engine_cache: str | None = None,
) -> LungFinder:
    """The lung-field U-Net (shipped weights unless ``path``), sha256-checked; imports torch.

    ``engine`` "auto" or "onnxruntime": the quality check runs through ONNX Runtime, torch when
    that cannot be set up (logged); any other engine: torch."""
    from inference.lungs import LungFinder

    finder = LungFinder.load(path)
    if engine in ("auto", "onnxruntime"):
        finder.try_onnxruntime(threads=threads or 1, cache_dir=engine_cache)
    return finder


def lung_quality_flags(finder: LungFinder, images: list[Image.Image]) -> list[tuple[str, ...]]:
    """Per decoded image, ``(NO_LUNG_FIELDS,)`` when the finder sees no plausible lung fields,
    else ``()``; one forward pass for all of them. Errors propagate (the caller flags them)."""
    import numpy as np

    from inference.lungs import lung_checks

    grays = [image if image.mode == "L" else image.convert("L") for image in images]
    checks = lung_checks(finder, [np.asarray(gray, dtype=np.uint8) for gray in grays])
    return [lung_check_flags(check) for check in checks]


def lung_check_flags(check: LungCheck) -> tuple[str, ...]:
    """The quality flags of one lung check: ``(NO_LUNG_FIELDS,)`` when implausible."""
    return () if check.plausible else (NO_LUNG_FIELDS,)
