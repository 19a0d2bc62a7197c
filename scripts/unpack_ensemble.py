"""The members of an exported fold ensemble back as the fold models of the rows it was mixed from
(``fold-K.safetensors`` beside each row's fold JSONs), so that a later mix can reuse them without
retraining: git keeps the shipped ensemble, not the fold models.

    python -m scripts.unpack_ensemble --weights inference/weights/darkcovidnet.safetensors \
        --rows reports/recipes/bviews-224-tta reports/recipes/bviews-mask-224-tta

The metadata beside the weights names the rows (``mixed_rows``) and the folds
(``ensemble_of_folds``); member ``j * len(folds) + i`` is fold i of row j (inference.training.mix).
``--rows`` must name the same rows in the same order: a check that the members go where they came
from.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def member_states(weights: Path) -> dict[int, dict]:
    """Each member's state dict, by member index, from an ensemble's safetensors."""
    from safetensors.torch import load_file

    members: dict[int, dict] = {}
    for key, tensor in load_file(str(weights)).items():
        head, index, name = key.split(".", 2)
        if head != "members":
            raise SystemExit(f"{weights}: {key} is not a member's tensor")
        members.setdefault(int(index), {})[name] = tensor.contiguous()
    return members


def main(argv: list[str] | None = None) -> int:
    from safetensors.torch import save_file

    p = argparse.ArgumentParser(prog="python -m scripts.unpack_ensemble")
    p.add_argument("--weights", type=Path, required=True)
    p.add_argument("--rows", type=Path, nargs="+", required=True)
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    meta = json.loads(args.weights.with_suffix(".json").read_text())
    named = [Path(r) for r in meta.get("mixed_rows") or []]
    if [r.name for r in named] != [r.name for r in args.rows]:
        raise SystemExit(f"{args.weights} was mixed from {[str(r) for r in named]}, not --rows")
    folds = meta["ensemble_of_folds"]
    members = member_states(args.weights)
    if len(members) != len(folds) * len(args.rows):
        raise SystemExit(f"{len(members)} members are not {len(args.rows)} rows of {folds}")
    for j, row in enumerate(args.rows):
        for i, k in enumerate(folds):
            out = row / "folds" / f"fold-{k}.safetensors"
            save_file(members[j * len(folds) + i], str(out))
            print(f"{out}: member {j * len(folds) + i}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
