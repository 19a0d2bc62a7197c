"""Measure the chest-radiograph gate: training radiographs vs generated non-radiographs.

    python -m inference.gate_eval [--data ../shared/datasets] [--fit] [--per-kind 40]

* Radiographs: every image of ``cxr3`` and ``cxr-multi`` (read-only; the gate must accept them:
  rejection rate < 1%). Also reported per source and with the layout model fitted on one
  dataset and tested on the other (``--fit`` only), which is the honest held-out number.
* Non-radiographs: a corpus generated here, never downloaded: synthetic colour photos (and their
  grey versions), rendered text pages, gradients, noise, blank/near-uniform images, screenshot-like
  UI images, and scikit-image's bundled sample images when scikit-image is installed (rejection
  rate must be > 95%).

``--fit`` refits the layout model (``inference/gate_layout.npz``) on both datasets first.
Writes ``reports/gate.json`` and ``reports/gate.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"
DATASETS = ("cxr3", "cxr-multi")

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
def radiograph_paths(data: Path) -> list[tuple[str, Path]]:
    out = []
    for dataset in DATASETS:
        folder = data / dataset
        for path in sorted(folder.glob("*/*.jpg")) + sorted(folder.glob("*/*.png")):
            out.append((f"{dataset}/{path.parent.name}", path))
    return out


def load_radiographs(data: Path) -> list[tuple[str, str, Image.Image]]:
    from inference.decode import decode_image

    out = []
    for source, path in radiograph_paths(data):
        out.append((source, path.name, decode_image(path.read_bytes())))
    return out


# --------------------------------------------------------------------------- evaluation
def evaluate(data: Path, *, per_kind: int, fit: bool) -> dict:
    from inference import gate

    t0 = time.time()
    radiographs = load_radiographs(data)
    if not radiographs:
        raise SystemExit(f"no radiographs under {data}/{{{','.join(DATASETS)}}}")
    held_out: dict[str, dict] = {}
    if fit:
        for train_ds, test_ds in (("cxr3", "cxr-multi"), ("cxr-multi", "cxr3")):
            layout = gate.fit_layout(
                [img for src, _, img in radiographs if src.startswith(train_ds + "/")]
            )
            test = [img for src, _, img in radiographs if src.startswith(test_ds + "/")]
            rejected = sum(not gate.assess_image(img, layout=layout).accepted for img in test)
            held_out[f"fit {train_ds} -> test {test_ds}"] = {
                "n": len(test),
                "rejected": rejected,
                "rate": rejected / len(test),
            }
        layout = gate.fit_layout([img for _, _, img in radiographs])
        gate.save_layout(layout)
        gate.reload_layout()

    by_source: dict[str, Counter] = defaultdict(Counter)
    signal_values: dict[str, list[float]] = defaultdict(list)
    reasons: Counter = Counter()
    flags: Counter = Counter()
    rejected_cxr: list[dict] = []
    for source, name, img in radiographs:
        result = gate.assess_image(img)
        for key, value in result.scores.items():
            signal_values[key].append(value)
        by_source[source]["n"] += 1
        by_source[source]["rejected"] += int(not result.accepted)
        for flag in result.quality_flags:
            flags[flag] += 1
        if not result.accepted:
            reasons[result.code] += 1
            rejected_cxr.append({"source": source, "file": name, "reason": result.code})
    n_cxr = sum(c["n"] for c in by_source.values())
    rej_cxr = sum(c["rejected"] for c in by_source.values())

    by_kind: dict[str, Counter] = defaultdict(Counter)
    accepted_other: list[dict] = []
    for kind, name, img in non_radiographs(per_kind):
        result = gate.assess_image(img)
        by_kind[kind]["n"] += 1
        by_kind[kind]["rejected"] += int(not result.accepted)
        if not result.accepted:
            by_kind[kind][result.code] += 1
        else:
            accepted_other.append({"kind": kind, "name": name, "scores": result.scores})
    n_other = sum(c["n"] for c in by_kind.values())
    rej_other = sum(c["rejected"] for c in by_kind.values())
    return {
        "radiographs": {
            "n": n_cxr,
            "rejected": rej_cxr,
            "rejection_rate": rej_cxr / n_cxr,
            "by_source": {k: dict(v) for k, v in sorted(by_source.items())},
            "rejection_reasons": dict(reasons),
            "quality_flags": dict(flags),
            "rejected_files": rejected_cxr,
            "signal_ranges": {
                key: {
                    "min": float(np.min(v)),
                    "p0.5": float(np.percentile(v, 0.5)),
                    "median": float(np.median(v)),
                    "p99.5": float(np.percentile(v, 99.5)),
                    "max": float(np.max(v)),
                }
                for key, v in signal_values.items()
            },
            "held_out_layout": held_out,
        },
        "non_radiographs": {
            "n": n_other,
            "rejected": rej_other,
            "rejection_rate": rej_other / n_other,
            "by_kind": {k: dict(v) for k, v in by_kind.items()},
            "accepted": accepted_other,
        },
        "gate_version": gate.GATE_VERSION,
        "seconds": round(time.time() - t0, 1),
    }


def markdown(report: dict) -> str:
    cxr, other = report["radiographs"], report["non_radiographs"]
    lines = [
        "# Chest-radiograph gate: measured rejection rates",
        "",
        f"Gate version {report['gate_version']}; produced by `python -m inference.gate_eval`.",
        "",
        "| set | images | rejected | rate | target |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| training radiographs (cxr3 + cxr-multi) | {cxr['n']} | {cxr['rejected']} | "
        f"{cxr['rejection_rate']:.2%} | < 1% |",
        f"| generated non-radiographs | {other['n']} | {other['rejected']} | "
        f"{other['rejection_rate']:.2%} | > 95% |",
        "",
        "## Radiographs by source",
        "",
        "| source | images | rejected |",
        "| --- | ---: | ---: |",
    ]
    for source, c in cxr["by_source"].items():
        lines.append(f"| {source} | {c['n']} | {c.get('rejected', 0)} |")
    if cxr["held_out_layout"]:
        lines += [
            "",
            "Layout model fitted on one dataset only, tested on the other (held-out sources):",
            "",
            "| fit -> test | images | rejected | rate |",
            "| --- | ---: | ---: | ---: |",
        ]
        for key, v in cxr["held_out_layout"].items():
            lines.append(f"| {key} | {v['n']} | {v['rejected']} | {v['rate']:.2%} |")
    lines += [
        "",
        f"Quality flags raised on training radiographs: {cxr['quality_flags'] or 'none'}.",
        "",
        "## Non-radiographs by kind",
        "",
        "| kind | images | rejected | rate |",
        "| --- | ---: | ---: | ---: |",
    ]
    for kind, c in other["by_kind"].items():
        lines.append(
            f"| {kind} | {c['n']} | {c.get('rejected', 0)} | {c.get('rejected', 0) / c['n']:.0%} |"
        )
    if other["accepted"]:
        lines += [
            "",
            "Accepted non-radiographs: " + ", ".join(a["name"] for a in other["accepted"]),
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--per-kind", type=int, default=40)
    parser.add_argument("--fit", action="store_true", help="refit the layout model first")
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    args = parser.parse_args(argv)
    report = evaluate(args.data, per_kind=args.per_kind, fit=args.fit)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gate.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    (args.out / "gate.md").write_text(markdown(report))
    cxr, other = report["radiographs"], report["non_radiographs"]
    print(f"{'set':44s} {'n':>6s} {'rejected':>9s} {'rate':>8s}")
    print(
        f"{'training radiographs (target < 1%)':44s} {cxr['n']:6d} {cxr['rejected']:9d} "
        f"{cxr['rejection_rate']:8.2%}"
    )
    print(
        f"{'generated non-radiographs (target > 95%)':44s} {other['n']:6d} "
        f"{other['rejected']:9d} {other['rejection_rate']:8.2%}"
    )
    for key, v in cxr["held_out_layout"].items():
        print(f"  held-out layout, {key:34s} {v['n']:6d} {v['rejected']:9d} {v['rate']:8.2%}")
    for kind, c in other["by_kind"].items():
        print(f"  {kind:42s} {c['n']:6d} {c.get('rejected', 0):9d}")
    print(f"wrote {args.out / 'gate.json'} and {args.out / 'gate.md'}")
    ok = cxr["rejection_rate"] < 0.01 and other["rejection_rate"] > 0.95
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
