"""Which recipe a run is: its variant options and the signature that decides checkpoint reuse."""

from __future__ import annotations

from pathlib import Path

from inference.preprocessing import MARGIN, PREPROCESSING_VERSION
from inference.training.data import manifest_sha256

VARIANT_DEFAULTS = {
    "aug": "standard",
    "sampling": "class-weights",
    "mixup": 0.0,
    "label_smoothing": 0.0,
    "margin": MARGIN,
    "equalize": "global",
    "exclude_source": [],
    "split": "groups",
    "norm": "project",
    "eval_data": [],
    "lungs": None,
    "lungs_mode": "crop",
    "views": None,
    "width": 1,
    "adversary": 0.0,
    "distill": None,
}


def variant_options(args) -> dict:
    options = {k: getattr(args, k, VARIANT_DEFAULTS[k]) for k in VARIANT_DEFAULTS}
    options["eval_data"] = [str(d) for d in options["eval_data"]]
    options["views"] = options["views"] and Path(options["views"]).name
    if options["distill"] is not None:  # the teacher is part of the recipe: name its version
        from inference.training.distill import teacher_version

        options["distill"] = teacher_version(options["distill"])
    if options["lungs"] is not None:  # the lung model is part of the recipe: name its version
        from inference.lungs import LungFinder

        options["lungs"] = LungFinder.load(options["lungs"]).version
    return options


def run_signature(args) -> dict:
    """What must match for a saved fold or final model to be reused instead of retrained."""
    # Variant options enter only when changed, so checkpoints made before they existed still match.
    changed = {k: v for k, v in variant_options(args).items() if v != VARIANT_DEFAULTS[k]}
    return changed | {
        "epochs": args.epochs,
        "size": args.size,
        "bs": args.bs,
        "lr": args.lr,
        "seed": args.seed,
        "augment": not args.no_augment,
        "limit": args.limit,
        "folds": args.folds,
        "preprocessing": PREPROCESSING_VERSION,
        "data": manifest_sha256(args.data),
    }


def new_model(args):
    """The untrained (or to-be-loaded) DarkCovidNet a run's options describe."""
    from inference.model import DarkCovidNet

    return DarkCovidNet(input_size=args.size, in_channels=1, width=getattr(args, "width", 1))


def fold_model(args, k: int, *, suffix: str = ""):
    """Fold k's model as the CV in ``args.out`` saved it (``folds/fold-K{suffix}.safetensors``)."""
    from safetensors.torch import load_file

    model = new_model(args)
    model.load_state_dict(load_file(str(args.out / "folds" / f"fold-{k}{suffix}.safetensors")))
    return model
