"""A recipe row mixed from two CVs fold by fold (``scripts.mix_rows``): which members it has and
what each reads, so that its merge's ``--export-ensemble`` ships what the row measured.

A mixed row's fold JSONs carry ``"mix"``: the rows mixed, each with its signature. Two rows are
supported, which differ only in the lung model: the first reads the whole film, the second the
film cut by the lung model (its ``--lungs-mode``). Exported, the ensemble's members are the first
row's fold models reading input channel 0 (``"film"``) and the second row's reading channel 1
(``"lungs"``), with equal weight: the mean of the ten members' probabilities is the mean of the
two rows' five-member means. The two models of fold K form a unit: their untempered
probabilities are averaged (over the test-time views too) before the row's temperature, as the
row's fold K measured them; serving then averages the five units' calibrated probabilities.
"""

from __future__ import annotations

import json
from pathlib import Path

# What may differ between the two mixed rows: the lung model and how it cuts the film.
LUNG_KEYS = ("lungs", "lungs_mode")


def fold_mix(out: Path) -> list[dict] | None:
    """The ``"mix"`` entry of a CV's fold JSONs (None: an ordinary row)."""
    fold = out / "folds" / "fold-0.json"
    return json.loads(fold.read_text()).get("mix") if fold.exists() else None


def mix_lungs(mix: list[dict]) -> tuple[str, str]:
    """(lung model version, mode) of the second row, after checking that the two rows are a
    whole-film row and a lung-cut row of one recipe otherwise."""
    if len(mix) != 2:
        raise SystemExit(f"a mixed row of {len(mix)} rows: only two (film, lungs) are served")
    film, lungs = (m["signature"] for m in mix)
    if film.get("lungs") or not lungs.get("lungs"):
        raise SystemExit("the first mixed row must read the whole film, the second the lung cut")
    rest = lambda s: {k: v for k, v in s.items() if k not in LUNG_KEYS}  # noqa: E731
    if rest(film) != rest(lungs):
        raise SystemExit("the mixed rows differ in more than the lung model: not one input size")
    return lungs["lungs"], lungs.get("lungs_mode", "crop")


def mixed_ensemble(args, mix: list[dict]):
    """The fold models of both rows (``fold-K.safetensors``, ``fold-K.mix1.safetensors``) as one
    ensemble whose members read their own input channel."""
    from inference.ensemble import DarkCovidNetEnsemble
    from inference.training.options import fold_model

    mix_lungs(mix)
    folds = list(args.ensemble_folds or range(args.folds))
    members, inputs = [], []
    for channel, suffix in enumerate(("", ".mix1")):
        for k in folds:
            members.append(fold_model(args, k, suffix=suffix))
            inputs.append(channel)
    # Unit j: fold j's two models, averaged before the temperature as the row measured them.
    units = [[j, j + len(folds)] for j in range(len(folds))]
    return DarkCovidNetEnsemble(members, member_inputs=inputs, units=units)


def mix_lungs_metadata(mix: list[dict], path: Path) -> dict:
    """The lung model the second input is cut with, as the classifier's metadata names it;
    ``path`` must hold the version the row was measured with."""
    from inference.training.report import lungs_metadata

    version, mode = mix_lungs(mix)
    meta = lungs_metadata(path, mode)
    if meta["model_version"] != version:
        raise SystemExit(f"{path} is {meta['model_version']}; the mixed row used {version}")
    return meta
