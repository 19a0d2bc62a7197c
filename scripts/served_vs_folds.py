"""Does an exported ensemble serve what its row measured? On films that no fold model trained on
(the row's ``--eval-data`` films: ``other_idx`` of every fold JSON), the served probabilities
(``Predictor.predict``) against the fold JSONs' mean over the units (each unit's mixed logits over the
temperature, softmaxed, averaged over the units: the combination the metadata describes).

    python -m scripts.served_vs_folds --weights runs/fast-profile/darkcovidnet.safetensors \
        --row reports/recipes/bviews-mixw --films 20

Prints the largest absolute difference in probability; exits 1 above ``--tolerance``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--row", type=Path, required=True, help="the exported row's CV directory")
    parser.add_argument("--films", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=1e-5)
    args = parser.parse_args(argv)

    from inference.metrics import softmax
    from inference.predictor import Predictor

    predictor = Predictor.load(args.weights)
    temperature = predictor.temperature
    folds = sorted((args.row / "folds").glob("fold-*.json"))
    loaded = [json.loads(p.read_text()) for p in folds]
    paths, other = loaded[0]["paths"], loaded[0]["other_idx"]
    if not other:
        raise SystemExit(f"{args.row}: no films outside the folds' own data (no --eval-data)")
    rng = np.random.default_rng(args.seed)
    picks = rng.choice(len(other), size=min(args.films, len(other)), replace=False)
    # [films, classes]: each unit's tempered probabilities, averaged over the units.
    expected = np.mean(
        [softmax(np.asarray(f["other_logits"])[picks], temperature) for f in loaded], axis=0
    )
    worst = 0.0
    for j, row in zip(picks, expected, strict=True):
        served = predictor.predict(Path(paths[other[j]]).read_bytes())["probabilities"]
        got = np.array([served[c] for c in predictor.classes])
        worst = max(worst, float(np.abs(got - row).max()))
    print(
        f"{predictor.model_version}: {len(picks)} films, {len(folds)} units; "
        f"largest difference {worst:.2e} (tolerance {args.tolerance:.0e})"
    )
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
