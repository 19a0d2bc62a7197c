"""Compare recipes fold by fold, for recipes whose CV was not (yet) run on every fold.

    python -m scripts.compare_folds --folds 0,1 reports/recipes/multi reports/recipes/multi-lungs

For each recipe: the cxr3 accuracy on those folds' cxr3 films and, per source held out in those
folds, its balanced accuracy (from the one fold model that never saw it). Same folds, same films:
a paired comparison, not a table row (the ship rule needs all five folds).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from inference.constants import CLASSES
from inference.training.data import GROUP_SPLIT_SOURCES, read_folders

ROOT = Path(__file__).resolve().parent.parent
DATA = [
    "/work/shared/datasets/cxr3",
    "../shared/datasets/cxr-multi",
    "../shared/datasets/cxr-cases",
]


def fold_numbers(recipe: Path, k: int, records) -> dict:
    fold = json.loads((recipe / "folds" / f"fold-{k}.json").read_text())
    logits = dict(zip(fold["valid_idx"], fold["logits"], strict=True))
    by_source: dict[str, list[int]] = {}
    for i in fold["valid_idx"]:
        key = "cxr3" if records[i].source in GROUP_SPLIT_SOURCES else records[i].source
        by_source.setdefault(key, []).append(i)
    out = {}
    for s, idx in sorted(by_source.items()):
        y = np.array([CLASSES.index(records[i].label) for i in idx])
        p = np.array([int(np.argmax(logits[i])) for i in idx])
        recalls = [float((p[y == c] == c).mean()) for c in range(len(CLASSES)) if (y == c).any()]
        out[s] = {
            "n": len(idx),
            "accuracy": float((p == y).mean()),
            "balanced_accuracy": float(np.mean(recalls)),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.compare_folds")
    p.add_argument("--folds", type=lambda s: [int(k) for k in s.split(",")], required=True)
    p.add_argument("recipes", nargs="+", type=Path)
    args = p.parse_args(argv)
    records = read_folders(DATA)
    table = {r.name: {k: fold_numbers(r, k, records) for k in args.folds} for r in args.recipes}
    print(json.dumps(table, indent=2))
    names = [r.name for r in args.recipes]
    lines = [
        "| fold | films | " + " | ".join(names) + " |",
        "| --- | --- |" + " --- |" * len(names),
    ]
    for k in args.folds:
        for s in table[names[0]][k]:
            key = "accuracy" if s == "cxr3" else "balanced_accuracy"
            cells = [f"{100 * table[n][k][s][key]:.1f}" for n in names]
            label = "cxr3 accuracy" if s == "cxr3" else f"{s} balanced accuracy"
            lines.append(
                f"| {k} | {label} (n {table[names[0]][k][s]['n']}) | " + " | ".join(cells) + " |"
            )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
