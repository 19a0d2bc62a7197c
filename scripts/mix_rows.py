"""Finished source-grouped CVs mixed fold by fold: a recipe row whose fold K is the average
(equal-weight unless ``--weights`` gives each row its share) of every recipe's fold-K
probabilities (reports/recipes/SHIP_RULE.md, fifth, sixth and ninth sessions).

    python -m scripts.mix_rows --rows reports/recipes/bviews-tta reports/recipes/bviews-mask-r-tta \
        --dst reports/recipes/bviews-mix-tta
    python -m inference.train <the FIRST row's own train arguments> --out reports/recipes/bviews-mix-tta

Every row must hold the same films in the same folds (same films, split and seed; a preprocessing
option such as the lung mask changes only what each fold model saw). Each fold model of every row
never saw its fold, so neither does their average. A multi-source row's fold K predicts only the
films it did not train on, where a cxr3-only row's also predicts the sources other folds hold
out: the mixed fold keeps the films that every row's fold K predicted (its validation films,
which must be the same in every row, and the common part of the others). The fold JSONs are
written under ``--dst``
with the first row's signature (the ordinary merge then reuses them: calibration, bands and the
held-out-source tables come from the same code as every row) and a ``"mix"`` entry naming every
row, its signature and its test-time views. The fold weights are copied beside them
(``fold-K.safetensors`` from the first row, ``fold-K.mixJ.safetensors`` from row J >= 1), so the
merge's ``--export-ensemble`` can ship what was measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

# What must be equal in every row's fold K for the average to be a fold of one CV (the paths are
# compared resolved: one row may name a data set ../shared/..., another /work/shared/...).
SAME = ("valid_idx", "tta_views")


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def mixed_logits(
    parts: list[list[list[float]]], weights: list[float] | None = None
) -> list[list[float]]:
    """log of the (weighted) mean of the parts' softmax: logits whose softmax is that average;
    ``weights`` (one per part, any positive scale; None: equal) are normalised to sum to 1."""
    if not parts[0]:
        return []
    w = mix_weights(weights, len(parts))
    probs = [_softmax(np.asarray(p, dtype=np.float64)) for p in parts]
    mean = np.tensordot(np.asarray(w), np.stack(probs), axes=1)
    return np.log(np.clip(mean, 1e-12, None)).tolist()


def mix_weights(weights: list[float] | None, n: int) -> list[float]:
    """The rows' weights normalised to sum to 1 (equal when None)."""
    if weights is None:
        return [1.0 / n] * n
    if len(weights) != n or min(weights) <= 0:
        raise SystemExit(f"--weights: {n} positive numbers, one per row, not {weights}")
    return [float(x) / sum(weights) for x in weights]


def _same_films(paths_a: list[str], paths_b: list[str]) -> bool:
    resolve = lambda ps: [os.path.realpath(p) for p in ps]  # noqa: E731
    return paths_a == paths_b or resolve(paths_a) == resolve(paths_b)


def mix_fold(folds: list[dict], rows: list[Path], weights: list[float] | None = None) -> dict:
    """Fold K of the mixed row from fold K of every row (the first row's JSON otherwise);
    ``weights``: each row's share of the average (None: equal shares)."""
    first = folds[0]
    for row, fold in zip(rows[1:], folds[1:], strict=True):
        for key in SAME:
            if fold.get(key) != first.get(key):
                raise SystemExit(f"{row}: {key} differs from {rows[0]}'s; not folds of one CV")
        if not _same_films(fold["paths"], first["paths"]):
            raise SystemExit(f"{row}: paths differ from {rows[0]}'s; not folds of one CV")
    # The films besides the validation ones that every row's fold model predicted (never trained
    # on), in the first row's order.
    others = [dict(zip(f["other_idx"], f["other_logits"], strict=True)) for f in folds]
    other_idx = [i for i in first["other_idx"] if all(i in o for o in others)]
    mixed = dict(first)
    shares = mix_weights(weights, len(folds))
    mixed["logits"] = mixed_logits([f["logits"] for f in folds], shares)
    mixed["other_idx"] = other_idx
    mixed["other_logits"] = mixed_logits([[o[i] for i in other_idx] for o in others], shares)
    # What any member trained on: the merge's ensemble section must not read those films.
    if all("train_idx" in f for f in folds):
        mixed["train_idx"] = sorted(set().union(*(f["train_idx"] for f in folds)))
    mixed["seconds"] = round(sum(f["seconds"] for f in folds), 1)
    mixed["mix"] = [
        {"row": str(row), "signature": f["signature"], "tta_views": f.get("tta_views")}
        | ({} if weights is None else {"weight": share})
        for row, f, share in zip(rows, folds, shares, strict=True)
    ]
    return mixed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.mix_rows")
    p.add_argument("--rows", type=Path, nargs="+", required=True, help="finished CV directories")
    p.add_argument("--dst", type=Path, required=True)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument(
        "--weights",
        type=float,
        nargs="+",
        help="each row's share of the average, in --rows order (any positive scale; default equal)",
    )
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    if len(args.rows) < 2:
        p.error("--rows: at least two rows to mix")
    (args.dst / "folds").mkdir(parents=True, exist_ok=True)
    for k in range(args.folds):
        folds = [json.loads((r / "folds" / f"fold-{k}.json").read_text()) for r in args.rows]
        mixed = mix_fold(folds, args.rows, args.weights)
        (args.dst / "folds" / f"fold-{k}.json").write_text(json.dumps(mixed))
        for j, row in enumerate(args.rows):
            weights = row / "folds" / f"fold-{k}.safetensors"
            if weights.exists():  # absent for a row whose fold models are gone: report only
                suffix = "" if j == 0 else f".mix{j}"
                shutil.copyfile(weights, args.dst / "folds" / f"fold-{k}{suffix}.safetensors")
        print(f"fold {k}: {len(mixed['valid_idx'])} + {len(mixed['other_idx'])} films mixed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
