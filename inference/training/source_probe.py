"""How readable is the image *source* once the class is held fixed?

Within one class (e.g. COVID-19 = journal figures vs Hannover films), a classifier that tells the
sources apart can only be using acquisition cues (exposure, borders, text, grain), not disease.
This probe fits a logistic regression, with grouped 5-fold CV, on either

- ``pixels``: a 32x32 thumbnail plus a 32-bin histogram of the model input, for the raw pipeline
  (grayscale + resize only) and for the shipped preprocessing, or
- ``network``: the shipped DarkCovidNet's pooled penultimate features,

and reports the source-prediction ROC AUC per class (0.5 = source unreadable, 1.0 = trivially
readable). Lower is better.

    python -m inference.training.source_probe --data ../shared/datasets/cxr3 --data ../shared/datasets/cxr-multi
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from inference.constants import CLASSES
from inference.preprocessing import EQUALIZERS, load_grayscale, to_model_array
from inference.training.data import Record, read_folders


def raw_array(data: bytes, size: int) -> np.ndarray:
    return np.asarray(load_grayscale(data).resize((size, size), Image.Resampling.BILINEAR))


def pixel_features(arr: np.ndarray) -> np.ndarray:
    thumb = np.asarray(Image.fromarray(arr).resize((32, 32), Image.Resampling.BILINEAR), np.float32)
    hist = np.histogram(arr, bins=32, range=(0, 256))[0].astype(np.float32) / arr.size
    return np.concatenate([thumb.ravel() / 255.0, hist * 10.0])


def network_features(records: list[Record], weights: Path | None) -> np.ndarray:
    import torch

    from inference.predictor import Predictor

    p = Predictor.load(weights, device="cpu")
    feats = []
    with torch.inference_mode():
        for i in range(0, len(records), 64):
            batch = torch.stack([p.preprocess(r.path.read_bytes()) for r in records[i : i + 64]])
            feats.append(p.model.penultimate(batch).numpy())
    return np.concatenate(feats)


def source_auc(x: np.ndarray, sources: list[str], groups: list[str], *, seed: int = 0) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    names = sorted(set(sources))
    y = np.array([names.index(s) for s in sources])
    scores = np.zeros(len(y))
    cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=seed)
    for tr, te in cv.split(x, y, groups):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
        clf.fit(x[tr], y[tr])
        scores[te] = clf.predict_proba(x[te])[:, 1]
    return float(roc_auc_score(y, scores))


def features(records, args) -> dict[str, np.ndarray]:
    """The requested feature sets, one row per record."""
    data = [r.path.read_bytes() for r in records]
    feats: dict[str, np.ndarray] = {}
    if "raw" in args.features:
        feats["raw"] = np.stack([pixel_features(raw_array(d, args.size)) for d in data])
    if "preprocessed" in args.features:
        feats["preprocessed"] = np.stack(
            [
                pixel_features(to_model_array(d, size=args.size, equalize=args.equalize))
                for d in data
            ]
        )
    if "network" in args.features:
        feats["network"] = network_features(records, args.weights)
    return feats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m inference.training.source_probe")
    ap.add_argument("--data", action="append", type=Path, required=True)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--weights", type=Path)
    ap.add_argument(
        "--features",
        nargs="+",
        default=["raw", "preprocessed", "network"],
        choices=["raw", "preprocessed", "network"],
    )
    ap.add_argument(
        "--equalize", choices=EQUALIZERS, default="global", help="for the preprocessed pixels"
    )
    ap.add_argument("--out", type=Path, default=Path("reports/source-probe"))
    args = ap.parse_args(argv)
    records = read_folders(args.data)
    feats = features(records, args)
    results: dict[str, dict[str, float]] = {}
    for cls in CLASSES:
        idx = [i for i, r in enumerate(records) if r.label == cls]
        srcs = sorted({records[i].source for i in idx})
        if len(srcs) != 2:
            continue
        key = f"{cls}: {srcs[0]} vs {srcs[1]}"
        results[key] = {
            name: source_auc(
                f[idx], [records[i].source for i in idx], [records[i].group for i in idx]
            )
            for name, f in feats.items()
        }
        results[key]["n"] = len(idx)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(results, indent=2) + "\n")
    names = list(feats)
    lines = [
        "| class: source A vs source B | n | " + " | ".join(f"{n} AUC" for n in names) + " |",
        "| --- | --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for key, row in results.items():
        lines.append(f"| {key} | {row['n']} | " + " | ".join(f"{row[n]:.3f}" for n in names) + " |")
    table = "\n".join(lines)
    (args.out / "report.md").write_text(
        "# Source readability (within-class source-prediction ROC AUC, grouped 5-fold CV)\n\n"
        "0.5 = the source cannot be told apart; 1.0 = trivially. Command: `python -m "
        f"inference.training.source_probe {' '.join(sys.argv[1:]) if argv is None else ' '.join(argv)}`"
        f"\n\n{table}\n"
    )
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
