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
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from inference import metrics as M
from inference.constants import CLASSES, MODEL_NAME
from inference.data import Record, grouped_folds, image_folds, manifest_sha256, read_folders
from inference.preprocessing import (
    DEFAULT_SIZE,
    EQUALIZERS,
    MARGIN,
    MEAN,
    PREPROCESSING_VERSION,
    STD,
    to_model_array,
)

log = logging.getLogger("inference.train")
DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "cxr3"
DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
COVID_HIGH_SENSITIVITY = 0.95
COVID_MEDIUM_SENSITIVITY = 0.99


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m inference.train", description=__doc__.split("\n")[0]
    )
    p.add_argument("--data", action="append", type=Path, help="data folder (repeatable)")
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
    p.add_argument("--out", type=Path, default=Path("runs/train"), help="report folder")
    p.add_argument("--weights-dir", type=Path, default=DEFAULT_WEIGHTS_DIR)
    p.add_argument("--name", default=MODEL_NAME)
    p.add_argument("--no-augment", action="store_true", help="disable augmentation (ablation)")
    # Variants against the source trap (issue 5); each is recorded in the report and metadata.
    p.add_argument(
        "--aug",
        choices=("standard", "strong"),
        default="standard",
        help="augmentation strength: strong adds gamma, harder exposure/contrast, noise and blur",
    )
    p.add_argument(
        "--sampling",
        choices=("class-weights", "source-balanced"),
        default="class-weights",
        help="class-weighted loss, or sampling every (class, source) stratum equally",
    )
    p.add_argument("--mixup", type=float, default=0.0, help="mixup alpha (0: off)")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument(
        "--margin", type=float, default=MARGIN, help="fraction cropped from each side (centre crop)"
    )
    p.add_argument("--equalize", choices=EQUALIZERS, default="global")
    p.add_argument(
        "--split",
        choices=("groups", "images"),
        default="groups",
        help="CV folds by patient group (honest), or by image (the published protocol; leaks)",
    )
    p.add_argument(
        "--limit", type=int, default=0, help="use only the first N images per class (smoke runs)"
    )
    p.add_argument("--only-fold", type=int, help="train just this fold (0-based) and stop")
    p.add_argument("--only-final", action="store_true", help="train just the final model and stop")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    p.add_argument(
        "--exclude-source", action="append", default=[], help="drop a source entirely (repeatable)"
    )
    p.add_argument(
        "--holdout-source",
        help="leave-one-source-out: train on every other source, report on this one, export nothing",
    )
    args = p.parse_args(argv)
    args.data = args.data or [DEFAULT_DATA]
    return args


# ----------------------------------------------------------------------------- data
def load_arrays(
    records: list[Record], *, size: int, margin: float = MARGIN, equalize: str = "global"
) -> np.ndarray:
    """Deterministic preprocessing of every image, once: [N, size, size] uint8."""
    out = np.empty((len(records), size, size), dtype=np.uint8)
    for i, r in enumerate(records):
        out[i] = to_model_array(r.path.read_bytes(), size=size, margin=margin, equalize=equalize)
    return out


def limit_records(records: list[Record], limit: int) -> list[Record]:
    if not limit:
        return records
    kept, seen = [], dict.fromkeys(CLASSES, 0)
    for r in records:
        if seen[r.label] < limit:
            kept.append(r)
            seen[r.label] += 1
    return kept


def class_weights(labels: list[str]) -> list[float]:
    """Inverse-frequency weights (n / (k * n_c)): COVID-19 is 11% of cxr3."""
    counts = np.array([max(1, labels.count(c)) for c in CLASSES], dtype=np.float64)
    return (counts.sum() / (len(CLASSES) * counts)).tolist()


def source_balanced_weights(records: list[Record]) -> np.ndarray:
    """Sampling weight per image: every class equally likely, and within a class every source.

    With one source per class (cxr3) this is plain class balancing; with cxr-multi it stops the
    larger archive of a class from defining what that class looks like.
    """
    strata: dict[tuple[str, str], int] = {}
    for r in records:
        strata[(r.label, r.source)] = strata.get((r.label, r.source), 0) + 1
    per_class = {c: sum(1 for (label, _) in strata if label == c) for c in CLASSES}
    return np.array(
        [1.0 / (per_class[r.label] * strata[(r.label, r.source)]) for r in records],
        dtype=np.float64,
    )


# fastai affine/lighting arguments, then our extra transforms, per augmentation strength.
# Standard: exposure/contrast strongly (sources differ most there), geometry mildly, no flips
# (the heart's side is anatomy, not noise). Strong: harder on all of it, plus a gamma curve.
AUGMENT_PRESETS: dict[str, tuple[dict, list[tuple[str, dict]]]] = {
    "standard": (
        {
            "max_rotate": 10.0,
            "max_zoom": 1.15,
            "max_warp": 0.1,
            "max_lighting": 0.4,
            "p_lighting": 0.9,
            "p_affine": 0.75,
        },
        [("noise_blur", {})],
    ),
    "strong": (
        {
            "max_rotate": 15.0,
            "max_zoom": 1.3,
            "max_warp": 0.15,
            "max_lighting": 0.6,
            "p_lighting": 1.0,
            "p_affine": 0.9,
        },
        [("gamma", {}), ("noise_blur", {"p": 0.7, "max_sigma": 0.08})],
    ),
}


def build_dataloaders(
    records,
    arrays,
    valid_idx,
    *,
    bs: int,
    seed: int,
    augment: bool,
    strength: str = "standard",
    sample_weights: np.ndarray | None = None,
):
    from fastai.vision.all import (
        CategoryBlock,
        DataBlock,
        ImageBlock,
        IndexSplitter,
        Normalize,
        PILImageBW,
        aug_transforms,
    )

    from inference.augment import RandomGamma, RandomNoiseBlur

    batch_tfms = []
    if augment:
        affine_lighting, extra = AUGMENT_PRESETS[strength]
        batch_tfms += aug_transforms(do_flip=False, **affine_lighting)
        transforms = {"gamma": RandomGamma, "noise_blur": RandomNoiseBlur}
        batch_tfms += [transforms[name](**kwargs) for name, kwargs in extra]
    batch_tfms.append(Normalize.from_stats([MEAN], [STD], cuda=False))
    block = DataBlock(
        blocks=(ImageBlock(cls=PILImageBW), CategoryBlock(vocab=list(CLASSES))),
        get_x=lambda i: PILImageBW.create(arrays[i]),
        get_y=lambda i: records[i].label,
        splitter=IndexSplitter(list(valid_idx)),
        batch_tfms=batch_tfms,
    )
    items = list(range(len(records)))
    if sample_weights is not None:
        return block.weighted_dataloaders(
            items, wgts=sample_weights, bs=bs, num_workers=0, seed=seed
        )
    return block.dataloaders(items, bs=bs, num_workers=0, seed=seed)


# ----------------------------------------------------------------------------- training
def train_one(records, arrays, valid_idx, args, *, device):
    import torch
    from fastai.callback.channelslast import ChannelsLast
    from fastai.callback.mixup import MixUp
    from fastai.vision.all import (
        BalancedAccuracy,
        CrossEntropyLossFlat,
        Learner,
        accuracy,
        set_seed,
    )

    from inference.model import DarkCovidNet

    set_seed(args.seed, reproducible=True)
    train_idx = np.setdiff1d(np.arange(len(records)), valid_idx)
    balanced = args.sampling == "source-balanced"
    dls = build_dataloaders(
        records,
        arrays,
        valid_idx,
        bs=args.bs,
        seed=args.seed,
        augment=not args.no_augment,
        strength=args.aug,
        sample_weights=source_balanced_weights(records) if balanced else None,
    )
    dls.to(device)
    # Balanced sampling already evens out the classes; weighting the loss too would overcorrect.
    weights = (
        None
        if balanced
        else torch.tensor(class_weights([records[i].label for i in train_idx]), device=device)
    )
    # oneDNN's channels-last convolutions are ~3x faster on CPU than NCHW for this network.
    cbs = [ChannelsLast()] + ([MixUp(args.mixup)] if args.mixup else [])
    learn = Learner(
        dls,
        DarkCovidNet(input_size=args.size, in_channels=1).to(device),
        loss_func=CrossEntropyLossFlat(weight=weights, label_smoothing=args.label_smoothing),
        metrics=[accuracy, BalancedAccuracy()] if len(valid_idx) else [],
        cbs=cbs,
    )
    learn.fit_one_cycle(args.epochs, lr_max=args.lr)
    history = {"train_loss": [], "valid_loss": []}
    for row in learn.recorder.values:
        history["train_loss"].append(float(row[0]))
        if len(valid_idx) and len(row) > 1:
            history["valid_loss"].append(float(row[1]))
    return learn, dls, history


def oof_logits(learn, dls) -> tuple[np.ndarray, np.ndarray]:
    from fastai.vision.all import noop

    logits, targets = learn.get_preds(dl=dls.valid, act=noop)
    return logits.float().cpu().numpy(), targets.cpu().numpy()


# ----------------------------------------------------------------------------- reporting
def provenance(args, data_roots) -> dict:
    import fastai
    import torch

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--", "inference"],
                capture_output=True,
                text=True,
                cwd=Path(__file__).parent,
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None
    return {
        "seed": args.seed,
        "epochs": args.epochs,
        "input_size": args.size,
        "batch_size": args.bs,
        "lr_max": args.lr,
        "augment": not args.no_augment,
        "variant": variant_options(args),
        "schedule": "fastai fit_one_cycle",
        "loss": "cross-entropy, inverse-frequency class weights"
        if args.sampling == "class-weights"
        else "cross-entropy, source-balanced sampling",
        "preprocessing_version": PREPROCESSING_VERSION,
        "data": [str(d) for d in data_roots],
        "data_manifest_sha256": manifest_sha256(data_roots),
        "git_commit": commit,
        "git_inference_dirty": dirty,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "fastai": fastai.__version__,
            "numpy": np.__version__,
        },
        "command": " ".join(sys.argv),
    }


def summarise_folds(fold_reports: list[dict]) -> dict:
    def stat(values):
        vals = [v for v in values if v is not None]
        if not vals:
            return {"mean": None, "std": None}
        return {
            "mean": float(np.mean(vals)),
            "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
        }

    summary = {
        key: stat([r[key] for r in fold_reports])
        for key in ("accuracy", "balanced_accuracy", "macro_f1")
    }
    summary["covid_sensitivity"] = stat([r["covid"]["sensitivity"] for r in fold_reports])
    summary["covid_specificity"] = stat([r["covid"]["specificity"] for r in fold_reports])
    for c in CLASSES:
        summary[f"{c}_precision"] = stat([r["per_class"][c]["precision"] for r in fold_reports])
        summary[f"{c}_recall"] = stat([r["per_class"][c]["recall"] for r in fold_reports])
        summary[f"{c}_roc_auc"] = stat([r["roc_auc"][c] for r in fold_reports])
    return summary


def calibration_and_thresholds(logits: np.ndarray, y: np.ndarray) -> dict:
    temperature = M.fit_temperature(logits, y)
    raw, cal = M.softmax(logits), M.softmax(logits, temperature)
    covid = CLASSES.index("covid")
    is_covid = y == covid
    high = M.sensitivity_threshold(cal[:, covid], is_covid, target=COVID_HIGH_SENSITIVITY)
    medium = M.sensitivity_threshold(cal[:, covid], is_covid, target=COVID_MEDIUM_SENSITIVITY)
    return {
        "temperature": temperature,
        "ece_before": M.expected_calibration_error(raw, y),
        "ece_after": M.expected_calibration_error(cal, y),
        "nll_before": M.nll(logits, y, 1.0),
        "nll_after": M.nll(logits, y, temperature),
        "thresholds": {"covid_high": high, "covid_medium": min(medium, high)},
        "operating_points": {
            "high": M.operating_point(cal[:, covid], is_covid, high),
            "medium": M.operating_point(cal[:, covid], is_covid, min(medium, high)),
        },
    }


def per_source_reports(records, y, probs) -> dict:
    sources = sorted({r.source for r in records})
    out = {}
    for s in sources:
        idx = np.array([i for i, r in enumerate(records) if r.source == s])
        out[s] = M.classification_report(y[idx], probs[idx])
    return out


VARIANT_DEFAULTS = {
    "aug": "standard",
    "sampling": "class-weights",
    "mixup": 0.0,
    "label_smoothing": 0.0,
    "margin": MARGIN,
    "equalize": "global",
    "exclude_source": [],
    "split": "groups",
}


def make_folds(records: list[Record], args) -> list[np.ndarray]:
    split = image_folds if args.split == "images" else grouped_folds
    return split(records, n_folds=args.folds, seed=args.seed)


def variant_options(args) -> dict:
    return {k: getattr(args, k) for k in VARIANT_DEFAULTS}


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


def fold_result(records, arrays, valid_idx, k, args, *, device):
    """Train fold k, or reuse its saved out-of-fold logits (folds may run as parallel jobs)."""
    path = args.out / "folds" / f"fold-{k}.json"
    if path.exists():
        saved = json.loads(path.read_text())
        if saved["signature"] == run_signature(args) and saved["valid_idx"] == valid_idx.tolist():
            log.info("fold %d: reusing %s", k + 1, path)
            return np.array(saved["logits"]), saved["history"], saved["seconds"]
    t0 = time.time()
    learn, dls, history = train_one(records, arrays, valid_idx, args, device=device)
    fold_logits, targets = oof_logits(learn, dls)
    if not np.array_equal(targets, [CLASSES.index(records[i].label) for i in valid_idx]):
        raise RuntimeError("validation order does not match the fold's indices")
    seconds = round(time.time() - t0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "signature": run_signature(args),
                "valid_idx": valid_idx.tolist(),
                "logits": fold_logits.tolist(),
                "history": history,
                "seconds": seconds,
            }
        )
    )
    return fold_logits, history, seconds


def final_model(records, arrays, args, *, device):
    """Train on every image, or reuse the model saved by an earlier ``--only-final`` job."""
    from safetensors.torch import load_file, save_file

    from inference.model import DarkCovidNet

    weights = args.out / "final" / "model.safetensors"
    meta = weights.with_suffix(".json")
    if weights.exists() and meta.exists() and json.loads(meta.read_text()) == run_signature(args):
        log.info("final model: reusing %s", weights)
        model = DarkCovidNet(input_size=args.size, in_channels=1)
        model.load_state_dict(load_file(str(weights)))
        return model
    learn, _, _ = train_one(records, arrays, np.array([], dtype=int), args, device=device)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in learn.model.state_dict().items()}
    save_file(state, str(weights))
    meta.write_text(json.dumps(run_signature(args)))
    return learn.model


def run_cv(records, arrays, args, *, device) -> dict:
    from inference.plots import plot_confusion, plot_losses, plot_roc

    out = args.out
    (out / "plots").mkdir(parents=True, exist_ok=True)
    folds = make_folds(records, args)
    y = np.array([CLASSES.index(r.label) for r in records])
    logits = np.zeros((len(records), len(CLASSES)), dtype=np.float64)
    fold_of = np.zeros(len(records), dtype=int)
    fold_reports, histories = [], []
    for k, valid_idx in enumerate(folds):
        train_groups = {records[i].group for i in np.setdiff1d(np.arange(len(records)), valid_idx)}
        if args.split == "groups":
            assert not train_groups & {records[i].group for i in valid_idx}, "group leak"
        log.info(
            "fold %d/%d: %d train, %d valid",
            k + 1,
            args.folds,
            len(records) - len(valid_idx),
            len(valid_idx),
        )
        fold_logits, history, seconds = fold_result(
            records, arrays, valid_idx, k, args, device=device
        )
        logits[valid_idx] = fold_logits
        fold_of[valid_idx] = k
        report = M.classification_report(y[valid_idx], M.softmax(fold_logits))
        report["seconds"] = seconds
        fold_reports.append(report)
        histories.append(history)
        log.info(
            "fold %d: accuracy %.4f balanced %.4f covid sensitivity %s (%.0fs)",
            k + 1,
            report["accuracy"],
            report["balanced_accuracy"],
            report["covid"]["sensitivity"],
            report["seconds"],
        )
    probs = M.softmax(logits)
    calib = calibration_and_thresholds(logits, y)
    pooled = M.classification_report(y, probs)
    report = {
        "kind": "grouped-cv",
        "folds": args.folds,
        "summary": summarise_folds(fold_reports),
        "pooled_out_of_fold": pooled,
        "per_fold": fold_reports,
        "per_source_out_of_fold": per_source_reports(records, y, probs),
        "calibration": calib,
        "provenance": provenance(args, args.data),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    with (out / "oof.csv").open("w") as fh:
        fh.write("path,label,source,group,fold," + ",".join(f"logit_{c}" for c in CLASSES) + "\n")
        for i, r in enumerate(records):
            fh.write(
                f"{r.path},{r.label},{r.source},{r.group},{fold_of[i]},"
                + ",".join(f"{v:.6f}" for v in logits[i])
                + "\n"
            )
    plot_losses(histories, out / "plots" / "loss_curves.png")
    plot_confusion(
        pooled["confusion_matrix"]["matrix"],
        out / "plots" / "confusion_matrix.png",
        title=f"Grouped {args.folds}-fold CV (out-of-fold, summed)",
    )
    plot_roc(
        y,
        M.softmax(logits, calib["temperature"]),
        out / "plots" / "roc_curves.png",
        title=f"Grouped {args.folds}-fold CV, one-vs-rest ROC",
    )
    (out / "report.md").write_text(render_markdown(report))
    return report


def fmt(stat: dict) -> str:
    if stat["mean"] is None:
        return "n/a"
    return f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f}"


def render_markdown(report: dict) -> str:
    s, c, prov = report["summary"], report["calibration"], report["provenance"]
    pooled = report["pooled_out_of_fold"]
    by_images = prov.get("variant", {}).get("split") == "images"
    split_words = "image-level (patients leak across folds)" if by_images else "grouped"
    lines = [
        f"# DarkCovidNet {split_words} {report['folds']}-fold cross-validation",
        "",
        f"Data: {', '.join(prov['data'])}; {pooled['n']} images; seed {prov['seed']}; "
        f"{prov['epochs']} epochs at {prov['input_size']} px; git {prov['git_commit']}.",
        "",
        "| metric (mean ± sd over folds, %) | value |",
        "| --- | --- |",
        f"| accuracy | {fmt(s['accuracy'])} |",
        f"| balanced accuracy | {fmt(s['balanced_accuracy'])} |",
        f"| macro-F1 | {fmt(s['macro_f1'])} |",
        f"| COVID-19 sensitivity | {fmt(s['covid_sensitivity'])} |",
        f"| COVID-19 specificity | {fmt(s['covid_specificity'])} |",
    ]
    for cls in CLASSES:
        lines.append(
            f"| {cls}: precision / recall / ROC AUC | {fmt(s[cls + '_precision'])} / "
            f"{fmt(s[cls + '_recall'])} / {fmt(s[cls + '_roc_auc'])} |"
        )
    m = pooled["confusion_matrix"]["matrix"]
    lines += [
        "",
        "Summed confusion matrix (rows actual, columns predicted: " + ", ".join(CLASSES) + "):",
        "",
    ]
    lines += ["| actual \\ predicted | " + " | ".join(CLASSES) + " |", "| --- | --- | --- | --- |"]
    lines += [
        f"| {CLASSES[i]} | " + " | ".join(str(v) for v in row) + " |" for i, row in enumerate(m)
    ]
    lines += [
        "",
        f"Calibration: temperature {c['temperature']:.3f}; ECE {100 * c['ece_before']:.2f}% -> "
        f"{100 * c['ece_after']:.2f}%; NLL {c['nll_before']:.4f} -> {c['nll_after']:.4f}.",
        "",
        "| triage band | COVID-19 probability >= | sensitivity | specificity | flagged |",
        "| --- | --- | --- | --- | --- |",
    ]
    for band in ("high", "medium"):
        op = c["operating_points"][band]
        lines.append(
            f"| {band} | {op['threshold']:.4f} | {100 * op['sensitivity']:.1f}% | "
            f"{100 * op['specificity']:.1f}% | {100 * op['flagged_fraction']:.1f}% |"
        )
    lines += [
        "",
        "Per source (out-of-fold):",
        "",
        "| source | n | accuracy | balanced accuracy |",
        "| --- | --- | --- | --- |",
    ]
    for src, r in report["per_source_out_of_fold"].items():
        lines.append(
            f"| {src} | {r['n']} | {100 * r['accuracy']:.2f} | {100 * r['balanced_accuracy']:.2f} |"
        )
    lines += [
        "",
        "![loss curves](plots/loss_curves.png) ![confusion](plots/confusion_matrix.png) ![ROC](plots/roc_curves.png)",
        "",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- export
def export_final(model, args, *, cv_report: dict, data_roots) -> Path:
    from inference.export import export_model

    calib = cv_report["calibration"]
    return export_model(
        model,
        weights_dir=args.weights_dir,
        name=args.name,
        input_size=args.size,
        margin=args.margin,
        equalize=args.equalize,
        temperature=calib["temperature"],
        thresholds=calib["thresholds"],
        extra={
            "cv_metrics": cv_report["summary"],
            "cv_operating_points": calib["operating_points"],
            "calibration": {
                k: calib[k] for k in ("ece_before", "ece_after", "nll_before", "nll_after")
            },
            "training": provenance(args, data_roots),
        },
    )


def predict_arrays(model, arrays: np.ndarray, *, device, bs: int = 64) -> np.ndarray:
    """Logits for preprocessed uint8 arrays, normalised exactly as at serving time."""
    import torch

    from inference.preprocessing import normalize

    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(arrays), bs):
            batch = normalize(torch.from_numpy(arrays[i : i + bs]).unsqueeze(1)).to(device)
            out.append(model(batch).float().cpu().numpy())
    return np.concatenate(out)


def run_holdout(records, arrays, args, *, device) -> dict:
    """Train without one source and measure on it: what a new hospital would see."""
    held = np.array([i for i, r in enumerate(records) if r.source == args.holdout_source])
    if not len(held):
        raise SystemExit(f"no images of source {args.holdout_source!r} in {args.data}")
    kept = np.setdiff1d(np.arange(len(records)), held)
    train_records = [records[i] for i in kept]
    t0 = time.time()
    learn, _, _ = train_one(
        train_records, arrays[kept], np.array([], dtype=int), args, device=device
    )
    logits = predict_arrays(learn.model, arrays[held], device=device)
    y = np.array([CLASSES.index(records[i].label) for i in held])
    report = {
        "kind": "leave-one-source-out",
        "held_out_source": args.holdout_source,
        "excluded_sources": args.exclude_source,
        "trained_on": {
            s: sum(r.source == s for r in train_records)
            for s in sorted({r.source for r in train_records})
        },
        "held_out": M.classification_report(y, M.softmax(logits)),
        "called": {
            c: float((M.softmax(logits).argmax(1) == k).mean()) for k, c in enumerate(CLASSES)
        },
        "seconds": round(time.time() - t0, 1),
        "provenance": provenance(args, args.data),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "".join(f"-without-{s}" for s in args.exclude_source)
    (args.out / f"loso-{args.holdout_source}{suffix}.json").write_text(json.dumps(report, indent=2))
    return report


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parse_args(argv)
    import torch

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    records = limit_records(read_folders(args.data), args.limit)
    records = [r for r in records if r.source not in args.exclude_source]
    log.info("%d images from %s on %s", len(records), ", ".join(map(str, args.data)), device)
    t0 = time.time()
    arrays = load_arrays(records, size=args.size, margin=args.margin, equalize=args.equalize)
    log.info("preprocessed in %.1fs", time.time() - t0)
    if args.holdout_source:
        report = run_holdout(records, arrays, args, device=device)
        log.info("held-out %s: %s", args.holdout_source, json.dumps(report["called"]))
        return 0
    if args.only_fold is not None:
        folds = make_folds(records, args)
        fold_result(records, arrays, folds[args.only_fold], args.only_fold, args, device=device)
        return 0
    if args.only_final:
        final_model(records, arrays, args, device=device)
        return 0
    cv_report = None
    if args.folds:
        cv_report = run_cv(records, arrays, args, device=device)
        log.info(
            "CV summary: %s",
            json.dumps(
                {
                    k: v
                    for k, v in cv_report["summary"].items()
                    if "_" not in k or k.startswith(("balanced", "macro", "covid_"))
                }
            ),
        )
        if not args.export:
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
    model = final_model(records, arrays, args, device=device)
    path = export_final(model, args, cv_report=cv_report, data_roots=args.data)
    log.info("exported %s", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
