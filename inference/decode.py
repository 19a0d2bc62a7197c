"""Safe decoding of uploaded image bytes into an 8-bit grayscale PIL image.

Only the PNG and JPEG decoders are ever tried; decompression bombs are errors, not warnings.
Every failure is an ``ImageDecodeError`` whose message can be shown to the person who uploaded.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS: tuple[str, ...] = ("PNG", "JPEG")
# 40 megapixels is far above any radiograph export we expect (a 43x43 cm plate at 0.1 mm is
# 18.5 MP) and keeps a worst-case decode under ~200 MB of memory.
MAX_PIXELS = 40_000_000
MIN_SIDE = 64

# Truncated files must fail loudly, never decode as half-grey images.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageDecodeError(ValueError):
    """The upload is not a usable PNG/JPEG image; ``str(err)`` is a user-facing message."""


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode PNG/JPEG bytes to a fully loaded 8-bit grayscale ("L") image."""
    if not data:
        raise ImageDecodeError("The file is empty.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
            width, height = img.size
            if width * height > max_pixels:
                raise ImageDecodeError(
                    f"The image is too large ({width}x{height} pixels); "
                    f"the limit is {max_pixels // 1_000_000} megapixels."
                )
            if getattr(img, "n_frames", 1) > 1:
                raise ImageDecodeError("Animated images are not accepted; upload a single image.")
            img.load()
        except ImageDecodeError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageDecodeError(
                "The image declares an impossibly large size and was refused."
            ) from exc
        except UnidentifiedImageError as exc:
            raise ImageDecodeError("The file is not a PNG or JPEG image.") from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageDecodeError("The image file is damaged or incomplete.") from exc
    if min(img.size) < MIN_SIDE:
        raise ImageDecodeError(
            f"The image is too small ({img.size[0]}x{img.size[1]} pixels); "
            f"at least {MIN_SIDE} pixels on each side are needed."
        )
    return to_grayscale(img)


def to_grayscale(img: Image.Image) -> Image.Image:
    """Any PIL mode -> "L", as the training data was prepared (transparency on black)."""
    if img.format == "JPEG":
        img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit / float data: stretch its own range to 8 bits instead of clipping at 255.
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        return Image.fromarray(np.round(scaled).astype(np.uint8), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", img.size, (0, 0, 0, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    if img.mode != "L":
        img = img.convert("L")
    return img
