"""Test-time augmentation of a finished source-grouped CV, measured the same way as every recipe.

    python -m scripts.tta_eval --src reports/recipes/multi30 --dst reports/recipes/multi30-tta \
        -- <the recipe's own train arguments, without --out/--only-fold>
    python -m inference.train <the same arguments> --out reports/recipes/multi30-tta   # merge

Every fold model (``folds/fold-K.safetensors``) re-predicts exactly the films its fold JSON
holds (its validation films and the films it never trained on), averaging its softmax over a
few deterministic views of each preprocessed array. The fold JSONs are written under ``--dst``
with the source's signature, so the ordinary merge reuses them and the report, the calibration,
the bands and the held-out-source tables are computed by the same code as every other row.
``--views identity`` reproduces the source recipe (a check of this script, not a new row).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from inference.tta import VIEWS, check_tta_views, tta_view


def tta_logits(model, arrays: np.ndarray, *, views: list[str], norm: str, bs: int = 64):
    """log(mean over views of softmax(model(view(x)))): logits whose softmax is the average."""
    import torch

    from inference.training.loop import NORMALIZATIONS

    mean, std = NORMALIZATIONS[norm]
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(arrays), bs):
            x = torch.from_numpy(arrays[i : i + bs]).unsqueeze(1).float().div_(255.0)
            probs = 0
            for name in views:
                probs = probs + torch.softmax(model((tta_view(x, name) - mean) / std), dim=1)
            out.append(torch.log((probs / len(views)).clamp_min(1e-12)).numpy())
    return np.concatenate(out)


def main(argv: list[str] | None = None) -> int:
    from inference.training.cli import load_data, recipe_arguments, split_at_dashes

    own_argv, train_argv = split_at_dashes(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m scripts.tta_eval")
    p.add_argument("--src", type=Path, required=True)
    p.add_argument("--dst", type=Path, required=True)
    p.add_argument("--views", nargs="+", default=list(VIEWS), choices=list(VIEWS))
    own = p.parse_args(own_argv)
    check_tta_views(own.views)
    from inference.training.options import fold_model

    train_args = recipe_arguments(train_argv, out=own.src)
    _, _, arrays = load_data(train_args)
    (own.dst / "folds").mkdir(parents=True, exist_ok=True)
    for k in range(train_args.folds):
        fold = json.loads((own.src / "folds" / f"fold-{k}.json").read_text())
        model = fold_model(train_args, k)  # train_args.out is --src
        for idx_key, logit_key in (("valid_idx", "logits"), ("other_idx", "other_logits")):
            idx = np.array(fold[idx_key], dtype=int)
            if len(idx):
                fold[logit_key] = tta_logits(
                    model, arrays[idx], views=own.views, norm=train_args.norm
                ).tolist()
        fold["tta_views"] = own.views
        (own.dst / "folds" / f"fold-{k}.json").write_text(json.dumps(fold))
        # The same fold model beside its re-predicted JSON: the merge's --export-ensemble
        # ships these members with the views (inference.training.cli).
        shutil.copyfile(
            own.src / "folds" / f"fold-{k}.safetensors",
            own.dst / "folds" / f"fold-{k}.safetensors",
        )
        print(f"fold {k}: {len(fold['valid_idx'])} + {len(fold['other_idx'])} films re-predicted")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
