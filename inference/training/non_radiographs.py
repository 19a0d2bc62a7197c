"""Generated non-radiographs for the gate's evaluation and tests (never downloaded): colour
photos and their grey versions, text pages, gradients, noise, blank images, screenshot-like UI
images, and scikit-image's bundled samples when it is installed."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

WORDS = (
    "patient report screening result chest radiograph clinic form please sign date name "
    "address hospital the of and to in is for on with as by at from this that be are was "
    "invoice total amount payment account reference number table figure summary method"
).split()


# --------------------------------------------------------------------------- generated corpus
def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def _smooth_noise(rng: np.random.Generator, h: int, w: int, scale: int) -> np.ndarray:
    small = rng.random((max(2, h // scale), max(2, w // scale)))
    img = Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.float64) / 255.0


def colour_photo(rng: np.random.Generator) -> Image.Image:
    """A synthetic 'photo': sky/ground split, smooth colour fields, shapes, texture and blur."""
    h, w = int(rng.integers(300, 700)), int(rng.integers(300, 800))
    horizon = rng.uniform(0.3, 0.7)
    sky = rng.uniform(0, 1, 3)
    ground = rng.uniform(0, 1, 3)
    yy = np.linspace(0, 1, h)[:, None, None]
    base = np.where(yy < horizon, sky, ground) * np.ones((h, w, 3))
    base += 0.25 * (_smooth_noise(rng, h, w, int(rng.integers(8, 60)))[..., None] - 0.5)
    img = Image.fromarray(np.clip(base * 255, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 15))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(20, w // 2)), y0 + int(rng.integers(20, h // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=colour)
    return img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 2))))


def text_page(rng: np.random.Generator) -> Image.Image:
    """A rendered document page (black text on white or tinted paper, sometimes photographed)."""
    w, h = int(rng.integers(400, 800)), int(rng.integers(500, 1000))
    paper = int(rng.integers(200, 256))
    img = Image.new("L", (w, h), paper)
    draw = ImageDraw.Draw(img)
    size = int(rng.integers(10, 28))
    font = _font(size)
    y = int(rng.integers(10, 60))
    while y < h - size:
        words = rng.choice(WORDS, size=int(rng.integers(3, 14)))
        draw.text((int(rng.integers(10, 60)), y), " ".join(words), fill=int(rng.integers(0, 80)),
                  font=font)  # fmt: skip
        y += int(size * rng.uniform(1.2, 2.0))
    if rng.random() < 0.3:  # a table
        for k in range(5):
            draw.line([(20, h // 2 + 30 * k), (w - 20, h // 2 + 30 * k)], fill=0, width=1)
    if rng.random() < 0.3:  # photographed: blur and uneven light
        light = np.linspace(rng.uniform(0.6, 1), 1, w)[None, :]
        arr = np.asarray(img.filter(ImageFilter.GaussianBlur(1)), dtype=np.float64) * light
        img = Image.fromarray(arr.astype(np.uint8))
    return img if rng.random() < 0.5 else img.convert("RGB")


def gradient(rng: np.random.Generator) -> Image.Image:
    h, w = int(rng.integers(256, 700)), int(rng.integers(256, 700))
    yy, xx = np.mgrid[0:h, 0:w]
    kind = rng.integers(0, 3)
    if kind == 0:  # linear
        angle = rng.uniform(0, np.pi)
        t = xx * np.cos(angle) + yy * np.sin(angle)
    elif kind == 1:  # radial (a vignette)
        t = -np.hypot(xx - rng.uniform(0, w), yy - rng.uniform(0, h))
    else:  # two-tone smooth
        t = np.sin(xx / rng.uniform(30, 200)) + np.cos(yy / rng.uniform(30, 200))
    t = (t - t.min()) / (np.ptp(t) + 1e-9)
    if rng.random() < 0.5:
        return Image.fromarray((t * 255).astype(np.uint8))
    c0, c1 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    rgb = c0 + (c1 - c0) * t[..., None]
    return Image.fromarray((rgb * 255).astype(np.uint8), "RGB")


def noise(rng: np.random.Generator) -> Image.Image:
    h, w = int(rng.integers(256, 600)), int(rng.integers(256, 600))
    kind = rng.integers(0, 4)
    if kind == 0:
        arr = rng.random((h, w))
    elif kind == 1:
        arr = np.clip(rng.normal(0.5, 0.15, (h, w)), 0, 1)
    elif kind == 2:
        arr = np.where(rng.random((h, w)) < 0.1, rng.integers(0, 2, (h, w)), 0.5)
    else:
        arr = _smooth_noise(rng, h, w, int(rng.integers(4, 40)))
    if rng.random() < 0.3:
        return Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8), "RGB")
    return Image.fromarray((arr * 255).astype(np.uint8))


def blank(rng: np.random.Generator) -> Image.Image:
    h, w = int(rng.integers(256, 600)), int(rng.integers(256, 600))
    level = rng.uniform(0, 255)
    arr = level + rng.normal(0, rng.uniform(0, 3), (h, w))
    if rng.random() < 0.3:  # a blank with a small mark or a frame
        arr[h // 3 : h // 3 + 10, w // 3 : w // 3 + 40] = 255 - level
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def screenshot(rng: np.random.Generator) -> Image.Image:
    """UI-like: title bar, side panel, buttons, text lines, flat colour areas."""
    w, h = int(rng.integers(500, 1000)), int(rng.integers(350, 700))
    bg = tuple(int(c) for c in rng.integers(200, 256, 3))
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    accent = tuple(int(c) for c in rng.integers(0, 256, 3))
    draw.rectangle([0, 0, w, 30], fill=accent)
    panel = int(rng.integers(120, 260))
    draw.rectangle([0, 30, panel, h], fill=tuple(int(c * 0.9) for c in bg))
    font = _font(int(rng.integers(11, 18)))
    for k in range(int(rng.integers(5, 20))):
        y = 45 + k * 24
        if y > h - 20:
            break
        draw.text((10, y), " ".join(rng.choice(WORDS, 2)), fill=(30, 30, 30), font=font)
        draw.text((panel + 15, y), " ".join(rng.choice(WORDS, 6)), fill=(20, 20, 20), font=font)
    for _ in range(int(rng.integers(1, 5))):
        x, y = int(rng.integers(panel, w - 100)), int(rng.integers(40, h - 40))
        draw.rounded_rectangle([x, y, x + 90, y + 28], radius=6, fill=accent)
    if rng.random() < 0.4:  # a picture (e.g. an image viewer) inside the window
        x, y = panel + 20, 60
        pw, ph = (w - panel) // 2, h // 2
        patch = (_smooth_noise(rng, ph, pw, 20) * 255).astype(np.uint8)
        img.paste(Image.fromarray(patch).convert("RGB"), (x, y))
    return img if rng.random() < 0.6 else img.convert("L")


GENERATORS = {
    "colour photo": colour_photo,
    "grey photo": lambda rng: colour_photo(rng).convert("L"),
    "text page": text_page,
    "gradient": gradient,
    "noise": noise,
    "blank / uniform": blank,
    "screenshot": screenshot,
}


def skimage_samples() -> Iterator[tuple[str, Image.Image]]:
    """scikit-image's bundled sample images (no download), colour ones also in grey."""
    try:
        import skimage.data as skd
    except ImportError:
        return
    names = (
        "astronaut brick camera cat cell chelsea clock coffee coins colorwheel grass gravel horse "
        "hubble_deep_field immunohistochemistry logo microaneurysms moon page retina rocket "
        "shepp_logan_phantom text binary_blobs checkerboard"
    ).split()
    for name in names:
        try:
            arr = np.asarray(getattr(skd, name)())
        except Exception:  # noqa: BLE001 - a sample that needs a download
            continue
        if arr.dtype == bool:
            arr = arr.astype(np.uint8) * 255
        elif arr.dtype != np.uint8:
            arr = (255 * (arr - arr.min()) / (np.ptp(arr) + 1e-9)).astype(np.uint8)
        img = Image.fromarray(arr)
        if min(img.size) < 64:
            img = img.resize((img.size[0] * 3, img.size[1] * 3))
        yield name, img
        if img.mode in ("RGB", "RGBA"):
            yield f"{name} (grey)", img.convert("L")


def non_radiographs(per_kind: int = 40, seed: int = 0) -> Iterator[tuple[str, str, Image.Image]]:
    """(kind, name, image) for the generated corpus; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    for kind, make in GENERATORS.items():
        for i in range(per_kind):
            yield kind, f"{kind} {i}", make(rng)
    for name, img in skimage_samples():
        yield "scikit-image sample", name, img


# --------------------------------------------------------------------------- radiographs
