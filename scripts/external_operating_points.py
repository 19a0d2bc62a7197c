"""Triage bands of the shipped model on another labelled folder, per source.

.venv/bin/python -m scripts.external_operating_points --data ../shared/datasets/cxr-multi
"""

import argparse
import json
from collections import defaultdict
from pathlib import Path

from inference.predictor import Predictor
from inference.training.data import read_folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    predictor = Predictor.load(device="cpu")
    records = read_folder(args.data)
    results = predictor.predict_many([r.path.read_bytes() for r in records])
    bands: dict[str, dict[str, int]] = defaultdict(lambda: {"high": 0, "medium": 0, "low": 0})
    for r, res in zip(records, results, strict=True):
        bands[f"{r.source} ({r.label})"][predictor.priority(res["probabilities"]["covid"])] += 1
    t = predictor.thresholds
    print(f"thresholds: high >= {t['covid_high']:.4f}, medium >= {t['covid_medium']:.4f}")
    print("| source (label) | n | high | medium | low |\n| --- | --- | --- | --- | --- |")
    for key, counts in sorted(bands.items()):
        n = sum(counts.values())
        print(
            f"| {key} | {n} | "
            + " | ".join(
                f"{counts[b]} ({100 * counts[b] / n:.1f}%)" for b in ("high", "medium", "low")
            )
            + " |"
        )
    if args.json:
        args.json.write_text(json.dumps({"thresholds": t, "bands": bands}, indent=2) + "\n")


if __name__ == "__main__":
    main()
