"""The shipped model's fold units as teachers for distillation (``--distill``, thirteenth session).

    python -m scripts.teacher_targets --out runs/teacher-d5ae7e8e3f04 -- <the bviews train
        arguments at --size 224, without --out>

Unit K of the shipped ensemble (``darkcovidnet@d5ae7e8e3f04``: fold K's whole-film model of
``bviews-224-tta`` and fold K's lung-mask model of ``bviews-mask-224-tta``, each averaged over the
three served views, then weighted 1:2) never saw fold K's films: its probabilities on every film
are what a student of fold K may learn from, and on the films of every other fold's held-out
sources (which no cxr3-only model trained on) they are the only labels the student gets for them.
Writes ``fold-K.npz`` (``paths``: each film's resolved path; ``probs``: the unit's untempered
probabilities) and ``teacher.json``, and checks each unit against what the CV recorded for it
(``reports/recipes/bviews-mixw-224-tta``'s fold JSONs): the largest difference is printed and
anything above 1e-4 is an error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

WEIGHTS = Path("inference/weights/darkcovidnet.safetensors")
RECORDED = Path("reports/recipes/bviews-mixw-224-tta")


def unit_probabilities(film_model, mask_model, film, mask, *, views, norm, weights) -> np.ndarray:
    """One unit as the CV measured it: each member's softmax averaged over the views, then the
    members' weighted mean (``weights`` sum to 1)."""
    from scripts.tta_eval import tta_logits

    p_film = np.exp(tta_logits(film_model, film, views=views, norm=norm))
    p_mask = np.exp(tta_logits(mask_model, mask, views=views, norm=norm))
    return weights[0] * p_film + weights[1] * p_mask


def _recorded_unit(recorded_fold: dict, paths: np.ndarray) -> tuple[list[int], np.ndarray]:
    """The films the CV recorded fold K's unit on, as rows of ``paths``, and its probabilities."""
    from scripts.mix_rows import _softmax

    row_of = {path: n for n, path in enumerate(paths)}
    films = recorded_fold["paths"]
    rows = [row_of[os.path.realpath(films[i])] for i in recorded_fold["valid_idx"]]
    rows += [row_of[os.path.realpath(films[i])] for i in recorded_fold["other_idx"]]
    logits = recorded_fold["logits"] + recorded_fold["other_logits"]
    return rows, _softmax(np.asarray(logits))


def main(argv: list[str] | None = None) -> int:
    from inference.training.cli import recipe_arguments, split_at_dashes

    mine, recipe = split_at_dashes(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m scripts.teacher_targets")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--weights", type=Path, default=WEIGHTS)
    p.add_argument("--recorded", type=Path, default=RECORDED)
    own = p.parse_args(mine)

    from inference.lungs import LUNG_WEIGHTS
    from inference.model import DarkCovidNet
    from inference.training.cli import load_data
    from scripts.unpack_ensemble import member_states

    meta = json.loads(own.weights.with_suffix(".json").read_text())
    views = meta["tta"]["views"]
    folds = meta["ensemble_of_folds"]
    weights = [float(w) for w in meta["ensemble"]["member_weights"]]
    weights = [weights[0], weights[len(folds)]]
    weights = [w / sum(weights) for w in weights]
    film_args = recipe_arguments(recipe, out=own.out)
    mask_args = recipe_arguments(
        [*recipe, "--lungs", str(LUNG_WEIGHTS), "--lungs-mode", "mask"], out=own.out
    )
    records, _, film = load_data(film_args)
    _, _, mask = load_data(mask_args)
    states = member_states(own.weights)
    own.out.mkdir(parents=True, exist_ok=True)
    paths = np.array([os.path.realpath(r.path) for r in records])
    worst = 0.0
    for i, k in enumerate(folds):
        models = []
        for j in range(2):
            m = DarkCovidNet(input_size=film_args.size, in_channels=1)
            m.load_state_dict(states[j * len(folds) + i])
            models.append(m)
        probs = unit_probabilities(
            *models, film, mask, views=views, norm=film_args.norm, weights=weights
        )
        recorded = json.loads((own.recorded / "folds" / f"fold-{k}.json").read_text())
        rows, recorded_probs = _recorded_unit(recorded, paths)
        diff = float(np.abs(probs[rows] - recorded_probs).max())
        worst = max(worst, diff)
        print(f"fold {k}: {len(paths)} films; recorded unit on {len(rows)}: max |dp| {diff:.2e}")
        np.savez(own.out / f"fold-{k}.npz", paths=paths, probs=probs.astype(np.float32))
    (own.out / "teacher.json").write_text(
        json.dumps(
            {
                "model_version": meta["model_version"],
                "views": views,
                "member_weights": weights,
                "folds": folds,
                "size": film_args.size,
                "max_abs_difference_from_recorded": worst,
            },
            indent=2,
        )
        + "\n"
    )
    if worst > 1e-4:
        raise SystemExit(f"the teacher differs from the recorded units by {worst:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
