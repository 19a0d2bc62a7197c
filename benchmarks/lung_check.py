"""Where the worker's lung check draws its line: the lung finder over chest films and non-chest
images, the distribution of what it finds, and the cost per image.

    .venv/bin/python -m benchmarks.lung_check                       # all films of both sets
    .venv/bin/python -m benchmarks.lung_check --limit 200 --json var/bench/lungs.json

Sets: ``cxr3`` (the training films), ``cxr-cases/lung-masks`` (the lung model's own films), and
non-chest images (scikit-image's bundled photographs and drawings, and constructed ones: noise,
gradients, a page of text, an inverted chest film's frame without the chest). For each image:
the lung area (the two largest mask components, as a share of the film), the number of
lung-like components, and whether the chest X-ray gate accepts it. The worker's rule is
``inference.lungs.lung_check``; the table shows what it flags in each set.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
SKIMAGE = (
    "astronaut", "brick", "camera", "chelsea", "checkerboard", "clock", "coffee", "coins",
    "grass", "gravel", "horse", "hubble_deep_field", "logo", "moon", "page", "rocket", "text",
    "shepp_logan_phantom", "retina", "immunohistochemistry", "colorwheel",
)  # fmt: skip


def chest_films(limit: int | None) -> dict[str, list[Path]]:
    sets: dict[str, list[Path]] = {}
    with (DATASETS / "cxr3" / "manifest.csv").open() as fh:
        sets["cxr3"] = [DATASETS / "cxr3" / r["path"] for r in csv.DictReader(fh)]
    masks = DATASETS / "cxr-cases" / "lung-masks"
    with (masks / "manifest.csv").open() as fh:
        sets["lung-masks"] = [masks / r["image"] for r in csv.DictReader(fh)]
    if limit:  # an even spread over each set, not its first classes only
        sets = {k: v[:: max(1, len(v) // limit)][:limit] for k, v in sets.items()}
    return sets


def constructed(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Non-chest images a gate could let through: textures, gradients, a page, shapes."""
    y, x = np.mgrid[0:512, 0:512] / 511.0
    page = Image.new("L", (512, 512), 235)
    from PIL import ImageDraw

    draw = ImageDraw.Draw(page)
    for row in range(20, 500, 18):
        draw.text((20, row), "The quick brown fox jumps over the lazy dog " * 2, fill=20)
    return {
        "noise": rng.integers(0, 256, (512, 512), dtype=np.uint8),
        "smooth noise": np.asarray(
            Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).resize(
                (512, 512), Image.Resampling.BICUBIC
            )
        ),
        "vertical gradient": (y * 255).astype(np.uint8),
        "radial gradient": (255 * np.clip(np.hypot(x - 0.5, y - 0.5) * 1.6, 0, 1)).astype(np.uint8),
        "page of text": np.asarray(page),
        "two bright discs": (
            200 * ((np.hypot(x - 0.3, y - 0.5) < 0.18) | (np.hypot(x - 0.7, y - 0.5) < 0.18)) + 30
        ).astype(np.uint8),
    }


def non_chest(rng: np.random.Generator) -> dict[str, np.ndarray]:
    import skimage.data

    images = {}
    for name in SKIMAGE:
        try:
            img = np.asarray(getattr(skimage.data, name)())
        except Exception:  # noqa: BLE001, S112 - some need a download: not here
            continue
        if img.ndim == 3:
            img = np.asarray(Image.fromarray(img[..., :3].astype(np.uint8)).convert("L"))
        if img.dtype != np.uint8:
            img = img.astype(np.float64)
            img = (255 * (img - img.min()) / max(1e-9, float(np.ptp(img)))).astype(np.uint8)
        images[f"skimage {name}"] = img
    images.update(constructed(rng))
    return images


def png(gray: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="PNG")
    return buffer.getvalue()


def survey_one(finder, data: bytes) -> dict:
    from inference.lungs import lung_check
    from inference.pipeline import ImageDecodeError, intake

    try:
        upload = intake(data, max_bytes=50 * 1024 * 1024)
        gate, image = "accepted", upload.image
    except ImageDecodeError as exc:
        from inference.decode import decode_image

        gate, image = getattr(exc, "code", "refused"), decode_image(data)
    gray = np.asarray(image, dtype=np.uint8)
    started = time.perf_counter()
    check = lung_check(finder, gray)
    return {
        "gate": gate,
        "area": check.area,
        "components": check.components,
        "plausible": check.plausible,
        "ms": (time.perf_counter() - started) * 1000,
    }


def summary(rows: list[dict]) -> dict:
    areas = np.array([r["area"] for r in rows])
    comps = np.array([r["components"] for r in rows])
    return {
        "n": len(rows),
        "gate accepted": sum(r["gate"] == "accepted" for r in rows),
        "area p0/p1/p5/p50": [float(np.percentile(areas, q)) for q in (0, 1, 5, 50)],
        "area max": float(areas.max()),
        "components 0/1/2+": [
            int((comps == 0).sum()),
            int((comps == 1).sum()),
            int((comps >= 2).sum()),
        ],
        "flagged": sum(not r["plausible"] for r in rows),
        "flagged (gate accepted)": sum(not r["plausible"] for r in rows if r["gate"] == "accepted"),
        "check ms p50": statistics.median(r["ms"] for r in rows),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="films per chest set")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import torch

    from inference.lungs import LungFinder

    torch.set_num_threads(args.threads)
    finder = LungFinder.load()
    rows: dict[str, list[dict]] = {}
    for name, paths in chest_films(args.limit).items():
        rows[name] = [survey_one(finder, p.read_bytes()) for p in paths]
        print(f"  {name}: {len(paths)} films", file=sys.stderr)
    others = non_chest(np.random.default_rng(0))
    rows["non-chest"] = []
    for name, gray in others.items():
        row = {"image": name, **survey_one(finder, png(gray))}
        rows["non-chest"].append(row)
        print(f"  {name}: {row}", file=sys.stderr)
    table = {name: summary(r) for name, r in rows.items()}
    print(json.dumps(table, indent=1))
    low = sorted(rows["cxr3"] + rows["lung-masks"], key=lambda r: r["area"])[:5]
    print("lowest chest-film areas:", [(round(r["area"], 3), r["components"]) for r in low])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"summary": table, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
