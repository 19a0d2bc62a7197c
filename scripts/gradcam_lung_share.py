"""How much of a model's COVID-19 Grad-CAM heat lies inside the lungs (issue 9, before/after).

    python -m scripts.gradcam_lung_share --model before=PATH --model after=PATH [--n 100]

On the V7 Labs films of ``cxr-cases/lung-masks`` (annotators' lung masks; all COVID-19 films),
each model's COVID-19 Grad-CAM map is compared with the film's lung mask carried through the
same geometry as the image (border trim, margin crop, squash resize; the lung crop when the model
uses one). ``share`` = heat inside the mask / all heat; ``area`` = the mask's share of the input,
what heat spread evenly would give. Writes ``--out``/report.json and report.md.

``--on-film``: the maps the portal stores instead (``Predictor.analyse``, laid back on the
decoded film), compared with the mask on the film; ``area`` is then the mask's share of the part
of the film the model reads (its trimmed, margin-cropped box). This is the only way to measure a
model whose members read different inputs (the whole film and its lung cut,
``preprocessing.inputs``), whose maps have no single input geometry.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from inference.constants import CLASSES
from inference.geometry import crop_margin, trim_box

ROOT = Path(__file__).resolve().parent.parent
LUNG_MASKS = ROOT.parent / "shared" / "datasets" / "cxr-cases" / "lung-masks"


def load_model(weights: Path):
    from safetensors.torch import load_file

    from inference.ensemble import build_classifier

    metadata = json.loads(weights.with_suffix(".json").read_text())
    model = build_classifier(metadata)
    model.load_state_dict(load_file(str(weights)), strict=True)
    return model.eval(), metadata


def input_geometry(gray: np.ndarray, mask: np.ndarray, metadata: dict, lungs) -> tuple:
    """The model's input image and the lung mask, both through the preprocessing's geometry."""
    options = metadata["preprocessing"]
    if options.get("lungs") and lungs is not None:
        lungs.mode = options["lungs"].get("mode", "crop")  # crop, or crop and mask
        cut, box = lungs.cut(gray)
        if box is not None:
            top, bottom, left, right = box
            gray, mask = cut, mask[top:bottom, left:right]
    top, bottom, left, right = trim_box(gray)
    gray, mask = gray[top:bottom, left:right], mask[top:bottom, left:right]
    margin = float(options.get("margin", 0.06))
    gray, mask = crop_margin(gray, margin=margin), crop_margin(mask, margin=margin)
    size = int(metadata["input_size"])
    image = Image.fromarray(np.ascontiguousarray(gray)).resize((size, size), Image.BILINEAR)
    small = Image.fromarray(np.ascontiguousarray(mask)).resize((size, size), Image.NEAREST)
    return np.asarray(image), np.asarray(small) > 127


def model_input(arr: np.ndarray, metadata: dict):
    import torch

    from inference.preprocessing import equalize_array

    eq = equalize_array(
        Image.fromarray(arr), method=metadata["preprocessing"].get("equalize", "global")
    )
    mean, std = metadata["normalization"]["mean"][0], metadata["normalization"]["std"][0]
    return ((torch.from_numpy(eq).float() / 255.0 - mean) / std)[None, None]


def measure(weights: Path, rows: list[dict], root: Path, lungs) -> dict:
    from inference.decode import decode_image
    from inference.gradcam import gradcam

    model, metadata = load_model(weights)
    shares, areas = [], []
    for row in rows:
        gray = np.asarray(decode_image((root / row["image"]).read_bytes()), dtype=np.uint8)
        mask = np.asarray(Image.open(root / row["mask"]).convert("L"))
        arr, lung = input_geometry(gray, mask, metadata, lungs)
        heat = gradcam(model, model_input(arr, metadata), CLASSES.index("covid"))
        if heat.sum() <= 0:
            continue
        shares.append(float((heat * lung).sum() / heat.sum()))
        areas.append(float(lung.mean()))
    return summary(weights, metadata["model_version"], shares, areas)


def measure_on_film(weights: Path, rows: list[dict], root: Path) -> dict:
    from inference.decode import decode_image
    from inference.geometry import crop_box
    from inference.predictor import Predictor

    predictor = Predictor.load(weights, device="cpu")
    shares, areas = [], []
    for row in rows:
        data = (root / row["image"]).read_bytes()
        gray = np.asarray(decode_image(data), dtype=np.uint8)
        lung = np.asarray(Image.open(root / row["mask"]).convert("L")) > 127
        heat = predictor.analyse(data, explain=("covid",)).heatmaps.get("covid")
        if heat is None or heat.sum() <= 0 or lung.shape != heat.shape:
            continue
        top, bottom, left, right = crop_box(gray, margin=predictor.margin)
        shares.append(float((heat * lung).sum() / heat.sum()))
        areas.append(float(lung[top:bottom, left:right].mean()))
    return summary(weights, predictor.model_version, shares, areas)


def summary(weights: Path, version: str, shares: list[float], areas: list[float]) -> dict:
    return {
        "weights": str(weights),
        "model_version": version,
        "n": len(shares),
        "heat_share_in_lungs": {"mean": float(np.mean(shares)), "median": float(np.median(shares))},
        "lung_area_share": float(np.mean(areas)),
        "films_with_most_heat_in_lungs": float(np.mean(np.array(shares) > 0.5)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.gradcam_lung_share")
    p.add_argument("--model", action="append", required=True, help="NAME=weights.safetensors")
    p.add_argument("--data", type=Path, default=LUNG_MASKS)
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--lungs", type=Path, help="lung model, for models that crop to the lungs")
    p.add_argument("--out", type=Path, default=ROOT / "reports" / "gradcam-lungs")
    p.add_argument("--on-film", action="store_true", help="the stored maps, on the decoded film")
    args = p.parse_args(argv)
    with (args.data / "manifest.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["origin"] == "v7labs" and r["class_image"]]
    rows = rows[: args.n]
    lungs = None
    if args.lungs:
        from inference.lungs import LungFinder

        lungs = LungFinder.load(args.lungs)
    results = {}
    for spec in args.model:
        name, _, path = spec.partition("=")
        results[name] = (
            measure_on_film(Path(path), rows, args.data)
            if args.on_film
            else measure(Path(path), rows, args.data, lungs)
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(results, indent=2))
    lines = [
        f"# COVID-19 Grad-CAM heat inside the lungs ({len(rows)} V7 Labs-masked COVID-19 films)",
        "",
        "| model | version | films | heat in lungs (mean / median) | lungs' share of the input | "
        "films with most heat in the lungs |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        h = r["heat_share_in_lungs"]
        lines.append(
            f"| {name} | {r['model_version']} | {r['n']} | {100 * h['mean']:.1f}% / "
            f"{100 * h['median']:.1f}% | {100 * r['lung_area_share']:.1f}% | "
            f"{100 * r['films_with_most_heat_in_lungs']:.0f}% |"
        )
    lines += [
        "",
        f"Command: `python -m scripts.gradcam_lung_share {' '.join(sys.argv[1:] if argv is None else argv)}`",
        "",
    ]
    (args.out / "report.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
