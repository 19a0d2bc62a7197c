"""A recipe row mixed from several CVs fold by fold (``scripts.mix_rows``): which members it has
and what each reads, so that its merge's ``--export-ensemble`` ships what the row measured.

A mixed row's fold JSONs carry ``"mix"``: the rows mixed, each with its signature. Each row reads
either the whole film (input channel 0, ``"film"``) or the film cut by the lung model (channel 1,
``"lungs"``); every row that reads the lung cut uses the same lung model and mode, and all rows
share what serving prepares (input size, normalisation, margin, equalisation): they may differ in
what they were trained on (data, sampling, epochs). Exported, the ensemble's members are row 0's
fold models, then row 1's, and so on, with equal weight: the mean of the members' probabilities
is the mean of the rows' five-member means (a row mixed with a ``"weight"`` gives its members
that share of each unit's mean instead). The models of fold K form a unit: their untempered
probabilities are averaged (over the test-time views too) before the row's temperature, as the
row's fold K measured them; serving then averages the five units' calibrated probabilities.
"""

from __future__ import annotations

import json
from pathlib import Path

# What every mixed row must share: what serving prepares from the film, and the network's shape.
SERVED_KEYS = ("size", "norm", "margin", "equalize", "preprocessing", "width")
INPUTS = ("film", "lungs")


def fold_mix(out: Path) -> list[dict] | None:
    """The ``"mix"`` entry of a CV's fold JSONs (None: an ordinary row)."""
    fold = out / "folds" / "fold-0.json"
    return json.loads(fold.read_text()).get("mix") if fold.exists() else None


def mix_channels(mix: list[dict]) -> tuple[list[int], tuple[str, str] | None]:
    """The input channel each mixed row reads (0 the film, 1 the lung cut) and the (lung model
    version, mode) of the lung-cut rows, after checking that the rows can be served together."""
    if len(mix) < 2:
        raise SystemExit(f"a mixed row of {len(mix)} rows: mix at least two")
    signatures = [m["signature"] for m in mix]
    served = lambda s: {k: s.get(k) for k in SERVED_KEYS}  # noqa: E731
    if any(served(s) != served(signatures[0]) for s in signatures):
        raise SystemExit("the mixed rows differ in what serving prepares: not one input size")
    cuts = {(s["lungs"], s.get("lungs_mode", "crop")) for s in signatures if s.get("lungs")}
    if len(cuts) > 1:
        raise SystemExit("the mixed rows cut the film with different lung models or modes")
    channels = [1 if s.get("lungs") else 0 for s in signatures]
    if channels[0] != 0 or 1 not in channels:
        raise SystemExit("the first mixed row must read the whole film, and one the lung cut")
    return channels, cuts.pop()


def mix_lungs(mix: list[dict]) -> tuple[str, str]:
    """(lung model version, mode) of the rows that read the lung cut."""
    return mix_channels(mix)[1]


def mixed_ensemble(args, mix: list[dict]):
    """The fold models of every row (``fold-K.safetensors`` for row 0, ``fold-K.mixJ.safetensors``
    for row J) as one ensemble whose members read their own input channel."""
    from inference.ensemble import DarkCovidNetEnsemble
    from inference.training.options import fold_model

    channels, _ = mix_channels(mix)
    folds = list(args.ensemble_folds or range(args.folds))
    members, inputs = [], []
    for j, channel in enumerate(channels):
        for k in folds:
            members.append(fold_model(args, k, suffix=f".mix{j}" if j else ""))
            inputs.append(channel)
    # Unit i: fold i's models of every row, averaged before the temperature as the row measured.
    units = [[i + j * len(folds) for j in range(len(mix))] for i in range(len(folds))]
    # A weighted mix (scripts.mix_rows --weights): row j's share, given to each of its members.
    weighted = any("weight" in m for m in mix)
    weights = [float(m["weight"]) for m in mix for _ in folds] if weighted else None
    return DarkCovidNetEnsemble(members, member_inputs=inputs, units=units, member_weights=weights)


def mix_lungs_metadata(mix: list[dict], path: Path) -> dict:
    """The lung model the second input is cut with, as the classifier's metadata names it;
    ``path`` must hold the version the row was measured with."""
    from inference.training.report import lungs_metadata

    version, mode = mix_lungs(mix)
    meta = lungs_metadata(path, mode)
    if meta["model_version"] != version:
        raise SystemExit(f"{path} is {meta['model_version']}; the mixed row used {version}")
    return meta
