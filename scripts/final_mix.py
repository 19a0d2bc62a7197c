"""The final fit of a mixed row: each mixed row's recipe trained on every film of ``--data``
(``scripts/bviews_row.sh final``), the models one unit as the row's folds were, read on the
sources none of them saw, and optionally exported as the shipped model.

    python -m scripts.final_mix --row reports/recipes/bviews-mix-224-tta \
        --models runs/final/bviews-224/final/model.safetensors \
                 runs/final/bviews-mask-224/final/model.safetensors \
        --dst reports/recipes/bviews-mix-224-tta-final [--export] \
        -- <the first mixed row's train arguments, as its merge takes them>

Each final model must carry the signature its row's folds were trained with (the same recipe,
seed and data; only the films differ), so what is read is the row's recipe. The sources that are
not ``--data`` (``--eval-data``, less the films of patients ``--data`` also has) were never
trained on by either model: they are read with the
row's test-time views and the row's shipped temperature and thresholds (fitted on its
out-of-fold films), the same way the merge reads the five fold units averaged
(``ensemble_unseen_sources``), so the two forms compare on the same films.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np

from inference.constants import CLASSES


def final_models(train_args, mix: list[dict], paths: list[Path]) -> list:
    """The final fits, after checking each was trained with its row's signature."""
    from safetensors.torch import load_file

    from inference.training.options import new_model

    if len(paths) != len(mix):
        raise SystemExit(f"{len(mix)} mixed rows, {len(paths)} models")
    models = []
    for path, row in zip(paths, mix, strict=True):
        signature = json.loads(path.with_suffix(".json").read_text())
        if signature != row["signature"]:
            diff = {
                k
                for k in signature.keys() | row["signature"].keys()
                if signature.get(k) != row["signature"].get(k)
            }
            raise SystemExit(f"{path} is not {row['row']}'s recipe: {sorted(diff)} differ")
        model = new_model(train_args)
        model.load_state_dict(load_file(str(path)))
        models.append(model)
    return models


def member_arrays(train_args, channels: list[int], lungs: Path, mode: str):
    """Records, which may be trained on, and each member's preprocessed arrays (the film, or
    its lung cut) in the same order."""
    from inference.training.cli import load_data

    arrays = {}
    for channel in sorted(set(channels)):
        a = copy.copy(train_args)
        a.lungs, a.lungs_mode = (lungs, mode) if channel else (None, "crop")
        records, trainable, arrays[channel] = load_data(a)
    return records, trainable, [arrays[c] for c in channels]


def markdown(out: dict) -> str:
    from inference.training.report import pct, source_rows

    def line(name, sm):
        return f"| {name} | {pct(sm[0])} | {pct(sm[1])} |"

    return "\n".join(
        [
            f"# The final fit of {out['row']}, on the sources neither model saw",
            "",
            f"Models: {', '.join(out['models'])}; views: {', '.join(out['tta_views'])}; "
            f"temperature {out['temperature']:.3f} and the row's thresholds.",
            "",
            "| form | held-out balanced accuracy (rule) | mean of sources' balanced accuracy |",
            "| --- | ---: | ---: |",
            line("single fold units (the row)", out["compare"]["single"]),
            line("five fold units averaged (the shipped form)", out["compare"]["ensemble"]),
            line("**final fit, one unit**", out["compare"]["final"]),
            "",
            *source_rows(out["final_unseen_sources"]),
            "",
        ]
    )


def unseen_films(records, trainable: np.ndarray) -> np.ndarray:
    """Films no final model trained on. A film of a patient the final fit trained on (a cxr3
    group that a case site also gives) is not unseen, as the CV leaves it out of its fold's
    held-out films."""
    trained_groups = {records[i].group for i in np.flatnonzero(trainable)}
    return np.array(
        [i for i in np.flatnonzero(~trainable) if records[i].group not in trained_groups], int
    )


def read_final(
    own, train_args, report: dict, mix: list[dict], tta: tuple[str, ...]
) -> tuple[dict, list, list[int]]:
    """The final unit on the unseen films, read with the row's views ``tta`` (none: the film
    alone): the report, the models and their input channels."""
    from inference.training.heldout import (
        ensemble_logits,
        summarise_sources,
        tempered_source_tables,
    )
    from inference.training.mix import mix_channels
    from scripts.ensemble_vs_units import comparison, scores
    from scripts.tta_eval import tta_logits

    channels, (_, mode) = mix_channels(mix)
    views = list(tta) or ["identity"]
    models = final_models(train_args, mix, own.models)
    records, trainable, arrays = member_arrays(train_args, channels, own.lungs, mode)
    unseen = unseen_films(records, trainable)
    per_member = [
        tta_logits(m, a[unseen], views=views, norm=train_args.norm)
        for m, a in zip(models, arrays, strict=True)
    ]
    calib = report["calibration"]
    unit = ensemble_logits(per_member) / calib["temperature"]
    y = np.array([CLASSES.index(records[i].label) for i in unseen])
    tables = tempered_source_tables([records[i].source for i in unseen], y, unit, calib)
    out = {
        "row": str(own.row),
        "models": [str(m) for m in own.models],
        "tta_views": views,
        "temperature": calib["temperature"],
        "final_unseen_sources": tables,
        "summary": summarise_sources(tables),
        "compare": comparison(report) | {"final": scores(tables)},
    }
    return out, models, channels


def export_unit(
    models: list, channels: list[int], train_args, report: dict, mix, tta: tuple[str, ...]
) -> Path:
    """The final models as one unit, with the row's calibration, views and mix metadata."""
    from inference.ensemble import DarkCovidNetEnsemble
    from inference.training.report import export_final

    unit = DarkCovidNetEnsemble(models, member_inputs=channels, units=[list(range(len(models)))])
    return export_final(
        unit,
        train_args,
        cv_report=report,
        data_roots=train_args.data,
        ensemble=len(models),
        tta_views=tta,
        mix=mix,
        final_fit=True,
    )


def main(argv: list[str] | None = None) -> int:
    from inference.training.cli import fold_tta_views, recipe_arguments, split_at_dashes

    own_argv, train_argv = split_at_dashes(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m scripts.final_mix")
    p.add_argument("--row", type=Path, required=True, help="the mixed row's report folder")
    p.add_argument("--models", type=Path, nargs="+", required=True, help="one per mixed row")
    p.add_argument("--dst", type=Path, required=True)
    p.add_argument("--lungs", type=Path, default=Path("inference/weights/lungs.safetensors"))
    p.add_argument("--export", action="store_true", help="export the unit as the shipped model")
    own = p.parse_args(own_argv)
    from inference.training.mix import fold_mix

    train_args = recipe_arguments(train_argv, out=own.row)
    report = json.loads((own.row / "report.json").read_text())
    mix = fold_mix(own.row)
    tta = tuple(fold_tta_views(train_args))
    out, models, channels = read_final(own, train_args, report, mix, tta)
    own.dst.mkdir(parents=True, exist_ok=True)
    (own.dst / "report.json").write_text(json.dumps(out, indent=2))
    (own.dst / "report.md").write_text(markdown(out))
    print(markdown(out))
    if own.export:
        print(f"exported {export_unit(models, channels, train_args, report, mix, tta)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
