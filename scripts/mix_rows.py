"""Two finished source-grouped CVs mixed fold by fold: a recipe row whose fold K is the equal-weight
average of both recipes' fold-K probabilities (reports/recipes/SHIP_RULE.md, fifth session).

    python -m scripts.mix_rows --rows reports/recipes/bviews-tta reports/recipes/bviews-mask-r-tta \
        --dst reports/recipes/bviews-mix-tta
    python -m inference.train <the FIRST row's own train arguments> --out reports/recipes/bviews-mix-tta

Both rows must hold the same films in the same folds (same data, split and seed; a preprocessing
option such as the lung mask changes only what each fold model saw). Each fold model of both rows
never saw its fold, so neither does their average. The fold JSONs are written under ``--dst``
with the first row's signature (the ordinary merge then reuses them: calibration, bands and the
held-out-source tables come from the same code as every row) and a ``"mix"`` entry naming every
row, its signature and its test-time views. The fold weights are copied beside them
(``fold-K.safetensors`` from the first row, ``fold-K.mix1.safetensors`` from the second), so the
merge's ``--export-ensemble`` can ship what was measured.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

# What must be equal in every row's fold K for the average to be a fold of one CV.
SAME = ("valid_idx", "other_idx", "paths", "tta_views")


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def mixed_logits(parts: list[list[list[float]]]) -> list[list[float]]:
    """log of the mean of the parts' softmax: logits whose softmax is the equal-weight average."""
    if not parts[0]:
        return []
    mean = np.mean([_softmax(np.asarray(p, dtype=np.float64)) for p in parts], axis=0)
    return np.log(np.clip(mean, 1e-12, None)).tolist()


def mix_fold(folds: list[dict], rows: list[Path]) -> dict:
    """Fold K of the mixed row from fold K of every row (the first row's JSON otherwise)."""
    first = folds[0]
    for row, fold in zip(rows[1:], folds[1:], strict=True):
        for key in SAME:
            if fold.get(key) != first.get(key):
                raise SystemExit(f"{row}: {key} differs from {rows[0]}'s; not folds of one CV")
    mixed = dict(first)
    mixed["logits"] = mixed_logits([f["logits"] for f in folds])
    mixed["other_logits"] = mixed_logits([f["other_logits"] for f in folds])
    mixed["seconds"] = round(sum(f["seconds"] for f in folds), 1)
    mixed["mix"] = [
        {"row": str(row), "signature": f["signature"], "tta_views": f.get("tta_views")}
        for row, f in zip(rows, folds, strict=True)
    ]
    return mixed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.mix_rows")
    p.add_argument("--rows", type=Path, nargs=2, required=True, help="two finished CV directories")
    p.add_argument("--dst", type=Path, required=True)
    p.add_argument("--folds", type=int, default=5)
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    (args.dst / "folds").mkdir(parents=True, exist_ok=True)
    for k in range(args.folds):
        folds = [json.loads((r / "folds" / f"fold-{k}.json").read_text()) for r in args.rows]
        (args.dst / "folds" / f"fold-{k}.json").write_text(json.dumps(mix_fold(folds, args.rows)))
        for j, row in enumerate(args.rows):
            weights = row / "folds" / f"fold-{k}.safetensors"
            if weights.exists():  # absent for a row whose fold models are gone: report only
                suffix = "" if j == 0 else f".mix{j}"
                shutil.copyfile(weights, args.dst / "folds" / f"fold-{k}{suffix}.safetensors")
        print(f"fold {k}: {len(folds[0]['valid_idx'])} + {len(folds[0]['other_idx'])} films mixed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
