"""Train DarkCovidNet with fastai: grouped K-fold CV and/or the final model.

    python -m inference.train --folds 5 --export     # CV report, then final fit + export
    python -m inference.train --folds 5              # CV report only
    python -m inference.train --cv-report DIR/report.json   # final fit using that CV's calibration

The CV report (JSON + Markdown + PNG plots + out-of-fold predictions) goes to ``--out``.
Temperature and triage thresholds are fitted on the out-of-fold predictions only, and the
final model (trained on every image) carries them in its metadata.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from inference.constants import LUNG_MODES, MODEL_NAME
from inference.preprocessing import DEFAULT_SIZE, EQUALIZERS, MARGIN
from inference.training.cv import final_model, fold_result, make_folds, run_cv, run_holdout
from inference.training.data import limit_records, load_arrays, read_folders, with_views
from inference.training.loop import NORMALIZATIONS
from inference.training.mix import fold_mix
from inference.training.report import export_final

log = logging.getLogger("inference.train")
DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cxr3"

DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Data, schedule, CV and outputs."""
    p.add_argument("--data", action="append", type=Path, help="data folder (repeatable)")
    p.add_argument(
        "--eval-data",
        action="append",
        type=Path,
        default=[],
        help="folder never trained on; every fold model predicts its films (repeatable)",
    )
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--size", type=int, default=DEFAULT_SIZE)
    p.add_argument("--bs", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--folds", type=int, default=0, help="grouped K-fold CV (0: no CV)")
    p.add_argument(
        "--export", action="store_true", help="after CV, also train and export the final model"
    )
    p.add_argument(
        "--cv-report", type=Path, help="report.json of an earlier CV (for the final fit)"
    )
    p.add_argument(
        "--export-ensemble",
        action="store_true",
        help="after CV, export the K fold models as one averaged ensemble (no final fit)",
    )
    p.add_argument(
        "--ensemble-folds",
        type=lambda s: [int(k) for k in s.split(",")],
        help="with --export-ensemble: only these folds (e.g. 2,3,4; default all)",
    )
    p.add_argument("--out", type=Path, default=Path("runs/train"), help="report folder")
    p.add_argument("--weights-dir", type=Path, default=DEFAULT_WEIGHTS_DIR)
    p.add_argument("--name", default=MODEL_NAME)
    p.add_argument(
        "--limit", type=int, default=0, help="use only the first N images per class (smoke runs)"
    )
    p.add_argument("--only-fold", type=int, help="train just this fold (0-based) and stop")
    p.add_argument("--only-final", action="store_true", help="train just the final model and stop")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")


def add_recipe_arguments(p: argparse.ArgumentParser) -> None:
    """Variants (issues 5 and 9); each is recorded in the report and the exported metadata."""
    p.add_argument("--no-augment", action="store_true", help="disable augmentation (ablation)")
    p.add_argument(
        "--aug",
        choices=("published", "standard", "strong"),
        default="standard",
        help="augmentation strength: strong adds gamma, harder exposure/contrast, noise and blur",
    )
    p.add_argument(
        "--sampling",
        choices=("class-weights", "source-balanced", "source-sqrt", "none"),
        default="class-weights",
        help="class-weighted loss, sampling every (class, source) stratum equally, or plain",
    )
    p.add_argument("--mixup", type=float, default=0.0, help="mixup alpha (0: off)")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument(
        "--views",
        type=Path,
        help="NIH Data_Entry_2017_v2020.csv.gz: balance AP and PA within each (class, source) "
        "when sampling (with --sampling source-sqrt or source-balanced)",
    )
    p.add_argument(
        "--norm",
        choices=tuple(NORMALIZATIONS),
        default="project",
        help="input normalisation: the project's (0.5, 0.29) or ImageNet's grey mean/sd",
    )
    p.add_argument(
        "--adversary",
        type=float,
        default=0.0,
        help="weight of a class-conditional source adversary behind a gradient reversal "
        "(0: off; 1: the DANN schedule's full weight)",
    )
    p.add_argument(
        "--distill",
        type=Path,
        help="a teacher's fold units (scripts.teacher_targets): fold K also learns from unit K's "
        "probabilities, and from them alone on the films of the sources other folds hold out",
    )
    p.add_argument(
        "--split",
        choices=("groups", "images", "sources"),
        default="groups",
        help="CV folds by patient group (honest), by image (the published protocol; leaks), or "
        "sources: cxr3 by group, every other source held out whole in one fold",
    )
    p.add_argument(
        "--exclude-source", action="append", default=[], help="drop a source entirely (repeatable)"
    )
    p.add_argument(
        "--holdout-source",
        help="leave-one-source-out: train on every other source, report on this one, export nothing",
    )


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    """What the network sees and how wide it is (recorded in the metadata, read by serving)."""
    p.add_argument(
        "--margin", type=float, default=MARGIN, help="fraction cropped from each side (centre crop)"
    )
    p.add_argument("--equalize", choices=EQUALIZERS, default="global")
    p.add_argument(
        "--lungs",
        type=Path,
        help="lung model weights (inference/weights/lungs.safetensors): crop every film to its "
        "lungs' box before resizing",
    )
    p.add_argument(
        "--lungs-mode",
        choices=LUNG_MODES,
        default="crop",
        help="with --lungs: crop to the lungs' box, or crop and black out everything outside "
        "the lung fields",
    )
    p.add_argument(
        "--width", type=int, default=1, help="channel multiplier of every layer (2: width x2)"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m inference.train", description=__doc__.split("\n")[0]
    )
    add_run_arguments(p)
    add_recipe_arguments(p)
    add_input_arguments(p)
    args = p.parse_args(argv)
    args.data = args.data or [DEFAULT_DATA]
    if args.distill and (args.adversary or args.split != "sources" or args.mixup):
        p.error("--distill needs --split sources, and neither --adversary nor --mixup")
    return args


def split_at_dashes(argv: list[str]) -> tuple[list[str], list[str]]:
    """A script's own arguments (before ``--``) and the recipe's train arguments (after it)."""
    split = argv.index("--") if "--" in argv else len(argv)
    return argv[:split], argv[split + 1 :]


def recipe_arguments(argv: list[str], *, out: Path) -> argparse.Namespace:
    """A recipe's train arguments read as ``python -m inference.train`` reads them, with ``--out
    out``; torch's CPU threads set as its ``--threads`` asks (scripts that re-read a CV)."""
    import torch

    args = parse_args([*argv, "--out", str(out)])
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def load_data(args) -> tuple[list, np.ndarray, np.ndarray]:
    """Records of ``--data`` and ``--eval-data``, which of them may be trained on, and their
    preprocessed arrays (lung-cropped with ``--lungs``)."""
    records = limit_records(read_folders(args.data + args.eval_data), args.limit)
    records = [r for r in records if r.source not in args.exclude_source]
    if args.views:
        records = with_views(records, args.views)
    trainable_roots = {str(Path(d).resolve()) for d in args.data}
    trainable = np.array([str(r.path.resolve().parent.parent) in trainable_roots for r in records])
    log.info("%d images from %s", len(records), ", ".join(map(str, args.data + args.eval_data)))
    t0 = time.time()
    lungs = None
    if args.lungs:
        from inference.lungs import LungFinder

        lungs = LungFinder.load(args.lungs)
        lungs.mode = args.lungs_mode
    arrays = load_arrays(
        records, size=args.size, margin=args.margin, equalize=args.equalize, lungs=lungs
    )
    log.info("preprocessed in %.1fs", time.time() - t0)
    return records, trainable, arrays


def fold_ensemble(args):
    """The K fold models saved by the CV (``folds/fold-K.safetensors``) as one ensemble."""
    from inference.ensemble import DarkCovidNetEnsemble
    from inference.training.mix import mixed_ensemble
    from inference.training.options import fold_model

    mix = fold_mix(args.out)
    if mix:  # a row mixed fold by fold: both rows' fold models, each reading its own input
        return mixed_ensemble(args, mix)
    return DarkCovidNetEnsemble(
        [fold_model(args, k) for k in args.ensemble_folds or range(args.folds)]
    )


def fold_tta_views(args) -> tuple[str, ...]:
    """The test-time views the CV's fold JSONs were re-predicted with (``scripts.tta_eval``;
    ``()`` when none): its calibration and thresholds hold for that form only, so the export
    must serve it."""
    from inference.tta import check_tta_views

    seen = {
        tuple(
            json.loads((args.out / "folds" / f"fold-{k}.json").read_text()).get("tta_views") or ()
        )
        for k in range(args.folds)
    }
    if len(seen) != 1:
        raise SystemExit(f"the fold JSONs under {args.out} disagree on test-time views: {seen}")
    views = seen.pop()
    return check_tta_views(views) if views else ()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parse_args(argv)
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    records, trainable, arrays = load_data(args)
    if args.holdout_source:
        report = run_holdout(records, arrays, args, device=device)
        log.info("held-out %s: %s", args.holdout_source, json.dumps(report["called"]))
        return 0
    if args.only_fold is not None:
        valid_idx = make_folds(records, args)[args.only_fold]
        fold_result(
            records, arrays, valid_idx, args.only_fold, args, device=device, trainable=trainable
        )
        return 0
    kept = np.flatnonzero(trainable)  # the final model trains on --data only
    if args.only_final:
        final_model([records[i] for i in kept], arrays[kept], args, device=device)
        return 0
    if args.folds:
        cv_report = run_cv(records, arrays, args, device=device, trainable=trainable)
        log.info("CV summary: %s", json.dumps(cv_report["summary"]["accuracy"]))
        if not (args.export or args.export_ensemble):
            return 0
    elif args.cv_report:
        cv_report = json.loads(args.cv_report.read_text())
    else:
        print(
            "The final model needs calibration from a CV run: use --folds K --export, "
            "or --cv-report PATH/report.json",
            file=sys.stderr,
        )
        return 2
    if args.export_ensemble:
        model = fold_ensemble(args)
        members = len(model.members)
    else:
        model, members = (
            final_model([records[i] for i in kept], arrays[kept], args, device=device),
            0,
        )
    path = export_final(
        model,
        args,
        cv_report=cv_report,
        data_roots=args.data,
        ensemble=members,
        tta_views=fold_tta_views(args) if args.folds else (),
        mix=fold_mix(args.out) if args.export_ensemble else None,
    )
    log.info("exported %s", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
