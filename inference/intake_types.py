"""What every intake module shares: the error, the decoded-upload record, the size limits.

``decode`` (PNG/JPEG and the sniffing) and ``dicom`` (DICOM reading and pixels) both import from
here, so neither needs the other at import time (``decode`` calls ``dicom`` for DICOM bytes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from PIL import Image
    from pydicom.dataset import Dataset

# 40 megapixels is far above any radiograph export we expect (a 43x43 cm plate at 0.1 mm is
# 18.5 MP) and keeps a worst-case decode under ~200 MB of memory.
MAX_PIXELS = 40_000_000
MIN_SIDE = 64

DICOM_MAGIC_OFFSET = 128
DICOM_MAGIC = b"DICM"

Kind = Literal["png", "jpeg", "dicom"]


class ImageDecodeError(ValueError):
    """The upload is not a usable PNG/JPEG/DICOM image; ``str(err)`` is a user-facing message."""


@dataclass
class DecodedImage:
    """A decoded upload.

    ``image`` is the 8-bit grayscale ("L") picture the model and the gate see; ``original`` is the
    colour picture it came from (PNG/JPEG in RGB/RGBA/P modes only, else None) so the gate can
    measure colour saturation; ``dicom_dataset`` is the de-identified DICOM dataset (DICOM only);
    ``warnings`` are plain-language notes for the clinician (e.g. burned-in annotations).
    """

    image: Image.Image
    kind: Kind
    dicom_dataset: Dataset | None = None
    warnings: list[str] = field(default_factory=list)
    original: Image.Image | None = None

    @property
    def width(self) -> int:
        return self.image.size[0]

    @property
    def height(self) -> int:
        return self.image.size[1]


def check_size(width: int, height: int, *, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse images over ``max_pixels`` or with a side under ``MIN_SIDE`` (any format)."""
    if width * height > max_pixels:
        raise ImageDecodeError(
            f"The image is too large ({width}x{height} pixels); "
            f"the limit is {max_pixels // 1_000_000} megapixels."
        )
    if min(width, height) < MIN_SIDE:
        raise ImageDecodeError(
            f"The image is too small ({width}x{height} pixels); "
            f"at least {MIN_SIDE} pixels on each side are needed."
        )
