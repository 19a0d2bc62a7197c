"""Helpers shared by the tests of mixed rows (test_mixed_inputs.py, test_weighted_mix.py): a
two-input ensemble exported as the merge exports it, and a mixed CV's fold files as
``scripts.mix_rows`` leaves them for the merge's ``--export-ensemble``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from inference.export import export_model
from inference.lungs import LUNG_WEIGHTS
from inference.training.report import lungs_metadata

MEAN, STD = 0.449, 0.226


def export_mix(tmp_path: Path, model, *, name: str = "mixed", views=()) -> Path:
    """``model`` (a DarkCovidNetEnsemble reading the film and its lung mask) exported beside a
    copy of the shipped lung model, with its own temperature, units and member weights."""
    for suffix in (".safetensors", ".json"):
        shutil.copyfile(LUNG_WEIGHTS.with_suffix(suffix), tmp_path / f"lungs{suffix}")
    return export_model(
        model,
        weights_dir=tmp_path,
        name=name,
        input_size=64,
        temperature=model.temperature,
        margin=0.0,
        equalize="none",
        thresholds={"covid_high": 0.5, "covid_medium": 0.2},
        normalization=(MEAN, STD),
        extra={},
        lungs=lungs_metadata(tmp_path / "lungs.safetensors", "mask"),
        ensemble=len(model.members),
        tta_views=views,
        inputs=("film", "lungs"),
        member_inputs=model.member_inputs,
        units=model.units,
        member_weights=model.member_weights,
    )


def write_mixed_folds(out: Path, mix: list[dict], net, *, folds: int = 2):
    """Fold K's JSON (its ``"mix"`` entry) and row J's fold-K model (``net(10 * J + K)``,
    ``fold-K.safetensors`` for row 0, ``fold-K.mixJ.safetensors`` after) under ``out/folds``;
    returns the arguments ``inference.training.cli.fold_ensemble`` reads."""
    from safetensors.torch import save_file

    (out / "folds").mkdir()
    for k in range(folds):
        (out / "folds" / f"fold-{k}.json").write_text(json.dumps({"mix": mix}))
        for j in range(len(mix)):
            state = {n: v.contiguous() for n, v in net(10 * j + k).state_dict().items()}
            suffix = f".mix{j}" if j else ""
            save_file(state, str(out / "folds" / f"fold-{k}{suffix}.safetensors"))
    return type("Args", (), {"out": out, "folds": folds, "ensemble_folds": None, "size": 64})()
